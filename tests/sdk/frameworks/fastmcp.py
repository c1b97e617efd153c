"""The booking test server on the standalone `fastmcp` package, 4.x (`FastMCP`; it has no
low-level server of its own)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import mcp.types as types
from fastmcp import Client, Context, FastMCP
from fastmcp.tools.base import ToolResult

from tests.sdk.frameworks import CallResult, booking
from yavio_sdk import with_yavio

MODES = ("legacy", "modern")
_CLIENT_MODES = {"legacy": "legacy", "modern": "auto"}


def build_server(**yavio_options: Any) -> FastMCP:
    server = FastMCP("booking-test")
    for tool in (booking.search_rooms, booking.whoami, booking.crash):
        server.tool()(tool)
    server.tool(meta=booking.WIDGET_META)(booking.book_room)

    @server.tool()
    def soft_fail() -> ToolResult:
        """Answer with an error result."""
        return ToolResult(
            content=[types.TextContent(type="text", text=booking.SOFT_FAILURE)], is_error=True)

    @server.tool()
    async def ask(ctx: Context) -> str:
        """Ask the client's model, then the user."""
        # fastmcp 4.1 has no ctx.sample: sampling through the session (legacy connections)
        sampled = await ctx.session.create_message(
            [types.SamplingMessage(role="user",
                                   content=types.TextContent(type="text", text="Describe it"))],
            max_tokens=20, related_request_id=ctx.request_id)
        answer = await ctx.elicit("Book it?", booking.Confirm)
        ctx.yavio.step("asked")
        return f"{sampled.model}/{answer.action}"

    server.resource(booking.WIDGET_URI, mime_type=booking.WIDGET_MIME)(booking.widget)
    server.resource("hotel://rooms/{room_id}")(booking.room)
    server.prompt()(booking.plan_stay)
    return with_yavio(server, **yavio_options) if yavio_options else server


def build_lowlevel_server(**yavio_options: Any) -> None:
    return None


class _Client:
    def __init__(self, client: Client) -> None:
        self.client = client

    async def tools(self) -> dict[str, dict[str, Any]]:
        return {tool.name: tool.input_schema for tool in await self.client.list_tools()}

    async def call(self, name: str, arguments: dict[str, Any] | None = None,
                   meta: dict[str, Any] | None = None) -> CallResult:
        result = await self.client.call_tool(name, arguments or {}, meta=meta,
                                             raise_on_error=False)
        text = "\n".join(block.text for block in result.content if block.type == "text")
        return CallResult(result.is_error, text, dict(result.meta or {}))

    async def read(self, uri: str) -> str:
        return (await self.client.read_resource(uri))[0].text

    async def prompt(self, name: str, arguments: dict[str, str]) -> str:
        result = await self.client.get_prompt(name, arguments)
        return result.messages[0].content.text


async def _sampling(messages: Any, params: types.CreateMessageRequestParams,
                    context: Any) -> types.CreateMessageResult:
    answer = booking.sampling_answer()
    return types.CreateMessageResult(
        role="assistant", model=answer["model"],
        content=types.TextContent(type="text", text=answer["text"]))


async def _elicitation(message: str, response_type: Any, params: types.ElicitRequestParams,
                       context: Any) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"confirm": True})


def _client(target: Any, mode: str, client_name: str) -> Client:
    return Client(target, mode=_CLIENT_MODES[mode], sampling_handler=_sampling,
                  elicitation_handler=_elicitation,
                  client_info=types.Implementation(name=client_name, version="1.0"))


@asynccontextmanager
async def connect(server: Any, *, mode: str = "legacy",
                  client_name: str = "claude-ai") -> AsyncIterator[_Client]:
    async with _client(server, mode, client_name) as client:
        yield _Client(client)


def http_app(server: Any) -> Any:
    return server.http_app()


@asynccontextmanager
async def connect_http(url: str, *, mode: str = "legacy", client_name: str = "claude-ai",
                       headers: dict[str, str] | None = None) -> AsyncIterator[_Client]:
    from fastmcp.client.transports import StreamableHttpTransport

    transport = StreamableHttpTransport(f"{url}/mcp", headers=headers or {})
    async with _client(transport, mode, client_name) as client:
        yield _Client(client)


@asynccontextmanager
async def connect_stdio(env: dict[str, str], *, mode: str = "legacy",
                        client_name: str = "claude-ai") -> AsyncIterator[_Client]:
    from fastmcp.client.transports import StdioTransport

    # keep_alive=False: the subprocess ends with the session, as a host's would
    transport = StdioTransport(
        sys.executable, ["-m", "tests.sdk.frameworks.stdio_server", "fastmcp"], env=env,
        keep_alive=False)
    async with _client(transport, mode, client_name) as client:
        yield _Client(client)


def run_stdio(server: Any) -> None:
    server.run(show_banner=False)
