"""When ClickHouse fails: an outage makes acknowledged events wait in the spool (503 only past its
budget) and everything drains once it is back; an event it cannot parse is set aside, not retried
forever."""

from __future__ import annotations

import asyncio
import json
import os
import time

import httpx
import pytest

from tests.ingest.conftest import IngestServer, make_event
from yavio_ingest.writer import STALLED_AFTER_S

# Small enough to fill in a few requests, large enough for several batches to wait first.
BUDGET = 60_000


@pytest.fixture
def settings_overrides() -> dict:
    return {"spool_budget_bytes": BUDGET}


async def test_events_wait_in_the_spool_while_clickhouse_refuses_inserts_and_none_are_lost(
        ingest_server: IngestServer) -> None:
    store = ingest_server.clickhouse
    acknowledged: set[str] = set()
    store.command("DETACH TABLE events")  # a real failure: every insert now errors
    try:
        statuses = []
        for _ in range(100):
            batch = [make_event() for _ in range(20)]
            response = await ingest_server.send(batch)
            statuses.append(response.status_code)
            if response.status_code == 200:
                acknowledged.update(e["event_id"] for e in batch)
            else:
                assert response.status_code == 503, response.text
                assert response.json()["error"]["code"] == "YAVIO-2402"
                assert response.headers["Retry-After"] == "1"
                break
            await asyncio.sleep(0.01)
        assert statuses[0] == 200 and statuses[-1] == 503, statuses
        assert ingest_server.ingest.spool.pending_bytes > BUDGET
        assert ingest_server.ingest.writer.failing_since is not None
        assert len(acknowledged) >= 100, "several batches should be accepted before the 503"
    finally:
        store.command("ATTACH TABLE events")

    assert await ingest_server.wait_stored(len(acknowledged), timeout=20) == len(acknowledged)
    stored_ids = {str(r[0]) for r in store.query(
        "SELECT DISTINCT event_id FROM events WHERE project_id = {p:UUID}",
        {"p": ingest_server.project_id})}
    assert stored_ids == acknowledged
    assert store.command("SELECT count() FROM events WHERE project_id = {p:UUID}",
                         {"p": ingest_server.project_id}) == len(acknowledged)

    # Drained: the budget is free again and ingestion goes on.
    await asyncio.sleep(0.2)
    assert ingest_server.ingest.spool.pending_bytes == 0
    assert ingest_server.ingest.writer.failing_since is None
    assert (await ingest_server.send([make_event()])).status_code == 200


async def test_health_names_clickhouse_down_while_its_inserts_keep_failing(
        ingest_server: IngestServer) -> None:
    async def health() -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.get(f"{ingest_server.url}/health")

    store = ingest_server.clickhouse
    store.command("DETACH TABLE events")  # ClickHouse still answers its ping; inserts fail
    try:
        assert (await ingest_server.send([make_event()])).status_code == 200
        assert (await health()).status_code == 200  # a first failure is only retried
        deadline = time.monotonic() + STALLED_AFTER_S + 10
        while (response := await health()).status_code == 200:
            assert time.monotonic() < deadline, "inserts fail and /health still says ok"
            await asyncio.sleep(0.2)
        assert response.status_code == 503
        assert response.json() == {"status": "degraded", "postgres": "up", "clickhouse": "down"}
    finally:
        store.command("ATTACH TABLE events")

    assert await ingest_server.wait_stored(1, timeout=20) == 1
    assert (await health()).json()["status"] == "ok"


async def test_an_event_clickhouse_cannot_parse_is_set_aside_and_the_rest_flows_on(
        ingest_server: IngestServer) -> None:
    # Validation lets no such event through; this one is written into the spool directly, as a
    # bug or an older server's spool might have left it.
    good = [make_event() for _ in range(5)]
    poison = make_event(timestamp="2026-01-01T00:00:00." + "0" * 30 + "1Z")
    lines = [json.dumps({**e, "workspace_id": ingest_server.workspace_id,
                         "project_id": ingest_server.project_id,
                         "ingested_at": "2026-11-23T00:00:00.000Z"}).encode()
             for e in good[:2] + [poison] + good[2:]]
    ingest_server.ingest.spool.append(b"\n".join(lines), len(lines))
    ingest_server.ingest.writer.appended(len(lines))

    assert await ingest_server.wait_stored(5) == 5
    await asyncio.sleep(0.1)
    assert ingest_server.stored() == 5
    refused = ingest_server.ingest.writer.quarantine_path.read_text().splitlines()
    assert len(refused) == 1 and poison["event_id"] in refused[0]
    assert ingest_server.ingest.spool.pending_bytes == 0
    assert (await ingest_server.send([make_event()])).status_code == 200
    assert await ingest_server.wait_stored(6) == 6


async def test_a_failing_spool_write_acknowledges_nothing_and_the_retry_is_stored(
        ingest_server: IngestServer) -> None:
    spool = ingest_server.ingest.spool
    event = make_event()
    healthy_fd = spool._fd
    spool._fd = os.open(os.devnull, os.O_RDONLY)  # every write now fails, as on a failing disk
    try:
        refused = await ingest_server.send([event])
    finally:
        os.close(spool._fd)
        spool._fd = healthy_fd
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "YAVIO-2402"

    retried = await ingest_server.send([event])
    assert retried.status_code == 200
    assert await ingest_server.wait_stored(1) == 1
