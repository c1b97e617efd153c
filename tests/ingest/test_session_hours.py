"""`session_hours`, the per-session-and-hour presence behind the session counts and the users
view's history, against real chdb: what its view keeps of an insert, that copies of events
change nothing read from it, and that erasure covers it."""

from __future__ import annotations

import random
import uuid

import pytest

from tests.conftest import store_events
from tests.ingest.test_clickhouse_store import make_event
from yavio_ingest.store.clickhouse import ClickHouseStore

_PRESENCE = ("SELECT hour, platform, session_id, user_id, min(first_seen), max(last_seen) "
             "FROM session_hours WHERE project_id = {p:UUID} "
             "GROUP BY hour, platform, session_id, user_id ORDER BY ALL")
_FROM_EVENTS = ("SELECT toStartOfHour(timestamp) AS hour, platform, session_id, user_id, "
                "min(timestamp), max(timestamp) FROM events FINAL WHERE project_id = {p:UUID} "
                "GROUP BY hour, platform, session_id, user_id ORDER BY ALL")


@pytest.fixture
def tenant() -> tuple[uuid.UUID, uuid.UUID]:
    return uuid.uuid4(), uuid.uuid4()


def _traffic(count: int, seed: int) -> list:
    """Calls over two days, six sessions, two platforms, four users and none."""
    rng = random.Random(seed)
    return [make_event(event_type="tool_call", event_name="search_rooms", status="success",
                       offset_s=rng.randrange(2 * 86400), platform=rng.choice(["chatgpt", "claude"]),
                       session_id=f"ses_{rng.randrange(6)}",
                       user_id=rng.choice(["u1", "u2", "u3", "u4", ""]))
            for _ in range(count)]


def test_one_row_per_session_user_platform_and_hour_of_an_insert(
        clickhouse_store: ClickHouseStore, tenant) -> None:
    # 20 events a minute apart in one session: one row per hour they touch, with their span
    events = [make_event(event_type="tool_call", event_name="search_rooms", offset_s=60 * i,
                         platform="claude", user_id="u1") for i in range(20)]
    store_events(clickhouse_store, *tenant, events)
    rows = clickhouse_store.query(_PRESENCE, {"p": str(tenant[1])})
    hours = {event.timestamp[:13] for event in events}
    assert len(rows) == len(hours)
    assert clickhouse_store.query(_FROM_EVENTS, {"p": str(tenant[1])}) == rows


def test_presence_matches_the_events_with_copies_and_is_erased_with_the_project(
        clickhouse_store: ClickHouseStore, tenant) -> None:
    events = _traffic(300, seed=3)
    store_events(clickhouse_store, *tenant, events[:150])
    store_events(clickhouse_store, *tenant, events[150:])
    store_events(clickhouse_store, *tenant, events[100:200])  # a replay: copies of 100 events
    parameters = {"p": str(tenant[1])}
    truth = clickhouse_store.query(_FROM_EVENTS, parameters)
    assert len(truth) > 50
    assert clickhouse_store.query(_PRESENCE, parameters) == truth

    clickhouse_store.erase(*tenant)
    assert clickhouse_store.query(_PRESENCE, parameters) == []
