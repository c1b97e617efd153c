"""A real ingest server on a loopback port, with real Postgres and chdb, and a project to send to."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.conftest import TEST_SECRET
from yavio_ingest.app import create_app
from yavio_ingest.ingestion import INGEST, Ingest
from yavio_ingest.settings import Settings
from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_ingest.store.postgres import PostgresStore
from yavio_sdk.events import format_timestamp


def make_event(event_type: str = "tool_call", **fields: Any) -> dict[str, Any]:
    """A valid wire event of `event_type`; `fields` override or add."""
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()), "event_type": event_type, "trace_id": "tr_test",
        "session_id": "ses_test", "timestamp": format_timestamp(), "source": "server",
    }
    if event_type == "tool_call":
        event.update(event_name="search_rooms", latency_ms=12.5, status="success")
    elif event_type.startswith("widget_"):
        event["source"] = "widget"
    event.update(fields)
    return event


@dataclass
class IngestServer:
    url: str
    app: web.Application
    api_key: str
    workspace_id: str
    project_id: str
    postgres: PostgresStore
    clickhouse: ClickHouseStore
    spool_dir: Path

    @property
    def ingest(self) -> Ingest:
        return self.app[INGEST]

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.api_key}"}

    async def send(self, events: list[dict[str, Any]], token: str | None = None,
                   **kwargs: Any) -> httpx.Response:
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.post(f"{self.url}/v1/events", json={"events": events},
                                     headers=self.headers(token), **kwargs)

    async def widget_token(self, trace_id: str = "tr_test", session_id: str = "ses_test") -> str:
        async with httpx.AsyncClient() as client:
            response = await client.post(f"{self.url}/v1/widget-tokens", headers=self.headers(),
                                         json={"traceId": trace_id, "sessionId": session_id})
        assert response.status_code == 200, response.text
        return response.json()["token"]

    def stored(self, where: str = "1", **parameters: Any) -> int:
        """Distinct events of this project in ClickHouse matching `where`."""
        return int(self.clickhouse.command(
            f"SELECT uniqExact(event_id) FROM events WHERE project_id = {{p:UUID}} AND ({where})",
            {"p": self.project_id, **parameters}))

    async def wait_stored(self, count: int, timeout: float = 10) -> int:
        deadline = time.monotonic() + timeout
        while True:
            found = await asyncio.get_running_loop().run_in_executor(None, self.stored)
            if found >= count or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.05)


def ingest_settings(home: Path, **overrides: Any) -> Settings:
    return Settings(home=home, database_url="unused", clickhouse_url="unused",
                    hmac_secret=TEST_SECRET, jwt_secret="jwt-" + TEST_SECRET,
                    **{"flush_interval_ms": 20, **overrides})


async def start_ingest_server(postgres: PostgresStore, clickhouse: ClickHouseStore,
                              settings: Settings) -> tuple[IngestServer, TestServer]:
    owner = postgres.users.create(f"{uuid.uuid4().hex[:8]}@example.com")
    workspace = postgres.workspaces.create("W", uuid.uuid4().hex[:12], owner.id)
    project = postgres.projects.create(workspace.id, "P", "p")
    raw_key, _ = postgres.api_keys.create(project.id, "test")
    app = create_app(settings, postgres, clickhouse)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return IngestServer(f"http://127.0.0.1:{server.port}", app, raw_key, str(workspace.id),
                        str(project.id), postgres, clickhouse, settings.spool_path), server


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module (or with `pytest.mark.parametrize`) to tune the server."""
    return {}


@pytest.fixture
async def ingest_server(postgres_store: PostgresStore, clickhouse_store: ClickHouseStore,
                        tmp_path: Path, settings_overrides: dict[str, Any]
                        ) -> AsyncIterator[IngestServer]:
    server, test_server = await start_ingest_server(
        postgres_store, clickhouse_store, ingest_settings(tmp_path, **settings_overrides))
    yield server
    await test_server.close()
