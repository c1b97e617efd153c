"""Tenant isolation under fuzzing (docs/RELIABILITY.md): random users with random roles in
random workspaces call every read and management route of the server's own router with random
ids (their own, other tenants', made up), and no answer carries another tenant's data and no call
changes another tenant's state.

The oracles, checked after every call:
- reads: the answer names nothing exclusive to a workspace the caller is not a member of (its
  id, slug, project and key ids, key names, its events' trace, session, end-user and tool
  names, and the emails of users who share no workspace with the caller), unless the caller
  sent it in the request;
- writes: every row of Postgres that belongs to such a workspace (or to another user's tokens)
  and its ClickHouse event count are exactly as before;
- a route naming such a workspace or project answers 404 YAVIO-3004, like one that does not
  exist.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import store_events
from tests.ingest.conftest import IngestServer, ingest_server, settings_overrides  # noqa: F401
from tests.ingest.test_management import ROLES, make_tenant
from tests.ingest.test_overview import DAY, tool_call
from tests.reliability.conftest import scaled
from yavio_ingest.store.postgres import PostgresStore

_TENANTS = scaled(3, 8)
_CASES = scaled(300, 3_000)
# Ingest, health and the document take no user, workspace or project.
_NOT_TENANT_ROUTES = {"/health", "/openapi.json", "/v1/events", "/v1/widget-tokens"}
_IMPLICIT_METHODS = {"HEAD", "OPTIONS"}
_QUERIES = ["SELECT trace_id, session_id, user_id, event_name FROM events",
            "SELECT * FROM events WHERE project_id != {project:UUID}",
            "SELECT count() FROM default.events", "SELECT name FROM system.tables"]


@dataclass
class World:
    """What the fuzzer draws ids from and what each tenant owns exclusively."""
    labels: dict[str, str]  # workspace id -> label
    ids: dict[str, list[str]]  # path parameter -> candidate values
    tokens: dict[str, str]  # user id -> raw access token


def build_world(server: IngestServer, rng: random.Random) -> World:
    store = server.postgres
    labels: dict[str, str] = {}
    tokens: dict[str, str] = {}
    ids: dict[str, list[str]] = {name: [] for name in
                                 ("workspace", "project", "trace", "user", "tool", "key", "token")}
    for _ in range(_TENANTS):
        label = "zq" + uuid.uuid4().hex[:8]
        tenant = make_tenant(store, label)
        workspace, project = uuid.UUID(tenant.workspace_id), uuid.UUID(tenant.project_id)
        labels[tenant.workspace_id] = label
        for role in ROLES:
            tokens[tenant.users[role]] = tenant.tokens[role]
        _, key = store.api_keys.create(project, f"key-{label}")
        call = tool_call(str(uuid.uuid4()), f"{DAY}T01:00:00.000Z", f"ses_{label}",
                         f"tool_{label}", "chatgpt", 10)
        call.trace_id, call.user_id = f"tr_{label}", f"u_{label}"
        store_events(server.clickhouse, workspace, project, [call])
        store.invitations.create(workspace, f"invitee-{label}@example.com", "member",
                                 uuid.UUID(tenant.users["owner"]))
        ids["workspace"].append(tenant.workspace_id)
        ids["project"].append(tenant.project_id)
        ids["trace"].append(f"tr_{label}")
        ids["user"] += [f"u_{label}", *tenant.users.values()]
        ids["tool"].append(f"tool_{label}")
        ids["key"].append(str(key.id))
    # Users in several workspaces, with random roles: membership is not one-to-one.
    users = list(tokens)
    for workspace in labels:
        for user in rng.sample(users, k=2):
            store.workspaces.set_role(uuid.UUID(workspace), uuid.UUID(user),
                                      rng.choice(("admin", "member", "viewer")))
    ids["token"] = [str(row[0]) for row in _rows(store, "SELECT id FROM access_tokens")]
    for values in ids.values():
        values += [str(uuid.uuid4()), "not-an-id"]
    return World(labels, ids, tokens)


def _rows(store: PostgresStore, sql: str, *params: Any) -> list[tuple]:
    with store.pool.connection() as conn:
        return conn.execute(sql, params).fetchall()


def memberships(store: PostgresStore) -> dict[str, set[str]]:
    """User id -> the workspaces they belong to."""
    found: dict[str, set[str]] = {}
    for workspace, user in _rows(store, "SELECT workspace_id, user_id FROM workspace_members"):
        found.setdefault(str(user), set()).add(str(workspace))
    return found


def foreign_state(server: IngestServer, caller: str, foreign: set[str]) -> dict[str, Any]:
    """Every row that belongs to a workspace in `foreign` or to another user's tokens, and the
    ClickHouse event count of each of those workspaces' projects."""
    store = server.postgres
    spaces = [uuid.UUID(w) for w in foreign]
    projects = _rows(store, "SELECT id, workspace_id, name, slug FROM projects "
                            "WHERE workspace_id = ANY(%s) ORDER BY id", spaces)
    project_ids = [row[0] for row in projects]
    counts = server.clickhouse.query(
        "SELECT project_id, count() FROM events WHERE has({ps:Array(UUID)}, project_id) "
        "GROUP BY project_id ORDER BY project_id", {"ps": [str(p) for p in project_ids]})
    return {
        "workspaces": _rows(store, "SELECT id, name, slug, plan, monthly_event_quota "
                                   "FROM workspaces WHERE id = ANY(%s) ORDER BY id", spaces),
        "members": _rows(store, "SELECT workspace_id, user_id, role FROM workspace_members "
                                "WHERE workspace_id = ANY(%s) ORDER BY 1, 2", spaces),
        "invitations": _rows(store, "SELECT id, email, role, accepted_at FROM invitations "
                                    "WHERE workspace_id = ANY(%s) ORDER BY id", spaces),
        "projects": projects,
        "keys": _rows(store, "SELECT id, name, revoked_at FROM api_keys "
                             "WHERE project_id = ANY(%s) ORDER BY id", project_ids),
        "tokens": _rows(store, "SELECT id, name, expires_at, revoked_at FROM access_tokens "
                               "WHERE user_id != %s ORDER BY id", uuid.UUID(caller)),
        "events": counts,
    }


