"""The aiohttp application: routes, middlewares (request id, CORS) and start-up and shutdown.

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

from yavio_ingest.access import bearer_user
from yavio_ingest.auth import Authenticator
from yavio_ingest.client_ip import parse_networks
from yavio_ingest.dedup import RecentIds
from yavio_ingest.fanout import Fanout
from yavio_ingest.ingestion import INGEST, Ingest, post_events, post_widget_tokens
from yavio_ingest.management import add_routes
from yavio_ingest.openapi import openapi_document
from yavio_ingest.quota import Quotas
from yavio_ingest.ratelimit import RateLimiter
from yavio_ingest.read_api import add_read_routes
from yavio_ingest.responses import REQUEST_ID, error_reply
from yavio_ingest.settings import Settings
from yavio_ingest.spool import Spool
from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_ingest.store.postgres import PostgresStore
from yavio_ingest.writer import Writer

log = logging.getLogger("yavio.ingest")

SETTINGS = web.AppKey("settings", Settings)
POSTGRES = web.AppKey("postgres", PostgresStore)
CLICKHOUSE = web.AppKey("clickhouse", ClickHouseStore)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_CORS_PREFLIGHT = {
    "Access-Control-Allow-Headers": "Content-Type, Authorization",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Max-Age": "86400",
}


async def blocking(function: Callable[..., Any], *args: Any) -> Any:
    """Run a blocking store call off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, partial(function, *args))


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request[REQUEST_ID] = request.headers.get("x-request-id") or uuid.uuid4().hex
    try:
        response = await handler(request)
    except web.HTTPNotFound:
        response = error_reply(request, "YAVIO-2404")
    except web.HTTPMethodNotAllowed as error:
        response = error_reply(request, "YAVIO-2405")
        response.headers["Allow"] = ", ".join(sorted(error.allowed_methods))
    except web.HTTPRequestEntityTooLarge:  # a JSON body over aiohttp's client_max_size
        response = error_reply(request, "YAVIO-2111")
    except web.HTTPException as error:  # aiohttp's other answers: raised, not returned
        error.headers["x-request-id"] = request[REQUEST_ID]
        raise
    response.headers["x-request-id"] = request[REQUEST_ID]
    return response


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Widgets post from their own origins: every origin is allowed, without cookies."""
    origin = request.headers.get("Origin")
    if request.method == "OPTIONS":
        response: web.StreamResponse = web.Response(status=204, headers=_CORS_PREFLIGHT)
    else:
        response = await handler(request)
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "x-request-id, Retry-After"
        response.headers["Vary"] = "Origin"
    elif request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Origin"] = "*"
    return response


async def health(request: web.Request) -> web.Response:
    """200 when both stores answer and the writer's inserts work; 503 `degraded`, naming the
    one down, otherwise."""
    postgres_up, clickhouse_up = await asyncio.gather(
        blocking(request.app[POSTGRES].ping), blocking(request.app[CLICKHOUSE].ping))
    clickhouse_up = clickhouse_up and not request.app[INGEST].writer.stalled
    body = {"status": "ok" if postgres_up and clickhouse_up else "degraded",
            "postgres": "up" if postgres_up else "down",
            "clickhouse": "up" if clickhouse_up else "down"}
    return web.json_response(body, status=200 if body["status"] == "ok" else 503)


async def stats(request: web.Request) -> web.Response:
    """Event counts over the caller's workspaces (used by `yavio status`)."""
    user = await blocking(bearer_user, request.app[POSTGRES],
                          request.headers.get("Authorization", ""))
    if user is None:
        return error_reply(request, "YAVIO-3000")
    workspaces = await blocking(request.app[POSTGRES].workspaces.for_user, user.id)
    events = await blocking(request.app[CLICKHOUSE].total_events, [w.id for w in workspaces])
    return web.json_response({"events": events, "workspaces": len(workspaces)})


def create_app(settings: Settings, postgres: PostgresStore,
               clickhouse: ClickHouseStore) -> web.Application:
    app = web.Application(middlewares=[request_id_middleware, cors_middleware],
                          handler_args={"auto_decompress": False})
    app[SETTINGS] = settings
    app[POSTGRES] = postgres
    app[CLICKHOUSE] = clickhouse
    app.on_startup.append(_start_ingest)
    app.on_cleanup.append(_stop_ingest)
    app.router.add_get("/health", health)
    app.router.add_post("/v1/events", post_events)
    app.router.add_post("/v1/widget-tokens", post_widget_tokens)
    app.router.add_get("/v1/stats", stats)
    app.router.add_get("/openapi.json", openapi_document)
    add_routes(app, POSTGRES, CLICKHOUSE, blocking)
    add_read_routes(app, POSTGRES, CLICKHOUSE, blocking, live_poll_ms=settings.live_poll_ms)
    return app


async def _start_ingest(app: web.Application) -> None:
    settings = app[SETTINGS]
    spool = Spool(settings.spool_path, budget_bytes=settings.spool_budget_bytes,
                  fsync=settings.spool_fsync)
    recent = RecentIds()
    writer = Writer(spool, app[CLICKHOUSE], recent, flush_rows=settings.flush_rows,
                    flush_interval_s=settings.flush_interval_ms / 1000)
    await blocking(writer.seed_recent_ids)
    app[INGEST] = Ingest(
        auth=Authenticator(app[POSTGRES], settings.hmac_secret, settings.jwt_secret,
                           settings.key_cache_ttl_s),
        spool=spool, writer=writer, recent=recent, fanout=Fanout(),
        project_limits=RateLimiter(settings.project_rate, settings.project_burst),
        failed_auth_limits=RateLimiter(settings.failed_auth_rate, settings.failed_auth_burst),
        widget_limits=RateLimiter(settings.widget_rate, settings.widget_burst),
        trusted_proxies=parse_networks(settings.trusted_proxies),
        quotas=Quotas(app[POSTGRES], app[CLICKHOUSE], blocking),
        body_timeout_s=settings.body_timeout_s,
    )
    writer.start()
    if spool.pending_bytes:
        log.info("replaying %d bytes of acknowledged events from the spool", spool.pending_bytes)


async def _stop_ingest(app: web.Application) -> None:
    ingest = app[INGEST]
    await ingest.writer.stop()
    ingest.spool.close()
