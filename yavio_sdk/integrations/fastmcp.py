"""The standalone `fastmcp` package, 4.x, through its middleware (`server.add_middleware`).

fastmcp runs on mcp 2.x, so sessions follow the same rule (`mcp_v2.session_id_of`) and the
server's requests to the client go through mcp's `ServerSession.send_request`. Differences
that shape this module: a tool that raises reaches the middleware as `ToolError` (the original
as `__cause__`) and fastmcp answers `isError` outside the middleware; the middleware's
`Context` is not the one the tool gets (so `ctx.yavio` is a class property, as elsewhere); a
programmatic call (`await server.call_tool(...)`) has no request and is not recorded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from yavio_sdk.integrations.mcp_v2 import session_id_of
from yavio_sdk.integrations.outbound import observe_outbound
from yavio_sdk.intent import advertised_schema, take_context
from yavio_sdk.recorder import Recorder, ToolInfo, contents_size, timed
from yavio_sdk.tracking import install_context_property
from yavio_sdk.widget_injection import inject_into_contents

__all__ = ["install_context", "instrument"]

logger = logging.getLogger("yavio")


CallNext = Callable[[Any], Awaitable[Any]]


def install_context() -> None:
    """`ctx.yavio` on fastmcp's Context (also without an API key: a no-op there)."""
    from fastmcp import Context

    install_context_property(Context)


def instrument(server: Any, recorder: Recorder) -> None:
    """Add Yavio's middleware to a fastmcp `FastMCP` server."""
    from fastmcp.server.middleware import Middleware
    from mcp.server.session import ServerSession

    observe_outbound(ServerSession)
    server.add_middleware(_middleware_class(Middleware)(recorder))


