"""The read API (SPEC 7): the analytics behind the CLI and the TUI's views, for a project the
caller can read (viewer or higher; 404 for anyone else). One route per view; the queries live
in one module per view (`overview.py`, ...)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from yavio_ingest.access import Access
from yavio_ingest.errors_view import errors
from yavio_ingest.intents import intents
from yavio_ingest.overview import overview
from yavio_ingest.responses import Reject, json_reply
from yavio_ingest.time_range import parse_range
from yavio_ingest.traces import TRACE_FILTERS, trace, traces

__all__ = ["add_read_routes"]


def add_read_routes(app: web.Application, postgres_key: Any, clickhouse_key: Any,
                    blocking: Callable[..., Awaitable[Any]]) -> None:
    access = Access(app, postgres_key, blocking)

    def ranged(view: Callable[..., dict[str, Any]], *, filtered: bool = False,
               ) -> Callable[..., Awaitable[web.Response]]:
        """A view over a project and a time range (`from`, `to`, `platform`); a `filtered`
        view also gets the request's query, for its own filters."""
        async def answer(request: web.Request) -> web.Response:
            try:
                user = await access.user(request)
                project = await access.project(request, user, "viewer")
                period = parse_range(request.query)
                extra = (request.query,) if filtered else ()
                return json_reply(await blocking(view, app[clickhouse_key], project.id, period,
                                                 *extra))
            except Reject as reject:
                return reject.reply(request)
        return answer

    def trace_list(store: Any, project_id: Any, period: Any, query: Any) -> dict[str, Any]:
        filters = {name: query[name] for name in TRACE_FILTERS if query.get(name)}
        if filters.get("status") not in (None, "success", "error"):
            raise Reject("YAVIO-3010", "status must be success or error.")
        try:
            limit = int(query.get("limit", 50))
        except ValueError:
            raise Reject("YAVIO-3010", "limit must be a whole number.") from None
        return traces(store, project_id, period, filters, max(1, limit))

    async def get_trace(request: web.Request) -> web.Response:
        try:
            user = await access.user(request)
            project = await access.project(request, user, "viewer")
            found = await blocking(trace, app[clickhouse_key], project.id,
                                   request.match_info["trace"])
            if found is None:
                raise Reject("YAVIO-3004", "No event of this trace in the project.")
            return json_reply(found)
        except Reject as reject:
            return reject.reply(request)

    app.router.add_get("/v1/projects/{project}/overview", ranged(overview))
    app.router.add_get("/v1/projects/{project}/traces", ranged(trace_list, filtered=True))
    app.router.add_get("/v1/projects/{project}/errors", ranged(errors))
    app.router.add_get("/v1/projects/{project}/intents", ranged(intents))
    app.router.add_get("/v1/projects/{project}/traces/{trace}", get_trace)
