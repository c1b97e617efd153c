"""The presence rows (`yavio_ingest.presence`) stand for the events of a range exactly: grouped
by session, user and side of every boundary, they give the same first and last times as the
events themselves, whether a boundary falls inside an hour or on one, with copies of events
stored in separate blocks and with a platform filter."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest

from tests.conftest import store_events
from tests.ingest.test_clickhouse_store import BASE_TIME, make_event
from yavio_ingest.presence import presence
from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_ingest.time_range import TimeRange

_DAYS = 3
_GROUPED = """
SELECT session_id, user_id, {sides}, min({first}), max({last}) FROM ({rows})
GROUP BY ALL ORDER BY ALL
"""


@pytest.fixture(scope="module")
def project(clickhouse_store: ClickHouseStore) -> uuid.UUID:
    """Calls over three days in eight sessions, three users and none, two platforms; a third
    of them stored again in a later block."""
    rng = random.Random(7)
    events = [make_event(event_type="tool_call", event_name="search_rooms", status="success",
                         offset_s=rng.randrange(_DAYS * 86400) + rng.random(),
                         platform=rng.choice(["chatgpt", "claude"]),
                         session_id=f"ses_{rng.randrange(8)}",
                         user_id=rng.choice(["u1", "u2", "u3", ""]))
              for _ in range(1500)]
    workspace_id, project_id = uuid.uuid4(), uuid.uuid4()
    store_events(clickhouse_store, workspace_id, project_id, events[:800])
    store_events(clickhouse_store, workspace_id, project_id, events[800:])
    store_events(clickhouse_store, workspace_id, project_id, events[::3])
    return project_id


def _cases() -> list[tuple[int, int, list[int], tuple[str, ...]]]:
    """(start, end, boundaries) in seconds after the first event's hour, and platforms: edges
    inside hours and on them, boundaries inside, on and outside the range."""
    rng = random.Random(11)
    cases = [(0, _DAYS * 86400, [], ()), (3600, 7200, [5400], ()),
             (1800, 2 * 86400 + 3600, [86400, 86400 + 60], ("claude",))]
    for _ in range(12):
        start = rng.choice([rng.randrange(86400), 3600 * rng.randrange(24)])
        end = start + rng.choice([rng.randrange(600, 2 * 86400), 3600 * rng.randrange(1, 48)])
        boundaries = [rng.randrange(start - 3600, end + 3600) for _ in range(rng.randrange(4))]
        cases.append((start, end, boundaries, rng.choice([(), ("chatgpt",)])))
    return cases


@pytest.mark.parametrize(("start", "end", "boundaries", "platforms"), _cases())
def test_presence_rows_give_each_session_and_users_times_as_the_events_do(
        clickhouse_store: ClickHouseStore, project: uuid.UUID, start: int, end: int,
        boundaries: list[int], platforms: tuple[str, ...]) -> None:
    def at(seconds: int) -> object:
        return BASE_TIME + timedelta(seconds=seconds)

    period = TimeRange(at(start), at(end), platforms)
    cuts = [at(seconds) for seconds in boundaries]
    parameters = {f"b{n}": TimeRange(cut, cut).parameters()["start"]
                  for n, cut in enumerate(cuts)}

    def sides(column: str) -> str:
        return ", ".join([f"{column} >= toDateTime64({{b{n}:String}}, 3, 'UTC')"
                          for n in range(len(cuts))] or ["1"])

    rows, rows_parameters = presence(period, cuts)
    from_rows = clickhouse_store.query(
        _GROUPED.format(rows=rows, sides=sides("first_seen"), first="first_seen",
                        last="last_seen"),
        {"project": str(project), **rows_parameters, **parameters})
    events = (f"SELECT * FROM events FINAL WHERE project_id = {{project:UUID}} "
              f"AND {period.condition()}")
    from_events = clickhouse_store.query(
        _GROUPED.format(rows=events, sides=sides("timestamp"), first="timestamp",
                        last="timestamp"),
        {"project": str(project), **period.parameters(), **parameters})
    assert from_events
    assert from_rows == from_events
