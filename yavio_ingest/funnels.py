"""Funnels (SPEC 7): how many traces (or sessions) went through an ordered list of steps, each
step after the previous one and all within a window of the first, with the conversion and the
drop-off at each step, examples of the traces (or sessions) that dropped out, and optionally
the entries per platform.

A step is an event type (`widget_response`: any event of that type) or a type and a name
(`tool_call:search_rooms`, `step:room_selected`, `conversion:booking_completed`). Steps follow
the flow order of `traces.py`, not raw timestamps (see `FLOW_ORDER`). One event counts for one
step only, so `tool_call:search_rooms` twice means two searches. A copy of an event stored
twice cannot take a trace further (it has the same place in the flow as the original), so the
events are read without `FINAL`. Scoped to one project.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from multidict import MultiMapping

from yavio_ingest.overview import events_of
from yavio_ingest.responses import Reject
from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_ingest.time_range import TimeRange
from yavio_sdk.events import EVENT_TYPES

__all__ = ["DEFAULT_WINDOW_S", "DROPPED_SAMPLES", "FLOW_ORDER", "MAX_STEPS", "MAX_WINDOW_S",
           "MIN_STEPS", "funnel"]

MIN_STEPS, MAX_STEPS = 2, 8
DEFAULT_WINDOW_S, MAX_WINDOW_S = 3600, 30 * 86_400
DROPPED_SAMPLES = 5
GROUPINGS = {"trace": "trace_id", "session": "session_id"}

# windowFunnel orders events by one number, and raw timestamps would misplace the flow: the SDK
# stamps a tool call when its handler returns, after the steps the handler recorded, and a tool
# call, its steps, the widget's events and a conversion often share one millisecond. So the
# number is the flow order of `traces.py`: the millisecond (a tool call's start, timestamp minus
# latency, otherwise the timestamp) × 4096, + the phase × 1024 (tool call 0, server events 1,
# widget response 2, widget events 3, conversion 4), + step_sequence + 1 (0 without one,
# capped at 1023). Two events share a number only in one millisecond, phase and step.
FLOW_UNITS_PER_MS = 4096
FLOW_ORDER = (
    "(toUInt64(greatest(0, floor(toUnixTimestamp64Milli(timestamp)"
    f" - if(event_type = 'tool_call', ifNull(latency_ms, 0), 0)))) * {FLOW_UNITS_PER_MS}"
    " + multiIf(event_type = 'tool_call', 0, event_type = 'widget_response', 2,"
    " event_type = 'conversion', 4, source = 'widget', 3, 1) * 1024"
    " + least(ifNull(step_sequence + 1, 0), 1023))"
)

# Each event goes to windowFunnel once per step it matches, as its own row numbered by that
# step: with 'strict_increase' one event then fills one step only. A row's order is
# FLOW_ORDER × 8 + (8 − step), so an event's rows come before the next event's and its later
# steps before its earlier ones: windowFunnel reads rows of one order by step, and would
# otherwise restart the funnel on the event's first step and lose its second. The dropped
# samples are a level's 5 first ids in sort order (the same ones at every reload), not the
# latest, and only a split reads each id's platform: at 1M traces, the latest took a quarter
# of the query's CPU time, the platform a sixth (measured).
_FUNNEL = """
SELECT level, platform, count(), groupArraySorted({samples})(id)
FROM (
    SELECT id, {platform} AS platform,
           windowFunnel({window}, 'strict_increase')(flow, {levels}) AS level
    FROM (
        SELECT {id} AS id, platform, toUInt64({flow} * {slots} + ({slots} - step)) AS flow, step
        FROM {events} ARRAY JOIN arrayFilter(s -> s > 0, [{matches}]) AS step
        WHERE event_type IN {{step_types:Array(String)}} AND ({any_step}) AND {id} != ''
    )
    GROUP BY id
)
WHERE level > 0
GROUP BY level, platform
"""


@dataclass(frozen=True)
class Step:
    """One step of a funnel: an event type, and a name unless any name will do."""

    event_type: str
    name: str | None

    @property
    def spec(self) -> str:
        return self.event_type if self.name is None else f"{self.event_type}:{self.name}"

    def condition(self, index: int) -> str:
        """The SQL condition of an event of this step, with `parameters(index)`."""
        sql = f"event_type = {{step_type_{index}:String}}"
        return sql if self.name is None else f"{sql} AND event_name = {{step_name_{index}:String}}"

    def parameters(self, index: int) -> dict[str, str]:
        found = {f"step_type_{index}": self.event_type}
        if self.name is not None:
            found[f"step_name_{index}"] = self.name
        return found


@dataclass(frozen=True)
class FunnelRequest:
    """What a request asks: the steps in order, who goes through them (`by`, a key of
    `GROUPINGS`), the window in seconds, and whether to count per platform too."""

    steps: tuple[Step, ...]
    by: str
    window_s: int
    split_by_platform: bool


def parse_funnel(query: MultiMapping[str]) -> FunnelRequest:
    """The funnel of a request's query: `step` repeated 2 to 8 times in order, `by` (trace or
    session), `window` (seconds) and `split=platform`. 400 `YAVIO-3010` for anything else."""
    specs = query.getall("step", [])
    if not MIN_STEPS <= len(specs) <= MAX_STEPS:
        raise Reject("YAVIO-3010", f"A funnel has {MIN_STEPS} to {MAX_STEPS} steps: repeat "
                                   "step, e.g. step=tool_call:search_rooms&step=conversion.")
    by = query.get("by") or "trace"
    if by not in GROUPINGS:
        raise Reject("YAVIO-3010", "by must be trace or session.")
    try:
        window_s = int(query.get("window") or DEFAULT_WINDOW_S)
    except ValueError:
        raise Reject("YAVIO-3010", "window must be a whole number of seconds.") from None
    if not 1 <= window_s <= MAX_WINDOW_S:
        raise Reject("YAVIO-3010", f"window must be 1 to {MAX_WINDOW_S} seconds (30 days).")
    split = query.get("split") or None
    if split not in (None, "platform"):
        raise Reject("YAVIO-3010", "split must be platform.")
    return FunnelRequest(tuple(_step(spec) for spec in specs), by, window_s, split is not None)


def _step(spec: str) -> Step:
    event_type, colon, name = spec.partition(":")
    if event_type not in EVENT_TYPES or (colon and not name):
        raise Reject("YAVIO-3010", f"Step {spec[:100]!r} is not `type` or `type:name` with an "
                                   "event type, e.g. tool_call:search_rooms, step:room_selected, "
                                   "widget_response or conversion:booking_completed.")
    return Step(event_type, name if colon else None)


def funnel(store: ClickHouseStore, project_id: uuid.UUID, period: TimeRange,
           query: MultiMapping[str]) -> dict[str, Any]:
    """The funnel's JSON for a request's query (blocking: one ClickHouse query)."""
    request = parse_funnel(query)
    steps = request.steps
    sql = _FUNNEL.format(
        samples=DROPPED_SAMPLES, id=GROUPINGS[request.by], flow=FLOW_ORDER, slots=MAX_STEPS,
        platform="max(platform)" if request.split_by_platform else "''",
        # in the rows' order units: exact to the millisecond
        window=request.window_s * 1000 * FLOW_UNITS_PER_MS * MAX_STEPS,
        levels=", ".join(f"step = {number}" for number in range(1, len(steps) + 1)),
        matches=", ".join(f"if({step.condition(index)}, {index + 1}, 0)"
                          for index, step in enumerate(steps)),
        any_step=" OR ".join(f"({step.condition(index)})" for index, step in enumerate(steps)),
        events=events_of(period, deduplicated=False))
    parameters: dict[str, Any] = {"project": str(project_id), **period.parameters(),
                                  "step_types": sorted({step.event_type for step in steps})}
    for index, step in enumerate(steps):
        parameters.update(step.parameters(index))
    rows = store.query(sql, parameters)
    return _answer(request, rows)


def _answer(request: FunnelRequest, rows: list[tuple]) -> dict[str, Any]:
    """`rows` are (level reached, platform, how many, some of their ids)."""
    count = len(request.steps)
    reached = [0] * (count + 1)  # reached[level]: ids whose furthest step is `level`
    stopped: list[list[str]] = [[] for _ in range(count + 1)]
    by_platform: dict[str, list[int]] = {}
    for level, platform, ids, some in rows:
        reached[level] += ids
        stopped[level].extend(some)
        by_platform.setdefault(platform or "unknown", [0] * (count + 1))[level] += ids
    entered = _entered(reached)
    steps = []
    for index, step in enumerate(request.steps):
        previous = entered[index - 1] if index else entered[0]
        steps.append({
            "spec": step.spec,
            "entered": entered[index],
            "conversionFromStart": _share(entered[index], entered[0]),
            "conversionFromPrevious": _share(entered[index], previous),
            "droppedHere": previous - entered[index],
            # those whose furthest step is the previous one: they reached it, not this one
            "droppedSamples": sorted(stopped[index])[:DROPPED_SAMPLES] if index else [],
        })
    answer: dict[str, Any] = {
        "by": request.by,
        "window": request.window_s,
        "steps": steps,
        "overallConversion": _share(entered[-1], entered[0]),
    }
    if request.split_by_platform:
        platforms = sorted(((platform, _entered(levels)) for platform, levels in
                            by_platform.items()), key=lambda item: (-item[1][0], item[0]))
        answer["byPlatform"] = [{"platform": platform, "steps": entries}
                                for platform, entries in platforms]
    return answer


def _entered(reached: list[int]) -> list[int]:
    """Entries per step from how many stopped at each level: step n is entered by every id
    whose furthest level is n or more."""
    entered, total = [], 0
    for level in range(len(reached) - 1, 0, -1):
        total += reached[level]
        entered.append(total)
    return entered[::-1]


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0
