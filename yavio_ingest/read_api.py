"""The read API (SPEC 7): the analytics behind the CLI and the TUI's views, for a project the
caller can read (viewer or higher; 404 for anyone else). One route per view; the queries live
in one module per view (`overview.py`, ...)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from yavio_ingest.access import Access
from yavio_ingest.errors_view import errors
from yavio_ingest.export import events_page
from yavio_ingest.funnels import funnel
from yavio_ingest.intents import intents
from yavio_ingest.live import add_live_route
from yavio_ingest.overview import overview
from yavio_ingest.paths import paths
from yavio_ingest.query import add_query_route
from yavio_ingest.responses import Reject, json_reply
from yavio_ingest.sessions_view import sessions
from yavio_ingest.time_range import parse_range
from yavio_ingest.tools_view import tool, tools
from yavio_ingest.traces import TRACE_FILTERS, trace, traces
from yavio_ingest.users_view import user_timeline, users

__all__ = ["add_read_routes"]


def add_read_routes(app: web.Application, postgres_key: Any, clickhouse_key: Any,
                    blocking: Callable[..., Awaitable[Any]], *, live_poll_ms: int) -> None:
    access = Access(app, postgres_key, blocking)
    add_live_route(app, access, clickhouse_key, blocking, live_poll_ms)
    add_query_route(app, access, clickhouse_key, blocking)

    def viewed(compute: Callable[[Any, Any, web.Request], dict[str, Any] | None],
               missing: str | None = None) -> Callable[..., Awaitable[web.Response]]:
        """A handler answering `compute(store, project_id, request)` (blocking, on a worker
        thread) for a project the caller can read; None means 404 with the `missing` text."""
        async def answer(request: web.Request) -> web.Response:
            try:
                user = await access.user(request)
                project = await access.project(request, user, "viewer")
                found = await blocking(compute, app[clickhouse_key], project.id, request)
                if found is None:
                    raise Reject("YAVIO-3004", missing or "Not found.")
                return json_reply(found)
            except Reject as reject:
                return reject.reply(request)
        return answer

    def ranged(view: Callable[..., dict[str, Any]], *, filtered: bool = False,
               ) -> Callable[..., Awaitable[web.Response]]:
        """A view over a project and a time range (`from`, `to`, `platform`); a `filtered`
        view also gets the request's query, for its own filters."""
        def compute(store: Any, project_id: Any, request: web.Request) -> dict[str, Any]:
            extra = (request.query,) if filtered else ()
            return view(store, project_id, parse_range(request.query), *extra)
        return viewed(compute)

    def trace_list(store: Any, project_id: Any, period: Any, query: Any) -> dict[str, Any]:
        filters = {name: query[name] for name in TRACE_FILTERS if query.get(name)}
        if filters.get("status") not in (None, "success", "error"):
            raise Reject("YAVIO-3010", "status must be success or error.")
        return traces(store, project_id, period, filters, max(1, _limit(query, 50)))

    def session_view(store: Any, project_id: Any, period: Any, query: Any) -> dict[str, Any]:
        return sessions(store, project_id, period, query.get("user") or None,
                        _limit(query, 50))

    get_trace = viewed(lambda store, project_id, request: trace(
        store, project_id, request.match_info["trace"]),
        "No event of this trace in the project.")
    get_tool = viewed(lambda store, project_id, request: tool(
        store, project_id, parse_range(request.query), request.match_info["tool"]),
        "The project has no call or registration of this tool.")
    get_user = viewed(lambda store, project_id, request: user_timeline(
        store, project_id, parse_range(request.query), request.match_info["user"],
        _limit(request.query, 100)),
        "The project has no event of this user.")

    app.router.add_get("/v1/projects/{project}/overview", ranged(overview))
    app.router.add_get("/v1/projects/{project}/traces", ranged(trace_list, filtered=True))
    app.router.add_get("/v1/projects/{project}/errors", ranged(errors))
    app.router.add_get("/v1/projects/{project}/intents", ranged(intents))
    app.router.add_get("/v1/projects/{project}/events", ranged(events_page, filtered=True))
    app.router.add_get("/v1/projects/{project}/traces/{trace}", get_trace)
    app.router.add_get("/v1/projects/{project}/sessions", ranged(session_view, filtered=True))
    app.router.add_get("/v1/projects/{project}/users", ranged(users))
    app.router.add_get("/v1/projects/{project}/users/{user}", get_user)
    app.router.add_get("/v1/projects/{project}/tools", ranged(tools))
    app.router.add_get("/v1/projects/{project}/tools/{tool}", get_tool)
    app.router.add_get("/v1/projects/{project}/funnel", ranged(funnel, filtered=True))
    app.router.add_get("/v1/projects/{project}/paths", ranged(paths, filtered=True))


def _limit(query: Any, default: int) -> int:
    """The `limit` query parameter (each view caps it); 400 `YAVIO-3010` if not a number."""
    try:
        return int(query.get("limit", default))
    except ValueError:
        raise Reject("YAVIO-3010", "limit must be a whole number.") from None