def foreign_markers(server: IngestServer, world: World, caller: str,
                    members: dict[str, set[str]]) -> set[str]:
    """Strings that only a member of a workspace the caller is not in could have seen."""
    mine = members.get(caller, set())
    foreign = set(world.labels) - mine
    markers: set[str] = set()
    for workspace in foreign:
        label = world.labels[workspace]
        markers |= {workspace, f"w-{label}-", f"key-{label}", f"tr_{label}", f"ses_{label}",
                    f"u_{label}", f"tool_{label}", f"invitee-{label}"}
        for project, key in _rows(server.postgres, "SELECT p.id, k.id FROM projects p "
                                  "LEFT JOIN api_keys k ON k.project_id = p.id "
                                  "WHERE p.workspace_id = %s", uuid.UUID(workspace)):
            markers |= {str(project)} | ({str(key)} if key else set())
    strangers = [user for user, spaces in members.items() if not spaces & mine and
                 user != caller]
    for (email,) in _rows(server.postgres, "SELECT email FROM users WHERE id = ANY(%s)",
                          [uuid.UUID(u) for u in strangers]):
        markers.add(email)
    return markers


def draw_call(world: World, rng: random.Random, route: tuple[str, str],
              caller: str) -> tuple[str, str, dict[str, Any], Any]:
    method, template = route
    values = {name: rng.choice(world.ids[name]) for name in world.ids}
    path = template.format(**values)
    params: dict[str, Any] = {"from": f"{DAY}T00:00:00Z"}
    if path.endswith("/funnel"):
        params["step"] = ["tool_call", f"tool_call:{rng.choice(world.ids['tool'])}"]
    bodies: dict[str, Any] = {
        "/query": {"sql": rng.choice(_QUERIES)},
        "/projects": {"name": f"New {uuid.uuid4().hex[:6]}"},
        "/workspaces": {"name": f"Mine {uuid.uuid4().hex[:6]}"},
        "/keys": {"name": "fuzz"}, "/rotate": {"graceSeconds": 60},
        "/invitations": {"email": f"{uuid.uuid4().hex[:6]}@example.com",
                         "role": rng.choice(("admin", "member", "viewer"))},
        "/plan": {"plan": rng.choice(("community", "self-hosted"))},
        "/tokens": {"name": "fuzz"}, "/accept": {"token": "yai_" + uuid.uuid4().hex},
    }
    body = None
    if method in ("POST", "PATCH"):
        if "/members/" in template:
            body = {"role": rng.choice(ROLES)}
        else:
            body = bodies.get("/" + template.rsplit("/", 1)[-1], {})
    return method, path, params, body


