"""The official `mcp` package, 2.x: `MCPServer` and the low-level `Server`, through the server's
`middleware` list (provisional in mcp 2.x: tested on 2.3).

The middleware sees every inbound request with its raw params and the serialized result. It
records the events, strips the intent `context` argument before the framework validates the
arguments, adds `context` to the listed schemas (copies) and `_meta.yavio` to widget results.

Sessions (see `yavio_sdk.sessions`): a handshake-era connection that lives as long as its
session (stdio, stateful HTTP) is one session, closed when the connection ends; on the
handshake-less 2026-07-28 protocol and stateless HTTP every request arrives on a connection of
its own, so requests are grouped by `Mcp-Session-Id`, `openai/session`, or client identity.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

from yavio_sdk.integrations.outbound import observe_outbound
from yavio_sdk.integrations.registry import Registry
from yavio_sdk.intent import advertised_schema, take_context
from yavio_sdk.recorder import Recorder, ToolInfo, contents_size, timed
from yavio_sdk.sender import EXIT_FLUSH_SECONDS
from yavio_sdk.tracking import install_context_property
from yavio_sdk.widget_injection import inject_into_contents

__all__ = ["install_context", "instrument", "session_id_of"]

logger = logging.getLogger("yavio")


_SESSION_KEY = "yavio_session_id"  # in a connection's `state`, the scratch space mcp gives it

CallNext = Callable[[Any], Awaitable[Any]]


def install_context() -> None:
    """`ctx.yavio` on MCPServer's Context (also without an API key: a no-op there)."""
    from mcp.server.mcpserver import Context

    install_context_property(Context)


def instrument(server: Any, recorder: Recorder) -> None:
    """Add Yavio's middleware to an `MCPServer` or a low-level `Server` of mcp 2.x."""
    from mcp.server.lowlevel.server import Server
    from mcp.server.mcpserver import MCPServer

    registry = None
    if isinstance(server, MCPServer):
        low = server._lowlevel_server
        registry = Registry(server)
        registry.capture_raised()
    elif isinstance(server, Server):
        low = server
    else:  # the dispatcher only sends these two
        raise TypeError(f"not an mcp 2.x server: {type(server).__name__}")
    from mcp.server.session import ServerSession

    observe_outbound(ServerSession)
    low.middleware.append(YavioMiddleware(recorder, registry))
    _flush_at_shutdown(low, recorder)


def _flush_at_shutdown(low: Any, recorder: Recorder) -> None:
    """Flush when the server's lifespan ends (a stdio connection, an HTTP app's shutdown).
    The exit flush is not enough: after a graceful shutdown on SIGTERM (how containers stop),
    uvicorn raises the signal again and the process dies without running `atexit`."""
    import anyio

    lifespan = low.lifespan

    @contextlib.asynccontextmanager
    async def lifespan_then_flush(app: Any) -> AsyncIterator[Any]:
        try:
            async with lifespan(app) as state:
                yield state
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(recorder.sender.flush, EXIT_FLUSH_SECONDS)

    low.lifespan = lifespan_then_flush


def session_id_of(
    recorder: Recorder, session: Any, request: Any, meta: Mapping[str, Any] | None,
    protocol_version: str | None,
    tools: Callable[[], Iterable[ToolInfo]] | None = None,
) -> str:
    """The session id of a request to an mcp 2.x server (fastmcp's too): `session` is the
    request's `ServerSession`, `request` the Starlette request on HTTP (else None)."""
    connection = getattr(session, "_connection", None)
    state = getattr(connection, "state", None)
    if state is not None:  # a session-long connection seen before: its id, at once
        known = state.get(_SESSION_KEY)
        if known is not None:
            return known
    # A handshake-era connection lasts the whole session on stdio and stateful HTTP; a
    # stateless HTTP connection (no session id) and every 2026-07-28 one last one request.
    persistent = state is not None and protocol_version in _handshake_versions() \
        and (request is None or getattr(connection, "session_id", None) is not None)
    params = session.client_params
    info = getattr(params, "client_info", None)
    session_id = recorder.enter_session(
        headers=getattr(request, "headers", None), meta=meta,
        connection=connection if persistent else None,
        client_name=getattr(info, "name", None), client_version=getattr(info, "version", None),
        protocol_version=protocol_version,
        capabilities=getattr(session, "client_capabilities", None), tools=tools)
    if persistent:
        state[_SESSION_KEY] = session_id
        connection.exit_stack.callback(recorder.session_closed, session_id)
    return session_id


@functools.cache
def _handshake_versions() -> frozenset[str]:
    from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

    return frozenset(HANDSHAKE_PROTOCOL_VERSIONS)


