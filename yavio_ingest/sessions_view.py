"""The sessions of a project over a time range (SPEC 7): how many, how many identified (a
`user_id` on any of their events) and anonymous, their average duration and tool calls (each
beside its previous-period value), sessions started per bucket (zero-filled), and the latest
sessions with their figures.

A session's figures count its events within the range (and platforms): it starts at its first
event there and lasts until its last. Its user is the latest `user_id` it carried (set by
`identify`). `user` narrows every figure to the sessions with an event of that user. Scoped to
one project, and dedup-aware: which sessions exist, their users and their times cannot change
with a copy of an event, so they are read from the presence rows (`presence`: one per
session and hour), without `FINAL`; counts of events are read
deduplicated, the tool calls through `FINAL` and the listed sessions' events one per `event_id`
(copies are identical rows).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from yavio_ingest.overview import events_of, iso
from yavio_ingest.presence import presence
from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_ingest.time_range import TimeRange

__all__ = ["MAX_SESSIONS", "session_list", "sessions"]

MAX_SESSIONS = 200
# The previous period's row of `_KPIS` is at the epoch; every range starts after this year.
_FIRST_YEAR = 2000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

_OF_USER = "session_id IN (SELECT session_id FROM {events} WHERE user_id = {{user:String}})"

# Whether an event (or a presence row) is of the current period, not the previous (braces
# doubled for format).
_CURRENT = "{time} >= toDateTime64({{split:String}}, 3, 'UTC')"

# Each period's sessions, one row each: the presence rows (`presence`: one per session and
# hour, none straddling the periods' boundary) of the previous period and of the current one
# grouped apart (UNION ALL), so one that spans the boundary counts in each, with its events
# of that period. Grouping by session_id alone is about twice as fast as by (session_id,
# period): a String key rather than a compound one. The series and the latest sessions come
# from the same rows, so the grouping by session, the view's main cost, runs once instead of
# three times: the current period's sessions are grouped by the bucket of their start (the
# series, zero-filled), the previous period's all in one row at the epoch, before the range
# (ranges start in the year 2000 or later); the KPIs are sums over those rows. `listed` marks
# the sessions of the series and the list: with `user`, those with an event of the user in
# the current period (the KPIs keep the sessions with one in either period). Each row keeps
# its newest `limit` listed sessions, (-start, id) ascending: the newest first, then by id,
# as the list orders them; the merge of the rows' lists is the list.
_PERIOD_SESSIONS = """
    SELECT session_id, {current} AS current, max(user_id != '') AS identified,
           min(first_seen) AS started,
           toUnixTimestamp64Milli(max(last_seen)) - toUnixTimestamp64Milli(started)
               AS duration_ms,
           {listed} AS listed
    FROM ({rows}) WHERE {sessions} AND {condition} GROUP BY session_id
"""

_KPIS = """
SELECT if(current, {bucket}, toDateTime(0, 'UTC')) AS bucket, count(), countIf(identified),
       sum(duration_ms), countIf(listed AND current),
       groupArraySortedIf({limit})((-toUnixTimestamp64Milli(started), session_id),
                                  listed AND current)
FROM ({current_sessions} UNION ALL {previous_sessions})
GROUP BY bucket {order}
"""

_TOOL_CALLS = """
SELECT {current} AS current, count() FROM {events}
WHERE event_type = 'tool_call' AND {sessions} GROUP BY current
"""

# The figures of the listed sessions (`{which}`) from their events in the range, one per
# event_id. For `sessions`, the sessions found by `_KPIS` (`_BY_ID`); none of their events is
# older than the earliest listed start (`since`): a bound on the sort key's day and time, so
# only the last part of the range is read. For `session_list`, the latest sessions of the
# range (`_LATEST`: a copy of an event moves no session's start, so no dedup).
_LIST = """
SELECT session_id, argMaxIf(user_id, timestamp, user_id != ''), argMin(platform, timestamp),
       min(timestamp) AS started, max(timestamp),
       toUnixTimestamp64Milli(max(timestamp)) - toUnixTimestamp64Milli(min(timestamp)),
       countIf(event_type = 'tool_call'), countIf(status = 'error'),
       countIf(event_type = 'conversion'), uniqExact(trace_id), count()
FROM (
    SELECT event_id, session_id, user_id, platform, timestamp, event_type, status, trace_id
    FROM {events} WHERE {which}
    LIMIT 1 BY event_id
)
GROUP BY session_id ORDER BY started DESC, session_id
"""

_BY_ID = ("session_id IN {ids:Array(String)} "
          "AND timestamp >= toDateTime64({since:String}, 3, 'UTC')")

_LATEST = """
session_id IN (SELECT session_id FROM {events} WHERE {sessions} GROUP BY session_id
               ORDER BY min(timestamp) DESC, session_id LIMIT {limit})
