"""The users of a project (SPEC 7): active users (DAU/WAU/MAU) and their trend, new vs
returning users, retention cohorts (ClickHouse's `retention`), anonymous sessions, the most
active users, and one user's timeline.

A user is an identified `user_id` (set by `identify`, carried on the later events); a user's
events are the events that carry their id, and a session without any is anonymous, never a
user. A user is active on a UTC day with any event that day. The platform filter narrows the
activity counted, while a user's first and last event ever (in this project, on any platform)
come from `user_stats`, whose `min`/`max` states are dedup-correct (a re-stored event leaves a
minimum or maximum unchanged) and which outlives the events' retention. Scoped to one project.

Dedup-aware: who was active when, and which sessions had a user, cannot change with a copy of
an event, so those figures read the events without `FINAL`; the top users' counts read them
deduplicated (`events_of`), and a user's timeline keeps one row per `event_id` (copies are
identical rows) of the few events carrying their id.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, time, timedelta, timezone
from typing import Any

from yavio_ingest.overview import events_of, iso
from yavio_ingest.sessions_view import session_list
from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_ingest.time_range import TimeRange

__all__ = ["MAX_TIMELINE_EVENTS", "TOP_USERS", "user_timeline", "users"]

TOP_USERS = 50
MAX_TIMELINE_EVENTS = 500
RETENTION_PERIODS = 8
_MONTH_DAYS = 30
# Retention cohorts by the day of the first event for ranges up to 60 days (the series' own
# limit for daily buckets), else by the week (starting Monday, like the series' weeks).
_DAILY_COHORTS_UP_TO = timedelta(days=60)
_COHORT_PERIODS = {"day": ("toStartOfDay({})", 1),
                   "week": ("toDateTime(toStartOfWeek({}, 1), 'UTC')", 7)}

_FIRST_SEEN = """
SELECT user_id, min(first_seen) AS first_seen, max(last_seen) AS last_seen
FROM user_stats WHERE project_id = {project:UUID} GROUP BY user_id
"""

# One pass over each user's active days (UTC) and last event, for both the active users at
# the range's end and the daily series. A user active on day d counts on [d, d] for DAU,
# [d, d+6] for WAU and [d, d+29] for MAU, each cut short where their next active day starts,
# so no user counts twice on a day. The intervals' starts (+1) and ends (-1), summed per day
# across users (sumMap), become each day's figures as a running total (`_activity`): linear in
# (user, day) pairs, where counting distinct users per window would expand every pair 30
# times (measured 3-5x slower at 1M events).
_ACTIVITY = """
SELECT countIf(last_seen >= toDateTime64({{end:String}}, 3, 'UTC') - INTERVAL 1 DAY),
       countIf(last_seen >= toDateTime64({{end:String}}, 3, 'UTC') - INTERVAL 7 DAY),
       countIf(last_seen >= toDateTime64({{end:String}}, 3, 'UTC') - INTERVAL {month} DAY),
       sumMap(arrayFlatten(arrayMap((day, next) -> [day, day + 1, least(day + 7, next),
                                                    least(day + {month}, next)],
                                    days, next_days)),
              arrayFlatten(arrayMap(day -> [1, -1, 0, 0], days)),
              arrayFlatten(arrayMap(day -> [1, 0, -1, 0], days)),
              arrayFlatten(arrayMap(day -> [1, 0, 0, -1], days)))
FROM (SELECT user_id, max(timestamp) AS last_seen,
             arraySort(groupUniqArray(toDate32(timestamp))) AS days,
             -- each active day's next one (none after the last)
             arrayPushBack(arrayPopFront(days), toDate32('2299-12-31')) AS next_days
      FROM {events} WHERE user_id != '' GROUP BY user_id)
"""

_NEW_VS_RETURNING = """
SELECT bucket, uniqExactIf(user_id, first_bucket = bucket) AS new_users,
       uniqExact(user_id) - new_users
FROM (SELECT DISTINCT user_id, {bucket} AS bucket FROM {events} WHERE user_id != '') AS active
INNER JOIN (SELECT user_id, {first_bucket} AS first_bucket FROM ({first_seen})) AS seen
    USING user_id
