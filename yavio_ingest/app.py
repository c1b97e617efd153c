"""The aiohttp application: routes, the request-id middleware and the error envelope.

Store calls block (psycopg, chdb), so handlers run them in the default executor and the event loop
keeps serving other requests.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from aiohttp import web

from yavio_ingest.settings import Settings
from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_ingest.store.postgres import PostgresStore, User
from yavio_sdk.errors import error_code

log = logging.getLogger("yavio.ingest")

SETTINGS = web.AppKey("settings", Settings)
POSTGRES = web.AppKey("postgres", PostgresStore)
CLICKHOUSE = web.AppKey("clickhouse", ClickHouseStore)
REQUEST_ID = web.RequestKey("request_id", str)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def blocking(function: Callable[..., Any], *args: Any) -> Any:
    """Run a blocking store call off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, partial(function, *args))


def error_response(request: web.Request, code: str, message: str | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    """The error envelope of SPEC section 1: `{error: {code, message, status, requestId}}`."""
    entry = error_code(code)
    body = {"error": {"code": entry.code, "message": message or entry.message,
                      "status": entry.status, "requestId": request[REQUEST_ID]}}
    return web.json_response(body, status=entry.status, headers=headers)


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request[REQUEST_ID] = request.headers.get("x-request-id") or uuid.uuid4().hex
    try:
        response = await handler(request)
    except web.HTTPException as error:
        response = error
    response.headers["x-request-id"] = request[REQUEST_ID]
    return response


async def health(request: web.Request) -> web.Response:
    """200 when both stores answer; 503 `degraded`, naming the one down, otherwise."""
    postgres_up, clickhouse_up = await asyncio.gather(
        blocking(request.app[POSTGRES].ping), blocking(request.app[CLICKHOUSE].ping))
    body = {"status": "ok" if postgres_up and clickhouse_up else "degraded",
            "postgres": "up" if postgres_up else "down",
            "clickhouse": "up" if clickhouse_up else "down"}
    return web.json_response(body, status=200 if body["status"] == "ok" else 503)


async def authenticated_user(request: web.Request) -> User | None:
    """The user behind the request's `Bearer yat_…` access token, if it is valid."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not token.startswith("yat_"):
        return None
    return await blocking(request.app[POSTGRES].access_tokens.user_of, token.strip())


async def stats(request: web.Request) -> web.Response:
    """Event counts over the caller's workspaces (used by `yavio status`)."""
    user = await authenticated_user(request)
    if user is None:
        return error_response(request, "YAVIO-3000")
    workspaces = await blocking(request.app[POSTGRES].workspaces.for_user, user.id)
    events = await blocking(partial(request.app[CLICKHOUSE].count_events,
                                    workspace_ids=[w.id for w in workspaces]))
    return web.json_response({"events": events, "workspaces": len(workspaces)})


def create_app(settings: Settings, postgres: PostgresStore,
               clickhouse: ClickHouseStore) -> web.Application:
    app = web.Application(middlewares=[request_id_middleware])
    app[SETTINGS] = settings
    app[POSTGRES] = postgres
    app[CLICKHOUSE] = clickhouse
    app.router.add_get("/health", health)
    app.router.add_get("/v1/stats", stats)
    return app
