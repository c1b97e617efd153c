"""The explicit API (SPEC 4, "Explicit API"): `step`, `track`, `conversion` and `identify` called
from inside a tool handler, framework-independent.

Three pieces:

- `Tracker`, one per wrapped server instance: the config, the sender, the per-session state and
  the per-trace step counter. It turns an explicit call into an event and enqueues it.
- The call context: around each handler call an integration enters `tracker.call(session_id,
  trace_id)`, which puts a `CallHandle` in a `contextvars.ContextVar` and restores the outer one on
  exit. Context variables follow threads' and asyncio tasks' own contexts, so concurrent calls
  never see each other's context.
- `yavio`, the module-level object whose methods act on the current call, and `CallHandle`, the
  same four methods bound to one call (what an integration attaches as `ctx.yavio`).

    with tracker.call(session_id, trace_id) as call:   # the integration, around the handler
        ctx.yavio = call
        yavio.step("rooms_found", count=3)             # the user's code, inside the handler

Contracts, for the host's sake: no public method raises (every failure is logged to the `yavio`
logger and the event dropped), nothing writes to stdout, and the call path only builds one event
and enqueues it. Outside a call context every method is a no-op with a debug log.

Payloads (step metadata, track properties, conversion metadata, identify traits) are turned into
plain JSON first (a value JSON cannot hold becomes its `str()`, non-string keys become strings,
cycles `"[Circular]"`), then PII-redacted with `pii.redact`, then, when over the field's limit,
replaced by the ingest's truncation marker `{"_truncated": true, "_original_size": N}` so the
event itself still arrives. `user_id` is not redacted: it is the key users are counted by.

Decisions a caller may notice:

- An event name (or user id) that is not a non-empty string of at most 256 characters drops the
  event with a warning: a name is what funnels group by, so a guessed name would mislead.
- `conversion`: `value` must be a finite number (bool excluded) and is sent as a float;
  `currency` must be 3 letters and is sent upper-cased. An invalid value or currency drops that
  field, with a warning, and keeps the event: the conversion happened, and counting it matters
  more than its label.
- `identify`: the same user id again merges traits; a different id later in the same session is
  ignored with a warning and sends nothing. The event carries the session's merged traits, and
  every later event of the session carries the user id.
"""

from __future__ import annotations

import contextvars
import logging
import math
from collections.abc import Mapping
from datetime import date, datetime, time
from types import TracebackType
from typing import Any, Protocol

from yavio_sdk.config import YavioConfig
from yavio_sdk.events import (
    MAX_NAME_CHARS,
    MAX_PAYLOAD_BYTES,
    MAX_TRAITS_BYTES,
    BaseEvent,
    ConversionEvent,
    IdentifyEvent,
    StepEvent,
    TrackEvent,
    format_timestamp,
)
from yavio_sdk.ids import new_event_id
from yavio_sdk.pii import redact
from yavio_sdk.sender import DeferredEvent, FlushResult, flush_all
from yavio_sdk.session_state import SessionState, SessionStore, StepCounter
from yavio_sdk.truncation import within_limit

__all__ = [
    "CallHandle",
    "CallScope",
    "EventSink",
    "Tracker",
    "Yavio",
    "current_call",
    "install_context_property",
    "yavio",
]

logger = logging.getLogger("yavio")

# Deeper than any real payload: bounds the walk, so odd input costs no RecursionError and no time.
_MAX_DEPTH = 32


class EventSink(Protocol):
    """What a `Tracker` sends through: `EventSender`, or a fake in tests."""

    def enqueue(self, event: BaseEvent | DeferredEvent) -> bool: ...


_current: contextvars.ContextVar[CallHandle | None] = contextvars.ContextVar(
    "yavio_current_call", default=None)


def current_call() -> CallHandle | None:
    """The call the running code is inside (entered with `Tracker.call`), or None."""
    return _current.get()


