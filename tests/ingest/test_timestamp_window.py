"""Event timestamps (issue 10): the ingest refuses, event by event, a timestamp more than 24 h
ahead of its clock or older than the retention, and a block spread over many months never stalls
the writer, whatever the retention.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

from tests.ingest.conftest import IngestServer, make_event
from tests.ingest.test_management import Tenant, make_tenant
from tests.reliability.server_process import ServerProcess
from tests.reliability.test_crash_safety import rewind_checkpoint
from yavio_ingest.spool import Spool
from yavio_ingest.store.postgres import PostgresStore
from yavio_sdk.events import format_timestamp

RETENTION_DAYS = 90  # the default, and the retention of the tests' shared chdb store
LONG_RETENTION_DAYS = 3650


def stamp(offset: timedelta) -> str:
    return format_timestamp(datetime.now(timezone.utc) + offset)


async def test_an_event_two_days_ahead_or_older_than_the_retention_is_refused_and_the_rest_stored(
        ingest_server: IngestServer) -> None:
    ahead = make_event(timestamp=stamp(timedelta(days=2)))
    expired = make_event(timestamp=stamp(-timedelta(days=RETENTION_DAYS, minutes=10)))
    kept = [make_event(), make_event("track", event_name="searched")]

    response = await ingest_server.send([kept[0], ahead, kept[1], expired])

    assert response.status_code == 207, response.text
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (2, 2)
    assert [error["index"] for error in body["errors"]] == [1, 3]
    [ahead_issue], [expired_issue] = (error["issues"] for error in body["errors"])
    assert ahead_issue.startswith("timestamp: ") and "YAVIO-2115" in ahead_issue
    assert "24 h ahead" in ahead_issue and "clock" in ahead_issue
    assert expired_issue.startswith("timestamp: ") and "YAVIO-2115" in expired_issue
    assert f"{RETENTION_DAYS} days" in expired_issue and "retention" in expired_issue

    # A marker sent afterwards is written after them: once it is stored, nothing else comes.
    marker = make_event()
    assert (await ingest_server.send([marker])).status_code == 200
    assert await ingest_server.wait_stored(3) == 3
    assert ingest_server.stored("event_id IN {ids:Array(UUID)}",
                                ids=[e["event_id"] for e in (*kept, marker)]) == 3


async def test_a_batch_of_refused_timestamps_only_answers_400_naming_the_code_per_event(
        ingest_server: IngestServer) -> None:
    response = await ingest_server.send([make_event(timestamp=stamp(timedelta(days=400)))])

    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"]["code"] == "YAVIO-2100"
    [error] = body["errors"]
    assert error["index"] == 0 and "YAVIO-2115" in error["issues"][0]


async def test_an_event_23_hours_ahead_or_just_inside_the_retention_is_accepted(
        ingest_server: IngestServer) -> None:
    events = [make_event(timestamp=stamp(timedelta(hours=23))),
              make_event(timestamp=stamp(-timedelta(days=RETENTION_DAYS) + timedelta(minutes=10)))]

    response = await ingest_server.send(events)

    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 2
    assert await ingest_server.wait_stored(2) == 2


@dataclass(frozen=True)
class Sender:
    """A tenant of its own (`make_tenant`) with an API key to send its events."""
    tenant: Tenant
    api_key: str


def new_sender(store: PostgresStore, label: str) -> Sender:
    tenant = make_tenant(store, label)
    api_key, _ = store.api_keys.create(uuid.UUID(tenant.project_id), "timestamps")
    return Sender(tenant, api_key)


def send(server: ServerProcess, sender: Sender, events: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/events", json={"events": events}, timeout=30,
                      headers={"Authorization": f"Bearer {sender.api_key}"})


def query(server: ServerProcess, sender: Sender, sql: str) -> list[Any]:
    """The sender's events as its owner queries them (`POST /v1/projects/{id}/query`). A query
    waits for the store while a replay rebuilds the aggregates over every month (26 s alone,
    more on a busy machine)."""
    response = httpx.post(f"{server.url}/v1/projects/{sender.tenant.project_id}/query",
                          timeout=180, json={"sql": sql},
                          headers={"Authorization": f"Bearer {sender.tenant.tokens['owner']}"})
    assert response.status_code == 200, response.text
    return response.json()["rows"][0]


def first_of_month(now: datetime, months_back: int) -> str:
    year, month = divmod(now.year * 12 + now.month - 1 - months_back, 12)
    return format_timestamp(datetime(year, month + 1, 1, tzinfo=timezone.utc))


def test_a_batch_over_119_months_is_stored_and_other_tenants_events_flow_on(
        tmp_path: Path, postgres_url: str, postgres_store: PostgresStore) -> None:
    # Over 100 months, ClickHouse's default `max_partitions_per_insert_block`: a block like
    # this one once failed its insert and every tenant's events waited behind it for good. Its
    # own process: the retention is the chdb store's, and the shared test store keeps 90 days.
    months = 119  # all within LONG_RETENTION_DAYS
    spread, other = new_sender(postgres_store, "spread"), new_sender(postgres_store, "other")
    now = datetime.now(timezone.utc)
    batch = [make_event(timestamp=first_of_month(now, index % months)) for index in range(1000)]
    server = ServerProcess(tmp_path, postgres_url)
    server.env["YAVIO_RETENTION_DAYS"] = str(LONG_RETENTION_DAYS)
    server.start()
    try:
        response = send(server, spread, batch)
        assert response.status_code == 200, response.text
        assert send(server, other, [make_event() for _ in range(10)]).status_code == 200

        wait_for_events(server, other, 10, timeout_s=180)
        assert query(server, spread, "SELECT uniqExact(event_id), "
                                     "uniqExact(toYYYYMM(timestamp)) FROM events") == [1000, months]

        # A crash before the checkpoint: the restart replays the block and rebuilds the
        # aggregate rows it touches, over the same months (26 s in chdb, nearly all of it the
        # lightweight delete in session_hours, one part per month), and then goes on.
        server.stop()
        rewind_checkpoint(tmp_path / "spool")
        server.start()
        assert send(server, other, [make_event() for _ in range(10)]).status_code == 200
        wait_for_events(server, other, 20, timeout_s=180)
        assert query(server, spread, "SELECT count() FROM events") == [1000]
    finally:
        server.stop()
    spool = Spool(tmp_path / "spool")
    assert spool.pending_bytes == 0, "the replayed block never passed its checkpoint"
    spool.close()


def wait_for_events(server: ServerProcess, sender: Sender, count: int, timeout_s: float) -> None:
    # Generous: a stalled writer never stores them; a slow machine stores them late.
    deadline = time.monotonic() + timeout_s
    while query(server, sender, "SELECT count() FROM events") != [count]:
        assert time.monotonic() < deadline, "the other tenant's events were never stored"
        time.sleep(0.1)