GROUP BY bucket {order}
"""

# `retention(k = 0, k = 1, ...)` per user: [active in the first period, active in it and in
# the second, ...]; summed per cohort, that is the cohort's row of the retention table.
_RETENTION = """
SELECT cohort, count(), sumForEach(returned)
FROM (
    SELECT user_id, any(cohort) AS cohort, retention({conditions}) AS returned
    FROM (
        SELECT active.user_id AS user_id, cohorts.cohort AS cohort,
               intDiv(dateDiff('day', cohorts.cohort, active.period), {days}) AS k
        FROM (SELECT DISTINCT user_id, {event_period} AS period FROM {events}
              WHERE user_id != '') AS active
        INNER JOIN (
            SELECT user_id, {cohort_period} AS cohort FROM ({first_seen})
            WHERE first_seen >= toDateTime64({{start:String}}, 3, 'UTC')
              AND first_seen < toDateTime64({{end:String}}, 3, 'UTC')
        ) AS cohorts ON active.user_id = cohorts.user_id
    )
    GROUP BY user_id
)
GROUP BY cohort ORDER BY cohort
"""

_ANONYMOUS = """
SELECT countIf(user = '')
FROM (SELECT session_id, max(user_id) AS user FROM {events} GROUP BY session_id)
"""

_REVENUE = ("sumMapIf([toString(conversion_currency)], [assumeNotNull(conversion_value)], "
            "event_type = 'conversion' AND conversion_value IS NOT NULL)")

_TOP = f"""
SELECT ranked.user_id, seen.first_seen, seen.last_seen, events, sessions, tool_calls,
       conversions, revenue
FROM (
    SELECT user_id, count() AS events, uniqExact(session_id) AS sessions,
           countIf(event_type = 'tool_call') AS tool_calls,
           countIf(event_type = 'conversion') AS conversions, {_REVENUE} AS revenue
    FROM {{events}} WHERE user_id != ''
    GROUP BY user_id ORDER BY events DESC, user_id LIMIT {{limit}}
) AS ranked
LEFT JOIN ({{first_seen}}) AS seen ON ranked.user_id = seen.user_id
ORDER BY events DESC, ranked.user_id
"""

_PROFILE = """
SELECT count(), min(first_seen), max(last_seen) FROM user_stats
WHERE project_id = {project:UUID} AND user_id = {user:String}
"""

_USER_EVENTS = """
(SELECT event_id, event_type, event_name, trace_id, session_id, timestamp, platform, status,
        conversion_value, conversion_currency
 FROM {events} WHERE user_id = {{user:String}} LIMIT 1 BY event_id)
"""

_TOTALS = f"""
SELECT count(), uniqExact(session_id), countIf(event_type = 'tool_call'),
       countIf(status = 'error'), countIf(event_type = 'conversion'), {_REVENUE}
FROM {{user_events}}
"""

_TIMELINE = """
SELECT toString(event_id), event_type, event_name, trace_id, session_id, timestamp, platform,
       status
FROM {user_events} ORDER BY timestamp DESC, event_id LIMIT {limit}
"""


def users(store: ClickHouseStore, project_id: uuid.UUID, period: TimeRange) -> dict[str, Any]:
    """The users view's JSON (blocking)."""
    project = str(project_id)
    anonymous = store.query(_ANONYMOUS.format(events=events_of(period, deduplicated=False)),
                            {"project": project, **period.parameters()})[0][0]
    active_users, series = _activity(store, project, period)
    return {
        "range": {"from": iso(period.start), "to": iso(period.end), "bucket": period.bucket,
                  "platforms": list(period.platforms)},
        "activeUsers": active_users,
        "series": series,
        "newVsReturning": _new_vs_returning(store, project, period),
        "retention": _retention(store, project, period),
        "anonymousSessions": anonymous,
        "users": _top_users(store, project, period),
    }


def user_timeline(store: ClickHouseStore, project_id: uuid.UUID, period: TimeRange,
                  user_id: str, limit: int = 100) -> dict[str, Any] | None:
    """One user's sessions and events in the range, newest first, with totals; None when the
    project has no event of this user at all (blocking)."""
    project = str(project_id)
    known, first_seen, last_seen = store.query(_PROFILE, {"project": project,
                                                          "user": user_id})[0]
    if not known:
        return None
    user_events = _USER_EVENTS.format(events=events_of(period, deduplicated=False))
    parameters = {"project": project, **period.parameters(), "user": user_id}
    count, sessions, tool_calls, errors, conversions, revenue = store.query(
        _TOTALS.format(user_events=user_events), parameters)[0]
    timeline = store.query(_TIMELINE.format(
        user_events=user_events, limit=max(1, min(limit, MAX_TIMELINE_EVENTS))), parameters)
    return {
        "userId": user_id,
        "firstSeen": iso(first_seen),
        "lastSeen": iso(last_seen),
        "totals": {"events": count, "sessions": sessions, "toolCalls": tool_calls,
                   "errors": errors, "conversions": conversions, "revenue": _revenue(revenue)},
        "sessions": session_list(store, project_id, period, user_id, limit),
        "events": [{"eventId": event_id, "type": event_type, "name": name or None,
                    "traceId": trace_id, "sessionId": session_id, "timestamp": iso(when),
                    "platform": platform or None, "status": status or None}
                   for (event_id, event_type, name, trace_id, session_id, when, platform,
                        status) in timeline],
    }


