"""The steps a funnel of the dashboard can be built from: every `type` and `type:name` that
happened in the range (and platforms), most frequent first, and the funnel the Funnels view
starts with.

They come from one `SELECT … GROUP BY event_type, event_name` through the read API's guarded
query (`client.query`): no view of the server lists event names, and one grouping over the
range costs about what the funnel itself does (16 ms on the test week).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from yavio_cli.client import YavioClient
from yavio_sdk.events import EVENT_TYPES

__all__ = ["MAX_STEPS", "MIN_STEPS", "KnownStep", "default_steps", "is_step", "known_steps"]

MIN_STEPS, MAX_STEPS = 2, 8  # what the server's funnel accepts
# A tool's registration says what the server offers, not what anyone did: no funnel step.
_NOT_STEPS = ("tool_discovery",)
_KNOWN = """
SELECT event_type, event_name, count() AS events
FROM events
WHERE timestamp >= parseDateTime64BestEffort({start}, 3)
  AND timestamp < parseDateTime64BestEffort({end}, 3)
  AND event_type NOT IN ({not_steps}){platforms}
GROUP BY event_type, event_name
ORDER BY events DESC, event_type, event_name
"""
_MAX_ROWS = 500
# The default funnel, in flow order: the busiest tool, what its handler recorded, what it
# led to.
_DEFAULT_TYPES = ("tool_call", "step", "conversion")


@dataclass(frozen=True)
class KnownStep:
    """A funnel step (`type` or `type:name`) and how many events of the range match it."""

    spec: str
    events: int


def known_steps(client: YavioClient, project_id: str, query: dict[str, Any],
                ) -> list[KnownStep]:
    """The range's steps (`query` as a view's `fetch` gets it), most frequent first: each
    named event as `type:name`, and each type alone (any event of it). Blocking."""
    platforms = query.get("platforms") or ()
    sql = _KNOWN.format(
        start=_literal(query["start"]), end=_literal(query["end"]),
        not_steps=", ".join(_literal(kind) for kind in _NOT_STEPS),
        platforms=(f"\n  AND platform IN ({', '.join(_literal(p) for p in platforms)})"
                   if platforms else ""))
    by_type: dict[str, int] = {}
    steps = []
    for event_type, name, events in client.query(project_id, sql, _MAX_ROWS)["rows"]:
        by_type[event_type] = by_type.get(event_type, 0) + events
        if name:
            steps.append(KnownStep(f"{event_type}:{name}", events))
    steps += [KnownStep(event_type, events) for event_type, events in by_type.items()]
    return sorted(steps, key=lambda step: (-step.events, step.spec))


def default_steps(known: list[KnownStep]) -> tuple[str, ...]:
    """The funnel a person sees first: the most frequent named tool call, step and
    conversion (e.g. tool_call:search_rooms → step:rooms_found →
    conversion:booking_completed); without two of them, the two busiest tools, else the two
    busiest events; () when the range has fewer kinds of events."""
    named = [step.spec for step in known if ":" in step.spec]
    chosen = [spec for kind in _DEFAULT_TYPES
              for spec in [next((s for s in named if s.startswith(f"{kind}:")), None)] if spec]
    if len(chosen) < MIN_STEPS:
        chosen = [spec for spec in named if spec.startswith("tool_call:")][:MIN_STEPS]
    if len(chosen) < MIN_STEPS:
        chosen = [step.spec for step in known][:MIN_STEPS]
    return tuple(chosen) if len(chosen) >= MIN_STEPS else ()


def is_step(spec: str) -> bool:
    """Whether the server takes `spec` as a step: an event type, with `:name` or not."""
    event_type, colon, name = spec.partition(":")
    return event_type in EVENT_TYPES and (not colon or bool(name))


def _literal(text: str) -> str:
    """`text` as a ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
