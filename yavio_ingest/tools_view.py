"""The tools of a project (SPEC 7, tools and tool detail): per tool called in a time range, its
calls, failures and latency percentiles, beside the registered tools nobody called; and for one
tool, its description and input schema, a latency histogram, percentiles per bucket
(zero-filled), its error categories and the latest calls with the custom events of their trace.

Calls are read dedup-aware (`events_of`), registrations through `tool_registry`, where the latest
registration of a tool wins (`argMax` by `registered_at`, whether or not the table has merged
yet). Percentiles are ClickHouse's `quantilesExact`: the sorted latencies' value at the 0-based
index floor(q * n), e.g. p50 of 10, 20, 30, 40 is 30. Calls without a latency count as calls
but not in the percentiles or the histogram. Queries are parameterised and scoped to one project.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from yavio_ingest.overview import events_of, iso
from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_ingest.time_range import TimeRange

__all__ = ["LATENCY_EDGES_MS", "tool", "tools"]

MAX_TOOLS = 500
RECENT = 20
# A trace's custom events shown beside a recent call; a widget can record many.
EVENTS_PER_TRACE = 50
# How long before its call a trace's custom events may be stamped and still show.
TRACE_LEAD = timedelta(days=1)
# Bucket edges of the latency histogram: readable round numbers, the last bucket open-ended.
LATENCY_EDGES_MS = (0, 10, 25, 50, 100, 250, 500, 1000, 2500)
# The figures of a range or bucket without calls (GROUPING SETS gives no row for them).
_NO_CALLS = (0, 0, 0, [], [0] * len(LATENCY_EDGES_MS), ([], []))

# In the templates below, `{events}`, `{limit}` and the like are filled in by `str.format`;
# `{{name:Type}}` are query parameters, which `str.format` leaves to ClickHouse as `{name:Type}`.

# The called tools and the registered ones in one answer: a registered tool without a call has
# no row on the left, so its `invocations` is 0 and it sorts after every called tool.
_LIST = """
SELECT if(called.invocations > 0, called.event_name, registered.tool_name) AS name,
       registered.description, called.invocations AS invocations, called.errors,
       called.timed, called.percentiles, called.last_seen
FROM (
    SELECT event_name, count() AS invocations, countIf(status = 'error') AS errors,
           count(latency_ms) AS timed, quantilesExact(0.5, 0.95)(latency_ms) AS percentiles,
           max(timestamp) AS last_seen
    FROM {events} WHERE event_type = 'tool_call' GROUP BY event_name
) AS called
FULL OUTER JOIN (
    SELECT tool_name, argMax(description, registered_at) AS description
    FROM tool_registry WHERE project_id = {{project:UUID}} GROUP BY tool_name
) AS registered ON called.event_name = registered.tool_name
ORDER BY invocations DESC, name LIMIT {limit}
"""

_REGISTRATION = """
SELECT count() > 0, argMax(description, registered_at), argMax(input_schema, registered_at)
FROM tool_registry WHERE project_id = {project:UUID} AND tool_name = {tool:String}
"""

_HISTOGRAM = ", ".join(
    [f"countIf(latency_ms >= {low} AND latency_ms < {high})"
     for low, high in zip(LATENCY_EDGES_MS, LATENCY_EDGES_MS[1:])]
    + [f"countIf(latency_ms >= {LATENCY_EDGES_MS[-1]})"])

# The figures, the histogram and the failures per category, over the range and per bucket, in
# one pass over the calls (the buckets without calls are filled in Python).
_FIGURES = """
SELECT grouping(bucket) = 0 AS per_bucket, {bucket} AS bucket, count(),
       countIf(status = 'error'), count(latency_ms),
       quantilesExact(0.5, 0.95, 0.99)(latency_ms), [{histogram}],
       sumMapIf([if(error_category = '', 'unknown', toString(error_category))],
                [toUInt64(1)], status = 'error')
FROM {events} WHERE event_type = 'tool_call' AND event_name = {{tool:String}}
GROUP BY GROUPING SETS ((), (bucket))
"""

_RECENT = """
SELECT toString(event_id), trace_id, session_id, user_id, platform, status, latency_ms,
       error_category, timestamp
FROM {events} WHERE event_type = 'tool_call' AND event_name = {{tool:String}}
ORDER BY timestamp DESC, event_id LIMIT {limit}
"""

# The custom events of the recent calls' traces, on whatever platform and even after the
# range's end (a conversion may come later). Read by trace id, so `LIMIT 1 BY event_id` dedups
# the few rows found instead of a FINAL over the project. The lower time bound lets the primary
# key skip the project's older events: the bloom filter on trace_id alone still read two thirds
# of the granules at 1M events (measured), the twenty traces being neighbours. Ordered as the
# trace view orders them: by time, then the server's steps, the widget's, conversions.
_TRACE_EVENTS = """
SELECT trace_id, event_type, event_name, source, step_sequence, conversion_value,
       conversion_currency, timestamp
