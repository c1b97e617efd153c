"""Widget tokens (SPEC 4, "Widget responses"): the short-lived credential a widget sends its events
with, minted by `POST {endpoint}/v1/widget-tokens` with the server's API key.

A token is bound to one trace and one session: the ingest refuses it for any other, so a widget
can only add events to the tool call that rendered it. It is minted once per trace and cached
(the original SDK cached one token for the whole server, so every widget wrote into the first
call's trace). A failed mint returns None and is logged: the tool call goes on without it.

Minting is blocking HTTP; `mint_async` runs it on a worker thread so the event loop serving
other requests never waits on it, and integrations start it while the handler runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import OrderedDict
from typing import NamedTuple

import httpx

__all__ = ["WidgetToken", "WidgetTokens"]

logger = logging.getLogger("yavio")

# A widget tool call waits for its token at most this long after its handler returns.
MINT_TIMEOUT = 3.0
_CACHED_TRACES = 1_000


class WidgetToken(NamedTuple):
    token: str
    trace_id: str
    session_id: str


class WidgetTokens:
    """Mints and caches widget tokens. `client`/`transport` are the HTTP seam, as for
    `EventSender`; by default it builds its own `httpx.Client` on first use (and again in a
    forked child)."""

    def __init__(
        self,
        api_key: str,
        endpoint: str,
        *,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = MINT_TIMEOUT,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._url = self.endpoint + "/v1/widget-tokens"
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._injected_client = client
        self._transport = transport
        self._timeout = timeout
        self._client: httpx.Client | None = None
        self._pid = os.getpid()
        self._cache: OrderedDict[tuple[str, str], WidgetToken] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never the key
        return f"WidgetTokens(endpoint={self.endpoint!r})"

    def mint(self, trace_id: str, session_id: str) -> WidgetToken | None:
        """The trace's token, minted on first use; None when the ingest cannot mint one."""
        key = (trace_id, session_id)
        token = self._cache.get(key)
        if token is not None:
            return token
        try:
            response = self._http().post(
                self._url, json={"traceId": trace_id, "sessionId": session_id},
                headers=self._headers)
            if response.status_code != 200:
                logger.warning("yavio: widget token not minted: the ingest answered %d; the "
                               "widget will not send events", response.status_code)
                return None
            value = response.json().get("token")
        except Exception as error:
            logger.warning("yavio: widget token not minted (%s); the widget will not send "
                           "events", type(error).__name__)
            return None
        if not isinstance(value, str) or not value:
            logger.warning("yavio: widget token not minted: the ingest's answer had no token")
            return None
        token = WidgetToken(value, trace_id, session_id)
        with self._lock:
            self._cache[key] = token
            if len(self._cache) > _CACHED_TRACES:
                self._cache.popitem(last=False)
        return token

    async def mint_async(self, trace_id: str, session_id: str) -> WidgetToken | None:
        """`mint` on a worker thread."""
        token = self._cache.get((trace_id, session_id))
        if token is not None:
            return token
        return await asyncio.to_thread(self.mint, trace_id, session_id)

    def _http(self) -> httpx.Client:
        if self._injected_client is not None:
            return self._injected_client
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._client = httpx.Client(transport=self._transport, timeout=self._timeout)
            return self._client
