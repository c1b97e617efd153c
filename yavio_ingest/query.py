"""The guarded read-only query (SPEC 7, behind `yavio mcp`): `POST /v1/projects/{project}/query`
with `{"sql": "SELECT …", "maxRows": 100}` runs one SELECT of the caller's over the project's
own events and tool registry and answers `{columns: [{name, type}], rows, truncated,
elapsedMs}`.

Tenant safety does not rest on the caller writing a `project_id` filter, nor on the checks of
`query_guard.py` alone. The checked statement runs as

    WITH events AS (<the project's deduplicated events>),
         tool_registry AS (<the project's latest registrations>)
    SELECT * FROM (<statement>) LIMIT maxRows + 1

with `enable_global_with_statement`, so the two names mean the project's rows in every
subquery, UNION, JOIN, IN and CTE of the statement (without the setting, a subquery reads the
whole table: measured). The guard refuses every other way to name a table. ClickHouse's limits
apply per query: readonly, 5 s, 50 M rows read, 1 GB of memory, maxRows + 1 result rows.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from yavio_ingest.access import Access
from yavio_ingest.query_guard import check_query, clickhouse_code, clickhouse_message
from yavio_ingest.responses import Reject, json_reply
from yavio_ingest.store.clickhouse import ClickHouseStore

__all__ = ["DEFAULT_ROWS", "MAX_ROWS", "MAX_SQL_CHARS", "TIMEOUT_S", "add_query_route",
           "run_query"]

DEFAULT_ROWS, MAX_ROWS = 100, 1000
MAX_SQL_CHARS = 20_000
TIMEOUT_S = 5

# Settings of every run, written in the statement: passed to clickhouse-connect, each would be
# SET and restored around the call in chdb, a dozen more engine calls.
_SETTINGS = {
    "enable_global_with_statement": 1,
    "max_execution_time": TIMEOUT_S,
    "max_rows_to_read": 50_000_000,
    "max_memory_usage": 1_000_000_000,
    # JSON a client reads as is: 64-bit numbers as numbers, NaN and infinities as null, bytes
    # that are not UTF-8 replaced, times as ISO-8601 UTC.
    "output_format_json_quote_64bit_integers": 0,
    "output_format_json_quote_denormals": 0,
    "output_format_json_validate_utf8": 1,
    "date_time_output_format": "'iso'",
}
_RUN = """WITH events AS (SELECT * FROM {database}.events FINAL WHERE project_id = {{project:UUID}}),
tool_registry AS (SELECT * FROM {database}.tool_registry FINAL WHERE project_id = {{project:UUID}})
SELECT * FROM (
{sql}
) LIMIT {limit}
SETTINGS {settings}, max_result_rows = {limit}, readonly = 1"""

# ClickHouse codes of a query stopped by a limit: rows read, result rows or bytes, memory.
_OVER_LIMIT = {158, 241, 307, 396}
_TIMEOUT = 159
_SYNTAX_ERROR = 62


class _Answer(msgspec.Struct):
    meta: list[dict[str, str]]
    data: list[list[Any]]


_decode = msgspec.json.Decoder(_Answer)


def run_query(store: ClickHouseStore, project_id: uuid.UUID, sql: str, max_rows: int,
              ) -> dict[str, Any]:
    """The query's JSON answer (blocking). 400 `YAVIO-3010` for a query that is refused or
    fails, `YAVIO-3060` for one over a limit, 504 `YAVIO-3061` for one over the time limit."""
    started = time.perf_counter()
    checked = check_query(store, sql)
    statement = _RUN.format(database=_quoted(checked.database), sql=checked.sql,
                            limit=max_rows + 1,
                            settings=", ".join(f"{k} = {v}" for k, v in _SETTINGS.items()))
    try:
        answer = _decode.decode(store.query_json(statement, {"project": str(project_id)}))
    except Exception as error:
        refusal = _refusal(error)
        if refusal is None:
            raise
        raise refusal from None
    return {
        "columns": [{"name": column["name"], "type": column["type"]} for column in answer.meta],
        "rows": answer.data[:max_rows],
        "truncated": len(answer.data) > max_rows,
        "elapsedMs": round((time.perf_counter() - started) * 1000, 1),
    }


def _refusal(error: Exception) -> Reject | None:
    """What to answer for a statement ClickHouse stopped; None for any other failure."""
    message = clickhouse_message(error)
    if message is None:
        return None
    code = clickhouse_code(error)
    if code == _TIMEOUT:
        return Reject("YAVIO-3061", f"The query ran longer than {TIMEOUT_S} s and was stopped; "
                                    "narrow it (a time range on timestamp, fewer joins).")
    if code == _SYNTAX_ERROR:
        # The statement parsed alone (`check_query`), so only a clause that cannot stand in a
        # subquery is left: FORMAT Native, the one FORMAT the check cannot tell from its own.
        return Reject("YAVIO-3010", "FORMAT is not allowed: the answer is always JSON.")
    if code in _OVER_LIMIT:
        return Reject("YAVIO-3060", f"The query went over a limit and was stopped: {message} "
                                    "Narrow it, e.g. with a time range on timestamp.")
    return Reject("YAVIO-3010", f"The query failed: {message}")


def _quoted(identifier: str) -> str:
    return "`" + identifier.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _body_fields(body: Any) -> tuple[str, int]:
    """`sql` and `maxRows` of a request body; 400 `YAVIO-3010` saying what is wrong."""
    if not isinstance(body, dict):
        raise Reject("YAVIO-3010", 'Send a JSON object: {"sql": "SELECT …", "maxRows": 100}.')
    sql = body.get("sql")
    if not isinstance(sql, str) or not sql.strip() or len(sql) > MAX_SQL_CHARS:
        raise Reject("YAVIO-3010", f"sql must be a SELECT of 1 to {MAX_SQL_CHARS} characters.")
    max_rows = body.get("maxRows", DEFAULT_ROWS)
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or \
            not 1 <= max_rows <= MAX_ROWS:
        raise Reject("YAVIO-3010", f"maxRows must be a whole number from 1 to {MAX_ROWS}.")
    return sql.strip(), max_rows


def add_query_route(app: web.Application, access: Access, clickhouse_key: Any,
                    blocking: Callable[..., Awaitable[Any]]) -> None:
    """Register `POST /v1/projects/{project}/query` (viewer or higher; 404 for anyone else)."""

    async def post_query(request: web.Request) -> web.Response:
        try:
            user = await access.user(request)
            project = await access.project(request, user, "viewer")
            try:
                body = await request.json()
            except (ValueError, RecursionError):  # RecursionError: nested too deep
                raise Reject("YAVIO-3010", "The body is not valid JSON.") from None
            sql, max_rows = _body_fields(body)
            return json_reply(await blocking(run_query, app[clickhouse_key], project.id, sql,
                                             max_rows))
        except Reject as reject:
            return reject.reply(request)

    app.router.add_post("/v1/projects/{project}/query", post_query)
