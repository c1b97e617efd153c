"""The management API against the real server (aiohttp, embedded Postgres, chdb): every endpoint
answers exactly the roles allowed, 404 across workspaces, and revocations, rotations and
deletions do what they promise."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.ingest.conftest import IngestServer, make_event
from yavio_ingest.store.postgres import PostgresStore

ROLES = ("owner", "admin", "member", "viewer")
RANK = {role: rank for rank, role in enumerate(reversed(ROLES))}


@dataclass
class Tenant:
    """A workspace with a project and one user of each role, each with an access token."""
    workspace_id: str
    project_id: str
    tokens: dict[str, str]  # role → access token
    users: dict[str, str]  # role → user id


def make_tenant(store: PostgresStore, label: str) -> Tenant:
    tokens, users = {}, {}
    owner = store.users.create(f"owner-{label}-{uuid.uuid4().hex[:6]}@example.com")
    workspace = store.workspaces.create(f"W {label}", f"w-{label}-{uuid.uuid4().hex[:6]}",
                                        owner.id)
    project = store.projects.create(workspace.id, "P", "p")
    for role in ROLES:
        user = owner if role == "owner" else store.users.create(
            f"{role}-{label}-{uuid.uuid4().hex[:6]}@example.com")
        if role != "owner":
            store.workspaces.set_role(workspace.id, user.id, role)
        tokens[role], _ = store.access_tokens.create(user.id, role)
        users[role] = str(user.id)
    return Tenant(str(workspace.id), str(project.id), tokens, users)


@pytest.fixture
def tenants(ingest_server: IngestServer) -> tuple[Tenant, Tenant]:
    store = ingest_server.postgres
    return make_tenant(store, "a"), make_tenant(store, "b")


async def call(server: IngestServer, token: str | None, method: str, path: str,
               body: Any = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        return await client.request(method, path, json=body, headers=headers)


# Each action: (name, least role, method, path, body, success status). `prepare` makes what the
# action needs (a fresh target for destructive ones) as the owner, through the store.
def _fresh_project(store: PostgresStore, tenant: Tenant) -> dict[str, str]:
    project = store.projects.create(uuid.UUID(tenant.workspace_id), "X",
                                    f"x-{uuid.uuid4().hex[:8]}")
    return {"project": str(project.id)}


def _fresh_key(store: PostgresStore, tenant: Tenant) -> dict[str, str]:
    _, key = store.api_keys.create(uuid.UUID(tenant.project_id), "k")
    return {"key": str(key.id)}


def _fresh_member(store: PostgresStore, tenant: Tenant) -> dict[str, str]:
    user = store.users.create(f"extra-{uuid.uuid4().hex[:8]}@example.com")
    store.workspaces.set_role(uuid.UUID(tenant.workspace_id), user.id, "viewer")
    return {"user": str(user.id)}


ACTIONS: list[tuple[str, str, str, str, Any, int, Any]] = [
    ("list projects", "viewer", "GET", "/v1/workspaces/{workspace}/projects", None, 200, None),
    ("create a project", "member", "POST", "/v1/workspaces/{workspace}/projects",
     lambda: {"name": f"New {uuid.uuid4().hex[:6]}"}, 201, None),
    ("delete a project", "owner", "DELETE", "/v1/projects/{project}", None, 204,
     _fresh_project),
    ("list keys", "viewer", "GET", "/v1/projects/{project}/keys", None, 200, None),
    ("create a key", "member", "POST", "/v1/projects/{project}/keys", {"name": "ci"}, 201, None),
    ("revoke a key", "member", "DELETE", "/v1/projects/{project}/keys/{key}", None, 200,
     _fresh_key),
    ("rotate a key", "member", "POST", "/v1/projects/{project}/keys/{key}/rotate",
     {"graceSeconds": 60}, 201, _fresh_key),
    ("list members", "viewer", "GET", "/v1/workspaces/{workspace}/members", None, 200, None),
    ("change a role", "admin", "PATCH", "/v1/workspaces/{workspace}/members/{user}",
     {"role": "member"}, 200, _fresh_member),
    ("remove a member", "admin", "DELETE", "/v1/workspaces/{workspace}/members/{user}", None,
     204, _fresh_member),
    ("invite", "admin", "POST", "/v1/workspaces/{workspace}/invitations",
     {"email": "new@example.com", "role": "member"}, 201, None),
]


@pytest.mark.parametrize("action", ACTIONS, ids=[action[0] for action in ACTIONS])
async def test_each_endpoint_answers_exactly_the_roles_allowed_and_404_across_workspaces(
        ingest_server: IngestServer, tenants: tuple[Tenant, Tenant],
        action: tuple[str, str, str, str, Any, int, Any]) -> None:
    _, least, method, template, body, success, prepare = action
    mine, theirs = tenants
    store = ingest_server.postgres

    async def attempt(token: str) -> httpx.Response:
        values = {"workspace": mine.workspace_id, "project": mine.project_id}
        if prepare is not None:
            values.update(prepare(store, mine))
        payload = body() if callable(body) else body
        return await call(ingest_server, token, method, template.format(**values), payload)

    for role in ROLES:
        response = await attempt(mine.tokens[role])
        allowed = RANK[role] >= RANK[least]
        expected = success if allowed else 403
        assert response.status_code == expected, (role, response.text)
        if not allowed:
            assert response.json()["error"]["code"] == "YAVIO-3003"
    for role in ("owner", "viewer"):  # the other workspace's strongest and weakest
        response = await attempt(theirs.tokens[role])
        assert response.status_code == 404, (role, response.text)
        assert response.json()["error"]["code"] == "YAVIO-3004"


async def test_only_an_owner_deletes_a_workspace_and_others_get_404(
        ingest_server: IngestServer, tenants: tuple[Tenant, Tenant]) -> None:
    mine, theirs = tenants
    path = f"/v1/workspaces/{mine.workspace_id}"
    assert (await call(ingest_server, theirs.tokens["owner"], "DELETE", path)).status_code == 404
    for role in ("viewer", "member", "admin"):
        assert (await call(ingest_server, mine.tokens[role], "DELETE", path)).status_code == 403
    assert (await call(ingest_server, mine.tokens["owner"], "DELETE", path)).status_code == 204
    listed = await call(ingest_server, mine.tokens["owner"], "GET", "/v1/workspaces")
    assert mine.workspace_id not in [w["id"] for w in listed.json()["workspaces"]]


async def test_requests_without_a_valid_access_token_get_401(ingest_server: IngestServer) -> None:
    for token in (None, "yat_" + "0" * 64, ingest_server.api_key):
        response = await call(ingest_server, token, "GET", "/v1/workspaces")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "YAVIO-3000"


async def test_a_new_workspace_belongs_to_its_creator_and_slugs_are_unique(
        ingest_server: IngestServer, tenants: tuple[Tenant, Tenant]) -> None:
    mine, _ = tenants
    created = await call(ingest_server, mine.tokens["viewer"], "POST", "/v1/workspaces",
                         {"name": "Side Project!"})
    assert created.status_code == 201
    workspace = created.json()
    assert (workspace["slug"], workspace["role"]) == ("side-project", "owner")
    again = await call(ingest_server, mine.tokens["member"], "POST", "/v1/workspaces",
                       {"name": "Other", "slug": "side-project"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "YAVIO-3009"
    bad = await call(ingest_server, mine.tokens["member"], "POST", "/v1/workspaces",
                     {"name": "x", "slug": "Not A Slug"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "YAVIO-3010"


async def test_a_new_key_is_shown_once_and_lists_show_only_its_prefix(
        ingest_server: IngestServer, tenants: tuple[Tenant, Tenant]) -> None:
    mine, _ = tenants
    created = (await call(ingest_server, mine.tokens["member"], "POST",
                          f"/v1/projects/{mine.project_id}/keys", {"name": "laptop"})).json()
    assert created["key"].startswith("yav_") and len(created["key"]) == 68
    listed = (await call(ingest_server, mine.tokens["viewer"], "GET",
                         f"/v1/projects/{mine.project_id}/keys")).json()["keys"]
    entry = next(k for k in listed if k["id"] == created["id"])
    assert entry["prefix"] == created["key"][:12] and "key" not in entry
    assert created["key"] not in str(listed)


async def _ingest_status(server: IngestServer, key: str) -> int:
    return (await server.send([make_event()], token=key)).status_code


@pytest.mark.parametrize("settings_overrides", [{"key_cache_ttl_s": 0.2}], ids=["short-ttl"])
async def test_a_revoked_key_fails_within_the_cache_ttl(
        ingest_server: IngestServer, tenants: tuple[Tenant, Tenant]) -> None:
    mine, _ = tenants
    created = (await call(ingest_server, mine.tokens["member"], "POST",
                          f"/v1/projects/{mine.project_id}/keys")).json()
    assert await _ingest_status(ingest_server, created["key"]) == 200
    revoked = await call(ingest_server, mine.tokens["member"], "DELETE",
                         f"/v1/projects/{mine.project_id}/keys/{created['id']}")
    assert revoked.json()["revokedAt"] is not None
    await asyncio.sleep(0.3)
    assert await _ingest_status(ingest_server, created["key"]) == 401


@pytest.mark.parametrize("settings_overrides", [{"key_cache_ttl_s": 0.2}], ids=["short-ttl"])
async def test_a_rotated_key_works_during_its_grace_period_and_fails_after(
        ingest_server: IngestServer, tenants: tuple[Tenant, Tenant]) -> None:
    mine, _ = tenants
    old = (await call(ingest_server, mine.tokens["member"], "POST",
                      f"/v1/projects/{mine.project_id}/keys", {"name": "prod"})).json()
    rotated = await call(ingest_server, mine.tokens["member"], "POST",
                         f"/v1/projects/{mine.project_id}/keys/{old['id']}/rotate",
                         {"graceSeconds": 2})
    assert rotated.status_code == 201
    new = rotated.json()
    assert new["name"] == "prod" and new["replaces"]["id"] == old["id"]
    started = time.monotonic()
    assert await _ingest_status(ingest_server, old["key"]) == 200  # during the grace period
    assert await _ingest_status(ingest_server, new["key"]) == 200
    await asyncio.sleep(max(0.0, 2.5 - (time.monotonic() - started)))
    assert await _ingest_status(ingest_server, old["key"]) == 401
    assert await _ingest_status(ingest_server, new["key"]) == 200


async def test_a_key_writes_only_into_its_own_project(
        ingest_server: IngestServer, tenants: tuple[Tenant, Tenant]) -> None:
    mine, theirs = tenants
    key = (await call(ingest_server, mine.tokens["member"], "POST",
                      f"/v1/projects/{mine.project_id}/keys")).json()["key"]
    # the body cannot name another tenant: workspace and project come from the key
    event = make_event(project_id=theirs.project_id, workspace_id=theirs.workspace_id)
    assert (await ingest_server.send([event], token=key)).status_code == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if ingest_server.clickhouse.count_events(project_id=uuid.UUID(mine.project_id)):
            break
        await asyncio.sleep(0.05)
    assert ingest_server.clickhouse.count_events(project_id=uuid.UUID(mine.project_id)) == 1
    assert ingest_server.clickhouse.count_events(project_id=uuid.UUID(theirs.project_id)) == 0


async def test_deleting_a_project_erases_its_events_and_only_its_own(
        ingest_server: IngestServer, tenants: tuple[Tenant, Tenant]) -> None:
    mine, _ = tenants
    doomed = (await call(ingest_server, mine.tokens["member"], "POST",
                         f"/v1/workspaces/{mine.workspace_id}/projects", {"name": "Doomed"})).json()
    doomed_key = (await call(ingest_server, mine.tokens["member"], "POST",
                             f"/v1/projects/{doomed['id']}/keys")).json()["key"]
    kept_key = (await call(ingest_server, mine.tokens["member"], "POST",
                           f"/v1/projects/{mine.project_id}/keys")).json()["key"]
    for key in (doomed_key, kept_key):
        assert (await ingest_server.send([make_event(), make_event()], token=key)).status_code \
            == 200
    clickhouse = ingest_server.clickhouse
    deadline = time.monotonic() + 10
    while clickhouse.count_events(workspace_ids=[uuid.UUID(mine.workspace_id)]) < 4:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    deleted = await call(ingest_server, mine.tokens["owner"], "DELETE",
                         f"/v1/projects/{doomed['id']}")
    assert deleted.status_code == 204
    assert clickhouse.count_events(project_id=uuid.UUID(doomed["id"])) == 0
    assert clickhouse.count_events(project_id=uuid.UUID(mine.project_id)) == 2
    assert await _ingest_status(ingest_server, doomed_key) == 401


async def test_an_invitation_makes_a_new_user_a_member_once(
        ingest_server: IngestServer, tenants: tuple[Tenant, Tenant]) -> None:
    mine, _ = tenants
    invitation = (await call(ingest_server, mine.tokens["admin"], "POST",
                             f"/v1/workspaces/{mine.workspace_id}/invitations",
                             {"email": "grace@example.com", "role": "viewer"})).json()
    assert invitation["token"].startswith("yvi_")
    accepted = await call(ingest_server, None, "POST", "/v1/invitations/accept",
                          {"token": invitation["token"], "name": "Grace"})
    assert accepted.status_code == 200
    answer = accepted.json()
    assert (answer["role"], answer["user"]["email"]) == ("viewer", "grace@example.com")
    token = answer["accessToken"]
    projects = await call(ingest_server, token, "GET",
                          f"/v1/workspaces/{mine.workspace_id}/projects")
    assert projects.status_code == 200
    again = await call(ingest_server, None, "POST", "/v1/invitations/accept",
                       {"token": invitation["token"]})
    assert again.status_code == 400 and again.json()["error"]["code"] == "YAVIO-3011"


async def test_an_existing_user_accepts_with_their_own_token(
        ingest_server: IngestServer, tenants: tuple[Tenant, Tenant]) -> None:
    mine, theirs = tenants
    invitation = (await call(ingest_server, mine.tokens["owner"], "POST",
                             f"/v1/workspaces/{mine.workspace_id}/invitations",
                             {"email": "someone@example.com", "role": "member"})).json()
    accepted = await call(ingest_server, theirs.tokens["viewer"], "POST",
                          "/v1/invitations/accept", {"token": invitation["token"]})
    assert accepted.status_code == 200 and "accessToken" not in accepted.json()
    keys = await call(ingest_server, theirs.tokens["viewer"], "POST",
                      f"/v1/projects/{mine.project_id}/keys")
    assert keys.status_code == 201  # a member of the inviting workspace now


async def test_the_last_owner_cannot_be_demoted_or_removed_and_admins_cannot_touch_owners(
        ingest_server: IngestServer, tenants: tuple[Tenant, Tenant]) -> None:
    mine, _ = tenants
    owner_path = f"/v1/workspaces/{mine.workspace_id}/members/{mine.users['owner']}"
    demoted = await call(ingest_server, mine.tokens["owner"], "PATCH", owner_path,
                         {"role": "admin"})
    assert demoted.status_code == 409 and demoted.json()["error"]["code"] == "YAVIO-3012"
    removed = await call(ingest_server, mine.tokens["owner"], "DELETE", owner_path)
    assert removed.status_code == 409
    by_admin = await call(ingest_server, mine.tokens["admin"], "DELETE", owner_path)
    assert by_admin.status_code == 403
    promote = await call(ingest_server, mine.tokens["admin"], "PATCH",
                         f"/v1/workspaces/{mine.workspace_id}/members/{mine.users['member']}",
                         {"role": "owner"})
    assert promote.status_code == 403


async def test_access_tokens_are_created_listed_and_revoked_at_once(
        ingest_server: IngestServer, tenants: tuple[Tenant, Tenant]) -> None:
    mine, theirs = tenants
    created = await call(ingest_server, mine.tokens["viewer"], "POST", "/v1/tokens",
                         {"name": "ci", "expiresInDays": 30})
    assert created.status_code == 201
    token = created.json()
    assert token["token"].startswith("yat_") and token["expiresAt"] is not None
    listed = (await call(ingest_server, token["token"], "GET", "/v1/tokens")).json()["tokens"]
    assert token["id"] in [t["id"] for t in listed] and token["token"] not in str(listed)
    # another user cannot revoke it: it is not theirs to see
    other = await call(ingest_server, theirs.tokens["owner"], "DELETE",
                       f"/v1/tokens/{token['id']}")
    assert other.status_code == 404
    revoked = await call(ingest_server, mine.tokens["viewer"], "DELETE",
                         f"/v1/tokens/{token['id']}")
    assert revoked.status_code == 200 and revoked.json()["revokedAt"] is not None
    assert (await call(ingest_server, token["token"], "GET", "/v1/me")).status_code == 401


async def test_a_quota_of_n_events_accepts_n_then_answers_429_naming_the_quota(
        ingest_server: IngestServer, tenants: tuple[Tenant, Tenant]) -> None:
    mine, _ = tenants
    plan = await call(ingest_server, mine.tokens["owner"], "PATCH",
                      f"/v1/workspaces/{mine.workspace_id}/plan",
                      {"plan": "community", "monthlyEventQuota": 5})
    assert plan.status_code == 200 and plan.json()["monthlyEventQuota"] == 5
    by_admin = await call(ingest_server, mine.tokens["admin"], "PATCH",
                          f"/v1/workspaces/{mine.workspace_id}/plan", {"plan": "self-hosted"})
    assert by_admin.status_code == 403
    key = (await call(ingest_server, mine.tokens["member"], "POST",
                      f"/v1/projects/{mine.project_id}/keys")).json()["key"]
    assert (await ingest_server.send([make_event() for _ in range(3)], token=key)).status_code \
        == 200
    assert (await ingest_server.send([make_event() for _ in range(2)], token=key)).status_code \
        == 200
    over = await ingest_server.send([make_event()], token=key)
    assert over.status_code == 429
    error = over.json()["error"]
    assert error["code"] == "YAVIO-2054" and "5 events a month" in error["message"]

    deadline = time.monotonic() + 10
    while True:
        usage = (await call(ingest_server, mine.tokens["viewer"], "GET",
                            f"/v1/workspaces/{mine.workspace_id}/usage")).json()
        if usage["workspace"]["events"] == 5 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert usage["workspace"]["events"] == 5 and usage["workspace"]["monthlyEventQuota"] == 5
    assert {p["id"]: p["events"] for p in usage["projects"]}[mine.project_id] == 5

    unlimited = await call(ingest_server, mine.tokens["owner"], "PATCH",
                           f"/v1/workspaces/{mine.workspace_id}/plan",
                           {"plan": "self-hosted"})
    assert unlimited.json()["monthlyEventQuota"] is None
    assert (await ingest_server.send([make_event()], token=key)).status_code == 200


async def test_usage_of_another_month_is_empty_and_a_bad_month_is_refused(
        ingest_server: IngestServer, tenants: tuple[Tenant, Tenant]) -> None:
    mine, theirs = tenants
    path = f"/v1/workspaces/{mine.workspace_id}/usage"
    old = await call(ingest_server, mine.tokens["viewer"], "GET", f"{path}?month=2001-01")
    assert old.status_code == 200 and old.json()["workspace"]["events"] == 0
    bad = await call(ingest_server, mine.tokens["viewer"], "GET", f"{path}?month=2001-13")
    assert bad.status_code == 400
    assert (await call(ingest_server, theirs.tokens["owner"], "GET", path)).status_code == 404


@pytest.mark.parametrize("settings_overrides", [{"flush_interval_ms": 1000}], ids=["slow-writer"])
async def test_events_acknowledged_just_before_a_deletion_do_not_come_back(
        ingest_server: IngestServer, tenants: tuple[Tenant, Tenant]) -> None:
    mine, _ = tenants
    doomed = (await call(ingest_server, mine.tokens["member"], "POST",
                         f"/v1/workspaces/{mine.workspace_id}/projects", {"name": "Brief"})).json()
    key = (await call(ingest_server, mine.tokens["member"], "POST",
                      f"/v1/projects/{doomed['id']}/keys")).json()["key"]
    assert (await ingest_server.send([make_event() for _ in range(20)], token=key)).status_code \
        == 200
    # the writer flushes once a second: the events are still in the spool when the project goes
    deleted = await call(ingest_server, mine.tokens["owner"], "DELETE",
                         f"/v1/projects/{doomed['id']}")
    assert deleted.status_code == 204
    await asyncio.sleep(1.5)  # past the writer's next flush
    assert ingest_server.clickhouse.count_events(project_id=uuid.UUID(doomed["id"])) == 0
