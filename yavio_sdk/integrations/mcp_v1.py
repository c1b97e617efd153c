"""The official `mcp` package, 1.x: `FastMCP` and the low-level `Server`, which have no
middleware. Three seams, all on the server instance (never on a class another server shares):

- `request_handlers`, the dict the server looks every request's handler up in: each handler we
  record is wrapped (again at every `run`, for low-level decorators applied after
  `with_yavio`, which replace their entry);
- `run`, one call per connection (stdio, an HTTP session; one per request in stateless HTTP):
  its start and end bound the session for the `connection` close event;
- each session's `send_request`, the way out for sampling and elicitation.

`initialize` is answered by the session itself, before any handler: the client's name, version,
capabilities and protocol version are read from the session (`client_params`) at the first
request after it, which is also the first request that carries the `Mcp-Session-Id` the
session id derives from over HTTP. So the `connection` open event is recorded with the
session's first request.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from yavio_sdk.integrations.outbound import observe_outbound
from yavio_sdk.integrations.registry import Registry
from yavio_sdk.intent import advertised_schema, take_context
from yavio_sdk.recorder import Recorder, ToolInfo, contents_size, timed
from yavio_sdk.tracking import install_context_property
from yavio_sdk.widget_injection import inject_into_contents

__all__ = ["install_context", "instrument"]

logger = logging.getLogger("yavio")


Handler = Callable[[Any], Awaitable[Any]]
_WRAPPED = "__yavio_wrapped__"


class _Connection:
    """One `run` of the server: a connection, and the session it carries."""

    __slots__ = ("stateless", "session_id", "__weakref__")

    def __init__(self, stateless: bool) -> None:
        self.stateless = stateless
        self.session_id: str | None = None


_connection: contextvars.ContextVar[_Connection | None] = contextvars.ContextVar(
    "yavio_mcp1_connection", default=None)


def install_context() -> None:
    """`ctx.yavio` on FastMCP's Context (also without an API key: a no-op there)."""
    from mcp.server.fastmcp import Context

    install_context_property(Context)


def instrument(server: Any, recorder: Recorder) -> None:
    """Wrap a `FastMCP` or a low-level `Server` of mcp 1.x in place."""
    from mcp.server.fastmcp import FastMCP
    from mcp.server.lowlevel.server import Server

    registry = None
    if isinstance(server, FastMCP):
        low = server._mcp_server
        registry = Registry(server)
        registry.capture_raised()
    elif isinstance(server, Server):
        low = server
    else:  # the dispatcher only sends these two
        raise TypeError(f"not an mcp 1.x server: {type(server).__name__}")
    from mcp.server.session import ServerSession

    observe_outbound(ServerSession)
    _Instrumentation(low, recorder, registry).install()