FROM (
    SELECT event_id, trace_id, event_type, event_name, source, step_sequence,
           conversion_value, conversion_currency, timestamp
    FROM events
    WHERE project_id = {{project:UUID}} AND event_type IN ('step', 'track', 'conversion')
      AND timestamp >= toDateTime64({{since:String}}, 3, 'UTC')
      AND trace_id IN {{traces:Array(String)}}
    LIMIT 1 BY event_id
)
ORDER BY trace_id, timestamp, event_type = 'conversion', source = 'widget',
         step_sequence NULLS FIRST, event_id
LIMIT {per_trace} BY trace_id
"""

_EVER_CALLED = """
SELECT 1 FROM events
WHERE project_id = {project:UUID} AND event_type = 'tool_call' AND event_name = {tool:String}
LIMIT 1
"""


def tools(store: ClickHouseStore, project_id: uuid.UUID, period: TimeRange) -> dict[str, Any]:
    """The tools view's JSON (blocking, one query): the called tools, most called first, and
    `neverCalled`, the registered tools without a call in the range (and platforms)."""
    rows = store.query(_LIST.format(events=events_of(period), limit=MAX_TOOLS),
                       {"project": str(project_id), **period.parameters()})
    called, never_called = [], []
    for name, description, invocations, errors, timed, percentiles, last_seen in rows:
        if not invocations:
            never_called.append({"name": name, "description": description or None})
            continue
        p50, p95 = percentiles if timed else (None, None)
        called.append({
            "name": name, "description": description or None, "invocations": invocations,
            "errors": errors, "successRate": (invocations - errors) / invocations,
            "errorRate": errors / invocations, "p50LatencyMs": p50, "p95LatencyMs": p95,
            "lastSeen": iso(last_seen)})
    return {"tools": called, "neverCalled": never_called}


def tool(store: ClickHouseStore, project_id: uuid.UUID, period: TimeRange,
         name: str) -> dict[str, Any] | None:
    """One tool's JSON (blocking), or None when the project neither registered the tool nor
    ever recorded a call of it. A tool without a call in the range answers with zero
    figures."""
    parameters = {"project": str(project_id), "tool": name, **period.parameters()}
    registered, description, schema = store.query(_REGISTRATION, parameters)[0]
    events = events_of(period)
    totals, per_bucket = _NO_CALLS, {}
    for is_bucket, bucket, *figures in store.query(_FIGURES.format(
            events=events, bucket=period.bucket_sql("timestamp"), histogram=_HISTOGRAM),
            parameters):
        if is_bucket:
            per_bucket[bucket.replace(tzinfo=None)] = figures
        else:
            totals = figures
    invocations, errors, timed, percentiles, histogram, (categories, failures) = totals
    if not invocations and not registered and not store.query(_EVER_CALLED, parameters):
        return None
    p50, p95, p99 = percentiles if timed else (None, None, None)
    return {
        "name": name,
        "description": description or None,
        "inputSchema": json.loads(schema) if schema else None,
        "invocations": invocations,
        "errors": errors,
        "errorRate": errors / invocations if invocations else 0.0,
        "p50LatencyMs": p50,
        "p95LatencyMs": p95,
        "p99LatencyMs": p99,
        "latencyHistogram": [
            {"fromMs": low, "toMs": high, "count": count} for low, high, count in
            zip(LATENCY_EDGES_MS, (*LATENCY_EDGES_MS[1:], None), histogram)],
        "series": [_point(bucket, per_bucket.get(bucket, _NO_CALLS))
                   for bucket in period.buckets()],
        "errorCategories": [{"category": category, "errors": count} for category, count in
                            sorted(zip(categories, failures), key=lambda c: (-c[1], c[0]))],
        "recent": _recent(store, events, parameters),
    }


def _point(bucket: Any, figures: Sequence[Any]) -> dict[str, Any]:
    count, failures, timed, percentiles = figures[:4]
    return {"bucket": iso(bucket), "invocations": count, "errors": failures,
            "p50LatencyMs": percentiles[0] if timed else None,
            "p95LatencyMs": percentiles[1] if timed else None}


def _recent(store: ClickHouseStore, events: str,
            parameters: dict[str, Any]) -> list[dict[str, Any]]:
    """The latest calls, newest first, each with its trace's custom events (one query for all
    the traces)."""
    calls = store.query(_RECENT.format(events=events, limit=RECENT), parameters)
    by_trace: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    if calls:
        # A trace's server steps are stamped while its call runs, before the call (stamped
        # when it ends); TRACE_LEAD also covers long calls and a widget's skewed clock.
        since = min(row[-1] for row in calls) - TRACE_LEAD
        rows = store.query(_TRACE_EVENTS.format(per_trace=EVENTS_PER_TRACE), {
            "project": parameters["project"], "traces": sorted({row[1] for row in calls}),
            "since": since.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]})
        for trace_id, kind, name, source, step, value, currency, when in rows:
            by_trace[trace_id].append({
                "type": kind, "name": name or None, "source": source, "stepSequence": step,
                "conversionValue": value, "conversionCurrency": currency or None,
                "timestamp": iso(when)})
    return [{"eventId": event_id, "traceId": trace_id, "sessionId": session_id,
             "userId": user_id or None, "platform": platform or None, "status": status or None,
             "latencyMs": latency, "errorCategory": category or None, "timestamp": iso(when),
             "events": by_trace[trace_id]}
            for event_id, trace_id, session_id, user_id, platform, status, latency, category,
            when in calls]
