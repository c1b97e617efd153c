"""The reliability suite (docs/RELIABILITY.md): each scenario at a fast size by default, as part of
`make test`, and at the size the document reports with YAVIO_RELIABILITY=long (`make
reliability`)."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import TypeVar

import pytest

from tests.conftest import TEST_SECRET, PostgresServer
from yavio_ingest.store.postgres import PostgresStore

LONG = os.environ.get("YAVIO_RELIABILITY") == "long"

T = TypeVar("T")


def scaled(fast: T, long: T) -> T:
    """`long` in the long variant, `fast` otherwise."""
    return long if LONG else fast


@dataclass(frozen=True)
class Tenant:
    """A database of its own with one owner, workspace, project and API key."""
    database_url: str
    owner_id: uuid.UUID
    workspace_id: uuid.UUID
    project_id: uuid.UUID
    api_key: str


def new_tenant(postgres_server: PostgresServer, name: str = "Reliability") -> Tenant:
    database_url = postgres_server.new_database()
    store = PostgresStore(database_url, TEST_SECRET)
    store.migrate()
    owner = store.users.create(f"{uuid.uuid4().hex[:8]}@example.com")
    workspace = store.workspaces.create(name, uuid.uuid4().hex[:12], owner.id)
    project = store.projects.create(workspace.id, "P", "p")
    api_key, _ = store.api_keys.create(project.id)
    store.close()
    return Tenant(database_url, owner.id, workspace.id, project.id, api_key)


@pytest.fixture
def tenant(postgres_server: PostgresServer) -> Tenant:
    return new_tenant(postgres_server)
