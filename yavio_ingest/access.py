"""Who is asking, and may they: a user's `Bearer yat_…` access token and their role in the
workspace a request touches (SPEC 7), for the management and read APIs.

A workspace, or anything in it, that the caller is not a member of answers 404 exactly like
one that does not exist, so no one learns what other tenants have; a member whose role is too
low gets 403.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from yavio_ingest.responses import Reject
from yavio_ingest.store.postgres import PostgresStore, Project, User, Workspace

__all__ = ["RANK", "Access", "bearer_user", "path_uuid"]

RANK = {"viewer": 0, "member": 1, "admin": 2, "owner": 3}


def bearer_user(store: PostgresStore, authorization: str) -> User | None:
    """The user of an `Authorization: Bearer yat_…` header, if the token is valid (looked up on
    every request: a revoked token fails at once). Blocking."""
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith("yat_"):
        return None
    return store.access_tokens.user_of(token)


def path_uuid(value: str) -> uuid.UUID:
    """A UUID from a path; one that cannot exist does not exist (404)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise Reject("YAVIO-3004") from None


def require(role: str, needed: str) -> None:
    if RANK[role] < RANK[needed]:
        raise Reject("YAVIO-3003", f"This needs the {needed} role or higher; you are {role}.")


class Access:
    """The checks every workspace-scoped request starts with."""

    def __init__(self, app: web.Application, postgres_key: Any,
                 blocking: Callable[..., Awaitable[Any]]) -> None:
        self._app = app
        self._postgres_key = postgres_key
        self._blocking = blocking

    @property
    def store(self) -> PostgresStore:
        return self._app[self._postgres_key]

    async def user(self, request: web.Request) -> User:
        user = await self._blocking(bearer_user, self.store,
                                    request.headers.get("Authorization", ""))
        if user is None:
            raise Reject("YAVIO-3000")
        return user

    async def workspace(self, request: web.Request, user: User, needed: str,
                        ) -> tuple[Workspace, str]:
        """The `{workspace}` of the path and the user's role in it, at least `needed`."""
        workspace_id = path_uuid(request.match_info["workspace"])
        role = await self._blocking(self.store.workspaces.role_of, workspace_id, user.id)
        if role is None:
            raise Reject("YAVIO-3004")
        require(role, needed)
        workspace = await self._blocking(self.store.workspaces.get, workspace_id)
        if workspace is None:
            raise Reject("YAVIO-3004")
        return workspace, role

    async def project(self, request: web.Request, user: User, needed: str) -> Project:
        """The `{project}` of the path, if the user's role in its workspace is `needed`+."""
        project = await self._blocking(self.store.projects.get,
                                       path_uuid(request.match_info["project"]))
        if project is None:
            raise Reject("YAVIO-3004")
        role = await self._blocking(self.store.workspaces.role_of, project.workspace_id, user.id)
        if role is None:
            raise Reject("YAVIO-3004")
        require(role, needed)
        return project
