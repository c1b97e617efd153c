"""`yavio mcp` as a coding agent runs it: a subprocess on stdio, a real MCP client session,
against the real server (aiohttp, embedded Postgres, chdb). The tools answer the figures of the
events stored for the tenant; another workspace's trace or project is a tool error, not data;
stdout carries nothing but the protocol."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from typer.testing import CliRunner

from tests.cli.test_commands_against_the_server import home_of
from tests.ingest.conftest import (  # noqa: F401  (fixtures, found by pytest in this module)
    IngestServer,
    ingest_server,
    settings_overrides,
)
from tests.ingest.test_overview import AFTER, DAY
from tests.ingest.test_query import two_tenants
from yavio_cli.main import app

TOOLS = {"overview", "tools", "errors", "trace", "funnel", "query"}
RANGE = {"start": f"{DAY}T00:00:00Z", "end": f"{AFTER}T00:00:00Z"}


class Agent:
    """A client session with `yavio mcp`."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session

    async def call(self, tool: str, **arguments: Any) -> tuple[bool, str]:
        """(is it an error, the text it answered)."""
        result = await self.session.call_tool(tool, arguments)
        return result.is_error, "".join(block.text for block in result.content
                                        if block.type == "text")

    async def data(self, tool: str, **arguments: Any) -> Any:
        failed, text = await self.call(tool, **arguments)
        assert not failed, (tool, text)
        return json.loads(text)


@asynccontextmanager
async def agent(home: Path, *options: str) -> AsyncIterator[Agent]:
    parameters = StdioServerParameters(command=sys.executable,
                                       args=["-m", "yavio_cli", "mcp", *options],
                                       env={"YAVIO_HOME": str(home)})
    async with stdio_client(parameters) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            yield Agent(session)


def stdout_garbage(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the MCP client could not read as a protocol message on the server's stdout (it
    logs each such line as an error)."""
    return [record.getMessage() for record in caplog.records
            if record.name.startswith("mcp.client") and record.levelno >= logging.ERROR]


async def test_an_agent_reads_the_projects_analytics_and_nothing_of_other_tenants(
        ingest_server: IngestServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    mine, theirs = two_tenants(ingest_server)
    async with agent(home_of(tmp_path, ingest_server, mine, "viewer")) as yavio:
        listed = (await yavio.session.list_tools()).tools
        assert {tool.name for tool in listed} == TOOLS
        assert all(tool.description for tool in listed)
        query_schema = next(tool.input_schema for tool in listed if tool.name == "query")
        assert query_schema["required"] == ["sql"]

        # The tenant's figures (tests/ingest/test_query.py): 4 tool calls, e1 stored twice
        # counted once, 1 of them failed; sessions ses_1, ses_2, ses_3; one 100 EUR booking.
        overview = await yavio.data("overview", **RANGE)
        kpis = {name: kpi["value"] for name, kpi in overview["kpis"].items()}
        assert (kpis["invocations"], kpis["sessions"], kpis["errorRate"],
                kpis["conversions"], kpis["revenue"]) == (4, 3, 0.25, 1, {"EUR": 100.0})
        # The same range said as "the last 7 days" (the events are 2 days old).
        recent = await yavio.data("overview", last="7d")
        assert recent["kpis"]["invocations"]["value"] == 4

        tools = await yavio.data("tools", **RANGE)
        assert {tool["name"]: tool["invocations"] for tool in tools["tools"]} == {
            "search_rooms": 3, "book_room": 1}

        # ses_2 booked at 03:00 and paid at 03:01, within the hour; ses_1 and ses_3 searched
        # and never booked.
        booked = await yavio.data("funnel", steps=["tool_call:book_room", "conversion"],
                                  by="session", window="1h", **RANGE)
        assert (booked["window"], [step["entered"] for step in booked["steps"]],
                booked["overallConversion"]) == (3600, [1, 1], 1.0)
        searched = await yavio.data("funnel", steps=["tool_call:search_rooms",
                                                     "tool_call:book_room"],
                                    by="session", split_by_platform=True, **RANGE)
        assert [step["entered"] for step in searched["steps"]] == [2, 0]
        assert set(searched["steps"][1]["droppedSamples"]) == {"ses_1", "ses_3"}
        assert {entry["platform"] for entry in searched["byPlatform"]} == {"chatgpt", "claude"}

        errors = await yavio.data("errors", **RANGE)
        assert (errors["invocations"], errors["errors"]) == (4, 1)
        failed_trace = errors["recent"][0]["traceId"]
        story = await yavio.data("trace", trace_id=failed_trace)
        assert [(event["type"], event["name"], event["status"])
                for event in story["events"]] == [("tool_call", "search_rooms", "error")]

        answer = await yavio.data("query", sql="SELECT event_name, count() FROM events "
                                               "WHERE event_type = 'tool_call' "
                                               "GROUP BY event_name ORDER BY event_name")
        assert answer["rows"] == [["book_room", 1], ["search_rooms", 3]]
        assert answer["truncated"] is False
        limited = await yavio.data("query", sql="SELECT event_id FROM events", max_rows=2)
        assert (len(limited["rows"]), limited["truncated"]) == (2, True)

        # Errors of the API are tool errors carrying its message.
        failed, text = await yavio.call("query", sql="SELECT * FROM system.tables")
        assert failed and "YAVIO-3010" in text and "system.tables cannot" in text
        failed, text = await yavio.call("query", sql=f"SELECT count() FROM events WHERE "
                                                     f"project_id = '{theirs.project_id}'")
        assert not failed and json.loads(text)["rows"] == [[0]]
        failed, text = await yavio.call("overview", last="a week")
        assert failed and "not a duration" in text
        # tr_s is a trace of the other workspace's project.
        failed, text = await yavio.call("trace", trace_id="tr_s")
        assert failed and "No event of this trace in the project" in text

    # Pointed at the other workspace's project by id, it answers nothing of it either.
    async with agent(home_of(tmp_path, ingest_server, mine, "viewer"),
                     "--project", theirs.project_id) as yavio:
        for tool, arguments in (("overview", RANGE), ("trace", {"trace_id": "tr_s"}),
                                ("query", {"sql": "SELECT count() FROM events"})):
            failed, text = await yavio.call(tool, **arguments)
            assert failed and "YAVIO-3004" in text, (tool, text)
    assert stdout_garbage(caplog) == []


def test_the_help_says_how_to_add_it_to_claude_code_and_cursor() -> None:
    shown = CliRunner().invoke(app, ["mcp", "--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0
    assert "claude mcp add yavio -- yavio mcp" in shown.output
    assert '{"mcpServers": {"yavio": {"command": "yavio", "args": ["mcp"]}}}' in shown.output
