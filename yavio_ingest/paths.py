"""Paths (SPEC 7): which tool agents call after which, within a session. Each session's tool
calls are put in flow order (`funnels.FLOW_ORDER`: by when each call started) and every two
consecutive calls are one transition; the session's start and end are the pseudo-nodes
`(start)` and `(end)`, so a session calling A then B gives (start) → A, A → B and B → (end).
Only calls in the range (and platforms) count. Dedup-aware (`events_of`) and scoped to one
project.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from yavio_ingest.funnels import FLOW_ORDER
from yavio_ingest.overview import events_of
from yavio_ingest.responses import Reject
from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_ingest.time_range import TimeRange

__all__ = ["DEFAULT_TRANSITIONS", "END", "MAX_TRANSITIONS", "START", "paths"]

START, END = "(start)", "(end)"
DEFAULT_TRANSITIONS, MAX_TRANSITIONS = 20, 100

# The totals are window functions over every transition, computed before the LIMIT; each
# session has one transition at position 1, out of (start). Calls of one start are ordered by
# name, so the order does not depend on how the rows were stored.
_PATHS = """
SELECT from_tool, to_tool, count() AS transitions, countIf(position = 1) AS starts,
       sum(transitions) OVER () AS total, sum(starts) OVER () AS sessions
FROM (
    SELECT arrayConcat([{{start_node:String}}],
                       arrayMap(call -> call.2, arraySort(groupArray(({flow}, event_name)))),
                       [{{end_node:String}}]) AS path
    FROM {events} WHERE event_type = 'tool_call' AND session_id != ''
    GROUP BY session_id
)
ARRAY JOIN arrayPopBack(path) AS from_tool, arrayPopFront(path) AS to_tool,
           arrayEnumerate(arrayPopBack(path)) AS position
GROUP BY from_tool, to_tool
ORDER BY transitions DESC, from_tool, to_tool
LIMIT {limit}
"""


def paths(store: ClickHouseStore, project_id: uuid.UUID, period: TimeRange,
          query: Mapping[str, Any]) -> dict[str, Any]:
    """The most frequent transitions, as many as the query's `limit` (blocking: one
    ClickHouse query)."""
    rows = store.query(
        _PATHS.format(flow=FLOW_ORDER, events=events_of(period), limit=_limit(query)),
        {"project": str(project_id), **period.parameters(), "start_node": START,
         "end_node": END})
    total, sessions = rows[0][4:] if rows else (0, 0)
    return {
        "sessions": sessions,
        "transitions": total,
        "paths": [{"from": origin, "to": target, "count": count, "share": count / total}
                  for origin, target, count, *_ in rows],
    }


def _limit(query: Mapping[str, Any]) -> int:
    try:
        limit = int(query.get("limit") or DEFAULT_TRANSITIONS)
        if not 1 <= limit <= MAX_TRANSITIONS:
            raise ValueError(limit)
    except ValueError:
        raise Reject("YAVIO-3010", f"limit must be a whole number from 1 to "
                                   f"{MAX_TRANSITIONS}.") from None
    return limit
