"""Why agents call the tools (SPEC 7, intents): for each tool, how many calls came with an
intent (SDK intent capture) and the coverage, and the latest intents with their trace.
Dedup-aware (`events FINAL`) and scoped to one project."""

from __future__ import annotations

import uuid
from typing import Any

from yavio_ingest.overview import events_of, iso
from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_ingest.time_range import TimeRange

__all__ = ["intents"]

LATEST = 20

_BY_TOOL = """
SELECT event_name, count() AS calls, countIf(intent_signals != '') AS with_intent
FROM {events} WHERE event_type = 'tool_call'
GROUP BY event_name ORDER BY calls DESC, event_name
"""

_LATEST = """
SELECT trace_id, event_name, JSONExtractString(intent_signals, 'intent'),
       JSONExtractString(intent_signals, 'source'), timestamp
FROM {events} WHERE event_type = 'tool_call' AND intent_signals != ''
ORDER BY timestamp DESC, event_id LIMIT {limit}
"""


def intents(store: ClickHouseStore, project_id: uuid.UUID, period: TimeRange) -> dict[str, Any]:
    """The intents view's JSON (blocking)."""
    events = events_of(period)
    parameters = {"project": str(project_id), **period.parameters()}
    tools = store.query(_BY_TOOL.format(events=events), parameters)
    calls = sum(count for _, count, _ in tools)
    covered = sum(with_intent for _, _, with_intent in tools)
    return {
        "invocations": calls,
        "withIntent": covered,
        "coverage": covered / calls if calls else 0.0,
        "byTool": [{"name": name, "invocations": count, "withIntent": with_intent,
                    "coverage": with_intent / count}
                   for name, count, with_intent in tools],
        "latest": [{"traceId": trace_id, "tool": name, "intent": intent,
                    "source": source or None, "timestamp": iso(when)}
                   for trace_id, name, intent, source, when in
                   store.query(_LATEST.format(events=events, limit=LATEST), parameters)],
    }
