"""What the SDK remembers about each session and each trace (SPEC 4, "Per-session state").

One server instance serves many sessions at once (streamable HTTP), so every piece of state is kept
per session id, in a bounded map: a user identified in one session is never attached to another
session's events (the original SDK kept one state per server, the defect this fixes). Step
sequences are kept per trace, since `step_sequence` orders the steps of one tool call.

Both maps are LRU-bounded, so a server that sees millions of sessions holds only the most recent
ones: a session evicted and seen again starts from a blank state, which costs an `identify`, never
memory. Both are safe to use from several threads; each call holds one lock for a few dict
operations.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "MAX_SESSIONS",
    "MAX_TRACES",
    "PrecedingEvent",
    "SessionState",
    "SessionStore",
    "StepCounter",
]

MAX_SESSIONS = 10_000
MAX_TRACES = 10_000

logger = logging.getLogger("yavio")


class PrecedingEvent(NamedTuple):
    """The last event recorded in a session: its `event_type` and its name (the tool's for a
    `tool_call`), which is what `is_retry` compares."""

    event_type: str
    name: str | None


@dataclass(slots=True)
class SessionState:
    """One session's state. Read fields freely; change them through `SessionStore`, which holds
    the lock and replaces `traits` rather than mutating it, so a reader never sees half a merge."""

    session_id: str
    user_id: str | None = None
    traits: dict[str, Any] = field(default_factory=dict)
    platform: str = "unknown"
    client_name: str | None = None
    client_version: str | None = None
    protocol_version: str | None = None
    intent_enabled: bool = False
    preceding_event: PrecedingEvent | None = None


class SessionStore:
    """Session id → `SessionState`, keeping the `max_sessions` most recently used."""

    def __init__(self, max_sessions: int = MAX_SESSIONS) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self._max = max_sessions
        self._states: OrderedDict[str, SessionState] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._states)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._states

    def get(self, session_id: str) -> SessionState:
        """The session's state, created blank on first use; marks the session as recently used."""
        with self._lock:
            return self._get(session_id)

    def _get(self, session_id: str) -> SessionState:
        state = self._states.get(session_id)
        if state is None:
            state = self._states[session_id] = SessionState(session_id)
            if len(self._states) > self._max:
                self._states.popitem(last=False)
        else:
            self._states.move_to_end(session_id)
        return state

    def peek(self, session_id: str) -> SessionState | None:
        """The session's state if it is known, without creating it or marking it used."""
        return self._states.get(session_id)

    def discard(self, session_id: str) -> SessionState | None:
        """Forget the session (it disconnected); returns its last state, if it was known."""
        with self._lock:
            return self._states.pop(session_id, None)

    def set_client(
        self,
        session_id: str,
        *,
        platform: str | None = None,
        client_name: str | None = None,
        client_version: str | None = None,
        protocol_version: str | None = None,
        intent_enabled: bool | None = None,
    ) -> SessionState:
        """Record what `initialize` said about the client; an argument left None keeps its value."""
        with self._lock:
            state = self._get(session_id)
            if platform is not None:
                state.platform = platform
            if client_name is not None:
                state.client_name = client_name
            if client_version is not None:
                state.client_version = client_version
            if protocol_version is not None:
                state.protocol_version = protocol_version
            if intent_enabled is not None:
                state.intent_enabled = intent_enabled
            return state

    def identify(
        self, session_id: str, user_id: str, traits: Mapping[str, Any] | None = None,
    ) -> bool:
        """Tie the session to `user_id` and merge `traits` into its traits (later values win).

        Returns False, with a warning and no change, when the session is already tied to a
        different user, or when `user_id` is not a non-empty string. The warning never names
        either user id: ids are often emails.
        """
        if not isinstance(user_id, str) or not user_id:
            logger.warning("yavio: identify() ignored: user_id must be a non-empty string")
            return False
        if traits is not None and not isinstance(traits, Mapping):
            logger.warning("yavio: identify() traits ignored: expected a mapping, got %s",
                           type(traits).__name__)
            traits = None
        with self._lock:
            state = self._get(session_id)
            accepted = state.user_id is None or state.user_id == user_id
            if accepted:
                state.user_id = user_id
                if traits:
                    state.traits = {**state.traits, **traits}
        if not accepted:
            logger.warning("yavio: identify() ignored: this session is already identified as a "
                           "different user (one user per session)")
        return accepted

    def record_event(
        self, session_id: str, event_type: str, name: str | None = None,
    ) -> PrecedingEvent | None:
        """Note that the session emitted an event; returns the event recorded before it.

        Call it for every event of the session, in the order they are emitted: `is_retry` looks
        at the event just before a `tool_call`. Reading and replacing happen under one lock, so
        two concurrent calls never both see the same preceding event.
        """
        with self._lock:
            state = self._get(session_id)
            preceding = state.preceding_event
            state.preceding_event = PrecedingEvent(event_type, name)
            return preceding


class StepCounter:
    """Trace id → the next `step_sequence`, keeping the `max_traces` most recently used.

    A trace's first step is 0. The widget continues the sequence from `peek(trace_id)`, the
    number the server would have used next.
    """

    def __init__(self, max_traces: int = MAX_TRACES) -> None:
        if max_traces < 1:
            raise ValueError("max_traces must be at least 1")
        self._max = max_traces
        self._next: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._next)

    def next_step(self, trace_id: str) -> int:
        """The sequence number of a new step in the trace: 0, then 1, 2, ..."""
        with self._lock:
            step = self._next.get(trace_id, 0)
            self._next[trace_id] = step + 1
            self._next.move_to_end(trace_id)
            if len(self._next) > self._max:
                self._next.popitem(last=False)
            return step

    def peek(self, trace_id: str) -> int:
        """The sequence number the next step of the trace would get (how many steps it has had)."""
        return self._next.get(trace_id, 0)

    def discard(self, trace_id: str) -> None:
        """Forget the trace (its tool call is over)."""
        with self._lock:
            self._next.pop(trace_id, None)
