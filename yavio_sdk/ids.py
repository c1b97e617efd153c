"""Event, trace and session ids (SPEC 4, "Ids"), in the original TypeScript SDK's formats.

Trace and session ids are a prefix plus 21 URL-safe characters (`A-Z a-z 0-9 - _`), like nanoid's.
A session derived from an external key is a hash of it, so every replica behind a load balancer
names the same MCP session the same way with no shared state, and so does the TypeScript SDK.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading

__all__ = [
    "derive_session_id",
    "new_event_id",
    "new_session_id",
    "new_trace_id",
    "session_id_from_key",
]

_ID_CHARS = 21
_POOL_BYTES = 4096


class _RandomPool:
    """`os.urandom` bytes read a block at a time: in some sandboxes the system call costs
    several microseconds (8 µs measured here, with a second thread busy), and every tool call
    needs two ids. Thread-safe; a forked child reads a block of its own, so it never repeats
    its parent's ids."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._block = b""
        self._offset = 0
        self._pid = -1

    def take(self, count: int) -> bytes:
        with self._lock:
            if self._offset + count > len(self._block) or self._pid != os.getpid():
                self._block = os.urandom(_POOL_BYTES)
                self._offset = 0
                self._pid = os.getpid()
            start = self._offset
            self._offset = start + count
            return self._block[start:start + count]


_random = _RandomPool()


def new_event_id() -> str:
    """A random UUID (v4), the event's dedup key."""
    # uuid.uuid4() builds a UUID object in Python: three times slower, on every event.
    raw = bytearray(_random.take(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _random_chars() -> str:
    # 16 random bytes are 22 base64url characters; the first 21 carry 126 random bits.
    return base64.urlsafe_b64encode(_random.take(16))[:_ID_CHARS].decode("ascii")


def new_trace_id() -> str:
    """A new trace id, `tr_` + 21 URL-safe characters: one per tool call."""
    return "tr_" + _random_chars()


def new_session_id() -> str:
    """A new random session id, `ses_` + 21 URL-safe characters, for a session with no key."""
    return "ses_" + _random_chars()


def session_id_from_key(key: str) -> str:
    """The session id of an external session key: `ses_` + base64url(SHA-256(UTF-8 key))[:21].

    The same key gives the same id in every process, replica and SDK.
    """
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return "ses_" + base64.urlsafe_b64encode(digest)[:_ID_CHARS].decode("ascii")


def derive_session_id(
    mcp_session_id: str | None = None,
    openai_session: str | None = None,
    transport_id: str | None = None,
) -> str:
    """The session id of a request, from the first key it has, else a new random one.

    Keys in order: the `Mcp-Session-Id` header, `_meta["openai/session"]`, the transport's own id.
    A key that is missing, empty or not a string is skipped.
    """
    for key in (mcp_session_id, openai_session, transport_id):
        if isinstance(key, str) and key:
            return session_id_from_key(key)
    return new_session_id()
