"""`with_yavio(server)`: the SDK's entry point (SPEC 4).

    from yavio_sdk import with_yavio, yavio

    mcp = with_yavio(MCPServer("hotels"))      # or mcp 1.x FastMCP, a low-level Server, fastmcp

It resolves the config (code options, environment, `.yaviorc.json`), and with an API key
instruments the server in place through its framework's integration and returns it. Without
one it returns the server untouched: no thread, no socket, one log line. It never raises into
the host: an unsupported server or a failure while instrumenting logs a warning and returns
the server as it was given.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import httpx

from yavio_sdk.config import resolve_config
from yavio_sdk.integrations import UnsupportedServer, find_integration
from yavio_sdk.intent import IntentFallback
from yavio_sdk.recorder import Recorder
from yavio_sdk.sender import EventSender
from yavio_sdk.widget_tokens import WidgetTokens

__all__ = ["with_yavio"]

logger = logging.getLogger("yavio")

ServerT = TypeVar("ServerT")

_INSTRUMENTED = "_yavio_recorder"


def with_yavio(
    server: ServerT,
    *,
    intent_fallback: IntentFallback | None = None,
    inject_widget_config: bool = False,
    transport: httpx.BaseTransport | None = None,
    **options: Any,
) -> ServerT:
    """Instrument `server` for Yavio and return it.

    `options` are the config settings (`api_key`, `endpoint`, `server_only`, `intent`,
    `capture_*`, ...; see `yavio_sdk.config`). `intent_fallback(tool_name, arguments)` may
    supply an inferred intent for calls without `context`; `inject_widget_config` adds
    `window.__YAVIO__` to widget HTML resources; `transport` is an httpx transport for the
    event and token requests (tests use it to observe them).
    """
    try:
        if getattr(server, _INSTRUMENTED, None) is not None:
            logger.debug("yavio: server already instrumented")
            return server
        config = resolve_config(**options)
        integration = find_integration(server)
        # Before the key check: a handler's `ctx.yavio.step(...)` must work (as a no-op)
        # when analytics are off too.
        integration.install_context()
        if not config.enabled:
            logger.info("yavio: no API key (api_key=, YAVIO_API_KEY or .yaviorc.json); "
                        "analytics off")
            return server
        assert config.api_key is not None
        sender = EventSender(
            config.api_key, config.endpoint, transport=transport,
            max_queue_size=config.queue_size, batch_size=config.batch_size,
            flush_interval=config.flush_interval)
        tokens = None if config.server_only else WidgetTokens(
            config.api_key, config.endpoint, transport=transport)
        recorder = Recorder(config, sender, tokens=tokens, intent_fallback=intent_fallback,
                            inject_widget_config=inject_widget_config)
        integration.instrument(server, recorder)
        setattr(server, _INSTRUMENTED, recorder)
        if config.debug:
            logging.getLogger("yavio").setLevel(logging.DEBUG)
        logger.info("yavio: instrumented %s server, sending to %s", integration.name,
                    config.endpoint)
    except UnsupportedServer as problem:
        logger.warning("yavio: %s; analytics off", problem)
    except Exception:
        logger.warning("yavio: could not instrument the server; analytics off", exc_info=True)
    return server
