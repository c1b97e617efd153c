"""The server's HTTP surface so far, on a real loopback port with real Postgres and chdb."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp.test_utils import TestServer

from tests.conftest import TEST_SECRET
from tests.conftest import store_events as write_events
from yavio_ingest.app import create_app
from yavio_ingest.settings import Settings
from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_ingest.store.postgres import PostgresStore
from yavio_sdk.events import format_timestamp, validate_obj


@pytest.fixture
async def server(postgres_store: PostgresStore, clickhouse_store: ClickHouseStore,
                 tmp_path) -> AsyncIterator[str]:
    settings = Settings(home=tmp_path, database_url="unused", clickhouse_url="unused",
                        hmac_secret=TEST_SECRET, jwt_secret=TEST_SECRET)
    test_server = TestServer(create_app(settings, postgres_store, clickhouse_store),
                             host="127.0.0.1")
    await test_server.start_server()
    yield f"http://127.0.0.1:{test_server.port}"
    await test_server.close()


def store_events(store: ClickHouseStore, workspace_id: uuid.UUID, project_id: uuid.UUID,
                 count: int) -> None:
    events = []
    for _ in range(count):
        event, issues = validate_obj({
            "event_id": str(uuid.uuid4()), "event_type": "track", "trace_id": "tr_1",
            "session_id": "ses_1", "timestamp": format_timestamp(), "source": "server",
            "event_name": "clicked"})
        assert not issues
        events.append(event)
    write_events(store, workspace_id, project_id, events)


async def test_health_reports_both_stores_up_with_a_request_id(server: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{server}/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "postgres": "up", "clickhouse": "up"}
    assert len(response.headers["x-request-id"]) >= 16


async def test_a_request_without_a_token_gets_the_error_envelope(server: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{server}/v1/stats", headers={"x-request-id": "req-42"})
    assert response.status_code == 401
    assert response.headers["x-request-id"] == "req-42"
    assert response.json() == {"error": {"code": "YAVIO-3000",
                                         "message": "Missing or invalid access token.",
                                         "status": 401, "requestId": "req-42"}}


async def test_stats_count_only_the_callers_own_workspaces(
        server: str, postgres_store: PostgresStore, clickhouse_store: ClickHouseStore) -> None:
    alice = postgres_store.users.create("alice@example.com")
    bob = postgres_store.users.create("bob@example.com")
    alices = postgres_store.workspaces.create("Alice", "alice", alice.id)
    bobs = postgres_store.workspaces.create("Bob", "bob", bob.id)
    alice_project = postgres_store.projects.create(alices.id, "P", "p")
    bob_project = postgres_store.projects.create(bobs.id, "P", "p")
    store_events(clickhouse_store, alices.id, alice_project.id, 3)
    store_events(clickhouse_store, bobs.id, bob_project.id, 5)
    alice_token, _ = postgres_store.access_tokens.create(alice.id)

    async with httpx.AsyncClient() as client:
        response = await client.get(f"{server}/v1/stats",
                                    headers={"Authorization": f"Bearer {alice_token}"})
        forged = await client.get(f"{server}/v1/stats",
                                  headers={"Authorization": f"Bearer yat_{'0' * 64}"})
    assert response.json() == {"events": 3, "workspaces": 1}
    assert forged.status_code == 401
