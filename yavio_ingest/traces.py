"""One trace (SPEC 7): every server and widget event of one tool call, in the order they
happened, for `yavio trace` and the TUI's trace view.

Events are ordered by time, and within one millisecond (a tool call, its steps, the widget's
render and steps and a conversion often share one) by their part in the flow: the tool call,
the server's events (steps by `step_sequence`), the widget response, the widget's events
(steps by `step_sequence`), then conversions. The tool call comes first whatever its time: the
SDK stamps it when the handler returns, after the steps the handler recorded.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from yavio_ingest.overview import events_of, iso
from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_ingest.time_range import TimeRange

__all__ = ["TRACE_FILTERS", "trace", "traces"]

TRACE_FILTERS = ("session", "user", "tool", "status")
MAX_TRACES = 200

_LIST = """
SELECT trace_id, any(session_id), anyIf(event_name, event_type = 'tool_call') AS tool,
       anyIf(status, event_type = 'tool_call') AS call_status,
       anyIf(latency_ms, event_type = 'tool_call'), max(user_id) AS user, any(platform),
       min(timestamp) AS started, count() AS events
FROM {events}
GROUP BY trace_id
HAVING countIf(event_type = 'tool_call') > 0 {having}
ORDER BY started DESC, trace_id LIMIT {limit}
"""

_COLUMNS = ("event_id", "event_type", "event_name", "source", "timestamp", "step_sequence",
            "latency_ms", "status", "error_category", "error_message", "conversion_value",
            "conversion_currency", "session_id", "user_id", "platform", "metadata")

_QUERY = (f"SELECT {', '.join(_COLUMNS)} FROM events FINAL "
          "WHERE project_id = {project:UUID} AND trace_id = {trace:String}")

_PHASES = {"tool_call": 0, "widget_response": 2, "conversion": 4}


def _phase(event: dict[str, Any]) -> int:
    if event["event_type"] in _PHASES:
        return _PHASES[event["event_type"]]
    return 3 if event["source"] == "widget" else 1


def _order(event: dict[str, Any]) -> tuple[Any, ...]:
    step = event["step_sequence"]
    return (event["event_type"] != "tool_call", event["timestamp"], _phase(event),
            -1 if step is None else step)


def traces(store: ClickHouseStore, project_id: uuid.UUID, period: TimeRange,
           filters: dict[str, str], limit: int = 50) -> dict[str, Any]:
    """The latest tool-call traces of the range (blocking), newest first, narrowed by
    `filters`: `session` (id), `user` (id), `tool` (name), `status` (success or error)."""
    conditions = {
        "session": "any(session_id) = {session:String}",
        "user": "has(groupArray(user_id), {user:String})",
        "tool": "tool = {tool:String}",
        "status": "call_status = {status:String}",
    }
    having = "".join(f" AND {conditions[name]}" for name in TRACE_FILTERS if name in filters)
    rows = store.query(
        _LIST.format(events=events_of(period), having=having, limit=min(limit, MAX_TRACES)),
        {"project": str(project_id), **period.parameters(), **filters})
    return {"traces": [
        {"traceId": trace_id, "sessionId": session, "tool": tool, "status": status or None,
         "latencyMs": latency, "userId": user or None, "platform": platform or None,
         "startedAt": iso(started), "events": count}
        for trace_id, session, tool, status, latency, user, platform, started, count in rows]}


def trace(store: ClickHouseStore, project_id: uuid.UUID, trace_id: str) -> dict[str, Any] | None:
    """The trace's JSON, or None when the project has no event of it (blocking)."""
    rows = store.query(_QUERY, {"project": str(project_id), "trace": trace_id})
    if not rows:
        return None
    events = sorted((dict(zip(_COLUMNS, row)) for row in rows), key=_order)
    first = events[0]
    return {
        "traceId": trace_id,
        "sessionId": first["session_id"],
        "userId": next((e["user_id"] for e in events if e["user_id"]), None),
        "platform": first["platform"] or None,
        "events": [_event(e) for e in events],
    }


def _event(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "eventId": str(event["event_id"]),
        "type": event["event_type"],
        "name": event["event_name"] or None,
        "source": event["source"],
        "timestamp": iso(event["timestamp"]),
        "stepSequence": event["step_sequence"],
        "latencyMs": event["latency_ms"],
        "status": event["status"] or None,
        "errorCategory": event["error_category"] or None,
        "errorMessage": event["error_message"] or None,
        "conversionValue": event["conversion_value"],
        "conversionCurrency": event["conversion_currency"] or None,
        "metadata": json.loads(event["metadata"]) if event["metadata"] else None,
    }