class Tracker:
    """One server instance's explicit-event machinery: builds events and enqueues them.

    Sessions and traces are kept apart through `sessions` and `steps`, which default to fresh
    ones: two trackers never share state. Every event it emits is recorded in the session
    (`SessionStore.record_event`) in emission order, which `is_retry` depends on, except the
    events of the running call's own trace (see `emit`).
    """

    __slots__ = ("config", "sender", "sessions", "steps", "sdk_version")

    def __init__(
        self,
        config: YavioConfig,
        sender: EventSink,
        *,
        sessions: SessionStore | None = None,
        steps: StepCounter | None = None,
        sdk_version: str | None = None,
    ) -> None:
        if sdk_version is None:
            from yavio_sdk import (
                __version__ as sdk_version,  # here: the package may import us
            )
        self.config = config
        self.sender = sender
        self.sessions = sessions if sessions is not None else SessionStore()
        self.steps = steps if steps is not None else StepCounter()
        self.sdk_version = sdk_version

    def call(self, session_id: str, trace_id: str, *, platform: str | None = None) -> CallScope:
        """The call context for one handler call, as a context manager (usable with `with` in
        sync and async code, or `async with`) that yields the call's `CallHandle`.

        `platform` None means the session's platform as recorded by `SessionStore.set_client`.
        """
        return CallScope(CallHandle(self, session_id, trace_id, platform))

    # -- event building (called through CallHandle, which catches everything) -------------------

    def _step(self, call: CallHandle, name: Any, meta: dict[str, Any]) -> None:
        if not _valid_name(name, "step"):
            return
        state = self.sessions.get(call.session_id)
        event = StepEvent(
            **self._common(call, state), event_name=name,
            metadata=_payload(meta, MAX_PAYLOAD_BYTES, "step"),
            step_sequence=self.steps.next_step(call.trace_id))
        self.emit(event)

    def _track(self, call: CallHandle, name: Any, props: dict[str, Any]) -> None:
        if not _valid_name(name, "track"):
            return
        state = self.sessions.get(call.session_id)
        event = TrackEvent(
            **self._common(call, state), event_name=name,
            metadata=_payload(props, MAX_PAYLOAD_BYTES, "track"))
        self.emit(event)

    def _conversion(
        self, call: CallHandle, name: Any, value: Any, currency: Any, meta: dict[str, Any],
    ) -> None:
        if not _valid_name(name, "conversion"):
            return
        state = self.sessions.get(call.session_id)
        event = ConversionEvent(
            **self._common(call, state), event_name=name,
            metadata=_payload(meta, MAX_PAYLOAD_BYTES, "conversion"),
            conversion_value=_conversion_value(value),
            conversion_currency=_currency(currency))
        self.emit(event)

    def _identify(self, call: CallHandle, user_id: Any, traits: Any) -> None:
        if isinstance(user_id, str) and len(user_id) > MAX_NAME_CHARS:
            logger.warning("yavio: identify() ignored: user_id is over %d characters",
                           MAX_NAME_CHARS)
            return
        if traits is not None and not isinstance(traits, Mapping):
            logger.warning("yavio: identify() traits ignored: expected a mapping, got %s",
                           type(traits).__name__)
            traits = None
        clean = _clean(dict(traits), 0, set()) if traits else None
        clean = redact(clean) if clean else None
        # SessionStore checks the id and the one-user-per-session rule, and warns itself.
        if not self.sessions.identify(call.session_id, user_id, clean):
            return
        state = self.sessions.get(call.session_id)
        event = IdentifyEvent(
            **self._common(call, state, user_id),
            user_traits=_limit(state.traits, MAX_TRAITS_BYTES, "identify") or None)
        self.emit(event)

    def _common(self, call: CallHandle, state: SessionState, user_id: str | None = None,
                ) -> dict[str, Any]:
        platform = call.platform if call.platform is not None else state.platform
        return self.common(call.session_id, call.trace_id, platform, user_id or state.user_id)

    def common(
        self, session_id: str, trace_id: str, platform: str, user_id: str | None,
    ) -> dict[str, Any]:
        """The fields every server event has, as keyword arguments for an event struct."""
        return {
            "event_id": new_event_id(),
            "trace_id": trace_id,
            "session_id": session_id,
            "timestamp": format_timestamp(),
            "source": "server",
            "platform": platform,
            "user_id": user_id,
            "sdk_version": self.sdk_version,
        }

    def emit(self, event: BaseEvent, *, moves: bool = True) -> None:
        """Record `event` as its session's latest event, then enqueue it.

        An event of the running call's own trace (its steps, tracks, sampling) is part of that
        call, not a new move of the agent: it leaves the call as the session's latest event,
        so calling the same tool again still counts as a retry (`is_retry`). `moves` False: an
        event that is the client's housekeeping (a `tools/list`), never the agent's move."""
        call = _current.get()
        if moves and (call is None or call.trace_id != event.trace_id):
            self.sessions.record_event(event.session_id, event.__struct_config__.tag,
                                       event.event_name)
        self.sender.enqueue(event)


