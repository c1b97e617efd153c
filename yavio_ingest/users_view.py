"""The users of a project (SPEC 7): active users (DAU/WAU/MAU) and their trend, new vs
returning users, retention cohorts (as ClickHouse's `retention`), anonymous sessions, the most
active users, and one user's timeline.

A user is an identified `user_id` (set by `identify`, carried on the later events); a user's
events are the events that carry their id, and a session without any is anonymous, never a
user. A user is active on a UTC day with any event that day. The platform filter narrows the
activity counted, while a user's first and last event ever (in this project, on any platform)
come from `user_stats`, whose `min`/`max` states are dedup-correct (a re-stored event leaves a
minimum or maximum unchanged) and which outlives the events' retention. Scoped to one project.

Dedup-aware: who was active when, and which sessions had a user, cannot change with a copy of
an event, so those figures read the presence rows (`presence`: which sessions and users had
events in which hour) without `FINAL`; the top users' counts keep one
row per `event_id` (copies are identical rows) of those users' events, or read them through
`FINAL` when copies could change who ranks among them, and a user's timeline keeps one row per
`event_id` of the few events carrying their id.
"""

from __future__ import annotations

import math
import uuid
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from yavio_ingest.overview import events_of, iso
from yavio_ingest.presence import presence
from yavio_ingest.sessions_view import session_list
from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_ingest.time_range import TimeRange

__all__ = ["MAX_TIMELINE_EVENTS", "TOP_USERS", "user_timeline", "users"]

TOP_USERS = 50
MAX_TIMELINE_EVENTS = 500
RETENTION_PERIODS = 8
_MONTH_DAYS = 30
_EPOCH = date(1970, 1, 1)
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
# times (measured 3-5x slower at 1M events). The sumMap counts keys day * 4 + kind (0: the
# intervals starting that day, 1-3: the DAU, WAU and MAU intervals ending), one array of
# ones: half the time of summing three arrays of deltas keyed by day (measured at 10M).
#
# The same pass gives new vs returning and retention: the month it reads ends with the range
# (and starts before it), so each user's buckets and retention periods with an event at or
# after `from` are those of the range. Both count only the users of `user_stats` (`known`, as
# the INNER JOINs they replace did). New vs returning: per bucket, the users whose first event
# ever is in that bucket, and the others. Retention: the users first seen in the range with
# an event in it, per cohort (the period of their first event), with `retention(k = 0,
# k = 1, ...)`'s figures: returned[k] is whether they were active in period 0 and in k.
#
# It reads `_PRESENCE`, not the events: one row (user, day, at) per user and slice of time in
# which they had an event, `at` standing for every event of the slice.
_ACTIVITY = """
SELECT countIf(last_seen >= toDateTime64({{end:String}}, 3, 'UTC') - INTERVAL 1 DAY),
       countIf(last_seen >= toDateTime64({{end:String}}, 3, 'UTC') - INTERVAL 7 DAY),
       countIf(last_seen >= toDateTime64({{end:String}}, 3, 'UTC') - INTERVAL {month} DAY),
       sumMap(arrayFlatten(arrayMap((day, next) -> [toInt32(day) * 4,
                                                    toInt32(day + 1) * 4 + 1,
                                                    toInt32(least(day + 7, next)) * 4 + 2,
                                                    toInt32(least(day + {month}, next)) * 4 + 3],
                                    days, next_days)),
              arrayWithConstant(length(days) * 4, toUInt64(1))),
       sumMapIf(buckets, arrayMap(bucket -> toUInt64(bucket = first_bucket), buckets),
                arrayMap(bucket -> toUInt64(bucket != first_bucket), buckets), known),
       sumMapIf([cohort], [toUInt64(1)], {returned},
                known AND first_seen >= toDateTime64({{split:String}}, 3, 'UTC')
                AND first_seen < toDateTime64({{end:String}}, 3, 'UTC') AND notEmpty(periods))
FROM (
    SELECT *, arrayMap(period -> intDiv(dateDiff('day', cohort, period), {days}), periods)
                  AS ks
    FROM (SELECT user_id, max(at) AS last_seen,
                 arraySort(groupUniqArray(toDate32(day))) AS days,
                 -- each active day's next one (none after the last)
                 arrayPushBack(arrayPopFront(days), toDate32('2299-12-31')) AS next_days,
                 groupUniqArrayIf({bucket}, {in_range}) AS buckets,
                 groupUniqArrayIf({event_period}, {in_range}) AS periods
          FROM ({presence}) GROUP BY user_id) AS active
    LEFT JOIN (SELECT user_id, 1 AS known, first_seen, {first_bucket} AS first_bucket,
                      {cohort_period} AS cohort
               FROM ({first_seen})) AS seen USING user_id
)
"""

