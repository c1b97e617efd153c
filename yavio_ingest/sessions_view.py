"""The sessions of a project over a time range (SPEC 7): how many, how many identified (a
`user_id` on any of their events) and anonymous, their average duration and tool calls (each
beside its previous-period value), sessions started per bucket (zero-filled), and the latest
sessions with their figures.

A session's figures count its events within the range (and platforms): it starts at its first
event there and lasts until its last. Its user is the latest `user_id` it carried (set by
`identify`). `user` narrows every figure to the sessions with an event of that user. Scoped to
one project, and dedup-aware: which sessions exist, their users and their times cannot change
with a copy of an event, so they are read without `FINAL`; counts of events are read
deduplicated, the tool calls through `FINAL` (only tool-call rows: the primary key starts with
`event_type`) and the listed sessions' events one per `event_id` (copies are identical rows).
"""

from __future__ import annotations

import uuid
from typing import Any

from yavio_ingest.overview import events_of, iso
from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_ingest.time_range import TimeRange

__all__ = ["MAX_SESSIONS", "session_list", "sessions"]

MAX_SESSIONS = 200

_OF_USER = "session_id IN (SELECT session_id FROM {events} WHERE user_id = {{user:String}})"

# Whether an event is of the current period, not the previous (braces doubled for format).
_CURRENT = "timestamp >= toDateTime64({{split:String}}, 3, 'UTC')"

# Both periods in one pass: a session is grouped per period it has events in, so one that
# spans the boundary counts in each, with its events of that period.
_KPIS = f"""
SELECT current, count(), countIf(user != ''), avg(duration_ms)
FROM (
    SELECT session_id, {_CURRENT} AS current, max(user_id) AS user,
           toUnixTimestamp64Milli(max(timestamp)) - toUnixTimestamp64Milli(min(timestamp))
               AS duration_ms
    FROM {{events}} WHERE {{sessions}} GROUP BY session_id, current
)
GROUP BY current
"""

_TOOL_CALLS = f"""
SELECT {_CURRENT} AS current, count() FROM {{events}}
WHERE event_type = 'tool_call' AND {{sessions}} GROUP BY current
"""

_SERIES = """
SELECT {bucket} AS bucket, count() AS sessions
FROM (SELECT session_id, min(timestamp) AS started FROM {events} WHERE {sessions}
      GROUP BY session_id)
GROUP BY bucket {order}
"""

# The latest sessions first (a copy of an event moves no session's start, so no dedup), then
# the events of those only, one per event_id, for their figures.
_LIST = """
SELECT session_id, argMaxIf(user_id, timestamp, user_id != ''), argMin(platform, timestamp),
       min(timestamp) AS started, max(timestamp),
       toUnixTimestamp64Milli(max(timestamp)) - toUnixTimestamp64Milli(min(timestamp)),
       countIf(event_type = 'tool_call'), countIf(status = 'error'),
       countIf(event_type = 'conversion'), uniqExact(trace_id), count()
FROM (
    SELECT event_id, session_id, user_id, platform, timestamp, event_type, status, trace_id
    FROM {events}
    WHERE session_id IN (SELECT session_id FROM {events} WHERE {sessions} GROUP BY session_id
                         ORDER BY min(timestamp) DESC, session_id LIMIT {limit})
    LIMIT 1 BY event_id
)
GROUP BY session_id ORDER BY started DESC, session_id
"""


def sessions(store: ClickHouseStore, project_id: uuid.UUID, period: TimeRange,
             user: str | None = None, limit: int = 50) -> dict[str, Any]:
    """The sessions view's JSON (blocking): KPIs, series and the latest `limit` sessions."""
    events = events_of(period, deduplicated=False)
    series = store.query(
        _SERIES.format(events=events, sessions=_sessions(events, user),
                       bucket=period.bucket_sql("started"), order=period.series_order()),
        {"project": str(project_id), **period.parameters(), "user": user or ""})
    return {
        "range": {"from": iso(period.start), "to": iso(period.end), "bucket": period.bucket,
                  "platforms": list(period.platforms)},
        "kpis": _kpis(store, project_id, period, user),
        "series": [{"bucket": iso(bucket), "sessions": count} for bucket, count in series],
        "sessions": session_list(store, project_id, period, user, limit),
    }


def session_list(store: ClickHouseStore, project_id: uuid.UUID, period: TimeRange,
                 user: str | None, limit: int) -> list[dict[str, Any]]:
    """The latest sessions of the range, newest first (of `user` only, when given)."""
    events = events_of(period, deduplicated=False)
    rows = store.query(
        _LIST.format(events=events, sessions=_sessions(events, user),
                     limit=max(1, min(limit, MAX_SESSIONS))),
        {"project": str(project_id), **period.parameters(), "user": user or ""})
    return [{"sessionId": session_id, "userId": user_id or None, "platform": platform or None,
             "startedAt": iso(started), "lastSeenAt": iso(last_seen), "durationMs": duration,
             "toolCalls": tool_calls, "errors": errors, "conversions": conversions,
             "traces": traces, "events": count}
            for (session_id, user_id, platform, started, last_seen, duration, tool_calls, errors,
                 conversions, traces, count) in rows]


def _sessions(events: str, user: str | None) -> str:
    """The condition keeping the sessions of `user` (all of them without one)."""
    return _OF_USER.format(events=events) if user else "1"


def _kpis(store: ClickHouseStore, project_id: uuid.UUID, period: TimeRange,
          user: str | None) -> dict[str, Any]:
    both = TimeRange(period.previous.start, period.end, period.platforms)
    events = events_of(both, deduplicated=False)
    parameters = {"project": str(project_id), **both.parameters(),
                  "split": period.parameters()["start"], "user": user or ""}
    rows = store.query(_KPIS.format(events=events, sessions=_sessions(events, user)),
                       parameters)
    calls = {bool(current): count for current, count in store.query(
        _TOOL_CALLS.format(events=events_of(both), sessions=_sessions(events, user)),
        parameters)}
    by_period = {bool(current): figures for current, *figures in rows}
    current, previous = (_figures(by_period.get(side), calls.get(side, 0))
                         for side in (True, False))
    return {name: {"value": value, "previous": previous[name]}
            for name, value in current.items()}


def _figures(row: list[Any] | None, tool_calls: int) -> dict[str, Any]:
    sessions, identified, duration = row or (0, 0, None)
    return {
        "sessions": sessions,
        "identifiedSessions": identified,
        "anonymousSessions": sessions - identified,
        # an average of no sessions is unknown, not zero
        "avgDurationMs": float(duration) if sessions else None,
        "avgToolCalls": tool_calls / sessions if sessions else None,
    }
