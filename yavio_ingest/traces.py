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

# The trace list reads no FINAL and never groups the whole range by trace. A trace starts no
# later than its tool call, so the latest `limit` traces (by start) all have a matching call at
# or after `since`, the oldest of the latest calls of the `limit` newest traces: `since` comes
# from the tool calls alone (fewer rows to sort than every event of the range), and only the
# traces with a call since then are aggregated, over the whole range (their trace_id found
# through its bloom filter). `traces()` checks the bound held (the last trace listed started at
# or after `since`) and otherwise repeats the query from an earlier bound, so the answer is the
# one of grouping every event of the range. Every figure is one a copy of an event cannot change
# (first time, presence, max, the call's fields); the event count counts distinct (event_type,
# timestamp, event_id), which copies of an event share.
_CALLS = "(SELECT * FROM {events} WHERE event_type = 'tool_call' {calls} {traces})"

_SINCE = """(SELECT min(latest) FROM (
    SELECT trace_id, timestamp AS latest FROM {calls}
    ORDER BY timestamp DESC, trace_id LIMIT 1 BY trace_id LIMIT {limit}))"""

_LIST = """
WITH {since} AS since
SELECT trace_id,
       argMaxIf((session_id, event_name, status, latency_ms, platform), timestamp,
                event_type = 'tool_call' {calls}) AS call,
       max(user_id), min(timestamp) AS started, uniqExact(event_type, timestamp, event_id),
       any(since)
FROM {events}
WHERE trace_id IN (SELECT trace_id FROM {call_rows} WHERE timestamp >= since)
GROUP BY trace_id
ORDER BY started DESC, trace_id LIMIT {limit}
"""

# The filters apply to the tool call itself, but `user`: the trace has any event of that user
# (in the range), found through the user_id bloom filter.
_CALL_FILTERS = {
    "session": "session_id = {session:String}",
    "tool": "event_name = {tool:String}",
    "status": "status = {status:String}",
}
_USER_FILTER = "AND trace_id IN (SELECT trace_id FROM {events} WHERE user_id = {user:String})"

_COLUMNS = ("event_id", "event_type", "event_name", "source", "timestamp", "step_sequence",
            "latency_ms", "status", "error_category", "error_message", "conversion_value",
            "conversion_currency", "session_id", "user_id", "platform", "metadata",
            "input_values", "output_content", "intent_signals")

# A trace is a few rows found through the trace_id bloom filter: keeping the latest copy of
# each event among them (what FINAL keeps) costs half of a FINAL over the project's parts.
_QUERY = (f"SELECT {', '.join(_COLUMNS)} FROM events "
          "WHERE project_id = {project:UUID} AND trace_id = {trace:String} "
          "ORDER BY ingested_at DESC LIMIT 1 BY event_id")

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
    limit = min(limit, MAX_TRACES)
    events = events_of(period, deduplicated=False)
    calls = "".join(f" AND {_CALL_FILTERS[name]}" for name in TRACE_FILTERS
                    if name in _CALL_FILTERS and name in filters)
    call_rows = _CALLS.format(events=events, calls=calls, traces=_USER_FILTER.replace(
        "{events}", events) if "user" in filters else "")
    parameters = {"project": str(project_id), **period.parameters(), **filters}
    since = _SINCE.format(calls=call_rows, limit=limit)
    while True:
        rows = store.query(_LIST.format(since=since, calls=calls, events=events,
                                        call_rows=call_rows, limit=limit), parameters)
        # Fewer rows than asked: every trace with a matching call was aggregated (`since`
        # was the oldest call, or no call). Else the last one bounds any trace that belongs.
        if not rows or len(rows) < limit or rows[-1][3] >= rows[-1][5]:
            break
        since = "toDateTime64({since:String}, 3, 'UTC')"
        parameters["since"] = rows[-1][3].strftime("%Y-%m-%d %H:%M:%S.%f")
    return {"traces": [
        {"traceId": trace_id, "sessionId": session, "tool": tool, "status": status or None,
         "latencyMs": latency, "userId": user or None, "platform": platform or None,
         "startedAt": iso(started), "events": count}
        for trace_id, (session, tool, status, latency, platform), user, started, count, _
        in rows]}


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
        "metadata": _json(event["metadata"]),
        # the tool call's payload: what the agent sent, what the tool answered, and why
        "input": _json(event["input_values"]),
        "output": _json(event["output_content"]),
        "intent": _json(event["intent_signals"]),
    }


def _json(text: str) -> Any:
    """A payload column's JSON text decoded; None for an event without it (empty column)."""
    return json.loads(text) if text else None