# Who was active when: one row (user, day, at) per user and part of a day between boundaries
# (`from`, `to`, and `to` less 1, 7 and 30 days; every hour for hourly buckets) in which they
# had an event, `at` standing for every event of that part (its first). From the presence rows
# (`presence`), none of which straddles a boundary, so `at` is at or after a boundary, or in a
# bucket or period, exactly when that part's events are. Presence, so copies change nothing.
# The platform filter narrows the rows, never first seen (from `user_stats`).
_PRESENCE = """
SELECT user_id, toDate(first_seen) AS day, min(first_seen) AS at
FROM ({rows}) WHERE user_id != ''
GROUP BY user_id, day{split_by}
"""

# Whether a session carried any user_id, as a flag: cheaper than the greatest user_id (a
# String kept per session), the same answer. From the presence rows, one per session and hour.
_ANONYMOUS = """
SELECT countIf(NOT identified)
FROM (SELECT session_id, max(user_id != '') AS identified FROM ({rows}) GROUP BY session_id)
"""

_REVENUE = ("sumMapIf([toString(conversion_currency)], [assumeNotNull(conversion_value)], "
            "event_type = 'conversion' AND conversion_value IS NOT NULL)")

# The most active users. Ranking them deduplicated (FINAL) merges every event of the range, the
# view's costliest query, so `_top_users` ranks the copies as they are (`_RANKED`: a user's
# count with copies is at least the true one), counts the 50 first exactly (`_FIGURES`: their
# few events, one per event_id, copies being identical rows) and checks that no user outside
# could rank among them; only when one could (copies in the ranking) does it run `_TOP`.
_RANKED = """
SELECT user_id, count() AS events FROM {events} WHERE user_id != ''
GROUP BY user_id ORDER BY events DESC, user_id LIMIT {limit}
"""

_FIGURES = f"""
SELECT user_id, count() AS events, uniqExact(session_id) AS sessions,
       countIf(event_type = 'tool_call') AS tool_calls,
       countIf(event_type = 'conversion') AS conversions, {_REVENUE} AS revenue
FROM (SELECT event_id, user_id, session_id, event_type, conversion_value, conversion_currency
      FROM {{events}} WHERE user_id IN {{{{users:Array(String)}}}} LIMIT 1 BY event_id)
GROUP BY user_id ORDER BY events DESC, user_id
"""

_TOP = f"""
SELECT user_id, count() AS events, uniqExact(session_id) AS sessions,
       countIf(event_type = 'tool_call') AS tool_calls,
       countIf(event_type = 'conversion') AS conversions, {_REVENUE} AS revenue
FROM {{events}} WHERE user_id != ''
GROUP BY user_id ORDER BY events DESC, user_id LIMIT {{limit}}
"""

