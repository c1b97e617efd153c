"""The management API (SPEC 7; the contract is docs/management-api.md): workspaces, projects,
members, invitations, API keys and access tokens, for a user's `Bearer yat_…` token.

Every workspace-scoped request resolves the caller's role in that workspace first. A workspace
(or anything in it) the caller is not a member of answers 404, exactly like one that does not
exist, so no one learns what other tenants have; a member whose role is too low gets 403.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
from aiohttp import web

from yavio_ingest.access import Access, path_uuid
from yavio_ingest.ingestion import INGEST
from yavio_ingest.quota import PLAN_QUOTAS, month_start
from yavio_ingest.responses import Reject, json_reply
from yavio_ingest.store.postgres import (
    ROLES,
    AccessToken,
    ApiKey,
    PostgresStore,
    Project,
    User,
    Workspace,
)
from yavio_sdk.events import format_timestamp

__all__ = ["add_routes"]

log = logging.getLogger("yavio.ingest.management")

DEFAULT_GRACE_SECONDS = 86_400
_MAX_GRACE_SECONDS = 30 * 86_400
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,47}")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}")
_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_routes(app: web.Application, postgres_key: Any, clickhouse_key: Any,
               blocking: Callable[..., Awaitable[Any]]) -> None:
    """Register the endpoints; `blocking` runs a store call off the event loop."""
    api = _Api(app, postgres_key, clickhouse_key, blocking)
    routes = [
        ("GET", "/v1/me", api.me),
        ("GET", "/v1/workspaces", api.list_workspaces),
        ("POST", "/v1/workspaces", api.create_workspace),
        ("DELETE", "/v1/workspaces/{workspace}", api.delete_workspace),
        ("GET", "/v1/workspaces/{workspace}/projects", api.list_projects),
        ("POST", "/v1/workspaces/{workspace}/projects", api.create_project),
        ("DELETE", "/v1/projects/{project}", api.delete_project),
        ("GET", "/v1/projects/{project}/keys", api.list_keys),
        ("POST", "/v1/projects/{project}/keys", api.create_key),
        ("DELETE", "/v1/projects/{project}/keys/{key}", api.revoke_key),
        ("POST", "/v1/projects/{project}/keys/{key}/rotate", api.rotate_key),
        ("GET", "/v1/workspaces/{workspace}/members", api.list_members),
        ("PATCH", "/v1/workspaces/{workspace}/members/{user}", api.set_role),
        ("DELETE", "/v1/workspaces/{workspace}/members/{user}", api.remove_member),
        ("POST", "/v1/workspaces/{workspace}/invitations", api.invite),
        ("POST", "/v1/invitations/accept", api.accept_invitation),
        ("GET", "/v1/workspaces/{workspace}/usage", api.usage),
        ("PATCH", "/v1/workspaces/{workspace}/plan", api.set_plan),
        ("GET", "/v1/tokens", api.list_tokens),
        ("POST", "/v1/tokens", api.create_token),
        ("DELETE", "/v1/tokens/{token}", api.revoke_token),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, _answering(handler))


def _answering(handler: Handler) -> Handler:
    async def answer(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except Reject as reject:
            return reject.reply(request)
    answer.__name__ = handler.__name__
    return answer


class _Api:
    def __init__(self, app: web.Application, postgres_key: Any, clickhouse_key: Any,
                 blocking: Callable[..., Awaitable[Any]]) -> None:
        self._app = app
        self._postgres_key = postgres_key
        self._clickhouse_key = clickhouse_key
        self._blocking = blocking
        self.access = Access(app, postgres_key, blocking)

    @property
    def store(self) -> PostgresStore:
        return self._app[self._postgres_key]

    # -- who is asking ---------------------------------------------------------------------------

    # -- the caller, workspaces ------------------------------------------------------------------

    async def me(self, request: web.Request) -> web.Response:
        user = await self.access.user(request)
        return json_reply({"user": _user(user), "workspaces": await self._workspaces_of(user)})

    async def list_workspaces(self, request: web.Request) -> web.Response:
        user = await self.access.user(request)
        return json_reply({"workspaces": await self._workspaces_of(user)})

    async def _workspaces_of(self, user: User) -> list[dict[str, Any]]:
        workspaces = await self._blocking(self.store.workspaces.for_user, user.id)
        roles = [await self._blocking(self.store.workspaces.role_of, w.id, user.id)
                 for w in workspaces]
        return [_workspace(w, role) for w, role in zip(workspaces, roles, strict=True)]

    async def create_workspace(self, request: web.Request) -> web.Response:
        user = await self.access.user(request)
        body = await _body(request)
        name, slug = _name_and_slug(body)
        try:
            workspace = await self._blocking(self.store.workspaces.create, name, slug, user.id)
        except psycopg.errors.UniqueViolation:
            raise Reject("YAVIO-3009", f"The workspace slug '{slug}' is already taken.") from None
        return json_reply(_workspace(workspace, "owner"), 201)

    async def delete_workspace(self, request: web.Request) -> web.Response:
        user = await self.access.user(request)
        workspace, _ = await self.access.workspace(request, user, "owner")
        await self._blocking(self.store.workspaces.delete, workspace.id)
        self._app[INGEST].auth.forget(workspace_id=str(workspace.id))
        await self._erase(workspace.id)
        return web.Response(status=204)

    # -- projects --------------------------------------------------------------------------------

    async def list_projects(self, request: web.Request) -> web.Response:
        user = await self.access.user(request)
        workspace, _ = await self.access.workspace(request, user, "viewer")
        projects = await self._blocking(self.store.projects.in_workspace, workspace.id)
        return json_reply({"projects": [_project(p) for p in projects]})

    async def create_project(self, request: web.Request) -> web.Response:
        user = await self.access.user(request)
        workspace, _ = await self.access.workspace(request, user, "member")
        name, slug = _name_and_slug(await _body(request))
        try:
            project = await self._blocking(self.store.projects.create, workspace.id, name, slug)
        except psycopg.errors.UniqueViolation:
            raise Reject("YAVIO-3009",
                         f"The project slug '{slug}' is already taken in this workspace.",
                         ) from None
        return json_reply(_project(project), 201)

    async def delete_project(self, request: web.Request) -> web.Response:
        user = await self.access.user(request)
        project = await self.access.project(request, user, "owner")
        # Keys first (the cascade deletes them, the cache forgets them), then the data: no
        # event can arrive after the erase.
        await self._blocking(self.store.projects.delete, project.id)
        self._app[INGEST].auth.forget(project_id=str(project.id))
        await self._erase(project.workspace_id, project.id)
        return web.Response(status=204)

    async def _erase(self, workspace_id: uuid.UUID, project_id: uuid.UUID | None = None) -> None:
        """Erase the tenant's ClickHouse data once the events acknowledged before the deletion
        have been written, so none of them lands after the erase."""
        if not await self._app[INGEST].writer.caught_up():
            log.warning("ClickHouse is behind the spool; erasing now, events still on their "
                        "way may remain for workspace %s", workspace_id)
        await self._blocking(self._app[self._clickhouse_key].erase, workspace_id, project_id)

    # -- API keys --------------------------------------------------------------------------------

    async def list_keys(self, request: web.Request) -> web.Response:
        user = await self.access.user(request)
        project = await self.access.project(request, user, "viewer")
        keys = await self._blocking(self.store.api_keys.of_project, project.id)
        return json_reply({"keys": [_key(k) for k in keys]})

    async def create_key(self, request: web.Request) -> web.Response:
        user = await self.access.user(request)
        project = await self.access.project(request, user, "member")
        body = await _body(request, required=False)
        name = _text(body.get("name", ""), "name", 256)
        raw, key = await self._blocking(self.store.api_keys.create, project.id, name)
        return json_reply({"key": raw, **_key(key)}, 201)

    async def _own_key(self, request: web.Request, project: Project) -> ApiKey:
        key = await self._blocking(self.store.api_keys.get,
                                   path_uuid(request.match_info["key"]))
        if key is None or key.project_id != project.id:
            raise Reject("YAVIO-3004")
        return key

    async def revoke_key(self, request: web.Request) -> web.Response:
        user = await self.access.user(request)
        project = await self.access.project(request, user, "member")
        key = await self._own_key(request, project)
        await self._blocking(self.store.api_keys.revoke, key.id)
        self._app[INGEST].auth.forget(key_id=str(key.id))
        return json_reply(_key(await self._blocking(self.store.api_keys.get, key.id)))

    async def rotate_key(self, request: web.Request) -> web.Response:
        """A new key for the same project; the old one keeps working for `graceSeconds` (a day
        by default), so servers can be redeployed with the new key without losing events."""
        user = await self.access.user(request)
        project = await self.access.project(request, user, "member")
        old = await self._own_key(request, project)
        body = await _body(request, required=False)
        grace = body.get("graceSeconds", DEFAULT_GRACE_SECONDS)
        if not isinstance(grace, int) or isinstance(grace, bool) or \
                not 0 <= grace <= _MAX_GRACE_SECONDS:
            raise Reject("YAVIO-3010", "graceSeconds must be a whole number of seconds from 0 "
                                       f"to {_MAX_GRACE_SECONDS}.")
        if old.revoked_at is not None and old.revoked_at <= datetime.now(timezone.utc):
            raise Reject("YAVIO-3004", "That key is already revoked.")
        raw, new = await self._blocking(self.store.api_keys.create, project.id, old.name)
        ends = datetime.now(timezone.utc) + timedelta(seconds=grace)
        if old.revoked_at is None or old.revoked_at > ends:
            await self._blocking(self.store.api_keys.revoke, old.id, ends)
        replaced = await self._blocking(self.store.api_keys.get, old.id)
        return json_reply({"key": raw, **_key(new), "replaces": _key(replaced)}, 201)

    # -- members and invitations -----------------------------------------------------------------

    async def list_members(self, request: web.Request) -> web.Response:
        user = await self.access.user(request)
        workspace, _ = await self.access.workspace(request, user, "viewer")
        members = await self._blocking(self.store.workspaces.members, workspace.id)
        return json_reply({"members": [
            {"userId": str(m.user_id), "email": m.email, "name": m.name, "role": m.role}
            for m in members]})

    async def _member(self, request: web.Request, workspace: Workspace) -> tuple[uuid.UUID, str]:
        member_id = path_uuid(request.match_info["user"])
        role = await self._blocking(self.store.workspaces.role_of, workspace.id, member_id)
        if role is None:
            raise Reject("YAVIO-3004")
        return member_id, role

    async def set_role(self, request: web.Request) -> web.Response:
        user = await self.access.user(request)
        workspace, my_role = await self.access.workspace(request, user, "admin")
        member_id, current = await self._member(request, workspace)
        role = (await _body(request)).get("role")
        if role not in ROLES:
            raise Reject("YAVIO-3010", f"role must be one of {', '.join(ROLES)}.")
        # Only an owner makes or unmakes owners, and the last owner stays one.
        if "owner" in (role, current) and my_role != "owner":
            raise Reject("YAVIO-3003", "Only an owner can change an owner's role or make one.")
        if current == "owner" and role != "owner" and \
                await self._blocking(self.store.workspaces.owners, workspace.id) <= 1:
            raise Reject("YAVIO-3012")
        await self._blocking(self.store.workspaces.set_role, workspace.id, member_id, role)
        return json_reply({"userId": str(member_id), "role": role})

    async def remove_member(self, request: web.Request) -> web.Response:
        user = await self.access.user(request)
        workspace, my_role = await self.access.workspace(request, user, "admin")
        member_id, current = await self._member(request, workspace)
        if current == "owner":
            if my_role != "owner":
                raise Reject("YAVIO-3003", "Only an owner can remove an owner.")
            if await self._blocking(self.store.workspaces.owners, workspace.id) <= 1:
                raise Reject("YAVIO-3012")
        await self._blocking(self.store.workspaces.remove_member, workspace.id, member_id)
        return web.Response(status=204)

    async def invite(self, request: web.Request) -> web.Response:
        user = await self.access.user(request)
        workspace, _ = await self.access.workspace(request, user, "admin")
        body = await _body(request)
        email, role = body.get("email"), body.get("role", "member")
        if not isinstance(email, str) or not _EMAIL.fullmatch(email.strip()):
            raise Reject("YAVIO-3010", "email must be an email address.")
        if role not in ("admin", "member", "viewer"):
            raise Reject("YAVIO-3010", "role must be admin, member or viewer.")
        raw, invitation = await self._blocking(self.store.invitations.create, workspace.id,
                                               email.strip(), role, user.id)
        return json_reply({"token": raw, "email": invitation.email, "role": invitation.role,
                           "workspaceId": str(workspace.id),
                           "expiresAt": _iso(invitation.expires_at)}, 201)

    async def accept_invitation(self, request: web.Request) -> web.Response:
        """With a bearer token the caller joins; without one, the invitation's email becomes
        (or finds) the user, who gets a new access token to use from then on."""
        body = await _body(request)
        raw = body.get("token")
        if not isinstance(raw, str) or not raw.startswith("yvi_"):
            raise Reject("YAVIO-3011")
        signed_in = "Authorization" in request.headers
        if signed_in:
            user = await self.access.user(request)
        else:
            pending = await self._blocking(self.store.invitations.pending, raw)
            if pending is None:
                raise Reject("YAVIO-3011")
            user = await self._blocking(self.store.users.by_email, pending.email) or \
                await self._blocking(self.store.users.create, pending.email,
                                     _text(body.get("name", ""), "name", 256))
        invitation = await self._blocking(self.store.invitations.accept, raw, user)
        if invitation is None:
            raise Reject("YAVIO-3011")
        workspace = await self._blocking(self.store.workspaces.get, invitation.workspace_id)
        role = await self._blocking(self.store.workspaces.role_of, workspace.id, user.id)
        answer: dict[str, Any] = {"workspace": _workspace(workspace, role), "role": role,
                                  "user": _user(user)}
        if not signed_in:
            token, _ = await self._blocking(self.store.access_tokens.create, user.id,
                                            "invitation")
            answer["accessToken"] = token
        return json_reply(answer)

    # -- usage and plans -------------------------------------------------------------------------

    async def usage(self, request: web.Request) -> web.Response:
        """Events per project of the workspace in a month (`?month=YYYY-MM`, default this one),
        beside the plan's quota."""
        user = await self.access.user(request)
        workspace, _ = await self.access.workspace(request, user, "viewer")
        month = request.query.get("month") or month_start()[:7]
        if not _MONTH.fullmatch(month):
            raise Reject("YAVIO-3010", "month must be YYYY-MM.")
        counts = await self._blocking(self._app[self._clickhouse_key].events_by_project,
                                      workspace.id, f"{month}-01")
        projects = await self._blocking(self.store.projects.in_workspace, workspace.id)
        return json_reply({
            "month": month,
            "workspace": {**_workspace(workspace, None), "events": sum(counts.values())},
            "projects": [{"id": str(p.id), "slug": p.slug, "name": p.name,
                          "events": counts.get(str(p.id), 0)} for p in projects],
        })

    async def set_plan(self, request: web.Request) -> web.Response:
        """The workspace's plan and monthly event quota (owner); the plan's default quota unless
        `monthlyEventQuota` is given (null: unlimited)."""
        user = await self.access.user(request)
        workspace, role = await self.access.workspace(request, user, "owner")
        body = await _body(request)
        plan = body.get("plan", workspace.plan)
        if plan not in PLAN_QUOTAS:
            raise Reject("YAVIO-3010", f"plan must be one of {', '.join(PLAN_QUOTAS)}.")
        quota = body.get("monthlyEventQuota", PLAN_QUOTAS[plan])
        if quota is not None and (not isinstance(quota, int) or isinstance(quota, bool)
                                  or quota < 0):
            raise Reject("YAVIO-3010", "monthlyEventQuota must be a whole number of events, or "
                                       "null for unlimited.")
        updated = await self._blocking(self.store.workspaces.set_plan, workspace.id, plan, quota)
        self._app[INGEST].quotas.forget(str(workspace.id))
        return json_reply(_workspace(updated, role))

    # -- access tokens ---------------------------------------------------------------------------

    async def list_tokens(self, request: web.Request) -> web.Response:
        user = await self.access.user(request)
        tokens = await self._blocking(self.store.access_tokens.of_user, user.id)
        return json_reply({"tokens": [_token(t) for t in tokens]})

    async def create_token(self, request: web.Request) -> web.Response:
        user = await self.access.user(request)
        body = await _body(request, required=False)
        name = _text(body.get("name", ""), "name", 256)
        days = body.get("expiresInDays")
        if days is not None and (not isinstance(days, int) or isinstance(days, bool)
                                 or not 1 <= days <= 3650):
            raise Reject("YAVIO-3010", "expiresInDays must be a whole number from 1 to 3650.")
        expires = datetime.now(timezone.utc) + timedelta(days=days) if days else None
        raw, token = await self._blocking(self.store.access_tokens.create, user.id, name,
                                          expires)
        return json_reply({"token": raw, **_token(token)}, 201)

    async def revoke_token(self, request: web.Request) -> web.Response:
        user = await self.access.user(request)
        token = await self._blocking(self.store.access_tokens.revoke, user.id,
                                     path_uuid(request.match_info["token"]))
        if token is None:
            raise Reject("YAVIO-3004")
        return json_reply(_token(token))


