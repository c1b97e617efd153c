"""`yavio mcp`: a stdio MCP server over the read API, so that a coding agent (Claude Code,
Cursor, …) can ask about a project's analytics: the overview, the tools, the errors, one trace,
a funnel, and a guarded read-only SQL query.

Each tool is one call of the server API as the user of the home, like every command
(`Connection.for_home`: a saved `yavio login`, else the local stack's owner), on the project
`--project` names or the default one. A tool answers the API's JSON, compact; an API error
becomes a tool error carrying the API's message. stdout carries the MCP protocol and nothing
else: errors before the server starts, and logs, go to stderr.

The MCP SDK is imported when the server starts, not with the CLI: it costs about 2 s to import
(measured), which every other `yavio` command would pay. The tools' argument types are
evaluated when they are defined (no `from __future__ import annotations` here): the SDK reads
them to build each tool's input schema.
"""

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Annotated, Any, Literal

from yavio_cli import durations, scope
from yavio_cli.client import ApiError, ServerUnavailable, YavioClient
from yavio_cli.connection import Connection
from yavio_cli.terminal import HomeOption, fail

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

__all__ = ["build_server", "mcp"]

# An agent waits for its answer: a view over a long range may take longer than the CLI's
# default of 5 s.
REQUEST_TIMEOUT_S = 30.0

_INSTRUCTIONS = (
    "Product analytics of one MCP server, recorded by Yavio: tool calls, sessions, traces, "
    "widget events, conversions. Start with `overview`; `tools` and `errors` go into detail; "
    "`trace` tells one call's story; `funnel` counts how far traces or sessions get; `query` "
    "answers anything else with SQL over the `events` table. Times are UTC; a range is the "
    "last 7 days unless given.")


def mcp(project: scope.ProjectOption = None, workspace: scope.WorkspaceOption = None,
        home: HomeOption = None) -> None:
    """Serve the project's analytics to a coding agent, as an MCP server on stdio.

    Tools: overview, tools, errors, trace, funnel and query (one read-only SELECT over the
    project's `events`), answered by the Yavio server as the logged-in user (or the owner of
    the local stack).

    Add it to Claude Code: `claude mcp add yavio -- yavio mcp` (append
    `--project SLUG` to pick a project).

    Add it to Cursor, in `.cursor/mcp.json` (or `~/.cursor/mcp.json`):
    `{"mcpServers": {"yavio": {"command": "yavio", "args": ["mcp"]}}}`

    Then ask, e.g.: "Which tool fails most this week, and why?"
    """
    connection = Connection.for_home(home)
    with connection.open() as client:
        target = scope.project(client, connection, workspace, project)
    try:
        server = build_server(connection, str(target["id"]))
    except ImportError:
        raise fail("`yavio mcp` needs the MCP SDK: pip install 'yavio[mcp]'.") from None
    server.run("stdio")


