"""The server events of SPEC 2 ("server, auto") built from what an integration saw, framework-free.

Each integration (`yavio_sdk.integrations.*`) knows how to intercept its framework's requests;
this module knows what to make of them. An integration resolves the request's session id, then
calls, around each request it intercepts:

    recorder.session_opened(session_id, client_name=..., ...)     # connection, phase "open"
    call = recorder.tool_call(session_id, name, arguments, meta=..., headers=...)
    with call:                                                    # times the handler; explicit
        result = await handler(...)                               # API bound to this call
    await call.returned(content, is_error=..., result_meta=...)   # tool_call (+ widget_response)
    recorder.resource_accessed(...), recorder.prompt_used(...), recorder.tools_listed(...)
    recorder.session_closed(session_id)                           # connection, phase "close"

and `sampling_answered`/`elicitation_answered` around the server's requests to the client.

Nothing here raises into the host: every public method catches, logs to the `yavio` logger and
drops the event. The only wait on a call's path is a widget tool's token mint, which starts
with the handler and is awaited after it (`MINT_TIMEOUT` at most).
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, NamedTuple

import msgspec

from yavio_sdk.config import YavioConfig
from yavio_sdk.events import (
    MAX_ERROR_MESSAGE_BYTES,
    MAX_PAYLOAD_BYTES,
    BaseEvent,
    ConnectionEvent,
    ElicitationEvent,
    PromptUsageEvent,
    ResourceAccessEvent,
    SamplingCallEvent,
    ToolCallEvent,
    ToolDiscoveryEvent,
    WidgetResponseEvent,
    format_timestamp,
)
from yavio_sdk.ids import new_trace_id
from yavio_sdk.intent import IntentFallback, intent_signals
from yavio_sdk.pii import redact, redact_text
from yavio_sdk.platform import detect_platform
from yavio_sdk.request_meta import allowed_headers
from yavio_sdk.sender import DeferredEvent
from yavio_sdk.sessions import SessionResolver
from yavio_sdk.tool_calls import (
    content_text,
    describe_content,
    error_category,
    estimate_tokens,
    field,
    input_shape,
    is_retry,
    openai_meta_fields,
)
from yavio_sdk.tracking import CallHandle, CallScope, EventSink, Tracker, current_call
from yavio_sdk.truncation import truncate_event, within_limit
from yavio_sdk.widget_tokens import MINT_TIMEOUT, WidgetTokens

__all__ = [
    "Recorder",
    "ToolCall",
    "ToolInfo",
    "active_tool_call",
    "contents_size",
    "header",
    "timed",
    "widget_template",
]

logger = logging.getLogger("yavio")

_ANNOUNCED_TOOLS = 10_000
_OPEN_SESSIONS = 10_000
_CATALOG_TOOLS = 10_000

_active: contextvars.ContextVar[ToolCall | None] = contextvars.ContextVar(
    "yavio_tool_call", default=None)


def active_tool_call() -> ToolCall | None:
    """The tool call whose handler is running (for a framework hook deeper in the call)."""
    return _active.get()


def header(headers: Any, name: str) -> str | None:
    """A request header's value from a Starlette `Headers`, a dict with lower-case keys, or None."""
    if headers is None:
        return None
    try:
        value = headers.get(name)
    except Exception:
        return None
    return value if isinstance(value, str) else None


class ToolInfo(NamedTuple):
    """A registered tool as the integration found it."""

    name: str
    description: str | None = None
    input_schema: Mapping[str, Any] | None = None
    meta: Mapping[str, Any] | None = None


def contents_size(contents: Any) -> tuple[int | None, str | None]:
    """Bytes of a `resources/read` answer's contents (text as UTF-8, blobs decoded) and the
    first MIME type."""
    if not isinstance(contents, (list, tuple)):
        return None, None
    size = 0
    mime = None
    for item in contents:
        mime = mime or field(item, "mimeType")
        text, blob = field(item, "text"), field(item, "blob")
        if text is None and blob is None:  # fastmcp's ResourceContent
            text = field(item, "content")
        if isinstance(text, str):
            size += len(text.encode("utf-8", "surrogatepass"))
        elif isinstance(text, (bytes, bytearray)):
            size += len(text)
        elif isinstance(blob, str):
            size += len(blob.rstrip("=")) * 3 // 4
    return size, mime


