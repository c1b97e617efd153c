"""Which session a request belongs to (SPEC 4, "Ids"; the rule is documented in docs/sdk.md).

The first of these that a request has decides its session id:

1. the `Mcp-Session-Id` header (streamable HTTP with sessions);
2. `_meta["openai/session"]` (ChatGPT names its conversation in every request);
3. the connection it came on, where the transport keeps one open for the whole session (stdio,
   or an HTTP session of the handshake protocol): the id chosen at the connection's first
   request stays the connection's id;
4. the client's identity, for requests with no session at all (the handshake-less 2026-07-28
   protocol, and stateless HTTP): requests from the same client name, version and User-Agent
   belong to one session until it has been idle for `IDLE_SECONDS`, as web analytics count a
   visit.

Ids from 1 and 2 are hashes of the key, the same in every replica; ids from 3 and 4 are random.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from typing import Any

from yavio_sdk.ids import new_session_id, session_id_from_key

__all__ = ["IDLE_SECONDS", "SessionResolver"]

IDLE_SECONDS = 30 * 60
_MAX_IDENTITIES = 10_000


class SessionResolver:
    """Resolves request session ids by the module's rule; one per wrapped server. Thread-safe."""

    def __init__(self, idle_seconds: float = IDLE_SECONDS) -> None:
        self._idle = idle_seconds
        self._connections: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        self._identities: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def resolve(
        self,
        *,
        mcp_session_id: Any = None,
        openai_session: Any = None,
        connection: Any = None,
        client_identity: str | None = None,
    ) -> str:
        """The session id of a request. `connection` is an object that lives exactly as long as
        a session-long connection (None when the transport has none); `client_identity` is the
        client's name, version and User-Agent in one string."""
        if connection is not None:
            try:
                known = self._connections.get(connection)
            except TypeError:  # not weak-referenceable: the connection cannot be a key
                connection = None
            else:
                if known is not None:
                    return known
        for key in (mcp_session_id, openai_session):
            if isinstance(key, str) and key:
                session_id = session_id_from_key(key)
                break
        else:
            session_id = None
        if connection is not None:
            session_id = session_id or new_session_id()
            self._connections[connection] = session_id
            return session_id
        if session_id is not None:
            return session_id
        return self._by_identity(client_identity or "")

    def _by_identity(self, identity: str) -> str:
        now = time.monotonic()
        with self._lock:
            known = self._identities.get(identity)
            if known is not None and now - known[1] < self._idle:
                session_id = known[0]
            else:
                session_id = new_session_id()
            self._identities[identity] = (session_id, now)
            self._identities.move_to_end(identity)
            if len(self._identities) > _MAX_IDENTITIES:
                self._identities.popitem(last=False)
            return session_id
