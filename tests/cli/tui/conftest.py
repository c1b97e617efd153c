"""The dashboard's tests run the real `YavioApp` against the real server (embedded Postgres,
chdb) serving `seed.py`'s fixed week: the server runs on its own event loop in a thread, so
Textual's pilot (on the test's loop) and its snapshots (which run the app on a loop of their
own) both reach it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from textual.pilot import Pilot

from tests.cli.tui.seed import NOW, WEEK, tool_registrations, week_of_traffic
from tests.conftest import TEST_SECRET, PostgresServer, free_port, store_events
from tests.ingest.conftest import ingest_settings
from yavio_cli.client import YavioClient
from yavio_cli.tui.app import YavioApp
from yavio_ingest.app import create_app
from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_ingest.store.postgres import PostgresStore

SIZES = {"small": (80, 24), "large": (120, 40)}


@dataclass(frozen=True)
class DashboardServer:
    url: str
    token: str
    workspace: dict[str, Any]
    project: dict[str, Any]
    empty_project: dict[str, Any]
    postgres: PostgresStore
    clickhouse: ClickHouseStore


class ThreadedServer:
    """The real server on a loopback port, on an event loop of its own in a thread."""

    def __init__(self, app: web.Application, port: int | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.port = port or free_port()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

        async def start() -> web.AppRunner:
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            return runner

        self.runner = asyncio.run_coroutine_threadsafe(start(), self.loop).result(60)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture(scope="session")
def dashboard_server(postgres_server: PostgresServer, clickhouse_store: ClickHouseStore,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardServer]:
    postgres = PostgresStore(postgres_server.new_database(), TEST_SECRET)
    postgres.migrate()
    owner = postgres.users.create("owner@hotel.example")
    workspace = postgres.workspaces.create("Hotel Co", "hotel-co", owner.id)
    project = postgres.projects.create(workspace.id, "Hotel", "hotel")
    empty = postgres.projects.create(workspace.id, "Spa", "spa")
    token, _ = postgres.access_tokens.create(owner.id, "tui")
    store_events(clickhouse_store, workspace.id, project.id,
                 [*tool_registrations(), *week_of_traffic(),
                  *week_of_traffic(sessions=20, start=NOW - 2 * WEEK, seed=3)])
    home: Path = tmp_path_factory.mktemp("dashboard")
    server = ThreadedServer(create_app(ingest_settings(home), postgres, clickhouse_store))
    yield DashboardServer(
        f"http://127.0.0.1:{server.port}", token,
        {"id": str(workspace.id), "slug": "hotel-co"},
        {"id": str(project.id), "slug": "hotel"}, {"id": str(empty.id), "slug": "spa"},
        postgres, clickhouse_store)
    server.stop()
    postgres.close()


def dashboard(server: DashboardServer, *, project: dict[str, Any] | None = None,
              url: str | None = None, **options: Any) -> YavioApp:
    """The app as `yavio tui` opens it, on the fixed week (`seed.NOW`), without the refresh
    timer unless `refresh` is given (a pilot reloads with `r`)."""
    return YavioApp(YavioClient(url or server.url, server.token), url or server.url,
                    project or server.project, server.workspace,
                    **{"refresh": 0, "clock": lambda: NOW, **options})


async def loaded(pilot: Pilot) -> None:
    """Wait until the loads started so far have landed on the screen."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    # a DataTable sizes its columns, and a chart its marks, once idle after the data landed
    await pilot.pause()
