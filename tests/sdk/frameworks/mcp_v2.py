"""The booking test server on mcp 2.x (`MCPServer`, and a low-level `Server`)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import mcp.types as types
from mcp import Client, StdioServerParameters
from mcp.server import MCPServer
from mcp.server.lowlevel.server import Server
from mcp.server.mcpserver import Context

from tests.sdk.frameworks import CallResult, booking
from yavio_sdk import with_yavio

MODES = ("legacy", "modern")
_CLIENT_MODES = {"legacy": "legacy", "modern": "auto"}


def build_server(**yavio_options: Any) -> MCPServer:
    server = MCPServer("booking-test")
    for tool in (booking.search_rooms, booking.whoami, booking.crash):
        server.tool()(tool)
    server.tool(meta=booking.WIDGET_META)(booking.book_room)

    @server.tool()
    def soft_fail() -> types.CallToolResult:
        """Answer with an error result."""
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=booking.SOFT_FAILURE)], is_error=True)

    @server.tool()
    async def ask(ctx: Context) -> str:
        """Ask the client's model, then the user."""
        sampled = await ctx.session.create_message(
            [types.SamplingMessage(role="user",
                                   content=types.TextContent(type="text", text="Describe it"))],
            max_tokens=20)
        answer = await ctx.elicit("Book it?", booking.Confirm)
        ctx.yavio.step("asked")
        return f"{sampled.model}/{answer.action}"

    server.resource(booking.WIDGET_URI, mime_type=booking.WIDGET_MIME)(booking.widget)
    server.resource("hotel://rooms/{room_id}")(booking.room)
    server.prompt()(booking.plan_stay)
    return with_yavio(server, **yavio_options) if yavio_options else server


def build_lowlevel_server(**yavio_options: Any) -> Server:
    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[types.Tool(
            name="echo", description="Echo the text.",
            input_schema={"type": "object", "properties": {"text": {"type": "string"}},
                          "required": ["text"]})])

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        text = (params.arguments or {}).get("text", "")
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)])

    server = Server("lowlevel-test", on_list_tools=list_tools, on_call_tool=call_tool)
    return with_yavio(server, **yavio_options) if yavio_options else server


class _Client:
    def __init__(self, client: Client) -> None:
        self.client = client

    async def tools(self) -> dict[str, dict[str, Any]]:
        return {tool.name: tool.input_schema for tool in (await self.client.list_tools()).tools}

    async def call(self, name: str, arguments: dict[str, Any] | None = None,
                   meta: dict[str, Any] | None = None) -> CallResult:
        result = await self.client.call_tool(name, arguments or {}, meta=meta)
        text = "\n".join(block.text for block in result.content if block.type == "text")
        return CallResult(result.is_error, text, dict(result.meta or {}))

    async def read(self, uri: str) -> str:
        return (await self.client.read_resource(uri)).contents[0].text

    async def prompt(self, name: str, arguments: dict[str, str]) -> str:
        result = await self.client.get_prompt(name, arguments)
        return result.messages[0].content.text


async def _sampling(context: Any, params: types.CreateMessageRequestParams,
                    ) -> types.CreateMessageResult:
    answer = booking.sampling_answer()
    return types.CreateMessageResult(
        role="assistant", model=answer["model"],
        content=types.TextContent(type="text", text=answer["text"]))


async def _elicitation(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"confirm": True})


def _client(target: Any, mode: str, client_name: str) -> Client:
    return Client(target, mode=_CLIENT_MODES[mode], sampling_callback=_sampling,
                  elicitation_callback=_elicitation,
                  client_info=types.Implementation(name=client_name, version="1.0"))


@asynccontextmanager
async def connect(server: Any, *, mode: str = "legacy",
                  client_name: str = "claude-ai") -> AsyncIterator[_Client]:
    async with _client(server, mode, client_name) as client:
        yield _Client(client)


def http_app(server: Any) -> Any:
    return server.streamable_http_app()


@asynccontextmanager
async def connect_http(url: str, *, mode: str = "legacy", client_name: str = "claude-ai",
                       headers: dict[str, str] | None = None) -> AsyncIterator[_Client]:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    async with httpx2.AsyncClient(headers=headers or {}) as http:
        transport = streamable_http_client(f"{url}/mcp", http_client=http)
        async with _client(transport, mode, client_name) as client:
            yield _Client(client)


@asynccontextmanager
async def connect_stdio(env: dict[str, str], *, mode: str = "legacy",
                        client_name: str = "claude-ai") -> AsyncIterator[_Client]:
    parameters = StdioServerParameters(
        command=sys.executable, args=["-m", "tests.sdk.frameworks.stdio_server", "mcp_v2"],
        env=env)
    async with _client(parameters, mode, client_name) as client:
        yield _Client(client)


def run_stdio(server: Any) -> None:
    server.run("stdio")
