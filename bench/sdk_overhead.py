"""Time the SDK adds to a tool call: the same server plain and wrapped with `with_yavio`, called
through a real in-process client session of its framework, in interleaved rounds.

    python bench/sdk_overhead.py                  # every framework installed here
    python bench/sdk_overhead.py --calls 5000 --framework mcp_v2

Frameworks: `mcp_v1` (official mcp 1.x, FastMCP), `mcp_v2` (mcp 2.x, MCPServer), `fastmcp`
(standalone fastmcp 4.x). Each is measured in the environment that has it (the Makefile's
`bench-sdk` runs all three).

The tool records one step, as an instrumented tool typically does. Events go to an httpx
MockTransport that answers 200: the sender thread does its real work (encode, gzip, POST) with
no network. Two figures per framework:

- end to end: p50/p99 of a call's round trip, plain and instrumented, and the difference of
  the medians (noise of the client and the framework included);
- SDK path: the same calls' time inside the SDK alone (the integration's code around the
  handler: session, event building, enqueue), measured by timing the wrapped entry point with
  the handler's own time subtracted. This is what the SDK adds, without the noise.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import importlib.util
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx

os.environ.setdefault("FASTMCP_LOG_ENABLED", "false")

from yavio_sdk import with_yavio, yavio  # noqa: E402

API_KEY = "yav_" + "0" * 64
ROUNDS = 10


def accepting_transport() -> httpx.MockTransport:
    """An ingest that accepts everything without reading it: a real one runs in another
    process, so its parsing must not compete with the measured calls for this one's GIL."""
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/v1/events"):
            return httpx.Response(200, json={})
        return httpx.Response(200, json={"token": "eyJ.bench.token"})
    return httpx.MockTransport(answer)


def search(city: str) -> str:
    return f"3 rooms in {city}"


# -- frameworks: (build server, connect client, call a tool) -------------------------------------

Connect = Callable[[Any], AbstractAsyncContextManager[Any]]
Call = Callable[[Any, str], Awaitable[Any]]


def mcp_v2() -> tuple[Callable[[], Any], Connect, Call]:
    from mcp import Client
    from mcp.server import MCPServer

    def build() -> Any:
        server = MCPServer("bench")
        server.tool()(search)
        return server

    def connect(server: Any) -> AbstractAsyncContextManager[Any]:
        return Client(server, mode="legacy")

    async def call(client: Any, city: str) -> Any:
        return await client.call_tool("search", {"city": city})

    return build, connect, call


def mcp_v1() -> tuple[Callable[[], Any], Connect, Call]:
    from mcp.server.fastmcp import FastMCP
    from mcp.shared.memory import create_connected_server_and_client_session

    def build() -> Any:
        server = FastMCP("bench", log_level="WARNING")
        server.tool()(search)
        return server

    def connect(server: Any) -> AbstractAsyncContextManager[Any]:
        return create_connected_server_and_client_session(server)

    async def call(client: Any, city: str) -> Any:
        return await client.call_tool("search", {"city": city})

    return build, connect, call


def fastmcp() -> tuple[Callable[[], Any], Connect, Call]:
    from fastmcp import Client, FastMCP

    def build() -> Any:
        server = FastMCP("bench")
        server.tool(search)
        return server

    def connect(server: Any) -> AbstractAsyncContextManager[Any]:
        return Client(server, mode="legacy")

    async def call(client: Any, city: str) -> Any:
        return await client.call_tool("search", {"city": city})

    return build, connect, call


FRAMEWORKS = {"mcp_v1": ("mcp", 1, mcp_v1), "mcp_v2": ("mcp", 2, mcp_v2),
              "fastmcp": ("fastmcp", 4, fastmcp)}


def installed(name: str) -> bool:
    distribution, major, _ = FRAMEWORKS[name]
    if importlib.util.find_spec(distribution) is None:
        return False
    return int(importlib.metadata.version(distribution).split(".")[0]) == major


# -- measuring the SDK's own path ----------------------------------------------------------------