async def timed(run: Awaitable[Any], record: Callable[[float, bool], None]) -> Any:
    """Await `run`, then `record(latency_ms, ok)` whether it returned or raised."""
    started = time.perf_counter()
    ok = False
    try:
        result = await run
        ok = True
        return result
    finally:
        record((time.perf_counter() - started) * 1000.0, ok)


def widget_template(*metas: Mapping[str, Any] | None) -> str | None:
    """The widget template URI named by the first `_meta` that has one: ChatGPT Apps'
    `openai/outputTemplate`, or MCP Apps' `ui.resourceUri` (also spelled `ui/resourceUri`)."""
    for meta in metas:
        if not isinstance(meta, Mapping):
            continue
        template = meta.get("openai/outputTemplate") or meta.get("ui/resourceUri")
        ui = meta.get("ui")
        if not template and isinstance(ui, Mapping):
            template = ui.get("resourceUri")
        if isinstance(template, str) and template:
            return template
    return None


def _guarded(method: Any) -> Any:
    """Catch everything a recording method raises: analytics must never fail the call."""
    name = method.__name__

    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except Exception:
            try:
                logger.warning("yavio: recording %s failed; its event was dropped", name,
                               exc_info=True)
            except Exception:
                pass
            return None

    guarded.__name__ = name
    guarded.__doc__ = method.__doc__
    return guarded


