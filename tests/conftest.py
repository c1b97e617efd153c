"""Shared fixtures: real embedded Postgres and real chdb, started by the tests themselves."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from yavio_cli.local_postgres import APP_ROLE, SUPERUSER, LocalPostgres
from yavio_ingest.store.clickhouse import ClickHouseStore, event_line, line_prefix
from yavio_ingest.store.postgres import PostgresStore
from yavio_sdk.events import format_timestamp

TEST_SECRET = "test-server-secret-" + "x" * 32


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """One embedded Postgres for the whole test session; each test gets its own database."""

    def __init__(self, root: Path):
        self.superuser_password = uuid.uuid4().hex
        self.app_password = uuid.uuid4().hex
        self.local = LocalPostgres(root / "postgres", free_port(), root / "postgres.log")
        self.local.initialize(self.superuser_password, self.app_password)

    def new_database(self) -> str:
        name = f"test_{uuid.uuid4().hex[:12]}"
        admin = f"postgresql://{SUPERUSER}@127.0.0.1:{self.local.port}/postgres"
        with psycopg.connect(admin, password=self.superuser_password, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(APP_ROLE)))
        return self.local.app_url(self.app_password).rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    server = PostgresServer(tmp_path_factory.mktemp("pg"))
    yield server
    server.local.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    return postgres_server.new_database()


@pytest.fixture
def postgres_store(postgres_url: str) -> Iterator[PostgresStore]:
    store = PostgresStore(postgres_url, TEST_SECRET)
    store.migrate()
    yield store
    store.close()


@pytest.fixture(scope="session")
def clickhouse_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseStore]:
    """The test process's one chdb store: chdb opens a single directory per process, so tests
    share it and keep apart by using their own workspace and project ids."""
    store = ClickHouseStore(f"chdb://{tmp_path_factory.mktemp('chdb')}")
    store.migrate()
    yield store
    store.close()


def store_events(store: ClickHouseStore, workspace_id: uuid.UUID, project_id: uuid.UUID,
                 events: list) -> None:
    """Write validated events for a tenant straight into ClickHouse, as the writer does."""
    prefix = line_prefix(str(workspace_id), str(project_id), format_timestamp())
    store.insert_lines(b"\n".join(event_line(e, prefix) for e in events))