class _Instrumentation:
    def __init__(self, low: Any, recorder: Recorder, registry: Registry | None) -> None:
        import mcp.types as types
        from mcp.server.lowlevel.server import request_ctx

        self.low = low
        self.recorder = recorder
        self.registry = registry
        self._request_ctx = request_ctx
        self._types = types
        self._hooks: dict[type, Callable[[Handler, Any], Awaitable[Any]]] = {
            types.CallToolRequest: self._call_tool,
            types.ListToolsRequest: self._list_tools,
            types.ReadResourceRequest: self._read_resource,
            types.ListResourcesRequest: self._list_resources,
            types.ListResourceTemplatesRequest: self._list_resources,
            types.GetPromptRequest: self._get_prompt,
            types.ListPromptsRequest: self._list_prompts,
        }

    def install(self) -> None:
        self.wrap_handlers()
        run = self.low.run

        async def run_observed(read_stream: Any, write_stream: Any, initialization_options: Any,
                               *args: Any, **kwargs: Any) -> Any:
            # run(read, write, options, raise_exceptions=False, stateless=False)
            stateless = bool(kwargs.get("stateless", args[1] if len(args) > 1 else False))
            self.wrap_handlers()
            connection = _Connection(stateless)
            token = _connection.set(connection)
            try:
                return await run(read_stream, write_stream, initialization_options,
                                 *args, **kwargs)
            finally:
                _connection.reset(token)
                if connection.session_id is not None and not stateless:
                    self.recorder.session_closed(connection.session_id)

        self.low.run = run_observed

    def wrap_handlers(self) -> None:
        handlers = self.low.request_handlers
        for request_type, hook in self._hooks.items():
            handler = handlers.get(request_type)
            if handler is not None and not getattr(handler, _WRAPPED, False):
                handlers[request_type] = _wrapped(handler, hook)

    # -- sessions --------------------------------------------------------------------------------

    def _request(self) -> tuple[str, Any, dict[str, Any]]:
        """The session id, headers and `_meta` of the request being handled."""
        ctx = self._request_ctx.get()
        connection = _connection.get()
        persistent = connection is not None and not connection.stateless
        meta = getattr(ctx.meta, "model_extra", None) or {}
        headers = getattr(ctx.request, "headers", None)
        params = ctx.session.client_params
        info = getattr(params, "clientInfo", None)
        registry = self.registry
        session_id = self.recorder.enter_session(
            headers=headers, meta=meta, connection=connection if persistent else None,
            client_name=getattr(info, "name", None), client_version=getattr(info, "version", None),
            protocol_version=getattr(params, "protocolVersion", None),
            capabilities=getattr(params, "capabilities", None),
            tools=registry.tools if registry is not None else None)
        if persistent and connection.session_id is None:
            connection.session_id = session_id
        return session_id, headers, meta

    # -- hooks -----------------------------------------------------------------------------------

    async def _call_tool(self, handler: Handler, request: Any) -> Any:
        recorder = self.recorder
        try:
            session_id, headers, meta = self._request()
            params = request.params
            name, arguments = params.name, params.arguments
            info = recorder.tool_info(name)
            if info is None and self.registry is not None:  # not listed yet: ask the server once
                info = self.registry.tool(name)
                if info is not None:
                    recorder.remember_tool(info)
            context = None
            if recorder.config.intent and info is not None:
                rest, context = take_context(arguments, info.input_schema)
                if rest is not arguments:
                    request = request.model_copy(
                        update={"params": params.model_copy(update={"arguments": rest})})
                    arguments = rest
            call = recorder.tool_call(
                session_id, name, arguments, meta=meta, headers=headers, context=context,
                tool_meta=info.meta if info is not None else None)
        except Exception:
            logger.warning("yavio: tool call not recorded", exc_info=True)
            return await handler(request)
        with call:
            result = await handler(request)
        root = getattr(result, "root", result)
        if not isinstance(root, self._types.CallToolResult):
            await call.returned(None)
            return result
        yavio_meta = await call.returned(
            root.content, is_error=root.isError, structured=root.structuredContent,
            result_meta=root.meta)
        if yavio_meta is not None:
            root.meta = {**(root.meta or {}), "yavio": yavio_meta}
        return result

    async def _list_tools(self, handler: Handler, request: Any) -> Any:
        result = await handler(request)
        if request is None:  # the server asks itself (its tool cache missed): not a client's
            return result
        try:
            session_id, _, _ = self._request()
            root = result.root
            tools = list(root.tools)
            capabilities = getattr(self._request_ctx.get().session.client_params,
                                   "capabilities", None)
            self.recorder.tools_listed(
                session_id,
                [ToolInfo(tool.name, tool.description, tool.inputSchema, tool.meta)
                 for tool in tools],
                client_capabilities=capabilities)
            if self.recorder.config.intent:
                required = self.recorder.config.intent_required
                root.tools = [_with_context(tool, required) for tool in tools]
        except Exception:
            logger.warning("yavio: tools/list not recorded", exc_info=True)
        return result

    async def _read_resource(self, handler: Handler, request: Any) -> Any:
        try:
            session_id, _, _ = self._request()
        except Exception:
            logger.warning("yavio: resource read not recorded", exc_info=True)
            return await handler(request)
        uri = str(request.params.uri)
        started = time.perf_counter()
        ok = False
        result = None
        try:
            result = await handler(request)
            ok = True
            return result
        finally:
            latency_ms = (time.perf_counter() - started) * 1000.0
            contents = getattr(getattr(result, "root", None), "contents", None)
            size, mime = contents_size(contents)
            name = (self.registry.template_of(uri) if self.registry else None) or uri
            self.recorder.resource_accessed(session_id, "read", name, latency_ms=latency_ms,
                                            ok=ok, size_bytes=size, mime_type=mime)
            if ok and self.recorder.inject_widget_config and contents:
                await inject_into_contents(self.recorder, session_id, list(contents))

    async def _list_resources(self, handler: Handler, request: Any) -> Any:
        method = getattr(request, "method", "resources/list")
        return await self._timed(handler, request, lambda session_id, ms, ok:
                                 self.recorder.resource_accessed(
                                     session_id, "list", method, latency_ms=ms, ok=ok))

    async def _get_prompt(self, handler: Handler, request: Any) -> Any:
        params = request.params
        keys = list(params.arguments or {})
        return await self._timed(handler, request, lambda session_id, ms, ok:
                                 self.recorder.prompt_used(
                                     session_id, "get", params.name, latency_ms=ms, ok=ok,
                                     argument_keys=keys))

    async def _list_prompts(self, handler: Handler, request: Any) -> Any:
        return await self._timed(handler, request, lambda session_id, ms, ok:
                                 self.recorder.prompt_used(
                                     session_id, "list", "prompts/list", latency_ms=ms, ok=ok))

    async def _timed(self, handler: Handler, request: Any,
                     record: Callable[[str, float, bool], None]) -> Any:
        try:
            session_id, _, _ = self._request()
        except Exception:
            logger.warning("yavio: request not recorded", exc_info=True)
            return await handler(request)
        return await timed(handler(request), lambda ms, ok: record(session_id, ms, ok))


def _wrapped(handler: Handler, hook: Callable[[Handler, Any], Awaitable[Any]]) -> Handler:
    async def observed(request: Any) -> Any:
        return await hook(handler, request)

    setattr(observed, _WRAPPED, True)
    return observed


def _with_context(tool: Any, required: bool) -> Any:
    schema = advertised_schema(tool.inputSchema, required=required)
    return tool if schema is None else tool.model_copy(update={"inputSchema": schema})
