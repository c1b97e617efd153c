"""The SDK under faults (docs/RELIABILITY.md): a host MCP server wrapped with `with_yavio`, called
through a real client session, while its ingest is dead, slow, answering garbage and flapping.

The host's tool calls must keep their healthy latency (the call path only enqueues, SPEC 4
"Transport"), its memory must stay bounded by the SDK's queue cap, nothing may reach it as an
exception or on its stdout, and delivery must resume once the ingest is healthy again. What the
SDK promises for events of the outage (SPEC 4 "Transport"): they wait in a queue of `queue_size`
events, the oldest dropped (counted, with a warning) beyond it; a batch in flight is retried 5
times with backoff (1 to 16 s), then dropped.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import logging
import socket
import statistics
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import free_port
from tests.reliability.conftest import scaled
from tests.sdk.frameworks import AVAILABLE, adapter
from yavio_sdk.widget_tokens import MINT_TIMEOUT

pytestmark = pytest.mark.skipif("mcp_v2" not in AVAILABLE, reason="needs mcp 2.x")

API_KEY = "yav_" + "fa" * 32
# Garbage first, while the sender has no retry wait pending (a request to the slow ingest keeps
# it busy for 10 s); dead last, so the queue holds the end of a clean outage at recovery.
FAULTS = ("garbage", "flapping", "slow", "dead")
FAULT_SECONDS = scaled(20.0, 600.0)
BASELINE_SECONDS = scaled(4.0, 60.0)
CALLS_PER_SECOND = 50  # each call makes 3 events (the call, a step, a track)
QUEUE_SIZE = scaled(500, 10_000)  # the default in the long run; small enough to fill in 5 s
SLOW_ANSWER_S = 10.0
FLAP_S = 2.0
# Delivery resumes after the retry wait the sender is in: at most 16 s × 1.25 of backoff, after a
# request to the slow ingest has timed out (10 s).
RESUME_TIMEOUT_S = 60.0


class FaultyIngest:
    """A real aiohttp server on a loopback port, in a thread with its own event loop, playing an
    ingest that is healthy (takes the events), dead (port closed), slow (answers after 10 s),
    flapping (up and down every 2 s) or answering garbage (in turn: 200 with a body that is not
    JSON, 500 with an HTML page, a body cut short, a connection reset)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Only the cities of the `search_rooms` calls received (`phase-index`): the events
        # themselves would grow this process by tens of MB in the long run, and it is the host's
        # memory that is measured.
        self.cities: set[str] = set()
        self.answered: collections.Counter[str] = collections.Counter()  # event batches, by answer
        self.mode = "healthy"
        # A success between failures keeps the sender's retry waits at 1 s, so that a fast run
        # meets every kind.
        self._garbage = itertools.cycle(("html 500", "not json", "cut short", "not json",
                                         "reset", "not json"))
        self._runner: web.AppRunner | None = None
        self._flapping: asyncio.Task | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="faulty-ingest",
                                        daemon=True)
        self._thread.start()

    def set_mode(self, mode: str) -> None:
        asyncio.run_coroutine_threadsafe(self._switch(mode), self._loop).result(30)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._switch("dead"), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _switch(self, mode: str) -> None:
        self.mode = mode
        if self._flapping is not None:
            self._flapping.cancel()
            self._flapping = None
        if mode == "dead":
            await self._down()
        else:
            await self._up()
        if mode == "flapping":
            self._flapping = asyncio.create_task(self._flap())

    async def _flap(self) -> None:
        while True:
            await asyncio.sleep(FLAP_S)
            await (self._down() if self._runner is not None else self._up())

    async def _up(self) -> None:
        if self._runner is None:
            app = web.Application()
            app.router.add_post("/v1/events", self._events)
            app.router.add_post("/v1/widget-tokens", self._widget_token)
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True).start()
            self._runner = runner

    async def _down(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()  # closes the port and every open connection

    async def _events(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if self.mode == "garbage":
            kind = next(self._garbage)
            self.answered[kind] += 1
            return await self._answer_garbage(request, kind)
        self.answered[self.mode] += 1
        if self.mode == "slow":
            await asyncio.sleep(SLOW_ANSWER_S)
        events = json.loads(body)["events"]  # aiohttp has gunzipped it
        for event in events:
            city = (event.get("input_values") or {}).get("city")
            if event.get("event_type") == "tool_call" and city:  # search_rooms, not book_room
                self.cities.add(city)
        return web.json_response({"accepted": len(events), "rejected": 0})

    async def _widget_token(self, request: web.Request) -> web.StreamResponse:
        if self.mode == "slow":
            await asyncio.sleep(SLOW_ANSWER_S)
        elif self.mode == "garbage":
            return await self._answer_garbage(request, next(self._garbage))
        return web.json_response({"token": "eyJ.widget.token", "expiresAt": 0})

    async def _answer_garbage(self, request: web.Request, kind: str) -> web.StreamResponse:
        if kind == "not json":
            return web.Response(status=200, text="<<<accepted, sort of")
        if kind == "html 500":
            return web.Response(status=500, content_type="text/html",
                                text="<html><body><h1>Internal Server Error</h1></body></html>")
        transport = request.transport
        assert transport is not None
        if kind == "cut short":
            response = web.StreamResponse(status=200, headers={"Content-Type":
                                                               "application/json"})
            response.content_length = 4096
            await response.prepare(request)
            await response.write(b'{"accepted": 10')
            transport.close()
            return response
        # A reset: SO_LINGER 0 makes the close an RST instead of a FIN.
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                                      struct.pack("ii", 1, 0))
        transport.abort()
        return web.Response()


@pytest.fixture
def faulty_ingest() -> Iterator[FaultyIngest]:
    ingest = FaultyIngest()
    ingest.set_mode("healthy")
    yield ingest
    ingest.stop()


def resident_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def call_for(client: Any, seconds: float, label: str, sender: Any,
                   watch: dict[str, Any]) -> list[float]:
    """Call `search_rooms` CALLS_PER_SECOND times a second for `seconds`, each with a city naming
    `label`; returns the latencies in ms. Samples memory and the SDK's queue once a second."""
    latencies = []
    started = time.monotonic()
    next_sample = started
    for index in itertools.count():
        due = started + index / CALLS_PER_SECOND
        now = time.monotonic()
        if now - started >= seconds:
            break
        if due > now:
            await asyncio.sleep(due - now)
        city = f"{label}-{index}"
        before = time.perf_counter()
        result = await client.call("search_rooms", {"city": city})
        latencies.append((time.perf_counter() - before) * 1000)
        assert (result.is_error, result.text) == (False, f"3 rooms in {city}"), result
        if time.monotonic() >= next_sample:
            next_sample += 1.0
            watch["rss"].append(resident_bytes())
            watch["queued"] = max(watch["queued"], sender.queued)
    return latencies


async def widget_call(client: Any) -> tuple[float, bool]:
    """A call of the widget tool `book_room`: its latency in ms, and whether its result carries
    the widget's config (the token the SDK minted for it)."""
    before = time.perf_counter()
    result = await client.call("book_room", {"room_id": "r1", "guest": "ada"})
    latency = (time.perf_counter() - before) * 1000
    assert (result.is_error, result.text) == (False, "booked r1 for ada"), result
    return latency, "yavio" in result.meta


def delivered_calls(ingest: FaultyIngest, label: str) -> set[int]:
    """The indexes of the tool calls of the phase `label` that the ingest has received."""
    found = set()
    for city in list(ingest.cities):
        phase, _, index = city.rpartition("-")
        if phase == label:
            found.add(int(index))
    return found


@pytest.mark.timeout(scaled(300, 1200))
async def test_the_host_keeps_its_latency_memory_and_output_while_the_ingest_fails(
        faulty_ingest: FaultyIngest, caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    thread_errors: list[Any] = []
    monkeypatch.setattr(threading, "excepthook", thread_errors.append)
    caplog.set_level(logging.WARNING, logger="yavio")
    framework = adapter("mcp_v2")
    server = framework.build_server(api_key=API_KEY, endpoint=faulty_ingest.url,
                                    queue_size=QUEUE_SIZE)
    sender = server._yavio_recorder.sender
    watch: dict[str, Any] = {"rss": [], "queued": 0}
    latencies: dict[str, list[float]] = {}
    dropped = 0  # events the SDK gave up, as its flush and close results count them
    try:
        async with framework.connect(server) as client:
            latencies["healthy"] = await call_for(client, BASELINE_SECONDS, "healthy", sender,
                                                  watch)
            rss_before_faults = resident_bytes()
            widget_calls = {"healthy": await widget_call(client)}
            for fault in FAULTS:
                faulty_ingest.set_mode(fault)
                latencies[fault] = await call_for(client, FAULT_SECONDS / len(FAULTS), fault,
                                                  sender, watch)
                widget_calls[fault] = await widget_call(client)
            faulty_ingest.set_mode("healthy")
            recovered_at = time.monotonic()
            # Few calls: while the sender still waits to retry they join the queue, and must
            # not push the end of the outage out of it.
            latencies["recovered"] = await call_for(client, 0.4, "recovered", sender, watch)
            loop = asyncio.get_running_loop()
            while (len(delivered_calls(faulty_ingest, "recovered")) < len(latencies["recovered"])
                   and time.monotonic() - recovered_at < RESUME_TIMEOUT_S):
                dropped += (await loop.run_in_executor(None, sender.flush, 1.0)).dropped
            resumed_after = time.monotonic() - recovered_at
    finally:
        dropped += sender.close(timeout=2).dropped

    assert capfd.readouterr().out == "", "the SDK wrote to the host's stdout"
    assert thread_errors == []
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    # The sender met every fault: each kind of garbage, and the slow ingest.
    assert set(faulty_ingest.answered) >= {"not json", "html 500", "cut short", "reset", "slow"}, \
        faulty_ingest.answered

    figures = {phase: (statistics.median(values), percentile(values, 0.99), len(values))
               for phase, values in latencies.items()}
    rss_growth = max(watch["rss"]) - rss_before_faults
    print(f"\nSDK under faults, {FAULT_SECONDS:.0f} s of faults, {CALLS_PER_SECOND} calls/s, "
          f"queue {QUEUE_SIZE}:")
    for phase, (p50, p99, calls) in figures.items():
        print(f"  {phase:9} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  calls {calls:6}  "
              f"delivered {len(delivered_calls(faulty_ingest, phase)):6}")
    print(f"  RSS {rss_before_faults / 2**20:.1f} MiB before the faults, growth "
          f"{rss_growth / 2**20:+.1f} MiB, queue max {watch['queued']}, delivery resumed "
          f"{resumed_after:.1f} s after recovery, {dropped} events dropped by the SDK; "
          f"event batches answered: {dict(faulty_ingest.answered)}")
    print("  widget tool: " + ", ".join(f"{fault} {latency:.0f} ms"
                                        for fault, (latency, _) in widget_calls.items()))

    # Latency: a call that waited on the ingest even once would take at least the sender's
    # first retry wait (1 s) or the slow ingest's 10 s; 250 ms is room for a loaded machine.
    base = latencies["healthy"]
    for phase, (p50, p99, _) in figures.items():
        assert p50 <= statistics.median(base) * 2 + 5, (phase, figures)
        assert p99 <= percentile(base, 0.99) + 250, (phase, figures)

    # Bounded memory: the queue never held more than its cap, what did not fit was dropped with
    # a warning, and the process did not grow with the events of the outage.
    assert watch["queued"] <= QUEUE_SIZE
    assert any("event queue full" in r.getMessage() for r in caplog.records)
    assert rss_growth < 64 * 2**20

    # Delivery resumed: every call made after the ingest recovered arrived, and so did the
    # newest of the outage, which waited in the queue; the oldest made room for them.
    assert len(delivered_calls(faulty_ingest, "recovered")) == len(latencies["recovered"])
    dead_calls = len(latencies["dead"])
    newest = set(range(dead_calls - 100, dead_calls))
    assert newest <= delivered_calls(faulty_ingest, "dead")
    assert len(delivered_calls(faulty_ingest, "dead")) < dead_calls

    # A widget tool waits for its token at most MINT_TIMEOUT after its handler (SPEC 4 "Widget
    # responses"), then answers without it; the plain tools above never wait.
    assert widget_calls["healthy"][1]
    for fault, (latency, _) in widget_calls.items():
        assert latency < (MINT_TIMEOUT + 1) * 1000, (fault, latency)
    assert not widget_calls["slow"][1]