class YavioMiddleware:
    """The `ServerMiddleware` that records one server's requests. Its own failures never reach
    the request: anything it cannot do, it skips, and the request goes on."""

    def __init__(self, recorder: Recorder, registry: Registry | None) -> None:
        self.recorder = recorder
        self._registry = registry
        self._tools = registry.tools if registry is not None else None
        self._handlers: dict[str, Callable[[Any, str, CallNext], Awaitable[Any]]] = {
            "tools/call": self._call_tool,
            "tools/list": self._list_tools,
            "resources/read": self._read_resource,
            "resources/list": self._list_resources,
            "resources/templates/list": self._list_resources,
            "prompts/get": self._get_prompt,
            "prompts/list": self._list_prompts,
        }

    async def __call__(self, ctx: Any, call_next: CallNext) -> Any:
        handler = self._handlers.get(ctx.method)
        if handler is None or ctx.request_id is None:
            return await call_next(ctx)
        try:
            session_id = session_id_of(self.recorder, ctx.session, ctx.request, ctx.meta,
                                       ctx.protocol_version, self._tools)
        except Exception:
            logger.warning("yavio: could not tell the request's session; not recorded",
                           exc_info=True)
            return await call_next(ctx)
        return await handler(ctx, session_id, call_next)

    async def _call_tool(self, ctx: Any, session_id: str, call_next: CallNext) -> Any:
        recorder = self.recorder
        try:
            params = ctx.params or {}
            name = params.get("name")
            arguments = params.get("arguments")
            info = recorder.tool_info(name)
            if info is None and self._registry is not None:  # not listed yet: ask the server once
                info = self._registry.tool(name)
                if info is not None:
                    recorder.remember_tool(info)
            context = None
            if recorder.config.intent and info is not None:
                rest, context = take_context(arguments, info.input_schema)
                if rest is not arguments:
                    ctx = dataclasses.replace(ctx, params={**params, "arguments": rest})
                    arguments = rest
            call = recorder.tool_call(
                session_id, str(name), arguments, meta=ctx.meta,
                headers=getattr(ctx.request, "headers", None), context=context,
                tool_meta=info.meta if info is not None else None)
        except Exception:
            logger.warning("yavio: tool call not recorded", exc_info=True)
            return await call_next(ctx)
        with call:
            _record_input_responses(recorder, session_id, params.get("inputResponses"))
            result = await call_next(ctx)
        if not isinstance(result, dict):
            await call.returned(None)
            return result
        if result.get("resultType") == "input_required":
            call.abandon()
            return result
        yavio_meta = await call.returned(
            result.get("content"), is_error=bool(result.get("isError")),
            structured=result.get("structuredContent"), result_meta=result.get("_meta"))
        if yavio_meta is not None:
            result["_meta"] = {**(result.get("_meta") or {}), "yavio": yavio_meta}
        return result

    async def _list_tools(self, ctx: Any, session_id: str, call_next: CallNext) -> Any:
        result = await call_next(ctx)
        try:
            listed = result.get("tools") if isinstance(result, dict) else None
            if not isinstance(listed, list):
                return result
            capabilities = getattr(ctx.session, "client_capabilities", None)
            self.recorder.tools_listed(
                session_id,
                [ToolInfo(tool.get("name", ""), tool.get("description"),
                          tool.get("inputSchema"), tool.get("_meta")) for tool in listed],
                client_capabilities=capabilities)
            if self.recorder.config.intent:
                required = self.recorder.config.intent_required
                result["tools"] = [_with_context(tool, required) for tool in listed]
        except Exception:
            logger.warning("yavio: tools/list not recorded", exc_info=True)
        return result

    async def _read_resource(self, ctx: Any, session_id: str, call_next: CallNext) -> Any:
        uri = str((ctx.params or {}).get("uri", ""))
        started = time.perf_counter()
        ok = False
        result = None
        try:
            result = await call_next(ctx)
            ok = True
            return result
        finally:
            latency_ms = (time.perf_counter() - started) * 1000.0
            contents = result.get("contents") if isinstance(result, dict) else None
            size, mime = contents_size(contents)
            name = (self._registry.template_of(uri) if self._registry else None) or uri
            self.recorder.resource_accessed(session_id, "read", name, latency_ms=latency_ms,
                                            ok=ok, size_bytes=size, mime_type=mime)
            if ok and self.recorder.inject_widget_config and isinstance(contents, list):
                await inject_into_contents(self.recorder, session_id, contents)

    async def _list_resources(self, ctx: Any, session_id: str, call_next: CallNext) -> Any:
        return await self._timed(ctx, call_next, lambda ms, ok: self.recorder.resource_accessed(
            session_id, "list", ctx.method, latency_ms=ms, ok=ok))

    async def _get_prompt(self, ctx: Any, session_id: str, call_next: CallNext) -> Any:
        params = ctx.params or {}
        arguments = params.get("arguments")
        keys = list(arguments) if isinstance(arguments, dict) else []
        return await self._timed(ctx, call_next, lambda ms, ok: self.recorder.prompt_used(
            session_id, "get", str(params.get("name", "")), latency_ms=ms, ok=ok,
            argument_keys=keys))

    async def _list_prompts(self, ctx: Any, session_id: str, call_next: CallNext) -> Any:
        return await self._timed(ctx, call_next, lambda ms, ok: self.recorder.prompt_used(
            session_id, "list", ctx.method, latency_ms=ms, ok=ok))

    @staticmethod
    async def _timed(ctx: Any, call_next: CallNext, record: Callable[[float, bool], None]) -> Any:
        return await timed(call_next(ctx), record)


def _with_context(tool: Any, required: bool) -> Any:
    if not isinstance(tool, dict):
        return tool
    schema = advertised_schema(tool.get("inputSchema"), required=required)
    return tool if schema is None else {**tool, "inputSchema": schema}


def _record_input_responses(recorder: Recorder, session_id: str, responses: Any) -> None:
    """On the 2026-07-28 protocol a tool asks for sampling or elicitation by returning
    `input_required`, and the client answers with its next `tools/call`: record the answers
    (their latency is the client's and not measurable here)."""
    if not isinstance(responses, dict):
        return
    for response in responses.values():
        if not isinstance(response, dict):
            continue
        if "action" in response:
            content = response.get("content")
            recorder.elicitation_answered(
                session_id, latency_ms=None, action=str(response["action"]),
                field_names=list(content) if isinstance(content, dict) else ())
        elif "model" in response or "role" in response:
            recorder.sampling_answered(
                session_id, latency_ms=None, ok=True, model=response.get("model"),
                answer=response.get("content"))
