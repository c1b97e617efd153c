"""`user_days`, the per-user-per-day presence behind the users view's history, against real
chdb: what its view keeps of an insert, that copies of events change no presence, and that
erasure covers it."""

from __future__ import annotations

import random
import uuid

import pytest

from tests.conftest import store_events
from tests.ingest.test_clickhouse_store import make_event
from yavio_ingest.store.clickhouse import ClickHouseStore

_PRESENCE = ("SELECT day, platform, user_id FROM user_days WHERE project_id = {p:UUID} "
             "GROUP BY day, platform, user_id ORDER BY day, platform, user_id")
_FROM_EVENTS = ("SELECT toDate(timestamp) AS day, platform, user_id FROM events FINAL "
                "WHERE project_id = {p:UUID} AND user_id != '' "
                "GROUP BY day, platform, user_id ORDER BY day, platform, user_id")


@pytest.fixture
def tenant() -> tuple[uuid.UUID, uuid.UUID]:
    return uuid.uuid4(), uuid.uuid4()


def _traffic(count: int, seed: int) -> list:
    """Calls over five days (some across midnight), two platforms, four users and none."""
    rng = random.Random(seed)
    return [make_event(event_type="tool_call", event_name="search_rooms", status="success",
                       offset_s=rng.randrange(5 * 86400), platform=rng.choice(["chatgpt", "claude"]),
                       user_id=rng.choice(["u1", "u2", "u3", "u4", ""]))
            for _ in range(count)]


def test_one_row_per_user_day_and_platform_of_an_insert(
        clickhouse_store: ClickHouseStore, tenant) -> None:
    events = [make_event(event_type="tool_call", event_name="search_rooms", offset_s=60 * i,
                         platform="claude", user_id="u1") for i in range(20)]
    store_events(clickhouse_store, *tenant, events)
    assert clickhouse_store.query("SELECT count() FROM user_days WHERE project_id = {p:UUID}",
                                  {"p": str(tenant[1])}) == [(1,)]


def test_presence_matches_the_events_with_copies_and_is_erased_with_the_project(
        clickhouse_store: ClickHouseStore, tenant) -> None:
    events = _traffic(300, seed=3)
    store_events(clickhouse_store, *tenant, events[:150])
    store_events(clickhouse_store, *tenant, events[150:])
    store_events(clickhouse_store, *tenant, events[100:200])  # a replay: copies of 100 events
    parameters = {"p": str(tenant[1])}
    truth = clickhouse_store.query(_FROM_EVENTS, parameters)
    assert len(truth) > 20
    assert clickhouse_store.query(_PRESENCE, parameters) == truth

    clickhouse_store.erase(*tenant)
    assert clickhouse_store.query(_PRESENCE, parameters) == []