"""


def sessions(store: ClickHouseStore, project_id: uuid.UUID, period: TimeRange,
             user: str | None = None, limit: int = 50) -> dict[str, Any]:
    """The sessions view's JSON (blocking): KPIs, series and the latest `limit` sessions."""
    limit = max(1, min(limit, MAX_SESSIONS))
    both = TimeRange(period.previous.start, period.end, period.platforms)
    events = events_of(both, deduplicated=False)
    parameters = {"project": str(project_id), **both.parameters(),
                  "split": period.parameters()["start"], "user": user or ""}
    rows, rows_parameters = presence(both, [period.start])
    in_current = _CURRENT.format(time="first_seen")
    period_sessions = {current: _PERIOD_SESSIONS.format(
        current=int(current), rows=rows, sessions=_sessions(events, user),
        listed="max(user_id = {user:String})" if user else "1",
        condition=in_current if current else f"NOT {in_current}")
        for current in (True, False)}
    rows = store.query(_KPIS.format(
        current_sessions=period_sessions[True], previous_sessions=period_sessions[False],
        limit=limit, bucket=period.bucket_sql("started"),
        # the fill spans the current period: its start is `split` here
        order=period.series_order().replace("{start:String}", "{split:String}")),
        {**parameters, **rows_parameters})
    calls = {bool(current): count for current, count in store.query(
        _TOOL_CALLS.format(current=_CURRENT.format(time="timestamp"), events=events_of(both),
                           sessions=_sessions(events, user)),
        parameters)}
    previous = [row for row in rows if row[0].year < _FIRST_YEAR]
    current = [row for row in rows if row[0].year >= _FIRST_YEAR]
    figures = {side: _figures(side_rows, calls.get(side, 0))
               for side, side_rows in ((True, current), (False, previous))}
    latest = sorted(session for row in current for session in row[5])[:limit]
    return {
        "range": {"from": iso(period.start), "to": iso(period.end), "bucket": period.bucket,
                  "platforms": list(period.platforms)},
        "kpis": {name: {"value": value, "previous": figures[False][name]}
                 for name, value in figures[True].items()},
        "series": [{"bucket": iso(bucket), "sessions": listed}
                   for bucket, _, _, _, listed, _ in current],
        "sessions": _listed(
            store, events_of(period, deduplicated=False), _BY_ID,
            {"project": str(project_id), **period.parameters(),
             "ids": [session_id for _, session_id in latest],
             # the earliest start (the list's entries are (-start, id))
             "since": _sql_time(_EPOCH - timedelta(milliseconds=latest[-1][0]))})
        if latest else [],
    }


def session_list(store: ClickHouseStore, project_id: uuid.UUID, period: TimeRange,
                 user: str | None, limit: int) -> list[dict[str, Any]]:
    """The latest sessions of the range, newest first (of `user` only, when given)."""
    events = events_of(period, deduplicated=False)
    which = _LATEST.format(events=events, sessions=_sessions(events, user),
                           limit=max(1, min(limit, MAX_SESSIONS)))
    return _listed(store, events, which,
                   {"project": str(project_id), **period.parameters(), "user": user or ""})


def _listed(store: ClickHouseStore, events: str, which: str,
            parameters: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures of the sessions `which` keeps, newest first."""
    rows = store.query(_LIST.format(events=events, which=which), parameters)
    return [{"sessionId": session_id, "userId": user_id or None, "platform": platform or None,
             "startedAt": iso(started), "lastSeenAt": iso(last_seen), "durationMs": duration,
             "toolCalls": tool_calls, "errors": errors, "conversions": conversions,
             "traces": traces, "events": count}
            for (session_id, user_id, platform, started, last_seen, duration, tool_calls, errors,
                 conversions, traces, count) in rows]


def _sql_time(when: datetime) -> str:
    """A time as the DateTime64(3) parameters of `TimeRange.parameters`."""
    return TimeRange(when, when).parameters()["start"]


def _sessions(events: str, user: str | None) -> str:
    """The condition keeping the sessions of `user` (all of them without one)."""
    return _OF_USER.format(events=events) if user else "1"


def _figures(rows: list[tuple[Any, ...]], tool_calls: int) -> dict[str, Any]:
    """A period's KPIs from its rows of `_KPIS` (sessions, identified, total duration)."""
    sessions = sum(row[1] for row in rows)
    identified = sum(row[2] for row in rows)
    duration = sum(row[3] for row in rows)
    return {
        "sessions": sessions,
        "identifiedSessions": identified,
        "anonymousSessions": sessions - identified,
        # an average of no sessions is unknown, not zero
        "avgDurationMs": duration / sessions if sessions else None,
        "avgToolCalls": tool_calls / sessions if sessions else None,
    }