def _middleware_class(base: type) -> type:
    """Yavio's middleware, subclassing fastmcp's `Middleware` (imported only when used)."""

    class YavioMiddleware(base):  # type: ignore[misc, valid-type]
        """Records one server's requests; its own failures never reach the request. (fastmcp
        passes `call_next` by keyword: the parameter name is part of the contract.)"""

        def __init__(self, recorder: Recorder) -> None:
            self.recorder = recorder

        def _session(self, context: Any) -> tuple[str, Any] | None:
            """The request's session id and request context; None for a programmatic call
            (no client, no session) or when the session cannot be told."""
            try:
                request_context = getattr(context.fastmcp_context, "request_context", None)
                if request_context is None:
                    return None
                session_id = session_id_of(
                    self.recorder, request_context.session, request_context.request,
                    request_context.meta, request_context.protocol_version)
            except Exception:
                logger.warning("yavio: could not tell the request's session; not recorded",
                               exc_info=True)
                return None
            return session_id, request_context

        async def on_call_tool(self, context: Any, call_next: CallNext) -> Any:
            recorder = self.recorder
            found = self._session(context)
            if found is None:
                return await call_next(context)
            session_id, request_context = found
            try:
                message = context.message
                name, arguments = message.name, message.arguments
                info = recorder.tool_info(name)
                if info is None:
                    # fastmcp's lookup is async and runs its transforms: once per tool, then
                    # the catalog (refreshed by every tools/list) answers.
                    tool = await context.fastmcp_context.fastmcp.get_tool(name)
                    if tool is not None:
                        info = ToolInfo(tool.name, tool.description, tool.parameters, tool.meta)
                        recorder.remember_tool(info)
                intent = None
                if recorder.config.intent and info is not None:
                    rest, intent = take_context(arguments, info.input_schema)
                    if rest is not arguments:
                        context = context.copy(
                            message=message.model_copy(update={"arguments": rest}))
                        arguments = rest
                headers = getattr(request_context.request, "headers", None)
                call = recorder.tool_call(
                    session_id, name, arguments, meta=request_context.meta, headers=headers,
                    context=intent, tool_meta=info.meta if info is not None else None)
            except Exception:
                logger.warning("yavio: tool call not recorded", exc_info=True)
                return await call_next(context)
            with call:
                result = await call_next(context)
            from fastmcp.tools.base import InputRequiredToolResult, ToolResult

            if isinstance(result, InputRequiredToolResult):
                call.abandon()
                return result
            if not isinstance(result, ToolResult):
                await call.returned(None)
                return result
            yavio_meta = await call.returned(
                result.content, is_error=result.is_error,
                structured=result.structured_content, result_meta=result.meta)
            if yavio_meta is None:
                return result
            meta = {**(result.meta or {}), "yavio": yavio_meta}
            if result._raw_mcp_result is not None:
                # A tool that returned an mcp CallToolResult is sent as that; a copy with new
                # meta would be ignored, so rebuild it.
                return ToolResult(content=result.content,
                                  structured_content=result.structured_content, meta=meta,
                                  is_error=result.is_error)
            return result.model_copy(update={"meta": meta})

        async def on_list_tools(self, context: Any, call_next: CallNext) -> Any:
            tools = await call_next(context)
            found = self._session(context)
            if found is None:
                return tools
            session_id, request_context = found
            try:
                listed = list(tools)
                self.recorder.tools_listed(
                    session_id,
                    [ToolInfo(tool.name, tool.description, tool.parameters, tool.meta)
                     for tool in listed],
                    client_capabilities=getattr(request_context.session,
                                                "client_capabilities", None))
                if self.recorder.config.intent:
                    required = self.recorder.config.intent_required
                    return [_with_context(tool, required) for tool in listed]
            except Exception:
                logger.warning("yavio: tools/list not recorded", exc_info=True)
            return tools

        async def on_read_resource(self, context: Any, call_next: CallNext) -> Any:
            found = self._session_or_none(context)
            if found is None:
                return await call_next(context)
            uri = str(context.message.uri)
            name = await _template_of(context, uri) or uri
            started = time.perf_counter()
            ok = False
            result = None
            try:
                result = await call_next(context)
                ok = True
                return result
            finally:
                contents = getattr(result, "contents", None)
                size, mime = contents_size(contents)
                self.recorder.resource_accessed(
                    found, "read", name, latency_ms=(time.perf_counter() - started) * 1000.0,
                    ok=ok, size_bytes=size, mime_type=mime)
                if ok and self.recorder.inject_widget_config and contents:
                    await inject_into_contents(self.recorder, found, list(contents))

        async def on_list_resources(self, context: Any, call_next: CallNext) -> Any:
            return await self._timed(context, call_next, lambda session_id, ms, ok:
                                     self.recorder.resource_accessed(
                                         session_id, "list", "resources/list", latency_ms=ms,
                                         ok=ok))

        async def on_list_resource_templates(self, context: Any, call_next: CallNext) -> Any:
            return await self._timed(context, call_next, lambda session_id, ms, ok:
                                     self.recorder.resource_accessed(
                                         session_id, "list", "resources/templates/list",
                                         latency_ms=ms, ok=ok))

        async def on_get_prompt(self, context: Any, call_next: CallNext) -> Any:
            message = context.message
            keys = list(message.arguments or {})
            return await self._timed(context, call_next, lambda session_id, ms, ok:
                                     self.recorder.prompt_used(
                                         session_id, "get", message.name, latency_ms=ms,
                                         ok=ok, argument_keys=keys))

        async def on_list_prompts(self, context: Any, call_next: CallNext) -> Any:
            return await self._timed(context, call_next, lambda session_id, ms, ok:
                                     self.recorder.prompt_used(
                                         session_id, "list", "prompts/list", latency_ms=ms,
                                         ok=ok))

        def _session_or_none(self, context: Any) -> str | None:
            found = self._session(context)
            return found[0] if found is not None else None

        async def _timed(self, context: Any, call_next: CallNext,
                         record: Callable[[str, float, bool], None]) -> Any:
            session_id = self._session_or_none(context)
            if session_id is None:
                return await call_next(context)
            return await timed(call_next(context), lambda ms, ok: record(session_id, ms, ok))

    return YavioMiddleware


async def _template_of(context: Any, uri: str) -> str | None:
    """The URI template `uri` matches, if any: a read is named by its template, not its item
    (as on mcp's servers). fastmcp's lookup runs no middleware."""
    try:
        template = await context.fastmcp_context.fastmcp.get_resource_template(uri)
        return str(template.uri_template) if template is not None else None
    except Exception:
        logger.warning("yavio: could not tell the resource's template; named by its URI",
                       exc_info=True)
        return None


def _with_context(tool: Any, required: bool) -> Any:
    schema = advertised_schema(tool.parameters, required=required)
    return tool if schema is None else tool.model_copy(update={"parameters": schema})
