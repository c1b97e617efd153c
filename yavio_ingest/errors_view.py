"""The errors of a project over a time range (SPEC 7): how many tool calls failed, by
`error_category` and by tool, failures per bucket (zero-filled), and the latest ones with their
trace, to open with `yavio trace`. Dedup-aware (`events FINAL`) and scoped to one project."""

from __future__ import annotations

import uuid
from typing import Any

from yavio_ingest.overview import events_of, iso
from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_ingest.time_range import TimeRange

__all__ = ["errors"]

RECENT = 20

_TOTALS = "SELECT count(), countIf(status = 'error') FROM {events} WHERE event_type = 'tool_call'"

_CATEGORIES = """
SELECT if(error_category = '', 'unknown', error_category) AS category, count() AS failures
FROM {events} WHERE event_type = 'tool_call' AND status = 'error'
GROUP BY category ORDER BY failures DESC, category
"""

_TOOLS = """
SELECT event_name, countIf(status = 'error') AS failures, count() AS calls
FROM {events} WHERE event_type = 'tool_call'
GROUP BY event_name HAVING failures > 0 ORDER BY failures DESC, event_name
"""

_SERIES = """
SELECT {bucket} AS bucket, countIf(event_type = 'tool_call' AND status = 'error') AS failures
FROM {events} GROUP BY bucket {order}
"""

_RECENT = """
SELECT toString(event_id), trace_id, session_id, event_name, error_category, error_message,
       timestamp
FROM {events} WHERE event_type = 'tool_call' AND status = 'error'
ORDER BY timestamp DESC, event_id LIMIT {limit}
"""


def errors(store: ClickHouseStore, project_id: uuid.UUID, period: TimeRange) -> dict[str, Any]:
    """The errors view's JSON (blocking)."""
    events = events_of(period)
    parameters = {"project": str(project_id), **period.parameters()}
    calls, failures = store.query(_TOTALS.format(events=events), parameters)[0]
    series = store.query(_SERIES.format(events=events, bucket=period.bucket_sql("timestamp"),
                                        order=period.series_order()), parameters)
    return {
        "invocations": calls,
        "errors": failures,
        "errorRate": failures / calls if calls else 0.0,
        "byCategory": [{"category": category, "errors": count} for category, count in
                       store.query(_CATEGORIES.format(events=events), parameters)],
        "byTool": [{"name": name, "errors": count, "invocations": total,
                    "errorRate": count / total}
                   for name, count, total in store.query(_TOOLS.format(events=events),
                                                         parameters)],
        "series": [{"bucket": iso(bucket), "errors": count} for bucket, count in series],
        "recent": [{"eventId": event_id, "traceId": trace_id, "sessionId": session_id,
                    "tool": name, "category": category or "unknown",
                    "message": message or None, "timestamp": iso(when)}
                   for event_id, trace_id, session_id, name, category, message, when in
                   store.query(_RECENT.format(events=events, limit=RECENT), parameters)],
    }
