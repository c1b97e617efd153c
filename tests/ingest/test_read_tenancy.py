"""Every read route of a project, found in the server's own router (so a route added later is
covered without editing this test): a member of the workspace reads it, anyone else gets the
404 of a project that does not exist, and no answer to them carries the project's data."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import store_events
from tests.ingest.conftest import IngestServer
from tests.ingest.test_management import Tenant, make_tenant
from tests.ingest.test_overview import DAY, tool_call

_PREFIX = "/v1/projects/{project}/"
_MANAGEMENT = ("keys", "api-keys")  # management routes, covered by test_management.py
_SAMPLE = {"trace": "tr_secret", "tool": "search_rooms", "user": "u_secret"}
_BODIES = {"/query": {"sql": "SELECT count() FROM events"}}
_QUERIES = {"/funnel": {"step": ["tool_call", "tool_call:search_rooms"]}}


def read_routes(server: IngestServer) -> list[tuple[str, str]]:
    routes = []
    for route in server.app.router.routes():
        path = route.resource.canonical
        if route.method in ("HEAD", "OPTIONS") or not path.startswith(_PREFIX):
            continue
        if path[len(_PREFIX):].split("/")[0] in _MANAGEMENT or route.method == "DELETE":
            continue
        routes.append((route.method, path))
    return sorted(routes)


@pytest.fixture
def tenant(ingest_server: IngestServer) -> Tenant:
    mine = make_tenant(ingest_server.postgres, "t")
    call = tool_call(str(uuid.uuid4()), f"{DAY}T01:00:00.000Z", "ses_secret", "search_rooms",
                     "chatgpt", 10)
    call.trace_id, call.user_id = "tr_secret", "u_secret"
    store_events(ingest_server.clickhouse, uuid.UUID(mine.workspace_id),
                 uuid.UUID(mine.project_id), [call])
    return mine


async def request(server: IngestServer, token: str, method: str, template: str,
                  project: str) -> tuple[int, str]:
    """The status and body of one request; an open live stream's body is not waited for."""
    path = template.format(project=project, **_SAMPLE)
    suffix = "/" + template[len(_PREFIX):].split("/")[0]
    params: dict[str, Any] = {"from": f"{DAY}T00:00:00Z", **_QUERIES.get(suffix, {})}
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        async with client.stream(method, path, params=params, json=_BODIES.get(suffix),
                                 headers=headers) as response:
            if path.endswith("/live") and response.status_code == 200:
                return 200, ""
            return response.status_code, (await response.aread()).decode()


async def test_every_read_route_answers_its_workspace_and_hides_the_project_from_others(
        ingest_server: IngestServer, tenant: Tenant) -> None:
    routes = read_routes(ingest_server)
    assert len(routes) >= 15, routes  # the views, one trace, tool and user, live, export, query
    other = make_tenant(ingest_server.postgres, "o")
    for method, template in routes:
        status, _ = await request(ingest_server, tenant.tokens["viewer"], method, template,
                                  tenant.project_id)
        assert status == 200, (template, status)
        for role in ("owner", "viewer"):
            status, body = await request(ingest_server, other.tokens[role], method, template,
                                         tenant.project_id)
            assert status == 404, (template, role, status)
            assert '"YAVIO-3004"' in body and "secret" not in body, (template, body)
        # the other workspace's own project, asked for this project's trace, tool and user
        status, body = await request(ingest_server, other.tokens["viewer"], method, template,
                                     other.project_id)
        assert status in (200, 404) and "secret" not in body, (template, status, body)