# -- helpers of this module ----------------------------------------------------------------------

async def _body(request: web.Request, *, required: bool = True) -> dict[str, Any]:
    if not request.can_read_body:
        if required:
            raise Reject("YAVIO-3010", "Send a JSON object body.")
        return {}
    try:
        body = await request.json()
    except (ValueError, RecursionError):  # RecursionError: nested past the parser's depth
        raise Reject("YAVIO-3010", "The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise Reject("YAVIO-3010", "Send a JSON object body.")
    return body


def _text(value: Any, field: str, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise Reject("YAVIO-3010", f"{field} must be a string of at most {limit} characters.")
    return value.strip()


def _name_and_slug(body: dict[str, Any]) -> tuple[str, str]:
    name = _text(body.get("name"), "name", 256)
    if not name:
        raise Reject("YAVIO-3010", "name must not be empty.")
    slug = body.get("slug")
    if slug is None:
        slug = _NOT_SLUG.sub("-", name.lower()).strip("-")[:48] or "project"
    if not isinstance(slug, str) or not _SLUG.fullmatch(slug):
        raise Reject("YAVIO-3010", "slug must be 1 to 48 of a-z, 0-9 and '-', starting with a "
                                   "letter or digit.")
    return name, slug


def _iso(when: datetime | None) -> str | None:
    return format_timestamp(when) if when is not None else None


def _user(user: User) -> dict[str, Any]:
    return {"id": str(user.id), "email": user.email, "name": user.name}


def _workspace(workspace: Workspace, role: str | None) -> dict[str, Any]:
    return {"id": str(workspace.id), "name": workspace.name, "slug": workspace.slug,
            "role": role, "plan": workspace.plan,
            "monthlyEventQuota": workspace.monthly_event_quota}


def _project(project: Project) -> dict[str, Any]:
    return {"id": str(project.id), "workspaceId": str(project.workspace_id),
            "name": project.name, "slug": project.slug, "createdAt": _iso(project.created_at)}


def _key(key: ApiKey) -> dict[str, Any]:
    return {"id": str(key.id), "projectId": str(key.project_id), "name": key.name,
            "prefix": key.key_prefix, "createdAt": _iso(key.created_at),
            "lastUsedAt": _iso(key.last_used_at), "revokedAt": _iso(key.revoked_at)}


def _token(token: AccessToken) -> dict[str, Any]:
    return {"id": str(token.id), "name": token.name, "prefix": token.token_prefix,
            "createdAt": _iso(token.created_at), "expiresAt": _iso(token.expires_at),
            "lastUsedAt": _iso(token.last_used_at), "revokedAt": _iso(token.revoked_at)}