async def send(server: IngestServer, token: str, method: str, path: str,
               params: dict[str, Any], body: Any) -> tuple[int, str]:
    """The status and body; an open live stream is read for its first chunk only."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        async with client.stream(method, path, params=params, json=body,
                                 headers={"Authorization": f"Bearer {token}"}) as response:
            if path.endswith("/live") and response.status_code == 200:
                async for chunk in response.aiter_text():
                    return 200, chunk
            return response.status_code, (await response.aread()).decode()


def named_tenant_ids(template: str, path: str) -> dict[str, str]:
    """The {workspace} and {project} values a path was built with."""
    named = {}
    for part, value in zip(template.split("/"), path.split("/"), strict=True):
        if part in ("{workspace}", "{project}"):
            named[part.strip("{}")] = value
    return named


@pytest.mark.timeout(scaled(300, 1_800))  # the long variant: ~100 ms a case on 2 cores
async def test_random_users_ids_and_routes_never_cross_a_tenant_boundary(
        ingest_server: IngestServer) -> None:
    rng = random.Random(10)  # the same cases on every run, so a failure reproduces
    world = build_world(ingest_server, rng)
    routes = sorted((route.method, route.resource.canonical)
                    for route in ingest_server.app.router.routes()
                    if route.method not in _IMPLICIT_METHODS
                    and route.resource.canonical not in _NOT_TENANT_ROUTES)
    assert len(routes) >= 35, routes  # 21 management, 15 read, /v1/stats
    project_workspace = {project: workspace for workspace, project in zip(
        world.ids["workspace"], world.ids["project"], strict=False)}
    statuses: dict[int, int] = {}
    for _ in range(_CASES):
        caller = rng.choice(list(world.tokens))
        route = rng.choice(routes)
        method, path, params, body = draw_call(world, rng, route, caller)
        members = memberships(ingest_server.postgres)
        mine = members.get(caller, set())
        foreign = set(world.labels) - mine
        # A GET changes nothing by design; the writes are where a cross-tenant change would be.
        before = foreign_state(ingest_server, caller, foreign) if method != "GET" else None
        # A caller may have revoked their own token or lost their last workspace by now.
        signed_in = ingest_server.postgres.access_tokens.user_of(world.tokens[caller])
        markers = foreign_markers(ingest_server, world, caller, members)

        status, text = await send(ingest_server, world.tokens[caller], method, path, params,
                                  body)
        statuses[status] = statuses.get(status, 0) + 1
        case = (caller, method, path, body, status, text[:300])
        assert status < 500, case
        # What the caller sent may come back (a funnel names its steps): not a leak.
        sent = f"{path} {params} {body}"
        leaked = [marker for marker in markers if marker in text and marker not in sent]
        assert not leaked, (leaked, case)
        if before is not None:
            assert foreign_state(ingest_server, caller, foreign) == before, case
        named = named_tenant_ids(route[1], path)
        target = named.get("workspace") or project_workspace.get(named.get("project", ""))
        if signed_in is None:
            assert status == 401 and '"YAVIO-3000"' in text, case
        elif target in foreign:
            assert status == 404 and '"YAVIO-3004"' in text, case
    print(f"tenant fuzz: {_CASES} (user, route, ids) cases over {len(routes)} routes and "
          f"{_TENANTS} workspaces, by status {dict(sorted(statuses.items()))}")
    assert statuses.get(200, 0) + statuses.get(201, 0) > _CASES // 10  # not all turned away