class Recorder:
    """One wrapped server's event recording: config, sender, per-session state, widget tokens."""

    def __init__(
        self,
        config: YavioConfig,
        sender: EventSink,
        *,
        tokens: WidgetTokens | None = None,
        intent_fallback: IntentFallback | None = None,
        inject_widget_config: bool = False,
    ) -> None:
        self.config = config
        self.sender = sender
        self.tracker = Tracker(config, sender)
        self.sessions = self.tracker.sessions
        self.tokens = tokens
        self.intent_fallback = intent_fallback
        self.inject_widget_config = inject_widget_config and not config.server_only
        self.resolver = SessionResolver()
        self._opened: OrderedDict[str, float] = OrderedDict()  # session id → monotonic open time
        self._announced: OrderedDict[tuple[str, bytes], None] = OrderedDict()
        self._catalog: dict[str, ToolInfo] = {}
        self._widget_traces: OrderedDict[str, str] = OrderedDict()  # session → latest widget trace

    # -- requests --------------------------------------------------------------------------------

    def enter_session(
        self,
        *,
        headers: Any = None,
        meta: Mapping[str, Any] | None = None,
        connection: Any = None,
        client_name: str | None = None,
        client_version: str | None = None,
        protocol_version: str | None = None,
        capabilities: Any = None,
        tools: Callable[[], Iterable[ToolInfo]] | None = None,
    ) -> str:
        """The session id of a request (see `yavio_sdk.sessions`), recording the session's
        `connection` open event the first time it is seen. `connection` is the transport's
        session-long connection object, if it has one; `tools` lists the registered tools."""
        user_agent = header(headers, "user-agent")
        session_id = self.resolver.resolve(
            mcp_session_id=header(headers, "mcp-session-id"),
            openai_session=meta.get("openai/session") if isinstance(meta, Mapping) else None,
            connection=connection,
            client_identity=f"{client_name}/{client_version} {user_agent}")
        if session_id not in self._opened:
            self.session_opened(
                session_id, client_name=client_name, client_version=client_version,
                protocol_version=protocol_version, capabilities=capabilities, headers=headers,
                tools=tools() if tools is not None else ())
        return session_id

    def tool_info(self, name: Any) -> ToolInfo | None:
        """The tool as last listed (`tools_listed`) or remembered, or None."""
        return self._catalog.get(name) if isinstance(name, str) else None

    def remember_tool(self, tool: ToolInfo) -> None:
        """Keep `tool` in the catalog until the next `tools/list` describes it."""
        if len(self._catalog) >= _CATALOG_TOOLS:
            self._catalog.clear()
        self._catalog[tool.name] = tool

    # -- sessions ------------------------------------------------------------------------------

    @_guarded
    def session_opened(
        self,
        session_id: str,
        *,
        client_name: str | None = None,
        client_version: str | None = None,
        protocol_version: str | None = None,
        capabilities: Mapping[str, Any] | None = None,
        headers: Any = None,
        tools: Iterable[ToolInfo] = (),
    ) -> None:
        """A client connected (its `initialize`, or its first request where there is none):
        the `connection` open event, then `tool_discovery` for registered tools not yet
        announced by this server instance."""
        if session_id in self._opened:
            return
        self._opened[session_id] = time.monotonic()
        if len(self._opened) > _OPEN_SESSIONS:
            self._opened.popitem(last=False)
        kept = allowed_headers(headers)
        platform = detect_platform(client_name, kept.get("user-agent"), _origin(headers))
        self.sessions.set_client(
            session_id, platform=platform, client_name=client_name,
            client_version=client_version, protocol_version=protocol_version,
            intent_enabled=self.config.intent)
        metadata: dict[str, Any] = {"phase": "open", "intent_enabled": self.config.intent}
        if kept:
            metadata["headers"] = kept
        if capabilities:
            metadata["client_capabilities"] = _plain(capabilities)
        self._emit(ConnectionEvent(
            **self._common(session_id, new_trace_id()), metadata=metadata,
            protocol_version=_short(protocol_version), client_name=_short(client_name),
            client_version=_short(client_version)))
        self._announce(session_id, tools)

    @_guarded
    def session_closed(self, session_id: str) -> None:
        """The client disconnected: the `connection` close event with the session's duration,
        and the session's state is forgotten."""
        opened = self._opened.pop(session_id, None)
        if opened is None:
            return
        self._emit(ConnectionEvent(
            **self._common(session_id, new_trace_id()), metadata={"phase": "close"},
            connection_duration_ms=(time.monotonic() - opened) * 1000.0))
        self.sessions.discard(session_id)

    # -- catalog ---------------------------------------------------------------------------------

    @_guarded
    def tools_listed(
        self,
        session_id: str,
        tools: Iterable[ToolInfo],
        *,
        client_capabilities: Mapping[str, Any] | None = None,
    ) -> None:
        """A `tools/list` answer: tools not yet announced first, then the request's event."""
        tools = list(tools)
        if len(self._catalog) + len(tools) > _CATALOG_TOOLS:
            self._catalog.clear()
        self._catalog.update((tool.name, tool) for tool in tools)
        self._announce(session_id, tools)
        metadata: dict[str, Any] = {"listed_tools": [tool.name for tool in tools]}
        if client_capabilities:
            metadata["client_capabilities"] = _plain(client_capabilities)
        self._emit(ToolDiscoveryEvent(
            **self._common(session_id, new_trace_id()), event_name="tools/list",
            metadata=metadata))

    def _announce(self, session_id: str, tools: Iterable[ToolInfo]) -> None:
        """A registration `tool_discovery` event per tool this instance has not announced in
        this shape (a changed description or schema is announced again)."""
        for tool in tools:
            schema = _plain(tool.input_schema) if tool.input_schema is not None else None
            digest = hashlib.blake2b(
                msgspec.json.encode([tool.name, tool.description, schema], order="sorted"),
                digest_size=16).digest()
            key = (tool.name, digest)
            if key in self._announced:
                continue
            self._announced[key] = None
            if len(self._announced) > _ANNOUNCED_TOOLS:
                self._announced.popitem(last=False)
            if schema is not None:
                schema, _ = within_limit(schema, MAX_PAYLOAD_BYTES)
            self._emit(ToolDiscoveryEvent(
                **self._common(session_id, new_trace_id()), tool_name=tool.name[:256] or "?",
                description=tool.description, input_schema=schema))

    # -- tool calls ------------------------------------------------------------------------------

    def tool_call(
        self,
        session_id: str,
        name: str,
        arguments: Mapping[str, Any] | None,
        *,
        meta: Mapping[str, Any] | None = None,
        headers: Any = None,
        context: Any = None,
        tool_meta: Mapping[str, Any] | None = None,
    ) -> ToolCall:
        """A tool call about to run: use as `with call:` around the handler, then `returned`.

        `arguments` are what the handler gets (without the intent `context`, given apart);
        `meta` is the request's `_meta`; `tool_meta` the tool descriptor's `_meta` (a widget
        template there starts minting the trace's widget token while the handler runs)."""
        return ToolCall(self, session_id, name, arguments, meta, headers, context, tool_meta)

    # -- resources, prompts, sampling, elicitation -----------------------------------------------

    @_guarded
    def resource_accessed(
        self,
        session_id: str,
        method: str,
        name: str,
        *,
        latency_ms: float,
        ok: bool,
        size_bytes: int | None = None,
        mime_type: str | None = None,
    ) -> None:
        """A `resources/read` (`method` "read", `name` the URI or its template) or a
        `resources/list`/`resources/templates/list` ("list", `name` the method)."""
        metadata: dict[str, Any] = {"method": method}
        if size_bytes is not None:
            metadata["size_bytes"] = size_bytes
        if mime_type:
            metadata["mime_type"] = mime_type
        self._emit(ResourceAccessEvent(
            **self._common(session_id, self._trace()), event_name=name[:256],
            metadata=metadata, latency_ms=latency_ms, status="success" if ok else "error"))

    @_guarded
    def prompt_used(
        self,
        session_id: str,
        method: str,
        name: str,
        *,
        latency_ms: float,
        ok: bool,
        argument_keys: Iterable[str] = (),
    ) -> None:
        """A `prompts/get` (`method` "get", `name` the prompt's) or `prompts/list` ("list")."""
        metadata: dict[str, Any] = {"method": method}
        if method == "get":
            metadata["argument_keys"] = [str(key) for key in argument_keys]
        self._emit(PromptUsageEvent(
            **self._common(session_id, self._trace()), event_name=name[:256],
            metadata=metadata, latency_ms=latency_ms, status="success" if ok else "error"))

    @_guarded
    def sampling_answered(
        self,
        session_id: str | None,
        *,
        latency_ms: float | None,
        ok: bool,
        model: str | None = None,
        prompt: Any = None,
        answer: Any = None,
    ) -> None:
        """The server's `sampling/createMessage` to the client came back (or failed). Inside a
        tool call it belongs to that call's trace and session. `prompt`/`answer` are the
        messages' content blocks, for the token estimates. `latency_ms` None: not measurable
        (the 2026-07-28 protocol's clients answer with the next request)."""
        session_id, trace_id = self._outbound_ids(session_id)
        if session_id is None:
            return
        tokens = self.config.capture_tokens
        self._emit(SamplingCallEvent(
            **self._common(session_id, trace_id), latency_ms=latency_ms,
            status="success" if ok else "error",
            metadata={"model": model[:256]} if model else None,
            tokens_in=estimate_tokens(content_text(prompt)) if tokens and prompt else None,
            tokens_out=estimate_tokens(content_text(answer)) if tokens and answer else None))

    @_guarded
    def elicitation_answered(
        self,
        session_id: str | None,
        *,
        latency_ms: float | None,
        action: str | None,
        field_names: Iterable[str] = (),
    ) -> None:
        """The server's `elicitation/create` came back with the user's `action` (accept,
        decline, cancel; None when it failed) and the names of the fields asked for."""
        session_id, trace_id = self._outbound_ids(session_id)
        if session_id is None:
            return
        metadata: dict[str, Any] = {"field_names": [str(name) for name in field_names]}
        if action:
            metadata["action"] = action
        self._emit(ElicitationEvent(
            **self._common(session_id, trace_id), latency_ms=latency_ms, metadata=metadata))

    # -- widgets ---------------------------------------------------------------------------------

    async def widget_config(self, session_id: str, trace_id: str | None = None,
                            ) -> dict[str, Any] | None:
        """The widget hook's config for a trace of the session (by default the session's latest
        widget call, else a new trace): `{token, endpoint, traceId, sessionId, stepSequence}`,
        or None when no token can be minted (or `server_only`)."""
        if self.tokens is None or self.config.server_only:
            return None
        if trace_id is None:
            trace_id = self._widget_traces.get(session_id) or new_trace_id()
        try:
            token = await asyncio.wait_for(self.tokens.mint_async(trace_id, session_id),
                                           MINT_TIMEOUT)
        except Exception:
            token = None
        if token is None:
            return None
        return {
            "token": token.token,
            "endpoint": self.tokens.endpoint,
            "traceId": trace_id,
            "sessionId": session_id,
            "stepSequence": self.tracker.steps.peek(trace_id),
        }

    def _widget_rendered(self, session_id: str, trace_id: str) -> None:
        self._widget_traces[session_id] = trace_id
        self._widget_traces.move_to_end(session_id)
        if len(self._widget_traces) > _OPEN_SESSIONS:
            self._widget_traces.popitem(last=False)

    # -- plumbing --------------------------------------------------------------------------------

    def _outbound_ids(self, session_id: str | None) -> tuple[str | None, str]:
        call = current_call()
        if call is not None and call.tracker is self.tracker:
            return call.session_id, call.trace_id
        return session_id, new_trace_id()

    def _trace(self) -> str:
        """The current tool call's trace when inside one (a handler reading a resource), else
        a new one."""
        call = current_call()
        return call.trace_id if call is not None and call.tracker is self.tracker \
            else new_trace_id()

    def _common(self, session_id: str, trace_id: str) -> dict[str, Any]:
        state = self.sessions.peek(session_id)
        return self.tracker.common(session_id, trace_id, state.platform if state else "unknown",
                                   state.user_id if state else None)

    def _emit(self, event: BaseEvent) -> None:
        truncate_event(event)
        # Clients list tools on their own (mcp's client before its first call of a tool): a
        # catalog request between two calls of a tool does not make the second one new.
        self.tracker.emit(event, moves=not isinstance(event, ToolDiscoveryEvent))


