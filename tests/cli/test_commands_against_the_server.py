"""The management commands against the real server (aiohttp, embedded Postgres, chdb): each
succeeds exactly for the roles allowed, and a user of another workspace gets "not found"."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from tests.ingest.conftest import (  # noqa: F401  (fixtures, found by pytest in this module)
    IngestServer,
    ingest_server,
    settings_overrides,
)
from tests.ingest.test_management import RANK, ROLES, Tenant, make_tenant
from yavio_cli.home import write_private_json
from yavio_cli.main import app


def home_of(root: Path, server: IngestServer, tenant: Tenant, role: str) -> Path:
    """A home whose saved credentials are the role's user, defaulting to the tenant's
    workspace and project (as `yavio up` leaves it for its owner)."""
    home = root / f"home-{uuid.uuid4().hex[:8]}"
    home.mkdir()
    write_private_json(home / "credentials.json", {
        "server": server.url, "token": tenant.tokens[role],
        "workspace": {"id": tenant.workspace_id, "slug": "w"},
        "project": {"id": tenant.project_id, "slug": "p"}})
    return home


async def run(home: Path, *args: str) -> Result:
    # The server answers on this event loop; the CLI's blocking client runs in a thread.
    return await asyncio.to_thread(CliRunner().invoke, app, list(args),
                                   env={"YAVIO_HOME": str(home)})


def _fresh_project(server: IngestServer, tenant: Tenant) -> str:
    project = server.postgres.projects.create(uuid.UUID(tenant.workspace_id), "X",
                                              f"x-{uuid.uuid4().hex[:8]}")
    return str(project.id)


COMMANDS: list[tuple[str, str, Any]] = [
    ("viewer", "keys list", lambda server, tenant: ["keys", "list", "--json"]),
    ("member", "keys create", lambda server, tenant: ["keys", "create", "--json"]),
    ("member", "projects create",
     lambda server, tenant: ["projects", "create", f"New {uuid.uuid4().hex[:6]}", "--json"]),
    ("viewer", "members list", lambda server, tenant: ["members", "list", "--json"]),
    ("admin", "members invite",
     lambda server, tenant: ["members", "invite", "new@example.com", "--role", "viewer",
                             "--json"]),
    ("owner", "projects delete",
     lambda server, tenant: ["projects", "delete", _fresh_project(server, tenant), "--yes"]),
]


@pytest.mark.parametrize("least, name, arguments", COMMANDS, ids=[c[1] for c in COMMANDS])
async def test_each_command_succeeds_exactly_for_the_roles_allowed(
        ingest_server: IngestServer, tmp_path: Path, least: str, name: str,
        arguments: Any) -> None:
    mine = make_tenant(ingest_server.postgres, "a")
    for role in ROLES:
        result = await run(home_of(tmp_path, ingest_server, mine, role),
                           *arguments(ingest_server, mine))
        if RANK[role] >= RANK[least]:
            assert result.exit_code == 0, (role, result.output)
        else:
            assert result.exit_code == 1, (role, result.output)
            assert f"needs the {least} role" in result.output, (role, result.output)


async def test_another_workspaces_project_is_not_found(
        ingest_server: IngestServer, tmp_path: Path) -> None:
    mine, theirs = (make_tenant(ingest_server.postgres, label) for label in ("a", "b"))
    outsider = home_of(tmp_path, ingest_server, theirs, "owner")
    for arguments in (["keys", "list", "--project", mine.project_id],
                      ["keys", "create", "--project", mine.project_id],
                      ["projects", "delete", mine.project_id, "--yes"]):
        result = await run(outsider, *arguments)
        assert result.exit_code == 1, (arguments, result.output)
        assert "not found" in result.output.lower(), (arguments, result.output)
    listed = await run(home_of(tmp_path, ingest_server, mine, "viewer"), "keys", "list",
                       "--json")
    assert listed.exit_code == 0 and isinstance(json.loads(listed.stdout)["keys"], list)
