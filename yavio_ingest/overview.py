"""The overview of a project over a time range (SPEC 7): invocations, sessions, error rate,
p50/p95 latency, conversions and revenue (each beside its previous-period value), the platform
mix, the top tools and invocations per bucket, zero-filled.

Every figure is dedup-aware: an event stored twice (the ingest acknowledged a retry, or a
replay re-inserted it) is read once, through `events FINAL` (ReplacingMergeTree collapses rows
of one `event_id` at query time). Queries are parameterised and scoped to one project.
"""

from __future__ import annotations

import uuid
from typing import Any

from yavio_ingest.presence import presence
from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_ingest.time_range import TimeRange

__all__ = ["events_of", "iso", "overview"]

TOP_TOOLS = 10

_EVENTS = "(SELECT * FROM events {final} WHERE project_id = {project:UUID} AND {range})"

# Both periods in one pass (the previous period ends where the current one starts), counting
# only the tool calls and conversions.
_KPIS = """
SELECT
    timestamp >= toDateTime64({{current_start:String}}, 3, 'UTC') AS current,
    countIf(event_type = 'tool_call') AS invocations,
    countIf(event_type = 'tool_call' AND status = 'error') AS errors,
    quantilesExactIf(0.5, 0.95)(latency_ms, event_type = 'tool_call' AND latency_ms IS NOT NULL),
    countIf(event_type = 'conversion') AS conversions,
    {revenue} AS revenue
FROM {events} WHERE event_type IN ('tool_call', 'conversion')
GROUP BY current
"""

# Sessions active in each period: those with an event in it (one on each side of the previous
# period's end counts in both), from the presence rows: one per session and hour instead of
# every event, and the same sessions as the sessions view counts. In the same pass, the
# sessions with an event in each bucket, for the series.
_SESSIONS = """
SELECT first_seen >= toDateTime64({{current_start:String}}, 3, 'UTC') AS current,
       {bucket} AS bucket, grouping(bucket) = 0 AS by_bucket, uniqExact(session_id)
FROM ({rows}) GROUP BY GROUPING SETS ((current), (current, bucket))
"""

# The platform mix, the top tools and the calls per bucket in one pass over the tool calls
# (the buckets without calls are filled in Python: GROUPING SETS cannot fill).
_BREAKDOWN = """
SELECT grouping(platform) = 0 AS by_platform, grouping(event_name) = 0 AS by_tool,
       platform, event_name, {bucket} AS bucket, count() AS calls,
       countIf(status = 'error'), quantileExactIf(0.95)(latency_ms, latency_ms IS NOT NULL)
FROM {events} WHERE event_type = 'tool_call'
GROUP BY GROUPING SETS ((platform), (event_name), (bucket))
ORDER BY calls DESC, platform, event_name
"""

# Conversions and revenue per bucket, for the series: conversions are a few rows of the range,
# so reading them apart costs less than adding them to the calls' pass (measured).
_CONVERSIONS = """
SELECT {bucket} AS bucket, count(), {revenue}
FROM {events} WHERE event_type = 'conversion' GROUP BY bucket
"""

_REVENUE = ("sumMapIf([toString(conversion_currency)], [assumeNotNull(conversion_value)], "
            "event_type = 'conversion' AND conversion_value IS NOT NULL)")


