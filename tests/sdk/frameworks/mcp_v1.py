"""The booking test server on mcp 1.x (`FastMCP`, and a low-level `Server`)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp import ClientSession, StdioServerParameters, types
from mcp.server.fastmcp import Context, FastMCP
from mcp.server.lowlevel.server import Server

from tests.sdk.frameworks import CallResult, booking
from yavio_sdk import with_yavio

MODES = ("legacy",)  # a 1.x client speaks only the handshake protocol


def build_server(**yavio_options: Any) -> FastMCP:
    # WARNING: FastMCP logs every request at INFO, which would bury a failing test's output.
    server = FastMCP("booking-test", log_level="WARNING")
    for tool in (booking.search_rooms, booking.whoami, booking.crash):
        server.tool()(tool)
    server.tool(meta=booking.WIDGET_META)(booking.book_room)

    @server.tool()
    def soft_fail() -> types.CallToolResult:
        """Answer with an error result."""
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=booking.SOFT_FAILURE)], isError=True)

    @server.tool()
    async def ask(ctx: Context) -> str:
        """Ask the client's model, then the user."""
        # related_request_id: over HTTP the request goes out on this call's SSE stream.
        sampled = await ctx.session.create_message(
            messages=[types.SamplingMessage(
                role="user", content=types.TextContent(type="text", text="Describe it"))],
            max_tokens=20, related_request_id=ctx.request_id)
        answer = await ctx.elicit("Book it?", booking.Confirm)
        ctx.yavio.step("asked")
        return f"{sampled.model}/{answer.action}"

    server.resource(booking.WIDGET_URI, mime_type=booking.WIDGET_MIME)(booking.widget)
    server.resource("hotel://rooms/{room_id}")(booking.room)
    server.prompt()(booking.plan_stay)
    return with_yavio(server, **yavio_options) if yavio_options else server


def build_lowlevel_server(**yavio_options: Any) -> Server:
    server: Server = Server("lowlevel-test")

    @server.list_tools()
    async def list_tools() -> list[types.Tool]:
        return [types.Tool(
            name="echo", description="Echo the text.",
            inputSchema={"type": "object", "properties": {"text": {"type": "string"}},
                         "required": ["text"]})]

    @server.call_tool()
    async def call_tool(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        text = arguments.get("text", "")
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)])

    return with_yavio(server, **yavio_options) if yavio_options else server


class _Client:
    def __init__(self, session: ClientSession) -> None:
        self.session = session

    async def tools(self) -> dict[str, dict[str, Any]]:
        return {tool.name: tool.inputSchema for tool in (await self.session.list_tools()).tools}

    async def call(self, name: str, arguments: dict[str, Any] | None = None,
                   meta: dict[str, Any] | None = None) -> CallResult:
        result = await self.session.call_tool(name, arguments or {}, meta=meta)
        text = "\n".join(block.text for block in result.content if block.type == "text")
        return CallResult(result.isError, text, dict(result.meta or {}))

    async def read(self, uri: str) -> str:
        return (await self.session.read_resource(uri)).contents[0].text

    async def prompt(self, name: str, arguments: dict[str, str]) -> str:
        result = await self.session.get_prompt(name, arguments)
        return result.messages[0].content.text


async def _sampling(context: Any, params: types.CreateMessageRequestParams,
                    ) -> types.CreateMessageResult:
    answer = booking.sampling_answer()
    return types.CreateMessageResult(
        role="assistant", model=answer["model"],
        content=types.TextContent(type="text", text=answer["text"]))


async def _elicitation(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"confirm": True})


def _client_options(client_name: str) -> dict[str, Any]:
    """The session options every transport's client gets (the callbacks make it advertise
    sampling and elicitation)."""
    return {"sampling_callback": _sampling, "elicitation_callback": _elicitation,
            "client_info": types.Implementation(name=client_name, version="1.0")}


def _legacy(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"the mcp 1.x client has no {mode!r} mode")


@asynccontextmanager
async def _session(read: Any, write: Any, client_name: str) -> AsyncIterator[_Client]:
    """A client session over a transport's streams, past the handshake."""
    async with ClientSession(read, write, **_client_options(client_name)) as session:
        await session.initialize()
        yield _Client(session)


@asynccontextmanager
async def connect(server: Any, *, mode: str = "legacy",
                  client_name: str = "claude-ai") -> AsyncIterator[_Client]:
    from mcp.shared.memory import create_connected_server_and_client_session

    _legacy(mode)
    # The in-memory session comes back already initialized.
    async with create_connected_server_and_client_session(
            server, **_client_options(client_name)) as session:
        yield _Client(session)


def http_app(server: Any) -> Any:
    return server.streamable_http_app()


@asynccontextmanager
async def connect_http(url: str, *, mode: str = "legacy", client_name: str = "claude-ai",
                       headers: dict[str, str] | None = None) -> AsyncIterator[_Client]:
    import httpx
    from mcp.client.streamable_http import streamable_http_client

    _legacy(mode)
    async with httpx.AsyncClient(headers=headers or {}) as http, \
            streamable_http_client(f"{url}/mcp", http_client=http) as (read, write, _), \
            _session(read, write, client_name) as client:
        yield client


@asynccontextmanager
async def connect_stdio(env: dict[str, str], *, mode: str = "legacy",
                        client_name: str = "claude-ai") -> AsyncIterator[_Client]:
    from mcp.client.stdio import stdio_client

    _legacy(mode)
    parameters = StdioServerParameters(
        command=sys.executable, args=["-m", "tests.sdk.frameworks.stdio_server", "mcp_v1"],
        env=env)
    async with stdio_client(parameters) as (read, write), \
            _session(read, write, client_name) as client:
        yield client


def run_stdio(server: Any) -> None:
    server.run(transport="stdio")