class CallHandle:
    """`step`, `track`, `conversion` and `identify` bound to one tool call: what an integration
    attaches to the framework's Context as `ctx.yavio`. Works even after the call context is
    left (a handler may hand it to a task). Its methods never raise and return None."""

    __slots__ = ("tracker", "session_id", "trace_id", "platform")

    def __init__(
        self, tracker: Tracker, session_id: str, trace_id: str, platform: str | None = None,
    ) -> None:
        self.tracker = tracker
        self.session_id = session_id
        self.trace_id = trace_id
        self.platform = platform

    def __repr__(self) -> str:
        return f"CallHandle(session_id={self.session_id!r}, trace_id={self.trace_id!r})"

    def step(self, name: str, /, **meta: Any) -> None:
        """A funnel step of this trace; `step_sequence` counts the trace's steps from 0."""
        try:
            self.tracker._step(self, name, meta)
        except Exception:
            _failed("step")

    def track(self, name: str, /, **props: Any) -> None:
        """A custom event with its properties."""
        try:
            self.tracker._track(self, name, props)
        except Exception:
            _failed("track")

    def conversion(
        self, name: str, /, value: float | None = None, currency: str | None = None, **meta: Any,
    ) -> None:
        """A conversion worth `value` (a number) in `currency` (ISO 4217, 3 letters)."""
        try:
            self.tracker._conversion(self, name, value, currency, meta)
        except Exception:
            _failed("conversion")

    def identify(self, user_id: str, traits: Mapping[str, Any] | None = None) -> None:
        """Tie this session to `user_id` and merge `traits` into the user's traits."""
        try:
            self.tracker._identify(self, user_id, traits)
        except Exception:
            _failed("identify")


class CallScope:
    """Entering sets the current call, leaving restores the one before (so nested calls work).
    Returned by `Tracker.call`; enter it once."""

    __slots__ = ("handle", "_token")

    def __init__(self, handle: CallHandle) -> None:
        self.handle = handle
        self._token: contextvars.Token[CallHandle | None] | None = None

    def __enter__(self) -> CallHandle:
        self._token = _current.set(self.handle)
        return self.handle

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        token, self._token = self._token, None
        if token is None:
            return
        try:
            _current.reset(token)
        except ValueError:
            # Left in another context than it was entered in (e.g. an async generator resumed
            # elsewhere): the token cannot be used there, so set the outer value directly.
            value = token.old_value
            _current.set(None if value is contextvars.Token.MISSING else value)

    async def __aenter__(self) -> CallHandle:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


class Yavio:
    """The module-level API: each method acts on the current call (see `current_call`), and
    outside one it does nothing but log at debug level. Never raises, returns None."""

    __slots__ = ()

    def step(self, name: str, /, **meta: Any) -> None:
        """A funnel step of the current trace; see `CallHandle.step`."""
        call = _current.get()
        if call is None:
            _outside("step")
        else:
            call.step(name, **meta)

    def track(self, name: str, /, **props: Any) -> None:
        """A custom event; see `CallHandle.track`."""
        call = _current.get()
        if call is None:
            _outside("track")
        else:
            call.track(name, **props)

    def conversion(
        self, name: str, /, value: float | None = None, currency: str | None = None, **meta: Any,
    ) -> None:
        """A conversion; see `CallHandle.conversion`."""
        call = _current.get()
        if call is None:
            _outside("conversion")
        else:
            call.conversion(name, value, currency, **meta)

    def identify(self, user_id: str, traits: Mapping[str, Any] | None = None) -> None:
        """Tie the current session to a user; see `CallHandle.identify`."""
        call = _current.get()
        if call is None:
            _outside("identify")
        else:
            call.identify(user_id, traits)

    def flush(self, timeout: float = 5.0) -> FlushResult:
        """Send every wrapped server's queued events now, waiting up to `timeout` seconds:
        for scripts and tests that must see their events before they go on. Never raises."""
        try:
            return flush_all(timeout)
        except Exception:
            _failed("flush")
            return FlushResult(0, 0, 0)