def overview(store: ClickHouseStore, project_id: uuid.UUID, period: TimeRange,
             ) -> dict[str, Any]:
    """The overview's JSON (blocking: four ClickHouse queries)."""
    events = events_of(period)
    parameters = {"project": str(project_id), **period.parameters()}
    both = TimeRange(period.previous.start, period.end, period.platforms)
    both_parameters = {**parameters, **both.parameters(), "current_start": parameters["start"]}
    rows, rows_parameters = presence(both, [period.start])
    sessions, sessions_in = {True: 0, False: 0}, {}
    for current, bucket, by_bucket, count in store.query(
            _SESSIONS.format(rows=rows, bucket=period.bucket_sql("first_seen")),
            {**both_parameters, **rows_parameters}):
        if not by_bucket:
            sessions[bool(current)] = count
        elif current:
            sessions_in[_naive(bucket)] = count
    kpis = {bool(row[0]): _kpis(row[1:], sessions[bool(row[0])]) for row in store.query(
        _KPIS.format(events=events_of(both), revenue=_REVENUE), both_parameters)}
    current, previous = (kpis.get(side) or _kpis(None, sessions[side]) for side in (True, False))
    platforms, tools, calls_in = [], [], {}
    for by_platform, by_tool, platform, name, bucket, calls, errors, p95 in store.query(
            _BREAKDOWN.format(events=events, bucket=period.bucket_sql("timestamp")),
            parameters):
        if by_platform:
            platforms.append((platform, calls))
        elif by_tool:
            tools.append((name, calls, errors, p95))
        else:
            calls_in[_naive(bucket)] = (calls, errors, p95)
    conversions_in = {_naive(bucket): (count, revenue) for bucket, count, revenue in store.query(
        _CONVERSIONS.format(events=events, bucket=period.bucket_sql("timestamp"),
                            revenue=_REVENUE), parameters)}
    total = sum(calls for _, calls in platforms)
    return {
        "range": {"from": iso(period.start), "to": iso(period.end), "bucket": period.bucket,
                  "platforms": list(period.platforms)},
        "kpis": {name: {"value": value, "previous": previous[name]}
                 for name, value in current.items()},
        "platforms": [{"platform": platform or "unknown", "invocations": calls,
                       "share": calls / total if total else 0.0}
                      for platform, calls in platforms],
        "topTools": [{"name": name, "invocations": calls, "errors": errors,
                      "errorRate": errors / calls if calls else 0.0,
                      "p95LatencyMs": _number(p95)}
                     for name, calls, errors, p95 in tools[:TOP_TOOLS]],
        "series": [_point(bucket, sessions_in.get(bucket, 0),
                          *calls_in.get(bucket, (0, 0, None)),
                          *conversions_in.get(bucket, (0, ([], []))))
                   for bucket in period.buckets()],
    }


def _point(bucket: Any, sessions: int, calls: int, errors: int, p95: Any, conversions: int,
           revenue: tuple[list[str], list[float]]) -> dict[str, Any]:
    """One bucket of the series: its calls, failed calls, p95 latency (None without calls),
    sessions, conversions and revenue, for the dashboard's chart and sparklines."""
    return {"bucket": iso(bucket), "invocations": calls, "errors": errors,
            "p95LatencyMs": _number(p95) if calls else None, "sessions": sessions,
            "conversions": conversions, "revenue": _revenue(revenue)}


def _naive(when: Any) -> Any:
    """A ClickHouse DateTime as `TimeRange.buckets()` gives them: UTC, without a zone."""
    return when.replace(tzinfo=None)


def events_of(period: TimeRange, *, deduplicated: bool = True) -> str:
    """The events of the range and platforms, as a subquery (parameters `project` and
    `TimeRange.parameters()`).

    Deduplicated (`FINAL`) by default. `deduplicated=False` is for figures that a copy of an
    event cannot change, those built on distinct values or presence (sessions, active users,
    funnels, retention): FINAL has to merge every row it reads, which over all event types
    costs several times the query itself."""
    return _EVENTS.replace("{final}", "FINAL" if deduplicated else "") \
        .replace("{range}", period.condition())


def _kpis(row: tuple[Any, ...] | None, sessions: int) -> dict[str, Any]:
    """A period's KPIs from its row of `_KPIS` (None: no call nor conversion)."""
    invocations, errors, (p50, p95), conversions, (currencies, totals) = \
        row or (0, 0, (None, None), 0, ([], []))
    return {
        "invocations": invocations,
        "sessions": sessions,
        "errorRate": errors / invocations if invocations else 0.0,
        "p50LatencyMs": _number(p50) if invocations else None,
        "p95LatencyMs": _number(p95) if invocations else None,
        "conversions": conversions,
        "revenue": _revenue((currencies, totals)),
    }


def _revenue(revenue: tuple[list[str], list[float]]) -> dict[str, float]:
    """Totals per currency ("none" for conversions without one)."""
    currencies, totals = revenue
    return {currency or "none": round(float(total), 6)
            for currency, total in sorted(zip(currencies, totals))}


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN: no values


def iso(when: Any) -> str:
    """A ClickHouse DateTime as ISO-8601 UTC with milliseconds and `Z`."""
    text = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    return text
