"""The ClickHouse store against real chdb: migrations, dedup-aware counts, correct aggregates."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import store_events
from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_sdk.events import validate_obj

BASE_TIME = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def tenant() -> tuple[uuid.UUID, uuid.UUID]:
    return uuid.uuid4(), uuid.uuid4()


def make_event(**fields) -> object:
    offset = fields.pop("offset_s", 0)
    body = {
        "event_id": str(uuid.uuid4()), "trace_id": "tr_a", "session_id": "ses_a",
        "timestamp": (BASE_TIME + timedelta(seconds=offset)).isoformat(
            timespec="milliseconds").replace("+00:00", "Z"),
        "source": "server", **fields,
    }
    event, issues = validate_obj(body)
    assert not issues, issues
    return event


def synthetic_traffic(count: int, seed: int) -> list:
    """Tool calls, conversions and identifies over several sessions, users, tools and hours."""
    rng = random.Random(seed)
    events = []
    for i in range(count):
        session = f"ses_{rng.randrange(12)}"
        kind = rng.choices(["tool_call", "conversion", "identify", "step"], [6, 1, 1, 2])[0]
        common = {"session_id": session, "trace_id": f"tr_{rng.randrange(40)}",
                  "offset_s": rng.randrange(4 * 3600), "platform": rng.choice(["chatgpt", "claude"])}
        if kind == "tool_call":
            events.append(make_event(event_type="tool_call", **common,
                                     event_name=rng.choice(["search_rooms", "book_room"]),
                                     latency_ms=rng.uniform(1, 400),
                                     status=rng.choice(["success", "success", "error"])))
        elif kind == "conversion":
            events.append(make_event(event_type="conversion", **common, event_name="booking",
                                     conversion_value=rng.choice([100.0, 250.5]),
                                     conversion_currency="EUR", user_id=f"u{rng.randrange(5)}"))
        elif kind == "identify":
            events.append(make_event(event_type="identify", **common,
                                     user_id=f"u{rng.randrange(5)}", user_traits={"plan": "pro"}))
        else:
            events.append(make_event(event_type="step", **common, event_name="rooms_found",
                                     step_sequence=rng.randrange(3)))
    return events


def test_migrations_apply_twice_without_error(clickhouse_store: ClickHouseStore) -> None:
    assert clickhouse_store.migrate() == []
    assert clickhouse_store.migrate() == []
    assert clickhouse_store.applied_migrations() == [1, 2, 3, 4, 5, 6, 7, 8]
    tables = {row[0] for row in clickhouse_store.query("SHOW TABLES")}
    assert {"events", "session_stats", "user_stats", "tool_hourly", "tool_registry"} <= tables


def test_migrations_apply_to_a_fresh_folder_and_record_each_version(tmp_path) -> None:
    # chdb opens one folder per process; this test runs in a child process so it can use its own.
    import subprocess
    import sys
    script = (
        "from yavio_ingest.store.clickhouse import ClickHouseStore\n"
        f"s = ClickHouseStore('chdb://{tmp_path}')\n"
        "print(','.join(s.migrate())); print(','.join(s.migrate()) or 'none')\n"
        "print(s.applied_migrations())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=120).stdout.splitlines()
    assert out == ["0001_events,0002_aggregates,0003_tool_registry,0004_user_days,"
                   "0005_session_hours,0006_compact_events,0007_compact_aggregates,"
                   "0008_session_stats_without_traces", "none", "[1, 2, 3, 4, 5, 6, 7, 8]"]


# Run in a child process (one chdb folder per process): a store migrated to version 5, the
# schema of deployments before the compact events table, filled and then upgraded.
_UPGRADE_SCRIPT = """
import json, sys, uuid
from yavio_ingest.store import clickhouse
from tests.conftest import store_events
from tests.ingest.test_clickhouse_store import make_event, synthetic_traffic

store = clickhouse.ClickHouseStore("chdb://" + sys.argv[1])
every_migration = clickhouse.load_migrations
clickhouse.load_migrations = lambda *args: [m for m in every_migration(*args) if m.version <= 5]
store.migrate()
clickhouse.load_migrations = every_migration
tenant = (uuid.uuid4(), uuid.uuid4())
events = synthetic_traffic(300, seed=5)
store_events(store, *tenant, events)
store_events(store, *tenant, events[:10])  # copies of events, as a replay leaves them
# The copy collapses copies of an event, as a merge would: one row per event, whichever copy.
ROWS = "SELECT * EXCEPT ingested_at FROM events FINAL ORDER BY event_id"
SESSIONS = "SELECT session_id, countMerge(events) FROM session_stats GROUP BY session_id"

