"""Store faults (docs/RELIABILITY.md): a store goes away while clients keep sending.

ClickHouse refusing every insert for OUTAGE_S: acknowledged events wait in the spool and reach
ClickHouse once it is back, each once. Postgres stopped and started again: keys the server has
seen keep ingesting, a key it has never seen answers 503 with `Retry-After` (the client retries
it later) instead of a 401 that would make an SDK stop for good, and works once Postgres is back.

The server runs in-process (`start_ingest_server`) so the test can reach its chdb store (one chdb
folder per process) and its Postgres of its own (the session's Postgres is shared by every test).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_SECRET, PostgresServer
from tests.ingest.conftest import (
    IngestServer,
    ingest_settings,
    make_event,
    start_ingest_server,
)
from tests.reliability.conftest import scaled
from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_ingest.store.postgres import PostgresStore

OUTAGE_S = scaled(5.0, 60.0)
POSTGRES_OUTAGE_S = scaled(5.0, 60.0)
SENDERS = 4
BATCH = 20
# Per sender a batch every 80 ms: 1,000 events/s in all (the default project rate limit).
BATCH_INTERVAL_S = 0.08


class Senders:
    """SENDERS clients sending a batch of BATCH events every BATCH_INTERVAL_S, each batch
    retried (after its `Retry-After`) until acknowledged, as the SDK does (the next one waits)."""

    def __init__(self, server: IngestServer, api_key: str | None = None):
        self.server = server
        self.api_key = api_key or server.api_key
        self.acknowledged: set[str] = set()
        self.acknowledged_at: list[float] = []  # per batch
        self.slowest_s = 0.0
        self.statuses: dict[int, int] = {}
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._send()) for _ in range(SENDERS)]

    async def stop(self) -> None:
        self._stopping.set()
        await asyncio.gather(*self._tasks)

    async def _send(self) -> None:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        async with httpx.AsyncClient(timeout=30, headers=headers) as client:
            next_at = time.monotonic()
            while not self._stopping.is_set():
                next_at += BATCH_INTERVAL_S
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                batch = [make_event() for _ in range(BATCH)]
                while True:
                    sent_at = time.monotonic()
                    response = await client.post(f"{self.server.url}/v1/events",
                                                 json={"events": batch})
                    self.slowest_s = max(self.slowest_s, time.monotonic() - sent_at)
                    self.statuses[response.status_code] = \
                        self.statuses.get(response.status_code, 0) + 1
                    if response.status_code == 200:
                        break
                    await asyncio.sleep(float(response.headers.get("Retry-After", 1)))
                self.acknowledged.update(e["event_id"] for e in batch)
                self.acknowledged_at.append(time.monotonic())


def stored_figures(clickhouse: ClickHouseStore, project_id: str) -> dict[str, Any]:
    parameters = {"p": project_id}
    return {
        "ids": {str(r[0]) for r in clickhouse.query(
            "SELECT event_id FROM events WHERE project_id = {p:UUID}", parameters)},
        "rows": clickhouse.command(
            "SELECT count() FROM events WHERE project_id = {p:UUID}", parameters),
        "views": clickhouse.command(
            "SELECT countMerge(events) FROM session_stats WHERE project_id = {p:UUID}",
            parameters),
    }


async def wait_drained(server: IngestServer, timeout: float = 120) -> float:
    """Seconds until the spool holds nothing more for ClickHouse."""
    started = time.monotonic()
    while server.ingest.spool.pending_bytes > 0:
        assert time.monotonic() - started < timeout, "the spool did not drain"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_events_acknowledged_while_clickhouse_is_down_are_stored_once_it_is_back(
        postgres_store: PostgresStore, clickhouse_store: ClickHouseStore,
        tmp_path: Path) -> None:
    server, test_server = await start_ingest_server(postgres_store, clickhouse_store,
                                                    ingest_settings(tmp_path))
    senders = Senders(server)
    senders.start()
    try:
        await asyncio.sleep(0.5)
        clickhouse_store.command("DETACH TABLE events")  # a real failure: every insert errors
        try:
            await asyncio.sleep(OUTAGE_S)
        finally:
            clickhouse_store.command("ATTACH TABLE events")
    finally:
        # The drain measured is the outage's backlog alone, not a race with new events.
        await senders.stop()
    try:
        waiting = server.ingest.spool.pending_bytes
        drain_s = await wait_drained(server)
        figures = await asyncio.get_running_loop().run_in_executor(
            None, stored_figures, clickhouse_store, server.project_id)
    finally:
        await test_server.close()

    total = len(senders.acknowledged)
    assert senders.statuses == {200: senders.statuses[200]}, \
        f"the spool's budget was never reached, so every batch should be accepted: " \
        f"{senders.statuses}"
    assert waiting > 0 and total >= OUTAGE_S * 500, "the outage should have held many events"
    assert figures["ids"] == senders.acknowledged
    assert figures["rows"] == total, "some events were inserted twice"
    assert figures["views"] == total, "the aggregate view counted some events twice"
    print(f"ClickHouse down {OUTAGE_S:.0f} s under {SENDERS * BATCH / BATCH_INTERVAL_S:.0f} "
          f"events/s offered: {total} events acknowledged (slowest answer "
          f"{senders.slowest_s:.2f} s), {waiting} spool bytes waiting when it was back, "
          f"drained {drain_s:.2f} s later, all stored once")


@pytest.fixture
def own_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A Postgres of this test's own, free to stop without disturbing other tests."""
    server = PostgresServer(tmp_path_factory.mktemp("own-pg"))
    yield server
    server.local.stop()


