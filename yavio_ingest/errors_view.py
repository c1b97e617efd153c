"""The errors of a project over a time range (SPEC 7): how many tool calls failed (beside the
previous period's figures), by `error_category` and by tool, calls and failures per bucket
(zero-filled; the range names the bucket, as the overview's does), and the latest ones with
their trace, to open with `yavio trace`. Dedup-aware (`events FINAL`) and scoped to one
project."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from yavio_ingest.overview import events_of, iso
from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_ingest.time_range import TimeRange

__all__ = ["errors"]

RECENT = 20

# The totals, the tools, the categories and the series in one pass over the deduplicated tool
# calls (merging the copies is most of a query's cost, so it is paid once): calls and failures
# per tool (the totals are their sums: every call has one tool), per category and per bucket.
# Only the tool calls are counted.
_CALLS = """
SELECT grouping(event_name) = 0 AS by_tool, grouping(category) = 0 AS by_category,
       event_name, if(error_category = '', 'unknown', error_category) AS category,
       {bucket} AS bucket, count() AS calls, countIf(status = 'error') AS failures
FROM {events} WHERE event_type = 'tool_call'
GROUP BY GROUPING SETS ((event_name), (category), (bucket))
"""

# The previous period's totals, for the change of the error rate.
_TOTALS = """
SELECT count(), countIf(status = 'error') FROM {events} WHERE event_type = 'tool_call'
"""

# The latest failures. FINAL merges every tool call of the range it reads, so it reads only
# those since the 20th latest distinct failure: `since` is found without FINAL, over distinct
# (timestamp, event_id), the key FINAL collapses copies on, so copies cannot push it later.
_RECENT = """
WITH (SELECT min(timestamp) FROM (
          SELECT DISTINCT timestamp, event_id FROM {copies}
          WHERE event_type = 'tool_call' AND status = 'error'
          ORDER BY timestamp DESC, event_id LIMIT {limit})) AS since
SELECT toString(event_id), trace_id, session_id, event_name, error_category, error_message,
       timestamp
FROM {events} WHERE event_type = 'tool_call' AND status = 'error' AND timestamp >= since
ORDER BY timestamp DESC, event_id LIMIT {limit}
"""


def errors(store: ClickHouseStore, project_id: uuid.UUID, period: TimeRange) -> dict[str, Any]:
    """The errors view's JSON (blocking: three queries)."""
    events = events_of(period)
    parameters = {"project": str(project_id), **period.parameters()}
    bucket = period.bucket_sql("timestamp")
    tools, categories, by_bucket = [], [], {}
    for by_tool, by_category, name, category, when, calls, failures in store.query(
            _CALLS.format(events=events, bucket=bucket), parameters):
        if by_tool:
            tools.append((name, failures, calls))
        elif by_category:
            categories.append((category, failures))
        else:
            by_bucket[when.replace(tzinfo=None)] = (calls, failures)
    calls = sum(total for _, _, total in tools)
    failures = sum(count for _, count, _ in tools)
    [(previous_calls, previous_failures)] = store.query(
        _TOTALS.format(events=events_of(period.previous)),
        {"project": str(project_id), **period.previous.parameters()})
    recent = store.query(_RECENT.format(events=events, copies=events_of(
        period, deduplicated=False), limit=RECENT), parameters)
    return {
        "range": {"from": iso(period.start), "to": iso(period.end), "bucket": period.bucket,
                  "platforms": list(period.platforms)},
        "invocations": calls,
        "errors": failures,
        "errorRate": _rate(failures, calls),
        "previous": {"invocations": previous_calls, "errors": previous_failures,
                     "errorRate": _rate(previous_failures, previous_calls)},
        "byCategory": [{"category": category, "errors": count} for category, count in
                       sorted(categories, key=lambda c: (-c[1], c[0])) if count],
        "byTool": [{"name": name, "errors": count, "invocations": total,
                    "errorRate": count / total}
                   for name, count, total in sorted(tools, key=lambda t: (-t[1], t[0]))
                   if count],
        "series": [_point(when, *by_bucket.get(when, (0, 0))) for when in period.buckets()],
        "recent": [{"eventId": event_id, "traceId": trace_id, "sessionId": session_id,
                    "tool": name, "category": category or "unknown",
                    "message": message or None, "timestamp": iso(when)}
                   for event_id, trace_id, session_id, name, category, message, when in recent],
    }


def _point(when: datetime, calls: int, failures: int) -> dict[str, Any]:
    return {"bucket": iso(when), "invocations": calls, "errors": failures,
            "errorRate": _rate(failures, calls)}


def _rate(failures: int, calls: int) -> float:
    return failures / calls if calls else 0.0