def state():
    return {"rows": store.query(ROWS),
            "distinct": store.count_events(project_id=tenant[1]),
            "sessions": sorted(store.query(SESSIONS))}

before = state()
applied = store.migrate()
after = state()
store_events(store, *tenant, [make_event(event_type="track", event_name="after_upgrade",
                                         session_id="ses_new")])
store_events(store, *tenant, events[:10])
print(json.dumps({
    "applied": applied, "unchanged": before == after, "distinct": after["distinct"],
    "key": store.query("SELECT sorting_key FROM system.tables WHERE name = 'events' "
                       "AND database = currentDatabase()")[0][0],
    "tables": sorted(row[0] for row in store.query("SHOW TABLES")),
    "new_session": store.query("SELECT countMerge(events) FROM session_stats "
                               "WHERE session_id = 'ses_new'")[0][0],
    "uncompressed": store.query(
        "SELECT DISTINCT table FROM system.columns WHERE database = currentDatabase() "
        "AND compression_codec NOT LIKE '%ZSTD(9)%' AND table IN (SELECT name FROM "
        "system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree') "
        "ORDER BY table"),
    "rows": store.query("SELECT count() FROM events")[0][0],
    "deduplicated": store.query("SELECT count() FROM events FINAL")[0][0],
}))
"""


def test_upgrading_keeps_every_event_and_the_views_fed(tmp_path) -> None:
    import json
    import subprocess
    import sys
    from pathlib import Path
    out = subprocess.run([sys.executable, "-c", _UPGRADE_SCRIPT, str(tmp_path)],
                         capture_output=True, text=True, check=True, timeout=180,
                         cwd=Path(__file__).parents[2]).stdout
    result = json.loads(out.splitlines()[-1])
    assert result["applied"] == ["0006_compact_events", "0007_compact_aggregates",
                                 "0008_session_stats_without_traces"]
    assert result["unchanged"], "the upgrade changed the stored events or the aggregates"
    assert result["distinct"] == 300
    assert result["key"].endswith("session_id, timestamp, event_id")
    assert "events_compact" not in result["tables"]
    # Left with LZ4: the registry (a row per tool) and the migrations' own table.
    assert result["uncompressed"] == [["schema_migrations"], ["tool_registry"]]
    assert result["new_session"] == 1  # the views feed on the new table
    assert result["rows"] > 301
    assert result["deduplicated"] == 301  # copies still collapse on the new sorting key


def test_an_event_inserted_twice_is_counted_once(clickhouse_store: ClickHouseStore,
                                                 tenant) -> None:
    event = make_event(event_type="tool_call", event_name="search_rooms", latency_ms=5.0,
                       status="success")
    other = make_event(event_type="track", event_name="clicked")
    store_events(clickhouse_store, *tenant, [event, other])
    store_events(clickhouse_store, *tenant, [event])

    assert clickhouse_store.count_events(project_id=tenant[1]) == 2
    assert clickhouse_store.count_events(workspace_ids=[tenant[0]]) == 2
    assert clickhouse_store.existing_event_ids(
        [event.event_id, str(uuid.uuid4())]) == {event.event_id}


def test_counts_are_scoped_to_the_tenant(clickhouse_store: ClickHouseStore, tenant) -> None:
    store_events(clickhouse_store, *tenant, [make_event(event_type="track", event_name="x")])
    assert clickhouse_store.count_events(workspace_ids=[uuid.uuid4()]) == 0
    assert clickhouse_store.count_events(project_id=uuid.uuid4()) == 0
    assert clickhouse_store.count_events(workspace_ids=[tenant[0]], project_id=tenant[1]) == 1


def _session_aggregates(store: ClickHouseStore, tenant) -> dict:
    rows = store.query(
        "SELECT session_id, min(first_seen), max(last_seen), countMerge(events), sum(tool_calls), "
        "sum(errors), sum(conversions), round(sum(revenue), 3), "
        "max(user_id) FROM session_stats WHERE project_id = {p:UUID} GROUP BY session_id",
        {"p": str(tenant[1])})
    return {row[0]: row[1:] for row in rows}


def _session_truth(store: ClickHouseStore, tenant) -> dict:
    rows = store.query(
        "SELECT session_id, min(timestamp), max(timestamp), count(), "
        "countIf(event_type = 'tool_call'), countIf(status = 'error'), "
        "countIf(event_type = 'conversion'), "
        "round(sumIf(ifNull(conversion_value, 0), event_type = 'conversion'), 3), "
        "max(user_id) "
        "FROM events WHERE project_id = {p:UUID} GROUP BY session_id", {"p": str(tenant[1])})
    return {row[0]: row[1:] for row in rows}


def _tool_aggregates(store: ClickHouseStore, tenant, source: str) -> dict:
    if source == "mv":
        sql = ("SELECT tool, platform, hour, countMerge(calls), sum(errors), "
               "round(sum(latency_sum), 3) FROM tool_hourly WHERE project_id = {p:UUID} "
               "GROUP BY tool, platform, hour")
    else:
        sql = ("SELECT event_name, platform, toStartOfHour(timestamp) AS hour, count(), "
               "countIf(status = 'error'), round(sum(latency_ms), 3) FROM events "
               "WHERE project_id = {p:UUID} AND event_type = 'tool_call' "
               "GROUP BY event_name, platform, hour")
    return {row[:3]: row[3:] for row in store.query(sql, {"p": str(tenant[1])})}


def _user_aggregates(store: ClickHouseStore, tenant, source: str) -> dict:
    if source == "mv":
        sql = ("SELECT user_id, countMerge(events), uniqExactMerge(sessions), sum(conversions) "
               "FROM user_stats WHERE project_id = {p:UUID} GROUP BY user_id")
    else:
        sql = ("SELECT user_id, count(), uniqExact(session_id), countIf(event_type = 'conversion') "
               "FROM events WHERE project_id = {p:UUID} AND user_id != '' GROUP BY user_id")
    return {row[0]: row[1:] for row in store.query(sql, {"p": str(tenant[1])})}


def test_aggregate_views_stay_correct_across_blocks_and_after_optimize_final(
        clickhouse_store: ClickHouseStore, tenant) -> None:
    events = synthetic_traffic(600, seed=7)
    for start in range(0, len(events), 97):  # several blocks of uneven size
        store_events(clickhouse_store, *tenant, events[start:start + 97])

    truth = _session_truth(clickhouse_store, tenant)
    assert sum(v[2] for v in truth.values()) == 600
    assert all(sum(v[i] for v in truth.values()) > 0 for i in (3, 4, 5, 6)), \
        "the traffic should have tool calls, errors, conversions and revenue to aggregate"
    assert _session_aggregates(clickhouse_store, tenant) == truth
    tool_truth = _tool_aggregates(clickhouse_store, tenant, "events")
    user_truth = _user_aggregates(clickhouse_store, tenant, "events")
    assert _tool_aggregates(clickhouse_store, tenant, "mv") == tool_truth
    assert _user_aggregates(clickhouse_store, tenant, "mv") == user_truth

    for table in ("session_stats", "user_stats", "tool_hourly"):
        clickhouse_store.command(f"OPTIMIZE TABLE {table} FINAL")
    partial_rows = clickhouse_store.query(
        "SELECT count() FROM session_stats WHERE project_id = {p:UUID}", {"p": str(tenant[1])})
    assert partial_rows[0][0] == len(truth), "OPTIMIZE FINAL should leave one row per session"
    assert _session_aggregates(clickhouse_store, tenant) == truth
    assert _tool_aggregates(clickhouse_store, tenant, "mv") == tool_truth
    assert _user_aggregates(clickhouse_store, tenant, "mv") == user_truth


def test_latency_quantiles_in_the_tool_aggregate_match_the_raw_events(
        clickhouse_store: ClickHouseStore, tenant) -> None:
    latencies = [float(v) for v in range(1, 201)]
    events = [make_event(event_type="tool_call", event_name="search_rooms", latency_ms=v,
                         status="success", platform="chatgpt") for v in latencies]
    for start in range(0, len(events), 50):
        store_events(clickhouse_store, *tenant, events[start:start + 50])
    clickhouse_store.command("OPTIMIZE TABLE tool_hourly FINAL")
    merged = clickhouse_store.query(
        "SELECT quantilesMerge(0.5, 0.95, 0.99)(latency_quantiles) FROM tool_hourly "
        "WHERE project_id = {p:UUID}", {"p": str(tenant[1])})[0][0]
    assert merged[0] == pytest.approx(100.5, abs=2)
    assert merged[1] == pytest.approx(190, abs=3)
    assert merged[2] == pytest.approx(198, abs=3)


def test_the_tool_registry_keeps_the_latest_registration(clickhouse_store: ClickHouseStore,
                                                         tenant) -> None:
    old = make_event(event_type="tool_discovery", tool_name="book_room", description="v1",
                     input_schema={"type": "object"}, offset_s=0)
    new = make_event(event_type="tool_discovery", tool_name="book_room", description="v2",
                     input_schema={"type": "object", "properties": {"room": {}}}, offset_s=60)
    listing = make_event(event_type="tool_discovery", event_name="tools/list",
                         metadata={"listed_tools": ["book_room"]}, offset_s=90)
    store_events(clickhouse_store, *tenant, [new])
    store_events(clickhouse_store, *tenant, [old, listing])
    rows = clickhouse_store.query(
        "SELECT tool_name, description, input_schema FROM tool_registry FINAL "
        "WHERE project_id = {p:UUID}", {"p": str(tenant[1])})
    assert rows == [("book_room", "v2", '{"type":"object","properties":{"room":{}}}')]


def test_json_payloads_round_trip_as_strings(clickhouse_store: ClickHouseStore, tenant) -> None:
    event = make_event(event_type="tool_call", event_name="search_rooms", status="success",
                       latency_ms=3, input_keys=["city", "nights"],
                       input_types={"city": "string", "nights": "number"},
                       input_values={"city": "Zürich", "nights": 2}, is_retry=True,
                       output_content="3 rooms found")
    store_events(clickhouse_store, *tenant, [event])
    row = clickhouse_store.query(
        "SELECT input_keys, input_types, input_values, is_retry, latency_ms, timestamp, "
        "output_content "
        "FROM events WHERE project_id = {p:UUID}", {"p": str(tenant[1])})[0]
    assert row[0] == '["city","nights"]'
    assert row[1] == '{"city":"string","nights":"number"}'
    assert row[2] == '{"city":"Zürich","nights":2}'
    assert row[3:5] == (1, 3.0)
    assert row[5].replace(tzinfo=timezone.utc) == BASE_TIME
    assert row[6] == '"3 rooms found"', "a plain-text output is stored as JSON text too"


def test_rebuilding_aggregates_repairs_views_that_counted_a_replay_twice(
        clickhouse_store: ClickHouseStore, tenant) -> None:
    events = synthetic_traffic(120, seed=11)
    store_events(clickhouse_store, *tenant, events)
    store_events(clickhouse_store, *tenant, events[:40])  # a naive replay: the views count twice
    assert sum(v[2] for v in _session_aggregates(clickhouse_store, tenant).values()) == 160

    clickhouse_store.rebuild_aggregates([e.event_id for e in events[:40]])

    sessions = {row[0]: row[1] for row in clickhouse_store.query(
        "SELECT session_id, count() FROM events FINAL WHERE project_id = {p:UUID} "
        "GROUP BY session_id", {"p": str(tenant[1])})}
    assert {k: v[2] for k, v in _session_aggregates(clickhouse_store, tenant).items()} == sessions
    assert sum(sessions.values()) == 120
    users = _user_aggregates(clickhouse_store, tenant, "mv")
    assert sum(v[0] for v in users.values()) == clickhouse_store.command(
        "SELECT count() FROM events FINAL WHERE project_id = {p:UUID} AND user_id != ''",
        {"p": str(tenant[1])})
    tools = _tool_aggregates(clickhouse_store, tenant, "mv")
    assert sum(v[0] for v in tools.values()) == clickhouse_store.command(
        "SELECT count() FROM events FINAL WHERE project_id = {p:UUID} "
        "AND event_type = 'tool_call'", {"p": str(tenant[1])})


def test_rebuilding_aggregates_restores_the_session_hours_a_crash_left_out(
        clickhouse_store: ClickHouseStore, tenant) -> None:
    events = synthetic_traffic(60, seed=12)
    store_events(clickhouse_store, *tenant, events)
    presence = ("SELECT {columns} FROM {table} WHERE project_id = {{p:UUID}} "
                "GROUP BY ALL ORDER BY ALL")
    expected = clickhouse_store.query(presence.format(
        columns="toStartOfHour(timestamp), toString(platform), session_id, user_id, "
                "min(timestamp), max(timestamp)", table="events"), {"p": str(tenant[1])})
    assert expected
    # a crash between the events' part and the view's part: the view's rows never landed
    clickhouse_store.command("DELETE FROM session_hours WHERE project_id = {p:UUID}",
                             {"p": str(tenant[1])})

    clickhouse_store.rebuild_aggregates([e.event_id for e in events])

    assert clickhouse_store.query(presence.format(
        columns="hour, toString(platform), session_id, user_id, min(first_seen), "
                "max(last_seen)", table="session_hours"), {"p": str(tenant[1])}) == expected