def build_server(connection: Connection, project_id: str) -> "MCPServer":
    """The MCP server of one project, answering through `connection`'s server and token."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from pydantic import Field

    server = MCPServer("yavio", instructions=_INSTRUCTIONS, log_level="WARNING")

    def answer(fetch: Callable[[YavioClient], Any]) -> str:
        try:
            with YavioClient(connection.url, connection.token,
                             timeout=REQUEST_TIMEOUT_S) as client:
                found = fetch(client)
        except ServerUnavailable:
            raise ToolError(connection.unreachable()) from None
        except ApiError as error:
            code = f"{error.code}: " if error.code else ""
            raise ToolError(code + connection.explain(error)) from None
        except ValueError as error:  # an argument the API would refuse anyway, said sooner
            raise ToolError(str(error)) from None
        return json.dumps(found, separators=(",", ":"), ensure_ascii=False)

    Start = Annotated[str | None, Field(
        description="Start of the range, ISO-8601, e.g. 2026-01-31T00:00:00Z (UTC when no "
                    "offset is given). Default: 7 days before `end`.")]
    End = Annotated[str | None, Field(
        description="End of the range (exclusive), ISO-8601. Default: now.")]
    Last = Annotated[str | None, Field(
        description="Instead of start/end: the range up to now, e.g. 30m, 24h, 7d, 2w.")]
    Platforms = Annotated[list[str] | None, Field(
        description="Only events of these platforms, e.g. [\"chatgpt\", \"claude\"].")]

    @server.tool()
    def overview(start: Start = None, end: End = None, last: Last = None,
                 platforms: Platforms = None) -> str:
        """The project's KPIs over a range, each with the previous period's value
        (invocations, sessions, error rate, p50/p95 latency in ms, conversions, revenue), the
        platform mix, the top tools and invocations per time bucket."""
        return answer(lambda client: client.overview(
            project_id, **_range(start, end, last, platforms)))

    @server.tool()
    def tools(start: Start = None, end: End = None, last: Last = None,
              platforms: Platforms = None) -> str:
        """Every tool of the project over a range: calls, errors, latency percentiles, and
        the registered tools that were never called."""
        return answer(lambda client: client.tools(
            project_id, **_range(start, end, last, platforms)))

    @server.tool()
    def errors(start: Start = None, end: End = None, last: Last = None,
               platforms: Platforms = None) -> str:
        """Failed tool calls over a range: totals and error rate, by error category and by
        tool, per time bucket, and the latest 20 with their trace id (open one with
        `trace`)."""
        return answer(lambda client: client.errors(
            project_id, **_range(start, end, last, platforms)))

    @server.tool()
    def trace(trace_id: Annotated[str, Field(
            description="The trace's id (tr_…), e.g. from `errors` or a tool result's "
                        "_meta.yavio.")]) -> str:
        """One tool call's story: the call, the server's steps, the widget's events and any
        conversion, in the order they happened."""
        return answer(lambda client: client.trace(project_id, trace_id))

    @server.tool()
    def funnel(
        steps: Annotated[list[str], Field(
            min_length=2, max_length=8,
            description="The ordered steps, each an event type or `type:name`, e.g. "
                        "[\"tool_call:search_rooms\", \"tool_call:book_room\", "
                        "\"conversion\"].")],
        by: Annotated[Literal["trace", "session"], Field(
            description="Follow each trace (one tool call and what it led to) or each "
                        "session.")] = "trace",
        window: Annotated[str | None, Field(
            description="How long after the first step the last may come: 30m, 1h, 7d or "
                        "seconds. Default: 1 h.")] = None,
        split_by_platform: Annotated[bool, Field(
            description="Also count the entries per platform.")] = False,
        start: Start = None, end: End = None, last: Last = None,
        platforms: Platforms = None,
    ) -> str:
        """How many traces (or sessions) reached each step of an ordered list, the
        conversion and drop-off at each step, and example ids of those that dropped out."""
        return answer(lambda client: client.funnel(
            project_id, steps, by=by, window=durations.seconds(window) if window else None,
            split="platform" if split_by_platform else None,
            **_range(start, end, last, platforms)))

    @server.tool()
    def query(
        sql: Annotated[str, Field(
            description="One ClickHouse SELECT over `events` (one row per event, already "
                        "deduplicated, only this project's) and `tool_registry`. Columns "
                        "of events include event_type, event_name, timestamp, trace_id, "
                        "session_id, user_id, platform, status, error_category, latency_ms, "
                        "conversion_value. E.g. SELECT event_name, count() FROM events "
                        "WHERE event_type = 'tool_call' GROUP BY event_name.")],
        max_rows: Annotated[int, Field(ge=1, le=1000,
                                       description="At most this many rows.")] = 100,
    ) -> str:
        """Run one read-only SQL SELECT (ClickHouse dialect) over the project's events, for
        what the other tools do not answer. No other table, table function, SETTINGS or
        FORMAT; 5 s at most. Answers {columns, rows, truncated, elapsedMs}."""
        return answer(lambda client: client.query(project_id, sql, max_rows))

    return server


def _range(start: str | None, end: str | None, last: str | None,
           platforms: list[str] | None) -> dict[str, Any]:
    """The `YavioClient` range arguments of a tool's; `last` is turned into start and end.
    ValueError for a `last` that is not a duration or comes with start or end."""
    if last:
        if start or end:
            raise ValueError("Give either last, or start and end, not both.")
        now = datetime.now(timezone.utc)
        start = _iso(now - timedelta(seconds=durations.seconds(last)))
        end = _iso(now)
    return {"start": start, "end": end, "platforms": platforms or ()}


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"