class SdkClock:
    """Time inside the SDK per call: the wrapped entry point's time minus the handler's."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._handler = 0.0

    def wrap_handler(self, run: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await run(*args, **kwargs)
            finally:
                self._handler += time.perf_counter() - started
        return timed

    def wrap_entry(self, run: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            self._handler = 0.0
            started = time.perf_counter()
            try:
                return await run(*args, **kwargs)
            finally:
                self.samples.append(time.perf_counter() - started - self._handler)
        return timed


def clock_handler(name: str, server: Any, clock: SdkClock) -> None:
    """Before `with_yavio`: time what the integration will call (mcp 1.x has no middleware
    chain to hand a timed `call_next` to, so its handler is timed before it is wrapped)."""
    if name == "mcp_v1":
        import mcp.types as types

        handlers = server._mcp_server.request_handlers
        handlers[types.CallToolRequest] = clock.wrap_handler(handlers[types.CallToolRequest])


def clock_sdk(name: str, server: Any, clock: SdkClock) -> None:
    """After `with_yavio`: time the integration's entry point, handing it a timed handler."""
    if name == "mcp_v2":
        middleware = server._lowlevel_server.middleware
        ours = middleware[-1]

        async def entry(ctx: Any, call_next: Any) -> Any:
            return await ours(ctx, clock.wrap_handler(call_next))

        middleware[-1] = clock.wrap_entry(entry)
    elif name == "mcp_v1":
        import mcp.types as types

        handlers = server._mcp_server.request_handlers
        entry = clock.wrap_entry(handlers[types.CallToolRequest])
        entry.__yavio_wrapped__ = True  # type: ignore[attr-defined]  (not to be wrapped again)
        handlers[types.CallToolRequest] = entry
    else:
        ours = next(middleware for middleware in server.middleware
                    if type(middleware).__name__ == "YavioMiddleware")
        original = ours.on_call_tool

        async def on_call_tool(context: Any, call_next: Any) -> Any:
            return await original(context, call_next=clock.wrap_handler(call_next))

        ours.on_call_tool = clock.wrap_entry(on_call_tool)


# -- the run -------------------------------------------------------------------------------------

async def rounds(name: str, calls: int) -> dict[str, Any]:
    build, connect, call = FRAMEWORKS[name][2]()
    plain = build()
    clock = SdkClock()
    instrumented = build()
    clock_handler(name, instrumented, clock)
    with_yavio(instrumented, api_key=API_KEY, transport=accepting_transport())
    clock_sdk(name, instrumented, clock)
    timings: dict[str, list[float]] = {"plain": [], "instrumented": []}
    per_round = max(1, calls // ROUNDS)
    async with connect(plain) as plain_client, connect(instrumented) as sdk_client:
        for client in (plain_client, sdk_client):  # warm up both
            for index in range(200):
                await call(client, f"warm{index}")
        clock.samples.clear()
        for _ in range(ROUNDS):
            for label, client in (("plain", plain_client), ("instrumented", sdk_client)):
                for index in range(per_round):
                    started = time.perf_counter()
                    await call(client, f"city{index}")
                    timings[label].append(time.perf_counter() - started)
    flushed = yavio.flush(10)
    return {"timings": timings, "sdk": clock.samples, "flushed": flushed}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(name: str, result: dict[str, Any]) -> None:
    distribution = FRAMEWORKS[name][0]
    version = importlib.metadata.version(distribution)
    plain, sdk = result["timings"]["plain"], result["timings"]["instrumented"]
    us = 1e6
    print(f"\n{name} ({distribution} {version}), {len(plain)} calls each, in-process session")
    print(f"  end to end   plain        p50 {percentile(plain, .5) * us:8.1f} µs   "
          f"p99 {percentile(plain, .99) * us:8.1f} µs")
    print(f"               instrumented p50 {percentile(sdk, .5) * us:8.1f} µs   "
          f"p99 {percentile(sdk, .99) * us:8.1f} µs")
    print(f"               added (p50 difference) {(statistics.median(sdk) - statistics.median(plain)) * us:8.1f} µs")
    inside = result["sdk"]
    print(f"  SDK path     p50 {percentile(inside, .5) * us:8.1f} µs   "
          f"p99 {percentile(inside, .99) * us:8.1f} µs   ({len(inside)} calls)")
    flushed = result["flushed"]
    print(f"  events: sent {flushed.sent}, dropped {flushed.dropped}, pending {flushed.pending}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=3000, help="calls per variant (3000)")
    parser.add_argument("--framework", choices=sorted(FRAMEWORKS), action="append",
                        help="measure only this one (repeatable); default: all installed")
    args = parser.parse_args()
    names = args.framework or [name for name in FRAMEWORKS if installed(name)]
    if not names:
        sys.exit("no MCP framework installed here (mcp 1.x, mcp 2.x or fastmcp 4.x)")
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    for name in names:
        report(name, asyncio.run(rounds(name, args.calls)))


if __name__ == "__main__":
    main()