_SEEN = """
SELECT user_id, min(first_seen), max(last_seen) FROM user_stats
WHERE project_id = {project:UUID} AND user_id IN {users:Array(String)} GROUP BY user_id
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
    rows, rows_parameters = presence(period)
    anonymous = store.query(_ANONYMOUS.format(rows=rows),
                            {"project": project, **rows_parameters})[0][0]
    active_users, series, new_vs_returning, retention = _activity(store, project, period)
    return {
        "range": {"from": iso(period.start), "to": iso(period.end), "bucket": period.bucket,
                  "platforms": list(period.platforms)},
        "activeUsers": active_users,
        "series": series,
        "newVsReturning": new_vs_returning,
        "retention": retention,
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
              ) -> tuple[dict[str, int], list[dict[str, Any]], list[dict[str, Any]],
                         dict[str, Any]]:
    """`activeUsers` (the last 1, 7 and 30 days before `to`), the daily series, new vs
    returning users per bucket and the retention cohorts."""
    first_day = period.start.date()
    last_day = (period.end - timedelta(milliseconds=1)).date()
    # the month before the first day (for its WAU and MAU) and the month before `to`
    history = TimeRange(min(_midnight(first_day) - timedelta(days=_MONTH_DAYS - 1),
                            period.end - timedelta(days=_MONTH_DAYS)),
                        period.end, period.platforms)
    unit = "day" if period.end - period.start <= _DAILY_COHORTS_UP_TO else "week"
    expression, days_per_period = _COHORT_PERIODS[unit]
    in_range = "at >= toDateTime64({split:String}, 3, 'UTC')"
    returned = ", ".join(f"[toUInt64(has(ks, 0) AND has(ks, {k}))]"
                         for k in range(RETENTION_PERIODS))
    active_rows, active_parameters = _presence(period, history)
    dau, wau, mau, (keys, counts), (buckets, new, returning), (cohorts, sizes, *kept) = \
        store.query(_ACTIVITY.format(
            presence=active_rows, month=_MONTH_DAYS,
            bucket=period.bucket_sql("at"), first_bucket=period.bucket_sql("first_seen"),
            event_period=expression.format("at"),
            cohort_period=expression.format("first_seen"), in_range=in_range,
            days=days_per_period, returned=returned, first_seen=_FIRST_SEEN),
            {"project": project, **history.parameters(), **active_parameters,
             "split": period.parameters()["start"]})[0]
    change_of: dict[date, list[int]] = {}
    for key, count in zip(keys, counts):
        number, kind = divmod(key, 4)
        change = change_of.setdefault(_EPOCH + timedelta(days=number), [0, 0, 0])
        if kind == 0:
            change[:] = [total + count for total in change]
        else:
            change[kind - 1] -= count
    running, series = [0, 0, 0], []
    day = history.start.date()
    while day <= last_day:
        running = [total + change for total, change in
                   zip(running, change_of.get(day, (0, 0, 0)))]
        if day >= first_day:
            series.append({"day": str(day), "dau": running[0], "wau": running[1],
                           "mau": running[2]})
        day += timedelta(days=1)
    users_of = {_naive(bucket): pair for bucket, *pair in zip(buckets, new, returning)}
    new_vs_returning = [{"bucket": iso(bucket), "new": users_of.get(bucket, (0, 0))[0],
                         "returning": users_of.get(bucket, (0, 0))[1]}
                        for bucket in period.buckets()]
    length = timedelta(days=days_per_period)
    retention = []
    for cohort, size, *returns in zip(cohorts, sizes, *kept):
        # periods starting at or after `to` have not happened (in this range): left out
        observable = math.ceil((period.end - _naive(cohort).replace(tzinfo=timezone.utc))
                               / length)
        retention.append({"cohort": iso(cohort), "users": size,
                          "returned": list(returns[:min(observable, RETENTION_PERIODS)])})
    return ({"dau": dau, "wau": wau, "mau": mau}, series, new_vs_returning,
            {"period": unit, "cohorts": retention})


def _presence(period: TimeRange, history: TimeRange) -> tuple[str, dict[str, Any]]:
    """`_PRESENCE` over `history` and its parameters: the presence rows split at the
    boundaries of the active users, the range and (for hourly buckets) its hours."""
    end = history.end
    inner = sorted({period.start, *(end - timedelta(days=n) for n in (1, 7, _MONTH_DAYS))}
                   - {history.start, end})
    rows, parameters = presence(history, inner)
    # a part's side of each boundary, as plain comparisons: a lambda over an array of
    # boundaries costs 3x the rest of the query (measured)
    split_by = "".join(f", first_seen >= toDateTime64({{boundary{number}:String}}, 3, 'UTC')"
                       for number in range(len(inner)))
    parameters.update({f"boundary{number}": _sql_time(boundary)
                       for number, boundary in enumerate(inner)})
    if period.bucket == "hour":
        split_by += ", toStartOfHour(first_seen)"
    return _PRESENCE.format(rows=rows, split_by=split_by), parameters


def _sql_time(when: datetime) -> str:
    """A DateTime64(3) parameter, as `TimeRange.parameters()` gives them."""
    return TimeRange(when, when).parameters()["start"]


def _naive(when: datetime) -> datetime:
    """A ClickHouse DateTime in UTC, without its zone (as `TimeRange.buckets()` gives them)."""
    return when.astimezone(timezone.utc).replace(tzinfo=None) if when.tzinfo else when


def _top_users(store: ClickHouseStore, project: str, period: TimeRange,
               ) -> list[dict[str, Any]]:
    parameters = {"project": project, **period.parameters()}
    ranked = store.query(_RANKED.format(events=events_of(period, deduplicated=False),
                                        limit=TOP_USERS + 1), parameters)
    candidates = ranked[:TOP_USERS]
    rows = store.query(_FIGURES.format(events=events_of(period, deduplicated=False)),
                       {**parameters, "users": [user_id for user_id, _ in candidates]}
                       ) if candidates else []
    if len(ranked) > TOP_USERS and rows:
        with_copies = dict(candidates)
        # Exact when no candidate had copies (the ranking with copies is then the true one
        # down to the last candidate, and anyone after it counts at most what it counted),
        # or when the first user left out counted, copies included, fewer events than the
        # last candidate has without them.
        exact = all(with_copies[row[0]] == row[1] for row in rows) or \
            ranked[TOP_USERS][1] < min(row[1] for row in rows)
        if not exact or len(rows) < TOP_USERS:
            rows = store.query(_TOP.format(events=events_of(period), limit=TOP_USERS),
                               parameters)
    if not rows:
        return []
    seen = {user_id: (first_seen, last_seen) for user_id, first_seen, last_seen in store.query(
        _SEEN, {"project": project, "users": [row[0] for row in rows]})}
    # as the LEFT JOIN this replaces: a user without a user_stats row gets the epoch
    unseen = (datetime(1970, 1, 1), datetime(1970, 1, 1))
    return [{"userId": user_id, "firstSeen": iso(seen.get(user_id, unseen)[0]),
             "lastSeen": iso(seen.get(user_id, unseen)[1]), "events": count, "sessions": sessions,
             "toolCalls": tool_calls, "conversions": conversions, "revenue": _revenue(revenue)}
            for (user_id, count, sessions, tool_calls, conversions, revenue) in rows]


def _midnight(day: Any) -> datetime:
    return datetime.combine(day, time(), tzinfo=timezone.utc)


def _revenue(revenue: tuple[list[str], list[float]]) -> dict[str, float]:
    currencies, totals = revenue
    return {currency or "none": round(float(total), 6)
            for currency, total in zip(currencies, totals)}