yavio = Yavio()
"""`from yavio_sdk import yavio; yavio.step("rooms_found", count=3)` inside a wrapped handler."""



def install_context_property(context_class: type) -> None:
    """Give a framework's Context class a read-only `yavio` attribute: the running call's
    `CallHandle`, or `yavio` (a no-op outside a call). A class property, because frameworks
    build their Context per request (MCP's is a pydantic model that refuses new attributes)
    and fastmcp hands its tools a different Context object than its middleware sees."""
    if "yavio" not in vars(context_class):
        context_class.yavio = property(_context_yavio)  # type: ignore[attr-defined]


def _context_yavio(context: object) -> CallHandle | Yavio:
    return _current.get() or yavio


# -- helpers -------------------------------------------------------------------------------------

def _outside(method: str) -> None:
    logger.debug("yavio: %s() called outside a tool call; ignored", method)


def _failed(method: str) -> None:
    try:
        logger.warning("yavio: %s() failed; its event was dropped", method, exc_info=True)
    except Exception:  # a broken logging handler is still not the host's problem
        pass


def _valid_name(name: Any, method: str) -> bool:
    if isinstance(name, str) and 0 < len(name) <= MAX_NAME_CHARS:
        return True
    if isinstance(name, str):
        logger.warning("yavio: %s() ignored: the event name must be 1 to %d characters",
                       method, MAX_NAME_CHARS)
    else:
        logger.warning("yavio: %s() ignored: the event name must be a string, got %s",
                       method, type(name).__name__)
    return False


def _payload(values: dict[str, Any], limit: int, method: str) -> dict[str, Any] | None:
    """Plain JSON, PII-redacted, within `limit` bytes; None for no values."""
    if not values:
        return None
    return _limit(redact(_clean(values, 0, set())), limit, method)


def _limit(value: dict[str, Any], limit: int, method: str) -> dict[str, Any]:
    kept, size = within_limit(value, limit)
    if kept is not value:
        logger.warning("yavio: %s() payload of %d bytes is over the %d-byte limit; replaced by "
                       "a truncation marker", method, size, limit)
    return kept


def _clean(value: Any, depth: int, on_path: set[int]) -> Any:
    """`value` as plain JSON: dicts with string keys, lists, strings, numbers, booleans, None."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        if id(value) in on_path:
            return "[Circular]"
        if depth >= _MAX_DEPTH:
            return "[MaxDepth]"
        on_path.add(id(value))
        try:
            if isinstance(value, dict):
                return {k if isinstance(k, str) else _text(k): _clean(v, depth + 1, on_path)
                        for k, v in value.items()}
            return [_clean(item, depth + 1, on_path) for item in value]
        finally:
            on_path.discard(id(value))
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return _text(value)


def _text(value: Any) -> str:
    try:
        return str(value)
    except Exception:  # a __str__ that raises is the user's bug, not a reason to fail
        return f"<{type(value).__name__}>"


def _conversion_value(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if math.isfinite(number):
            return number
    logger.warning("yavio: conversion() value dropped: expected a finite number, got %s",
                   type(value).__name__)
    return None


def _currency(currency: Any) -> str | None:
    if currency is None:
        return None
    if isinstance(currency, str) and len(currency) == 3 and currency.isascii() \
            and currency.isalpha():
        return currency.upper()
    logger.warning("yavio: conversion() currency dropped: expected 3 letters (ISO 4217)")
    return None