@pytest.fixture
async def postgres_backed_server(own_postgres: PostgresServer, clickhouse_store: ClickHouseStore,
                                 tmp_path: Path) -> AsyncIterator[IngestServer]:
    store = PostgresStore(own_postgres.new_database(), TEST_SECRET)
    store.migrate()
    # A key cache shorter than the outage: keys seen before it must keep working beyond their
    # cache entry's life while Postgres cannot be asked.
    server, test_server = await start_ingest_server(
        store, clickhouse_store, ingest_settings(tmp_path, key_cache_ttl_s=0.5))
    # The quota check reads the workspace's plan again within the outage too.
    server.ingest.quotas._refresh_s = 0.5
    yield server
    await test_server.close()
    store.close()


async def test_seen_keys_keep_ingesting_and_new_ones_get_503_while_postgres_restarts(
        own_postgres: PostgresServer, postgres_backed_server: IngestServer) -> None:
    server = postgres_backed_server
    new_key, _ = server.postgres.api_keys.create(uuid.UUID(server.project_id), "never used")
    senders = Senders(server)
    seen = [make_event()]
    assert (await server.send(seen)).status_code == 200  # the senders' key is now seen
    senders.acknowledged.add(seen[0]["event_id"])
    senders.start()
    try:
        await asyncio.sleep(0.5)
        own_postgres.local.stop()
        stopped_at = time.monotonic()
        answers = []
        async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {new_key}"}
                                     ) as client:
            while time.monotonic() - stopped_at < POSTGRES_OUTAGE_S:
                response = await client.post(f"{server.url}/v1/events",
                                             json={"events": [make_event()]})
                answers.append(response)
                await asyncio.sleep(0.25)
            restarting_at = time.monotonic()
            own_postgres.local.start()
            restarted_at = time.monotonic()
            while True:
                response = await client.post(f"{server.url}/v1/events",
                                             json={"events": [make_event()]})
                if response.status_code == 200:
                    break
                assert response.status_code == 503, response.text
                assert time.monotonic() - restarted_at < 60, "the new key never worked"
                await asyncio.sleep(0.1)
            new_key_back_s = time.monotonic() - restarted_at
    finally:
        await senders.stop()
    await wait_drained(server)
    figures = await asyncio.get_running_loop().run_in_executor(
        None, stored_figures, server.clickhouse, server.project_id)

    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "YAVIO-5001"
        assert int(answer.headers["Retry-After"]) >= 1
    assert answers
    assert set(senders.statuses) == {200}, f"seen keys should never be refused: " \
                                           f"{senders.statuses}"
    late = [t for t in senders.acknowledged_at if restarting_at - 1 <= t <= restarting_at]
    assert late, "seen keys should still be acknowledged in the last second of the outage"
    total = len(senders.acknowledged) + 1
    assert senders.acknowledged < figures["ids"] and len(figures["ids"]) == total
    assert figures["rows"] == figures["views"] == total
    print(f"Postgres down {POSTGRES_OUTAGE_S:.0f} s (+{restarted_at - restarting_at:.1f} s to "
          f"start): {len(senders.acknowledged)} events of a seen key acknowledged (all 200, "
          f"slowest answer {senders.slowest_s:.2f} s), {len(answers)} tries of a new key all "
          f"503 YAVIO-5001; the new key worked {new_key_back_s:.2f} s after Postgres was back")