class ToolCall(DeferredEvent):
    """One tool call in flight; made by `Recorder.tool_call`.

    `with call:` binds the explicit API to this call (module `yavio` and `call.handle`, which an
    integration attaches as `ctx.yavio`) and times the handler; an exception leaving the block
    records the call as failed and goes on unchanged. After a normal exit, `returned` records
    the result and gives the `_meta.yavio` to add to it, if the call rendered a widget.

    Recording queues the call itself, as it saw the request and the result; the sender thread
    builds its `tool_call` event (`build`), so redaction and the rest never run on the host's
    request path.
    """

    __slots__ = ("recorder", "session_id", "name", "arguments", "meta", "headers", "context",
                 "tool_meta", "trace_id", "handle", "raised", "_scope", "_started", "latency_ms",
                 "_preceding", "_mint", "_done", "_active_token", "_timestamp", "_platform",
                 "_user_id", "_failure", "_content", "_structured")

    def __init__(
        self, recorder: Recorder, session_id: str, name: str,
        arguments: Mapping[str, Any] | None, meta: Mapping[str, Any] | None, headers: Any,
        context: Any, tool_meta: Mapping[str, Any] | None,
    ) -> None:
        self.recorder = recorder
        self.session_id = session_id
        self.name = name
        # A copy: the event is built after the handler ran, which may change its arguments.
        self.arguments = dict(arguments) if isinstance(arguments, Mapping) else arguments
        self.meta = meta
        self.headers = headers
        self.context = context
        self.tool_meta = tool_meta
        self.trace_id = new_trace_id()
        self.handle = CallHandle(recorder.tracker, session_id, self.trace_id)
        self.raised: BaseException | None = None
        """What the handler raised when the framework turned it into an `isError` result (set
        by the integration's hook around the framework's tool runner): its category and message
        are the real ones, where the result says only "Error executing tool"."""
        self._scope = CallScope(self.handle)
        self._active_token: contextvars.Token[ToolCall | None] | None = None
        self._started = 0.0
        self.latency_ms = 0.0
        self._preceding: Any = None
        self._mint: asyncio.Future[Any] | None = None
        self._done = False

    def __enter__(self) -> ToolCall:
        try:
            # Recorded as the session's event now, so steps the handler emits come after it.
            self._preceding = self.recorder.sessions.record_event(
                self.session_id, "tool_call", self.name)
            if (self.recorder.tokens is not None and not self.recorder.config.server_only
                    and widget_template(self.tool_meta)):
                self._start_mint()
        except Exception:
            logger.warning("yavio: tool call setup failed", exc_info=True)
        self._scope.__enter__()
        self._active_token = _active.set(self)
        self._started = time.perf_counter()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.latency_ms = (time.perf_counter() - self._started) * 1000.0
        token, self._active_token = self._active_token, None
        if token is not None:
            try:
                _active.reset(token)
            except ValueError:  # left in another context: see CallScope.__exit__
                _active.set(None)
        self._scope.__exit__(exc_type, exc, tb)
        if exc is not None:
            self.failed(exc)

    def failed(self, error: BaseException) -> None:
        """The handler raised `error` (or the framework turned it into an error reply)."""
        if self._done:
            return
        self._done = True
        self._cancel_mint()
        self._record(error=error)

    def abandon(self) -> None:
        """Record nothing: the call is not over (a 2026-07-28 `input_required` round; the
        client's next request carries the answers and is the call that gets recorded)."""
        self._done = True
        self._cancel_mint()

    async def returned(
        self,
        content: Any,
        *,
        is_error: bool = False,
        structured: Any = None,
        result_meta: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """The handler returned: record the `tool_call` event (an error if `is_error`) and, for a
        widget result, `widget_response`. Returns the `_meta.yavio` value to add to the result,
        or None to leave it alone."""
        if self._done:
            return None
        self._done = True
        try:
            self._record(content=content, is_error=is_error, structured=structured)
            template = widget_template(self.tool_meta, result_meta)
            if template is None:
                self._cancel_mint()
                # The trace ends here; a widget's trace lives on, its steps continuing.
                self.recorder.tracker.steps.discard(self.trace_id)
                return None
            return await self._widget(template)
        except Exception:
            logger.warning("yavio: recording the tool call failed", exc_info=True)
            return None

    # -- internals -------------------------------------------------------------------------------

    def _start_mint(self) -> None:
        tokens = self.recorder.tokens
        assert tokens is not None
        self._mint = asyncio.ensure_future(tokens.mint_async(self.trace_id, self.session_id))

    def _cancel_mint(self) -> None:
        if self._mint is not None and not self._mint.done():
            self._mint.cancel()
        self._mint = None

    async def _widget(self, template: str) -> dict[str, Any] | None:
        recorder = self.recorder
        recorder._emit(WidgetResponseEvent(
            **recorder._common(self.session_id, self.trace_id), event_name=self.name[:256],
            metadata={"template_uri": template}))
        recorder._widget_rendered(self.session_id, self.trace_id)
        if recorder.tokens is None or recorder.config.server_only:
            return None
        if self._mint is None:
            self._start_mint()
        assert self._mint is not None
        try:
            token = await asyncio.wait_for(asyncio.shield(self._mint), MINT_TIMEOUT)
        except Exception:  # a timeout, or a failure the minter did not catch
            token = None
        finally:
            self._mint = None
        if token is None:
            logger.warning("yavio: no widget token for this call; its widget will not send "
                           "events")
            return None
        return {
            "token": token.token,
            "endpoint": recorder.tokens.endpoint,
            "traceId": self.trace_id,
            "sessionId": self.session_id,
            "stepSequence": recorder.tracker.steps.peek(self.trace_id),
        }

    def _record(
        self, *, error: BaseException | None = None, content: Any = None,
        is_error: bool = False, structured: Any = None,
    ) -> None:
        """Queue the call for its event. A failure is described now, so the exception (and
        its traceback's frames) is not kept until the event is built."""
        try:
            recorder = self.recorder
            state = recorder.sessions.peek(self.session_id)
            # The session as it is now: a later identify() is not this call's user.
            self._platform = state.platform if state is not None else "unknown"
            self._user_id = state.user_id if state is not None else None
            self._timestamp = format_timestamp()
            if error is None and is_error and self.raised is not None:
                error = self.raised
            self.raised = None
            self._failure = None
            if error is not None or is_error:
                text = content_text(content) if is_error and content is not None else None
                message = _error_message(error) if error is not None else text
                self._failure = (error_category(error, text), message)
            self._content = content
            self._structured = structured
            recorder.sender.enqueue(self)
        except Exception:
            logger.warning("yavio: recording the tool call failed; its event was dropped",
                           exc_info=True)

    def build(self) -> ToolCallEvent:
        """The call's `tool_call` event (on the sender thread)."""
        recorder = self.recorder
        config = recorder.config
        arguments = self.arguments
        fields: dict[str, Any] = recorder.tracker.common(
            self.session_id, self.trace_id, self._platform, self._user_id)
        fields["timestamp"] = self._timestamp
        fields["event_name"] = self.name[:256]
        fields["latency_ms"] = self.latency_ms
        keys, types = input_shape(arguments)
        if keys:
            fields["input_keys"], fields["input_types"] = keys, types
        plain_arguments = _plain(arguments) if arguments else None
        if config.capture_input_values and plain_arguments:
            fields["input_values"] = redact(plain_arguments)
        if config.capture_retries:
            fields["is_retry"] = is_retry(self._preceding, self.name)
        if self._failure is not None:
            category, message = self._failure
            fields["status"] = "error"
            fields["error_category"] = category
            if message:
                fields["error_message"] = _cut(redact_text(message), MAX_ERROR_MESSAGE_BYTES)
        else:
            fields["status"] = "success"
        content = self._content
        if config.capture_output_values:
            # The content blocks are what the model read; structured content mostly repeats
            # them as JSON, so it is kept only when there are no blocks.
            if content:
                fields["output_content"] = redact(describe_content(content))
            elif self._structured is not None:
                fields["output_content"] = redact(_plain(self._structured))
        if config.capture_tokens:
            if plain_arguments:
                fields["tokens_in"] = estimate_tokens(plain_arguments)
            text = content_text(content) if content is not None else ""
            if text:
                fields["tokens_out"] = estimate_tokens(text)
        if config.intent:
            signals = intent_signals(self.context, self.name, arguments,
                                     recorder.intent_fallback)
            if signals:
                fields["intent_signals"] = signals
        fields.update(openai_meta_fields(self.meta, geo=config.capture_geo,
                                         input_values=config.capture_input_values))
        kept = allowed_headers(self.headers)
        if kept:
            fields["metadata"] = {"headers": kept}
        event = ToolCallEvent(**fields)
        truncate_event(event)
        return event


# -- helpers -------------------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    """`value` as plain JSON (frameworks hand over pydantic models, tuples, dates)."""
    try:
        return msgspec.json.decode(msgspec.json.encode(value))
    except Exception:
        dump = getattr(value, "model_dump", None)
        if callable(dump):
            try:
                return dump(mode="json", by_alias=True, exclude_none=True)
            except Exception:
                pass
        return msgspec.to_builtins(value, str_keys=True, enc_hook=str)


def _short(value: str | None) -> str | None:
    return value[:256] if isinstance(value, str) else None


def _cut(text: str, limit: int) -> str:
    encoded = text.encode()
    return text if len(encoded) <= limit else encoded[:limit].decode(errors="ignore")


def _error_message(error: BaseException) -> str:
    """The message of the exception the handler raised: frameworks wrap it (`ToolError` with
    the original as `__cause__`), and the original says what went wrong."""
    for _ in range(8):
        if error.__cause__ is None:
            break
        error = error.__cause__
    try:
        message = str(error)
    except Exception:
        message = ""
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _origin(headers: Any) -> str | None:
    if headers is None:
        return None
    try:
        getter = headers.get if isinstance(headers, Mapping) or hasattr(headers, "get") else None
        value = getter("origin") if getter else None
    except Exception:
        return None
    return value if isinstance(value, str) else None