def _activity(store: ClickHouseStore, project: str, period: TimeRange,
              ) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """`activeUsers` (the last 1, 7 and 30 days before `to`) and the daily series."""
    first_day = period.start.date()
    last_day = (period.end - timedelta(milliseconds=1)).date()
    # the month before the first day (for its WAU and MAU) and the month before `to`
    history = TimeRange(min(_midnight(first_day) - timedelta(days=_MONTH_DAYS - 1),
                            period.end - timedelta(days=_MONTH_DAYS)),
                        period.end, period.platforms)
    dau, wau, mau, (days, *changes) = store.query(
        _ACTIVITY.format(events=events_of(history, deduplicated=False), month=_MONTH_DAYS),
        {"project": project, **history.parameters()})[0]
    change_of = {day: change for day, *change in zip(days, *changes)}
    running, series = [0, 0, 0], []
    day = history.start.date()
    while day <= last_day:
        running = [total + change for total, change in
                   zip(running, change_of.get(day, (0, 0, 0)))]
        if day >= first_day:
            series.append({"day": str(day), "dau": running[0], "wau": running[1],
                           "mau": running[2]})
        day += timedelta(days=1)
    return {"dau": dau, "wau": wau, "mau": mau}, series


def _new_vs_returning(store: ClickHouseStore, project: str, period: TimeRange,
                      ) -> list[dict[str, Any]]:
    rows = store.query(_NEW_VS_RETURNING.format(
        events=events_of(period, deduplicated=False), bucket=period.bucket_sql("timestamp"),
        first_bucket=period.bucket_sql("first_seen"), first_seen=_FIRST_SEEN,
        order=period.series_order()), {"project": project, **period.parameters()})
    return [{"bucket": iso(bucket), "new": new, "returning": returning}
            for bucket, new, returning in rows]


def _retention(store: ClickHouseStore, project: str, period: TimeRange) -> dict[str, Any]:
    unit = "day" if period.end - period.start <= _DAILY_COHORTS_UP_TO else "week"
    expression, days = _COHORT_PERIODS[unit]
    conditions = ", ".join(f"k = {k}" for k in range(RETENTION_PERIODS))
    rows = store.query(_RETENTION.format(
        events=events_of(period, deduplicated=False), first_seen=_FIRST_SEEN,
        conditions=conditions, days=days,
        event_period=expression.format("timestamp"),
        cohort_period=expression.format("first_seen")),
        {"project": project, **period.parameters()})
    length = timedelta(days=days)
    cohorts = []
    for cohort, size, returned in rows:
        # periods starting at or after `to` have not happened (in this range): left out
        observable = math.ceil((period.end - cohort.replace(tzinfo=timezone.utc)) / length)
        cohorts.append({"cohort": iso(cohort), "users": size,
                        "returned": list(returned[:min(observable, RETENTION_PERIODS)])})
    return {"period": unit, "cohorts": cohorts}


def _top_users(store: ClickHouseStore, project: str, period: TimeRange,
               ) -> list[dict[str, Any]]:
    rows = store.query(_TOP.format(events=events_of(period), first_seen=_FIRST_SEEN,
                                   limit=TOP_USERS), {"project": project, **period.parameters()})
    return [{"userId": user_id, "firstSeen": iso(first_seen), "lastSeen": iso(last_seen),
             "events": count, "sessions": sessions, "toolCalls": tool_calls,
             "conversions": conversions, "revenue": _revenue(revenue)}
            for (user_id, first_seen, last_seen, count, sessions, tool_calls, conversions,
                 revenue) in rows]


def _midnight(day: Any) -> datetime:
    return datetime.combine(day, time(), tzinfo=timezone.utc)


def _revenue(revenue: tuple[list[str], list[float]]) -> dict[str, float]:
    currencies, totals = revenue
    return {currency or "none": round(float(total), 6)
            for currency, total in zip(currencies, totals)}
