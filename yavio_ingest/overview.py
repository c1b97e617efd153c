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

from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_ingest.time_range import TimeRange

__all__ = ["events_of", "iso", "overview"]

TOP_TOOLS = 10

_EVENTS = ("(SELECT * FROM events FINAL WHERE project_id = {project:UUID} AND {range})")

_KPIS = """
SELECT
    countIf(event_type = 'tool_call') AS invocations,
    uniqExact(session_id) AS sessions,
    countIf(event_type = 'tool_call' AND status = 'error') AS errors,
    quantileExactIf(0.5)(latency_ms, event_type = 'tool_call' AND latency_ms IS NOT NULL),
    quantileExactIf(0.95)(latency_ms, event_type = 'tool_call' AND latency_ms IS NOT NULL),
    countIf(event_type = 'conversion') AS conversions
FROM {events}
"""

_REVENUE = """
SELECT conversion_currency, sum(conversion_value) FROM {events}
WHERE event_type = 'conversion' AND conversion_value IS NOT NULL
GROUP BY conversion_currency ORDER BY conversion_currency
"""

_PLATFORMS = """
SELECT platform, count() AS calls FROM {events} WHERE event_type = 'tool_call'
GROUP BY platform ORDER BY calls DESC, platform
"""

_TOOLS = """
SELECT event_name, count() AS calls, countIf(status = 'error'),
       quantileExactIf(0.95)(latency_ms, latency_ms IS NOT NULL)
FROM {events} WHERE event_type = 'tool_call'
GROUP BY event_name ORDER BY calls DESC, event_name LIMIT {limit}
"""

_SERIES = """
SELECT {bucket} AS bucket, countIf(event_type = 'tool_call') AS invocations
FROM {events} GROUP BY bucket {order}
"""


def overview(store: ClickHouseStore, project_id: uuid.UUID, period: TimeRange,
             ) -> dict[str, Any]:
    """The overview's JSON (blocking: several ClickHouse queries)."""
    current = _kpis(store, project_id, period)
    previous = _kpis(store, project_id, period.previous)
    events = events_of(period)
    parameters = {"project": str(project_id), **period.parameters()}
    platforms = store.query(_PLATFORMS.format(events=events), parameters)
    tools = store.query(_TOOLS.format(events=events, limit=TOP_TOOLS), parameters)
    series = store.query(_SERIES.format(events=events, bucket=period.bucket_sql("timestamp"),
                                        order=period.series_order()), parameters)
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
                     for name, calls, errors, p95 in tools],
        "series": [{"bucket": iso(bucket), "invocations": count} for bucket, count in series],
    }


def events_of(period: TimeRange) -> str:
    """The deduplicated events of the range and platforms, as a subquery (parameters
    `project` and `TimeRange.parameters()`)."""
    return _EVENTS.replace("{range}", period.condition())


def _kpis(store: ClickHouseStore, project_id: uuid.UUID, period: TimeRange) -> dict[str, Any]:
    events = events_of(period)
    parameters = {"project": str(project_id), **period.parameters()}
    invocations, sessions, errors, p50, p95, conversions = store.query(
        _KPIS.format(events=events), parameters)[0]
    revenue = store.query(_REVENUE.format(events=events), parameters)
    return {
        "invocations": invocations,
        "sessions": sessions,
        "errorRate": errors / invocations if invocations else 0.0,
        "p50LatencyMs": _number(p50) if invocations else None,
        "p95LatencyMs": _number(p95) if invocations else None,
        "conversions": conversions,
        "revenue": {currency or "none": round(float(total), 6) for currency, total in revenue},
    }


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
