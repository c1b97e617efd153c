"""The MCP frameworks the SDK tests run against, each behind the same small interface, so one
test covers every framework installed in the environment (CI runs one environment per
framework: mcp 1.x; mcp 2.x; fastmcp, which brings mcp 2.x along).

An adapter module (`mcp_v1`, `mcp_v2`, `fastmcp`) provides:

- `build_server(**yavio_options)`: the booking test server (`booking.py`), instrumented with
  `with_yavio(server, **yavio_options)`, or plain when no options are given;
- `build_lowlevel_server(**yavio_options)`: the framework's low-level server with one `echo`
  tool (None for fastmcp, which has none);
- `connect(server, mode=, client_name=)`: an in-process client session, as a `BookingClient`;
- `http_app(server)` and `connect_http(url, mode=, client_name=, headers=)`: streamable HTTP;
- `connect_stdio(env, mode=)`: the server in a subprocess (`stdio_server.py`) over stdio;
- `MODES`: the protocol modes its client speaks ("legacy": the handshake protocol; "modern":
  2026-07-28, handshake-less).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Protocol

from tests.conftest import free_port

__all__ = ["AVAILABLE", "BookingClient", "CallResult", "adapter", "serve_asgi"]

_REQUIRES = {"mcp_v1": ("mcp", 1), "mcp_v2": ("mcp", 2), "fastmcp": ("fastmcp", 4)}


def _installed(framework: str) -> bool:
    distribution, major = _REQUIRES[framework]
    if importlib.util.find_spec(distribution) is None:
        return False
    from importlib.metadata import version

    return int(version(distribution).split(".")[0]) == major


def _available() -> list[str]:
    found = [name for name in _REQUIRES if _installed(name)]
    wanted = os.environ.get("YAVIO_TEST_FRAMEWORKS")
    if wanted:
        # CI names the frameworks of its environment: a missing one is an error, not a skip.
        names = [name.strip() for name in wanted.split(",") if name.strip()]
        missing = [name for name in names if name not in found]
        if missing:
            raise RuntimeError(f"YAVIO_TEST_FRAMEWORKS names {missing}, not installed here")
        return names
    return found


AVAILABLE: list[str] = _available()


def adapter(framework: str) -> ModuleType:
    return importlib.import_module(f"tests.sdk.frameworks.{framework}")


@dataclass
class CallResult:
    is_error: bool
    text: str
    meta: dict[str, Any] = field(default_factory=dict)


class BookingClient(Protocol):
    """One client session, the same calls whatever the framework."""

    async def tools(self) -> dict[str, dict[str, Any]]: ...  # name → input schema
    async def call(self, name: str, arguments: dict[str, Any] | None = None,
                   meta: dict[str, Any] | None = None) -> CallResult: ...
    async def read(self, uri: str) -> str: ...
    async def prompt(self, name: str, arguments: dict[str, str]) -> str: ...


@asynccontextmanager
async def serve_asgi(app: Any) -> AsyncIterator[str]:
    """`app` under uvicorn on a free loopback port in this event loop; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
