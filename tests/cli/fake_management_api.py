"""A FAKE of the management API in docs/management-api.md: in memory, served by a real aiohttp
server on a loopback port, in a thread.

The real endpoints (yavio_ingest) are written alongside the CLI; until they exist this fake
implements the contract the CLI codes against — roles, 404-not-403 for what the caller cannot
see, 409 on a taken slug, 400 on a bad body, the error envelope — so the CLI's requests and its
handling of each answer go over real HTTP. It records every request for the tests to inspect.
"""

from __future__ import annotations

import asyncio
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from yavio_ingest.credentials import (
    credential_hash,
    display_prefix,
    new_access_token,
    new_api_key,
    new_invitation_token,
)

RANK = {"viewer": 0, "member": 1, "admin": 2, "owner": 3}
SLUG = re.compile(r"[a-z0-9-]{1,48}")
SECRET = "fake-management-api"
BODY = web.RequestKey("body", object)


def now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" if value else None


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def not_found(what: str) -> Refused:
    return Refused(404, "YAVIO-3004", f"No such {what}.")


@dataclass
class Request:
    method: str
    path: str
    body: Any
    authorization: str | None


class FakeManagementApi:
    def __init__(self) -> None:
        self.reset()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- state -------------------------------------------------------------------------------

    def reset(self) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}      # id -> token record with its hash
        self.workspaces: dict[str, dict[str, Any]] = {}
        self.roles: dict[tuple[str, str], str] = {}      # (workspace id, user id) -> role
        self.projects: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, dict[str, Any]] = {}
        self.invitations: dict[str, dict[str, Any]] = {}  # hash -> invitation
        self.key_hashes: dict[str, str] = {}             # hash of a raw API key -> key id
        self.events: dict[str, int] = {}                 # project id -> events this month
        self.refuse_api_keys = False                     # the ingest side refuses every key
        self.requests: list[Request] = []

    def add_user(self, email: str, name: str = "") -> dict[str, Any]:
        user = {"id": str(uuid.uuid4()), "email": email, "name": name}
        self.users[user["id"]] = user
        return user

    def mint_token(self, user_id: str, name: str = "",
                   expires_at: datetime | None = None) -> str:
        return self._mint(user_id, name, expires_at)[0]

    def _mint(self, user_id: str, name: str,
              expires_at: datetime | None) -> tuple[str, dict[str, Any]]:
        raw = new_access_token()
        record = {"id": str(uuid.uuid4()), "name": name, "prefix": display_prefix(raw),
                  "createdAt": iso(now()), "expiresAt": iso(expires_at), "lastUsedAt": None,
                  "revokedAt": None, "userId": user_id, "hash": credential_hash(raw, SECRET)}
        self.tokens[record["id"]] = record
        return raw, record

    def add_workspace(self, name: str, slug: str, owner_id: str) -> dict[str, Any]:
        workspace = {"id": str(uuid.uuid4()), "name": name, "slug": slug, "plan": "community",
                     "monthlyEventQuota": 1_000_000}
        self.workspaces[workspace["id"]] = workspace
        self.roles[(workspace["id"], owner_id)] = "owner"
        return workspace

    def add_project(self, workspace_id: str, name: str, slug: str) -> dict[str, Any]:
        project = {"id": str(uuid.uuid4()), "workspaceId": workspace_id, "name": name,
                   "slug": slug, "createdAt": iso(now())}
        self.projects[project["id"]] = project
        return project

    def add_key(self, project_id: str, name: str = "") -> tuple[str, dict[str, Any]]:
        raw = new_api_key()
        key = {"id": str(uuid.uuid4()), "projectId": project_id, "name": name,
               "prefix": display_prefix(raw), "createdAt": iso(now()), "lastUsedAt": None,
               "revokedAt": None}
        self.keys[key["id"]] = key
        self.key_hashes[credential_hash(raw, SECRET)] = key["id"]
        return raw, key

    def bootstrap(self) -> dict[str, Any]:
        """What `python -m yavio_ingest bootstrap` prints and `yavio up` saves."""
        owner = self.add_user("owner@localhost", "Owner")
        workspace = self.add_workspace("Default", "default", owner["id"])
        project = self.add_project(workspace["id"], "Default", "default")
        return {"token": self.mint_token(owner["id"], "yavio up"),
                "user": {"id": owner["id"], "email": owner["email"]},
                "workspace": {"id": workspace["id"], "slug": workspace["slug"]},
                "project": {"id": project["id"], "slug": project["slug"]}}

    # -- server ------------------------------------------------------------------------------

    def start(self) -> str:
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            self._runner = web.AppRunner(self._app())
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            self._loop.run_until_complete(site.start())
            port = self._runner.addresses[0][1]
            self.url = f"http://127.0.0.1:{port}"
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=serve, name="fake-management-api", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self.url

    def stop(self) -> None:
        if self._loop and self._thread:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._envelope])
        routes = [
            ("GET", "/v1/me", self._me),
            ("GET", "/v1/workspaces", self._list_workspaces),
            ("POST", "/v1/workspaces", self._create_workspace),
            ("DELETE", "/v1/workspaces/{workspace}", self._delete_workspace),
            ("GET", "/v1/workspaces/{workspace}/projects", self._list_projects),
            ("POST", "/v1/workspaces/{workspace}/projects", self._create_project),
            ("DELETE", "/v1/projects/{project}", self._delete_project),
            ("GET", "/v1/projects/{project}/keys", self._list_keys),
            ("POST", "/v1/projects/{project}/keys", self._create_key),
            ("DELETE", "/v1/projects/{project}/keys/{key}", self._revoke_key),
            ("POST", "/v1/projects/{project}/keys/{key}/rotate", self._rotate_key),
            ("GET", "/v1/workspaces/{workspace}/members", self._list_members),
            ("PATCH", "/v1/workspaces/{workspace}/members/{user}", self._set_role),
            ("DELETE", "/v1/workspaces/{workspace}/members/{user}", self._remove_member),
            ("POST", "/v1/workspaces/{workspace}/invitations", self._invite),
            ("POST", "/v1/invitations/accept", self._accept),
            ("GET", "/v1/workspaces/{workspace}/usage", self._usage),
            ("PATCH", "/v1/workspaces/{workspace}/plan", self._set_plan),
            ("GET", "/health", self._health),
            ("POST", "/v1/widget-tokens", self._widget_token),
            ("GET", "/v1/tokens", self._list_tokens),
            ("POST", "/v1/tokens", self._create_token),
            ("DELETE", "/v1/tokens/{token}", self._revoke_token),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        return app

    @web.middleware
    async def _envelope(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        self.requests.append(Request(request.method, request.path, body,
                                     request.headers.get("Authorization")))
        request[BODY] = body
        try:
            return await handler(request)
        except Refused as refused:
            return web.json_response({"error": {"code": refused.code, "message": refused.message,
                                                "status": refused.status,
                                                "requestId": "req_fake"}},
                                     status=refused.status)

    # -- who is asking, with which role ------------------------------------------------------

    def _caller(self, request: web.Request, *, optional: bool = False) -> dict[str, Any] | None:
        header = request.headers.get("Authorization", "")
        if not header and optional:
            return None
        raw = header.removeprefix("Bearer ")
        digest = credential_hash(raw, SECRET)
        for token in self.tokens.values():
            if token["hash"] == digest and token["revokedAt"] is None and (
                    token["expiresAt"] is None or token["expiresAt"] > iso(now())):
                return self.users[token["userId"]]
        raise Refused(401, "YAVIO-3000", "Missing or invalid access token.")

    def _workspace(self, workspace_id: str, user: dict[str, Any],
                   needs: str = "viewer") -> dict[str, Any]:
        role = self.roles.get((workspace_id, user["id"]))
        if workspace_id not in self.workspaces or role is None:
            raise not_found("workspace")
        if RANK[role] < RANK[needs]:
            raise Refused(403, "YAVIO-3003", f"This needs the {needs} role; yours is {role}.")
        return self.workspaces[workspace_id]

    def _project(self, project_id: str, user: dict[str, Any],
                 needs: str = "viewer") -> dict[str, Any]:
        project = self.projects.get(project_id)
        if project is None or (project["workspaceId"], user["id"]) not in self.roles:
            raise not_found("project")
        self._workspace(project["workspaceId"], user, needs)
        return project

    def _shown_workspace(self, workspace: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
        return {**workspace, "role": self.roles[(workspace["id"], user["id"])]}

    @staticmethod
    def _name_and_slug(body: Any) -> tuple[str, str]:
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) \
                or not body["name"].strip():
            raise Refused(400, "YAVIO-3010", "name is required.")
        slug = body.get("slug") or re.sub(r"[^a-z0-9]+", "-", body["name"].lower()).strip("-")
        if not isinstance(slug, str) or not SLUG.fullmatch(slug):
            raise Refused(400, "YAVIO-3010", "slug must be 1-48 of a-z, 0-9 and -.")
        return body["name"], slug

    # -- handlers ----------------------------------------------------------------------------

    async def _me(self, request: web.Request) -> web.Response:
        user = self._caller(request)
        return web.json_response({"user": user, "workspaces": self._mine(user)})

    def _mine(self, user: dict[str, Any]) -> list[dict[str, Any]]:
        return [self._shown_workspace(w, user) for w in self.workspaces.values()
                if (w["id"], user["id"]) in self.roles]

    async def _list_workspaces(self, request: web.Request) -> web.Response:
        return web.json_response({"workspaces": self._mine(self._caller(request))})

    async def _create_workspace(self, request: web.Request) -> web.Response:
        user = self._caller(request)
        name, slug = self._name_and_slug(request[BODY])
        if any(w["slug"] == slug for w in self.workspaces.values()):
            raise Refused(409, "YAVIO-3009", f"The slug {slug} is taken.")
        workspace = self.add_workspace(name, slug, user["id"])
        return web.json_response(self._shown_workspace(workspace, user), status=201)

    async def _delete_workspace(self, request: web.Request) -> web.Response:
        workspace = self._workspace(request.match_info["workspace"], self._caller(request),
                                    "owner")
        del self.workspaces[workspace["id"]]
        for project_id in [p["id"] for p in self.projects.values()
                           if p["workspaceId"] == workspace["id"]]:
            del self.projects[project_id]
        return web.Response(status=204)

    async def _list_projects(self, request: web.Request) -> web.Response:
        workspace = self._workspace(request.match_info["workspace"], self._caller(request))
        return web.json_response({"projects": [p for p in self.projects.values()
                                               if p["workspaceId"] == workspace["id"]]})

    async def _create_project(self, request: web.Request) -> web.Response:
        workspace = self._workspace(request.match_info["workspace"], self._caller(request),
                                    "member")
        name, slug = self._name_and_slug(request[BODY])
        if any(p["slug"] == slug and p["workspaceId"] == workspace["id"]
               for p in self.projects.values()):
            raise Refused(409, "YAVIO-3009", f"A project with the slug {slug} exists.")
        return web.json_response(self.add_project(workspace["id"], name, slug), status=201)

    async def _delete_project(self, request: web.Request) -> web.Response:
        project = self._project(request.match_info["project"], self._caller(request), "owner")
        del self.projects[project["id"]]
        return web.Response(status=204)

    async def _list_keys(self, request: web.Request) -> web.Response:
        project = self._project(request.match_info["project"], self._caller(request))
        return web.json_response({"keys": [k for k in self.keys.values()
                                           if k["projectId"] == project["id"]]})

    async def _create_key(self, request: web.Request) -> web.Response:
        project = self._project(request.match_info["project"], self._caller(request), "member")
        raw, key = self.add_key(project["id"], (request[BODY] or {}).get("name") or "")
        return web.json_response({"key": raw, **key}, status=201)

    def _key(self, request: web.Request) -> dict[str, Any]:
        project = self._project(request.match_info["project"], self._caller(request), "member")
        key = self.keys.get(request.match_info["key"])
        if key is None or key["projectId"] != project["id"]:
            raise not_found("key")
        return key

    async def _revoke_key(self, request: web.Request) -> web.Response:
        key = self._key(request)
        key["revokedAt"] = key["revokedAt"] or iso(now())
        return web.json_response(key)

    async def _rotate_key(self, request: web.Request) -> web.Response:
        old = self._key(request)
        grace = (request[BODY] or {}).get("graceSeconds", 86400)
        if not isinstance(grace, int) or grace < 0:
            raise Refused(400, "YAVIO-3010", "graceSeconds must be a whole number >= 0.")
        raw, key = self.add_key(old["projectId"], old["name"])
        old["revokedAt"] = iso(now() + timedelta(seconds=grace))
        return web.json_response({"key": raw, **key, "replaces": old}, status=201)

    async def _list_members(self, request: web.Request) -> web.Response:
        workspace = self._workspace(request.match_info["workspace"], self._caller(request))
        return web.json_response({"members": [self._member(workspace["id"], user_id)
                                              for (w, user_id) in self.roles
                                              if w == workspace["id"]]})

    def _member(self, workspace_id: str, user_id: str) -> dict[str, Any]:
        user = self.users[user_id]
        return {"userId": user_id, "email": user["email"], "name": user["name"],
                "role": self.roles[(workspace_id, user_id)]}

    def _membership(self, request: web.Request) -> tuple[str, str]:
        workspace = self._workspace(request.match_info["workspace"], self._caller(request),
                                    "admin")
        user_id = request.match_info["user"]
        if (workspace["id"], user_id) not in self.roles:
            raise not_found("member")
        return workspace["id"], user_id

    async def _set_role(self, request: web.Request) -> web.Response:
        workspace_id, user_id = self._membership(request)
        role = (request[BODY] or {}).get("role")
        if role not in RANK:
            raise Refused(400, "YAVIO-3010", "role must be owner, admin, member or viewer.")
        self.roles[(workspace_id, user_id)] = role
        return web.json_response(self._member(workspace_id, user_id))

    async def _remove_member(self, request: web.Request) -> web.Response:
        del self.roles[self._membership(request)]
        return web.Response(status=204)

    async def _invite(self, request: web.Request) -> web.Response:
        workspace = self._workspace(request.match_info["workspace"], self._caller(request),
                                    "admin")
        body = request[BODY] or {}
        if "@" not in str(body.get("email", "")):
            raise Refused(400, "YAVIO-3010", "email must be an email address.")
        if body.get("role") not in ("admin", "member", "viewer"):
            raise Refused(400, "YAVIO-3010", "role must be admin, member or viewer.")
        raw = new_invitation_token()
        invitation = {"email": body["email"], "role": body["role"],
                      "expiresAt": iso(now() + timedelta(days=7))}
        self.invitations[credential_hash(raw, SECRET)] = {**invitation,
                                                          "workspaceId": workspace["id"]}
        return web.json_response({"token": raw, **invitation}, status=201)

    async def _accept(self, request: web.Request) -> web.Response:
        caller = self._caller(request, optional=True)
        body = request[BODY] or {}
        invitation = self.invitations.pop(credential_hash(str(body.get("token")), SECRET), None)
        if invitation is None:
            raise Refused(400, "YAVIO-3011", "This invitation is unknown, already used or expired.")
        user = caller or next((u for u in self.users.values()
                               if u["email"] == invitation["email"]), None) \
            or self.add_user(invitation["email"], body.get("name") or "")
        self.roles[(invitation["workspaceId"], user["id"])] = invitation["role"]
        answer = {"workspace": self._shown_workspace(self.workspaces[invitation["workspaceId"]],
                                                     user),
                  "role": invitation["role"], "user": user}
        if caller is None:
            answer["accessToken"] = self.mint_token(user["id"], "invitation")
        return web.json_response(answer)

    def _shown_token(self, token: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in token.items() if k not in ("hash", "userId")}

    async def _list_tokens(self, request: web.Request) -> web.Response:
        user = self._caller(request)
        return web.json_response({"tokens": [self._shown_token(t) for t in self.tokens.values()
                                             if t["userId"] == user["id"]]})

    async def _create_token(self, request: web.Request) -> web.Response:
        user = self._caller(request)
        body = request[BODY] or {}
        days = body.get("expiresInDays")
        if days is not None and (not isinstance(days, int) or days <= 0):
            raise Refused(400, "YAVIO-3010", "expiresInDays must be a positive whole number.")
        raw, token = self._mint(user["id"], body.get("name") or "",
                                now() + timedelta(days=days) if days else None)
        return web.json_response({"token": raw, **self._shown_token(token)}, status=201)

    async def _revoke_token(self, request: web.Request) -> web.Response:
        user = self._caller(request)
        token = self.tokens.get(request.match_info["token"])
        if token is None or token["userId"] != user["id"]:
            raise not_found("token")
        token["revokedAt"] = token["revokedAt"] or iso(now())
        return web.json_response(self._shown_token(token))

    # -- usage and plans (one month of counts: `events`, whatever `?month=` asks) ------------

    async def _usage(self, request: web.Request) -> web.Response:
        user = self._caller(request)
        workspace = self._workspace(request.match_info["workspace"], user)
        month = request.query.get("month") or now().strftime("%Y-%m")
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
            raise Refused(400, "YAVIO-3010", "month must be YYYY-MM.")
        projects = [{"id": p["id"], "slug": p["slug"], "name": p["name"],
                     "events": self.events.get(p["id"], 0)}
                    for p in self.projects.values() if p["workspaceId"] == workspace["id"]]
        return web.json_response({
            "month": month, "projects": projects,
            "workspace": {**self._shown_workspace(workspace, user),
                          "events": sum(p["events"] for p in projects)}})

    async def _set_plan(self, request: web.Request) -> web.Response:
        user = self._caller(request)
        workspace = self._workspace(request.match_info["workspace"], user, "owner")
        body = request[BODY] or {}
        defaults = {"self-hosted": None, "community": 1_000_000}
        if body.get("plan") not in defaults:
            raise Refused(400, "YAVIO-3010", "plan must be one of self-hosted, community.")
        quota = body.get("monthlyEventQuota", defaults[body["plan"]])
        if quota is not None and (not isinstance(quota, int) or quota < 0):
            raise Refused(400, "YAVIO-3010", "monthlyEventQuota must be a whole number of "
                                             "events, or null for unlimited.")
        workspace.update(plan=body["plan"], monthlyEventQuota=quota)
        return web.json_response(self._shown_workspace(workspace, user))

    # -- the ingest's side, as much as `yavio init` probes ----------------------------------

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "postgres": "up", "clickhouse": "up"})

    async def _widget_token(self, request: web.Request) -> web.Response:
        raw = request.headers.get("Authorization", "").removeprefix("Bearer ")
        key = self.keys.get(self.key_hashes.get(credential_hash(raw, SECRET), ""))
        if self.refuse_api_keys or key is None or (key["revokedAt"]
                                                   and key["revokedAt"] <= iso(now())):
            raise Refused(401, "YAVIO-2001", "Invalid API key.")
        body = request[BODY] or {}
        if not body.get("traceId") or not body.get("sessionId"):
            raise Refused(400, "YAVIO-2300", "traceId and sessionId are required.")
        return web.json_response({"token": "eyJ.fake.widget",
                                  "expiresAt": iso(now() + timedelta(minutes=15))})
