"""Ingest benchmark: throughput, latency and freshness of `POST /v1/events`, printed as a table.

By default it starts its own stack (`yavio up`) in a temporary YAVIO_HOME on free loopback ports,
with the per-project rate limit raised so that the limiter does not cap the figures, creates an API
key, measures, and stops the stack again (also on Ctrl-C or an error; a failed run keeps the home,
with its logs, and says where).

For each batch size (default 1, 10, 100, 1000):
  max   closed loop: every connection of every load-generator process sends back to back; events/s
        acknowledged with 200 over `--seconds` after `--warmup`, and request latency p50/p99;
  half  open loop at 50% of that max events/s; latency counted from each request's scheduled send
        time, so a stalled server cannot hide behind a stalled client (coordinated omission).
After each phase the bench waits until `GET /v1/stats` counts every acknowledged event (the writer's
backlog), so a phase never pays for the previous one's inserts.

Soak (`--soak-minutes M`): after the phases, the open loop at 50% of the last batch size's
stored maximum (the max phase's acknowledged events over the time from its first send until the
writer had stored them all: what the stack sustains, not a burst the writer pays for later) for M
minutes, reported in six equal windows: p50/p99 and errors per window, the server's RSS at
the end of each, and the catch-up once it stops. tests/reliability/test_soak.py runs it and
checks that nothing fails and neither p99 nor RSS climbs.

Freshness (measured first, while the events table is small, so that polling stays cheap):
single-event marker batches during a moderate background load; the time from the marker's 200 to
the first `GET /v1/stats` answer that counts it. The background load pauses for the instant of each
marker send, so the exact count that includes the marker is known.

Every answer other than 200 (429, 503, 207, 4xx, connection errors) is counted and printed; only
200s count as throughput.

Usage:
    .venv/bin/python bench/ingest.py                       # own stack, all batch sizes, 10 s each
    .venv/bin/python bench/ingest.py --seconds 8 --json    # machine-readable output on stdout
    .venv/bin/python bench/ingest.py --batches 100 --seconds 30   # one batch size, e.g. to profile
    .venv/bin/python bench/ingest.py --url http://127.0.0.1:3001 --api-key yav_… --token yat_…
    .venv/bin/python bench/ingest.py --batches 100 --fresh-samples 0 --soak-minutes 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from array import array
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import msgspec

BATCH_SIZES = (1, 10, 100, 1000)
TARGETS = {
    "events_per_s_batch_100": 50_000,
    "events_per_s_batch_1": 5_000,
    "p99_ms_at_half": 50.0,
    "freshness_p95_ms": 1_000.0,
}
# High enough that the per-project token bucket never refuses the bench's load.
BENCH_RATE_LIMIT = "10000000"
REQUEST_TIMEOUT_S = 30.0
DRAIN_TIMEOUT_S = 120.0
MARKER_TIMEOUT_S = 30.0
POLL_S = 0.005  # pause between /v1/stats polls: each one costs the server a count query
SOAK_WINDOWS = 6
# Each request's body is a template whose event ids all start with this placeholder; stamping it
# with the request's sequence number (one bytes.replace in C) gives every event a fresh, unique
# UUID without encoding anything while the clock runs.
STAMP = b"@@@@@@@@"
# Load-generator control values, shared with the worker processes.
RUN, PAUSE, STOP = 0, 1, 2


# ---------------------------------------------------------------------------- realistic events

_TOOLS = (
    ("search_hotels", {"city": "Lisbon", "check_in": "2026-12-01", "nights": 3, "guests": 2}),
    ("get_hotel", {"hotel_id": "htl_4821", "currency": "EUR"}),
    ("book_room", {"hotel_id": "htl_4821", "room_type": "double", "nights": 3}),
)
_STEPS = ("searched", "viewed_hotel", "started_booking", "booked")


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _event(index: int, trace: str, session: str, moment: datetime, rng: random.Random
           ) -> dict[str, Any]:
    """One event of a hotel-booking trace: tool_call, step, track and widget_click in turn."""
    common = {
        "event_id": STAMP.decode() + str(uuid.UUID(int=rng.getrandbits(128), version=4))[8:],
        "trace_id": trace, "session_id": session, "timestamp": _iso(moment),
        "user_id": f"user_{rng.randrange(10_000)}", "platform": "chatgpt",
        "sdk_version": "0.1.0",
    }
    tool, inputs = _TOOLS[rng.randrange(len(_TOOLS))]
    kind = index % 4
    if kind == 0:
        return {**common, "event_type": "tool_call", "source": "server", "event_name": tool,
                "latency_ms": round(rng.uniform(20, 900), 1), "status": "success", "is_retry": 0,
                "input_keys": list(inputs), "input_values": inputs,
                "tokens_in": rng.randrange(50, 400), "tokens_out": rng.randrange(200, 2000),
                "country_code": "PT", "locale": "en-US"}
    if kind == 1:
        return {**common, "event_type": "step", "source": "server",
                "event_name": _STEPS[index // 4 % len(_STEPS)], "step_sequence": index // 4 % 4 + 1}
    if kind == 2:
        return {**common, "event_type": "track", "source": "server", "event_name": "filter_applied",
                "metadata": {"filter": "price", "max": 200, "results": rng.randrange(40)}}
    return {**common, "event_type": "widget_click", "source": "widget", "event_name": "book_button",
            "viewport_width": 390, "viewport_height": 844, "device_pixel_ratio": 3,
            "click_count": 1, "metadata": {"element": "button.book", "x": rng.randrange(390),
                                           "y": rng.randrange(844)}}


def body_template(batch: int, seed: int) -> bytes:
    """A request body of `batch` events whose ids start with STAMP; traces of four events each."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    events = []
    for index in range(batch):
        trace = index // 4
        events.append(_event(index, f"tr_{seed:x}_{trace}", f"ses_{seed:x}_{trace % 7}",
                             now + timedelta(milliseconds=index), rng))
    return msgspec.json.encode({"events": events, "sdk_version": "0.1.0", "sent_at": _iso(now)})


# ---------------------------------------------------------------------------- load generators

@dataclass(frozen=True)
class Job:
    """One phase for one load-generator process. Times are `time.monotonic()` values, which are
    system-wide on Linux, so every process agrees on the window."""
    batch: int
    start: float
    window_start: float
    window_end: float  # math.inf: run until the parent sets STOP
    connections: int
    rate: float | None = None  # events/s of this process (open loop); None: closed loop
    gated: bool = False  # obey PAUSE (the freshness markers need a quiet moment)
    stagger: float = 0.0  # fraction of a send interval: the processes' open loops interleave


@dataclass
class Shared:
    """Values shared between the parent and one worker. Synchronized Values: their locks are full
    memory barriers, which the pause handshake relies on (see `LoadGenerators.pause`)."""
    control: Any
    in_flight: Any
    acked: Any


def _worker_main(pipe: Any, worker_id: int, url: str, api_key: str, shared: Shared) -> None:
    # Ctrl-C belongs to the parent, which stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sequence = iter(range(1, 1 << 32))
    while True:
        try:
            job = pipe.recv()
        except EOFError:  # the parent is gone
            return
        if job is None:
            return
        pipe.send(asyncio.run(_run_job(job, worker_id, url, api_key, shared, sequence)))


async def _run_job(job: Job, worker_id: int, url: str, api_key: str, shared: Shared,
                   sequence: Any) -> dict[str, Any]:
    template = body_template(job.batch, seed=(os.getpid() << 16) ^ worker_id ^ time.time_ns())
    keys, latencies, statuses = array("d"), array("d"), array("H")
    cpu: list[float] = []
    tasks: set[asyncio.Task] = set()

    async def send(session: aiohttp.ClientSession, scheduled: float | None) -> None:
        body = template.replace(STAMP, b"%08x" % next(sequence))
        if job.gated:
            await _wait_for_gate(shared)
        started = time.monotonic()
        try:
            async with session.post(url, data=body) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, asyncio.TimeoutError):
            status = 0
        ended = time.monotonic()
        if job.gated:
            if status == 200:
                with shared.acked.get_lock():
                    shared.acked.value += job.batch
            with shared.in_flight.get_lock():
                shared.in_flight.value -= 1
        # Closed loop: a request belongs to the window it completes in. Open loop: to the window
        # it was scheduled in, and its latency runs from that schedule.
        keys.append(ended if scheduled is None else scheduled)
        latencies.append(ended - (started if scheduled is None else scheduled))
        statuses.append(status)

    async def closed_loop(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < job.window_end:
            await send(session, None)

    async def open_loop(session: aiohttp.ClientSession) -> None:
        interval = job.batch / job.rate
        scheduled = job.start + job.stagger * interval
        while scheduled < job.window_end and shared.control.value != STOP:
            delay = scheduled - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(send(session, scheduled))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            scheduled += interval
        if tasks:
            await asyncio.wait(tasks, timeout=REQUEST_TIMEOUT_S)

    async def cpu_sampler() -> None:
        for moment in (job.window_start, job.window_end):
            await asyncio.sleep(max(0.0, moment - time.monotonic()))
            cpu.append(time.process_time())

    connector = aiohttp.TCPConnector(limit=job.connections)
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=connector, headers=headers,
                                     timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
                                     ) as session:
        await asyncio.sleep(max(0.0, job.start - time.monotonic()))
        sampler = asyncio.create_task(cpu_sampler()) if job.window_end < math.inf else None
        if job.rate is None:
            await asyncio.gather(*(closed_loop(session) for _ in range(job.connections)))
        else:
            await open_loop(session)
        if sampler is not None:
            await sampler
    return {"keys": keys.tobytes(), "latencies": latencies.tobytes(),
            "statuses": statuses.tobytes(),
            "cpu_s": cpu[1] - cpu[0] if len(cpu) == 2 else None}


async def _wait_for_gate(shared: Shared) -> None:
    # In flight first, then the control check: with the parent's order (PAUSE, then read in
    # flight) one of the two always sees the other, so no request slips past a pause.
    with shared.in_flight.get_lock():
        shared.in_flight.value += 1
    while shared.control.value == PAUSE:
        with shared.in_flight.get_lock():
            shared.in_flight.value -= 1
        await asyncio.sleep(0.001)
        with shared.in_flight.get_lock():
            shared.in_flight.value += 1


@dataclass
class Sample:
    """What the load generators saw in one phase, merged over the processes."""
    batch: int
    keys: array
    latencies: array
    statuses: array
    client_cpu_s: float | None

    def in_window(self, start: float, end: float) -> tuple[list[float], Counter]:
        latencies, statuses = [], Counter()
        for key, latency, status in zip(self.keys, self.latencies, self.statuses):
            if start <= key < end:
                statuses[status] += 1
                if status == 200:
                    latencies.append(latency)
        return latencies, statuses

    def acked_events(self) -> int:
        """Every event acknowledged with 200, warm-up included: what the store must end up with."""
        return sum(1 for status in self.statuses if status == 200) * self.batch


class LoadGenerators:
    """Persistent load-generator processes (spawned once, reused by every phase)."""

    def __init__(self, count: int, url: str, api_key: str):
        context = multiprocessing.get_context("spawn")
        self.control = context.Value("i", RUN)
        self.shared = [Shared(self.control, context.Value("i", 0), context.Value("q", 0))
                       for _ in range(count)]
        self.pipes, self.processes = [], []
        for worker_id, shared in enumerate(self.shared):
            parent_end, child_end = context.Pipe()
            process = context.Process(target=_worker_main, name=f"bench-load-{worker_id}",
                                      args=(child_end, worker_id, f"{url}/v1/events", api_key,
                                            shared), daemon=True)
            process.start()
            self.pipes.append(parent_end)
            self.processes.append(process)

    def start(self, job: Job) -> None:
        self.control.value = RUN
        for shared in self.shared:
            shared.acked.value = 0
        count = len(self.pipes)
        share = None if job.rate is None else job.rate / count
        for index, pipe in enumerate(self.pipes):
            pipe.send(Job(**{**asdict(job), "rate": share, "stagger": index / count}))

    def collect(self, job: Job) -> Sample:
        results = [pipe.recv() for pipe in self.pipes]
        keys, latencies, statuses = array("d"), array("d"), array("H")
        for result in results:
            keys.frombytes(result["keys"])
            latencies.frombytes(result["latencies"])
            statuses.frombytes(result["statuses"])
        cpu = [r["cpu_s"] for r in results if r["cpu_s"] is not None]
        return Sample(job.batch, keys, latencies, statuses, sum(cpu) if cpu else None)

    def pause(self) -> None:
        """Stop new requests and wait until none is in flight (gated jobs only)."""
        self.control.value = PAUSE
        while any(shared.in_flight.value for shared in self.shared):
            time.sleep(0.0005)

    def resume(self) -> None:
        self.control.value = RUN

    def stop(self) -> None:
        self.control.value = STOP

    def acked(self) -> int:
        return sum(shared.acked.value for shared in self.shared)

    def close(self) -> None:
        for pipe, process in zip(self.pipes, self.processes):
            try:
                pipe.send(None)
            except OSError:
                pass
            process.join(timeout=2)
            if process.is_alive():
                process.terminate()
                process.join(timeout=2)


# ---------------------------------------------------------------------------- the server

@dataclass
class Server:
    url: str
    api_key: str
    token: str | None
    pid: int | None  # known only for our own stack: its CPU use is reported


class OwnStack:
    """`yavio up` in a temporary home on free ports; `close()` runs `yavio down`."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="yavio-bench-"))
        self.home = self.root / "home"
        self.started = False

    def start(self) -> Server:
        port, pg_port = _free_ports(2)
        env = dict(os.environ)
        # Our own embedded stores, whatever the caller's environment points at.
        env.pop("YAVIO_DATABASE_URL", None)
        env.pop("YAVIO_CLICKHOUSE_URL", None)
        env.update(YAVIO_PROJECT_RATE=BENCH_RATE_LIMIT, YAVIO_PROJECT_BURST=BENCH_RATE_LIMIT)
        self.started = True
        result = subprocess.run(
            [sys.executable, "-m", "yavio_cli", "up", "--home", str(self.home), "--port", str(port),
             "--pg-port", str(pg_port), "--json"],
            env=env, capture_output=True, text=True, timeout=300, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"yavio up failed: {result.stderr.strip() or result.stdout.strip()}")
        status = json.loads(result.stdout)
        secrets = json.loads((self.home / "secrets.json").read_text())
        credentials = json.loads((self.home / "credentials.json").read_text())
        return Server(url=status["server"]["url"],
                      api_key=_create_api_key(secrets, credentials["project"]["id"]),
                      token=credentials["token"], pid=status["server"]["pid"])

    def close(self, keep: bool) -> None:
        if self.started:
            subprocess.run([sys.executable, "-m", "yavio_cli", "down", "--home", str(self.home)],
                           capture_output=True, timeout=120, check=False)
        if keep:
            print(f"stack home kept: {self.home} (server log: {self.home}/logs/server.log)",
                  file=sys.stderr)
        else:
            shutil.rmtree(self.root, ignore_errors=True)


def _create_api_key(secrets: dict[str, str], project_id: str) -> str:
    # No CLI command creates keys yet, so the bench writes one straight into Postgres.
    from yavio_ingest.store.postgres import PostgresStore

    store = PostgresStore(secrets["database_url"], secrets["hmac_secret"], max_size=1)
    try:
        key, _ = store.api_keys.create(uuid.UUID(project_id), "bench")
    finally:
        store.close()
    return key


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


def _machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine have used, from /proc/stat: with the server's and
    the load generators' shares it tells how much other programs took during a phase."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU of a process, all its threads (chdb's included)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int | None) -> float | None:
    """Resident memory of a process, in MB."""
    if pid is None:
        return None
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    kilobytes = next(int(line.split()[1]) for line in status.splitlines()
                     if line.startswith("VmRSS:"))
    return round(kilobytes / 1024, 1)


class Reader:
    """`GET /v1/stats` (the only read path while the server holds chdb) and marker sends."""

    def __init__(self, server: Server):
        self.server = server
        self.http = httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT_S)
        self.poll_ms: list[float] = []

    def count(self) -> int:
        started = time.monotonic()
        response = self.http.get("/v1/stats",
                                 headers={"Authorization": f"Bearer {self.server.token}"})
        response.raise_for_status()
        self.poll_ms.append((time.monotonic() - started) * 1000)
        return response.json()["events"]

    def wait_for(self, expected: int, timeout: float) -> float | None:
        """Seconds until the store counts `expected` events, or None after `timeout`."""
        started = time.monotonic()
        while self.count() < expected:
            if time.monotonic() - started > timeout:
                return None
            time.sleep(POLL_S)
        return time.monotonic() - started

    def send_marker(self) -> int:
        event = {"event_id": str(uuid.uuid4()), "event_type": "track", "source": "server",
                 "trace_id": "tr_bench_marker", "session_id": "ses_bench_marker",
                 "timestamp": _iso(datetime.now(timezone.utc)), "event_name": "bench_marker"}
        response = self.http.post("/v1/events", content=msgspec.json.encode({"events": [event]}),
                                  headers={"Authorization": f"Bearer {self.server.api_key}"})
        return response.status_code

    def close(self) -> None:
        self.http.close()


# ---------------------------------------------------------------------------- the phases

def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted `values`."""
    if not values:
        return None
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


@dataclass
class Bench:
    """The phases, one after another against one server, and the event count it must reach."""
    server: Server
    load: LoadGenerators
    reader: Reader | None
    seconds: float
    warmup: float
    connections: int
    expected: int = 0  # events the store must count once the writer has caught up

    def phase(self, batch: int, rate: float | None) -> dict[str, Any]:
        start = time.monotonic() + 0.5  # time for every process to build its bodies
        window_start = start + self.warmup
        job = Job(batch, start, window_start, window_start + self.seconds, self.connections, rate)
        self.load.start(job)
        server_cpu, machine_cpu = [], []
        for moment in (job.window_start, job.window_end):
            time.sleep(max(0.0, moment - time.monotonic()))
            server_cpu.append(_cpu_seconds(self.server.pid))
            machine_cpu.append(_machine_busy_seconds())
        sample = self.load.collect(job)
        latencies, statuses = sample.in_window(job.window_start, job.window_end)
        latencies.sort()
        ok = statuses.pop(200, 0)
        server_pct = None if None in server_cpu else \
            round((server_cpu[1] - server_cpu[0]) / self.seconds * 100)
        client_pct = None if sample.client_cpu_s is None else \
            round(sample.client_cpu_s / self.seconds * 100)
        machine_pct = round((machine_cpu[1] - machine_cpu[0]) / self.seconds * 100)
        result = {
            "events_per_s": round(ok * batch / self.seconds, 1),
            "requests_per_s": round(ok / self.seconds, 1),
            "p50_ms": _ms(_percentile(latencies, 0.50)),
            "p99_ms": _ms(_percentile(latencies, 0.99)),
            "requests": ok,
            # Status 0: no HTTP answer (connection error or client timeout).
            "errors": {str(status): count for status, count in sorted(statuses.items())},
            # Percent of one core; "other" is everything else on the machine (other programs,
            # Postgres, the kernel's share not charged to a process).
            "server_cpu_pct": server_pct,
            "client_cpu_pct": client_pct,
            "other_cpu_pct": None if server_pct is None or client_pct is None else
            max(0, machine_pct - server_pct - client_pct),
            "machine_cpu_pct": machine_pct,
        }
        if rate is not None:
            result["offered_events_per_s"] = round(rate, 1)
        self.expected += sample.acked_events()
        result["drain_s"] = self.drain()
        if result["drain_s"] is not None:
            # What the stack sustains: acknowledged AND stored, from the first send until the
            # writer has caught up. The acknowledged rate alone runs ahead of ClickHouse's
            # inserts and merges for a while, then a load sized by it outgrows the machine.
            result["stored_events_per_s"] = round(
                sample.acked_events() / (time.monotonic() - start), 1)
        return result

    def drain(self) -> float | None:
        """Seconds after the load stopped until every acknowledged event is counted."""
        if self.reader is None:
            return None
        waited = self.reader.wait_for(self.expected, DRAIN_TIMEOUT_S)
        return None if waited is None else round(waited, 2)

    def batch_size(self, batch: int) -> dict[str, Any]:
        _progress(f"batch {batch}: max load, {self.warmup:g} s warm-up + {self.seconds:g} s")
        at_max = self.phase(batch, None)
        _progress(f"  {at_max['events_per_s']:,.0f} events/s, p99 {at_max['p99_ms']} ms, "
                  f"errors {at_max['errors'] or 0}, drained in {at_max['drain_s']} s "
                  f"({at_max.get('stored_events_per_s', 0):,.0f} events/s stored)")
        at_half = None
        if at_max["events_per_s"] > 0:
            rate = at_max["events_per_s"] / 2
            _progress(f"batch {batch}: open loop at {rate:,.0f} events/s (half)")
            at_half = self.phase(batch, rate)
            _progress(f"  p50 {at_half['p50_ms']} ms, p99 {at_half['p99_ms']} ms, "
                      f"errors {at_half['errors'] or 0}")
        return {"batch": batch, "max": at_max, "half": at_half}

    def soak(self, batch: int, rate: float, minutes: float) -> dict[str, Any]:
        """The open loop at `rate` for `minutes`, in SOAK_WINDOWS windows: latency, errors and
        the server's RSS at the end of each."""
        _progress(f"soak: open loop at {rate:,.0f} events/s (batches of {batch}) for "
                  f"{minutes:g} min")
        start = time.monotonic() + 0.5
        window_start = start + self.warmup
        length = minutes * 60 / SOAK_WINDOWS
        job = Job(batch, start, window_start, window_start + minutes * 60, self.connections, rate)
        self.load.start(job)
        bounds = [window_start + i * length for i in range(SOAK_WINDOWS + 1)]
        rss = []
        for moment in bounds[1:]:
            time.sleep(max(0.0, moment - time.monotonic()))
            rss.append(_rss_mb(self.server.pid))
            _progress(f"  {len(rss)}/{SOAK_WINDOWS}: server RSS {rss[-1]} MB")
        sample = self.load.collect(job)
        windows = []
        for (begin, end), memory in zip(zip(bounds, bounds[1:]), rss):
            latencies, statuses = sample.in_window(begin, end)
            latencies.sort()
            ok = statuses.pop(200, 0)
            windows.append({"minutes": round((end - window_start) / 60, 2), "requests": ok,
                            "p50_ms": _ms(_percentile(latencies, 0.50)),
                            "p99_ms": _ms(_percentile(latencies, 0.99)),
                            "errors": {str(k): v for k, v in sorted(statuses.items())},
                            "server_rss_mb": memory})
        self.expected += sample.acked_events()
        return {"batch": batch, "offered_events_per_s": round(rate, 1), "minutes": minutes,
                "acknowledged_events": sample.acked_events(), "windows": windows,
                "drain_s": self.drain()}

    def freshness(self, samples: int, rate: float, batch: int) -> dict[str, Any]:
        """Markers during a background load that pauses around each marker send, so the store
        must count exactly `expected + background acked + markers` once the marker is in."""
        assert self.reader is not None
        _progress(f"freshness: {samples} markers during {rate:,.0f} events/s "
                  f"(batches of {batch})")
        base = self.expected
        start = time.monotonic() + 0.5
        job = Job(batch, start, start, math.inf, self.connections, rate, gated=True)
        self.load.start(job)
        time.sleep(0.5 + self.warmup)
        self.reader.poll_ms.clear()
        delays, failures = [], Counter()
        markers = 0
        try:
            for _ in range(samples):
                # A random phase against the writer's flush timer, so the samples do not lock on.
                time.sleep(random.uniform(0.05, 0.3))
                self.load.pause()
                try:
                    status = self.reader.send_marker()
                    acked_at = time.monotonic()
                    target = base + self.load.acked() + markers + (status == 200)
                finally:
                    self.load.resume()
                if status != 200:
                    failures[str(status)] += 1
                    continue
                markers += 1
                while self.reader.count() < target:
                    if time.monotonic() - acked_at > MARKER_TIMEOUT_S:
                        failures["timeout"] += 1
                        break
                    time.sleep(POLL_S)
                else:
                    delays.append(time.monotonic() - acked_at)
        finally:
            self.load.stop()
            sample = self.load.collect(job)
        self.expected += sample.acked_events() + markers
        delays.sort()
        polls = sorted(self.reader.poll_ms)
        background_errors = Counter(str(s) for s in sample.statuses if s != 200)
        return {
            "samples": len(delays), "background_events_per_s": rate, "background_batch": batch,
            "p50_ms": _ms(_percentile(delays, 0.50)), "p95_ms": _ms(_percentile(delays, 0.95)),
            "max_ms": _ms(delays[-1] if delays else None),
            "marker_errors": dict(failures), "background_errors": dict(background_errors),
            "stats_poll_p50_ms": round(_percentile(polls, 0.5), 1) if polls else None,
            "stats_poll_p95_ms": round(_percentile(polls, 0.95), 1) if polls else None,
        }

    def stats_poll_cost(self) -> dict[str, Any]:
        """What one `/v1/stats` costs now that the table holds every event of the run."""
        assert self.reader is not None
        self.reader.poll_ms.clear()
        for _ in range(10):
            count = self.reader.count()
        return {"events_in_store": count,
                "p50_ms": round(_percentile(sorted(self.reader.poll_ms), 0.5), 1)}


# ---------------------------------------------------------------------------- the report

def _targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    by_batch = {row["batch"]: row for row in report["batches"]}
    checks = []
    for batch, name in ((100, "events_per_s_batch_100"), (1, "events_per_s_batch_1")):
        if batch in by_batch:
            value = by_batch[batch]["max"]["events_per_s"]
            checks.append({"name": f">= {TARGETS[name]:,} events/s sustained at batch {batch}",
                           "value": f"{value:,.0f} events/s", "met": value >= TARGETS[name]})
    for row in report["batches"]:
        p99 = row["half"] and row["half"]["p99_ms"]
        if p99 is not None:
            checks.append({"name": f"p99 < {TARGETS['p99_ms_at_half']:g} ms at half load, "
                                   f"batch {row['batch']}",
                           "value": f"{p99:,.1f} ms", "met": p99 < TARGETS["p99_ms_at_half"]})
    fresh = report.get("freshness")
    if fresh and fresh["p95_ms"] is not None:
        checks.append({"name": f"freshness p95 < {TARGETS['freshness_p95_ms']:,.0f} ms",
                       "value": f"{fresh['p95_ms']:,.0f} ms",
                       "met": fresh["p95_ms"] < TARGETS["freshness_p95_ms"]})
    return checks


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def _errors(row: dict[str, Any]) -> str:
    parts = []
    for phase in ("max", "half"):
        errors = row[phase] and row[phase]["errors"]
        if errors:
            listed = " ".join(f"{'no answer' if s == '0' else s}×{n}" for s, n in errors.items())
            parts.append(f"{phase}: {listed}")
    return "; ".join(parts) or "0"


def print_report(report: dict[str, Any]) -> None:
    config = report["config"]
    print("Yavio ingest benchmark: POST /v1/events over loopback")
    print(f"server:  {report['server']}")
    print(f"load:    {config['workers']} load-generator processes x {config['connections']} "
          f"keep-alive connections (aiohttp), pre-encoded bodies; {config['seconds']:g} s measured "
          f"after {config['warmup']:g} s warm-up per phase")
    print(f"machine: {report['machine']['cpus']} CPU cores shared by the server (aiohttp + "
          f"ClickHouse/chdb in-process), Postgres and the load generators: the client takes CPU "
          f"from the server, so these figures are lower bounds for a dedicated server.")
    others = [phase["other_cpu_pct"] for row in report["batches"] for phase in row.values()
              if isinstance(phase, dict) and phase.get("other_cpu_pct") is not None]
    if others and max(others) >= 25:
        print(f"warning: other programs on this machine took up to {max(others)}% of a core during "
              f"the measured windows (column 'other' below): the figures are depressed by that.")
    print()
    header = ("batch", "events/s", "req/s", "p50 ms", "p99 ms", "p50@half", "p99@half", "errors")
    rows = []
    for row in report["batches"]:
        at_max, at_half = row["max"], row["half"] or {}
        rows.append((str(row["batch"]), _fmt(at_max["events_per_s"], 0),
                     _fmt(at_max["requests_per_s"], 0), _fmt(at_max["p50_ms"]),
                     _fmt(at_max["p99_ms"]), _fmt(at_half.get("p50_ms")),
                     _fmt(at_half.get("p99_ms")), _errors(row)))
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(" | ".join(h.rjust(w) for h, w in zip(header, widths)))
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(c.rjust(w) for c, w in zip(r, widths)))
    print()
    print("events/s, req/s: answered 200 per second at max load (closed loop); p50/p99: request")
    print("round trip at max load; @half: open loop at 50% of that events/s, latency from each")
    print("request's scheduled send time; errors: every answer other than 200 (none is counted")
    print("as throughput), 'no answer' = connection error or client timeout.")
    print()
    cores = report["machine"]["cpus"]
    print(f"CPU in the measured window, % of one core (the machine has {cores * 100}%), and the")
    print("writer's catch-up: seconds after the load stopped until /v1/stats counted every")
    print("acknowledged event (ClickHouse inserts lagging behind the acks):")
    print("  batch phase  server  load-gen  other  catch-up s")
    for row in report["batches"]:
        for phase in ("max", "half"):
            figures = row[phase]
            if figures:
                print(f"  {row['batch']:>5} {phase:<5} {_pct(figures['server_cpu_pct']):>7} "
                      f"{_pct(figures['client_cpu_pct']):>9} {_pct(figures['other_cpu_pct']):>6} "
                      f"{_fmt(figures['drain_s'], 2):>11}")
    fresh = report.get("freshness")
    print()
    if fresh:
        print(f"freshness (200 ack -> counted by GET /v1/stats; measured first, on a small table), "
              f"{fresh['samples']} markers during "
              f"{fresh['background_events_per_s']:,.0f} events/s in batches of "
              f"{fresh['background_batch']}:")
        print(f"  p50 {_fmt(fresh['p50_ms'], 0)} ms, p95 {_fmt(fresh['p95_ms'], 0)} ms, "
              f"max {_fmt(fresh['max_ms'], 0)} ms; marker errors {fresh['marker_errors'] or 0}, "
              f"background errors {fresh['background_errors'] or 0}")
        print(f"  /v1/stats round trip while polling: p50 {_fmt(fresh['stats_poll_p50_ms'])} ms, "
              f"p95 {_fmt(fresh['stats_poll_p95_ms'])} ms (the resolution of these figures)")
        cost = report["stats_poll_at_end"]
        print(f"  /v1/stats round trip at the end, {cost['events_in_store']:,} events stored: "
              f"p50 {_fmt(cost['p50_ms'])} ms")
    else:
        print("freshness: not measured (--fresh-samples 0, or --url without --token)")
    soak = report.get("soak")
    if soak:
        print()
        print(f"soak: {soak['minutes']:g} min at {soak['offered_events_per_s']:,.0f} events/s "
              f"(half the stored maximum; batches of {soak['batch']}), {soak['acknowledged_events']:,} events "
              f"acknowledged, all counted {_fmt(soak['drain_s'], 2)} s after the load stopped")
        print("  until min  requests  p50 ms  p99 ms  server RSS MB  errors")
        for window in soak["windows"]:
            print(f"  {window['minutes']:>9g} {window['requests']:>9,} "
                  f"{_fmt(window['p50_ms']):>7} {_fmt(window['p99_ms']):>7} "
                  f"{_fmt(window['server_rss_mb']):>14} {window['errors'] or 0}")
    print()
    print("targets:")
    for check in report["targets"]:
        print(f"  {'met   ' if check['met'] else 'MISSED'}  {check['name']}: {check['value']}")


# ---------------------------------------------------------------------------- main

def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/ingest.py", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=2, help="warm-up seconds per phase")
    parser.add_argument("--batches", default=",".join(map(str, BATCH_SIZES)),
                        help="comma-separated batch sizes (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="load-generator processes")
    parser.add_argument("--connections", type=int, default=8,
                        help="keep-alive connections per load-generator process")
    parser.add_argument("--fresh-samples", type=int, default=50, help="freshness markers")
    parser.add_argument("--fresh-rate", type=float, default=5_000,
                        help="background events/s (batches of 100) during the freshness markers "
                             "(default: %(default)s)")
    parser.add_argument("--soak-minutes", type=float, default=0,
                        help="after the phases, this many minutes at 50%% of the last batch "
                             "size's max (default: no soak)")
    parser.add_argument("--url", help="bench this running server instead of starting a stack")
    parser.add_argument("--api-key", help="API key (yav_...) for --url")
    parser.add_argument("--token", help="access token (yat_...) for --url: enables freshness and "
                                        "the writer catch-up checks; the key's workspace must "
                                        "receive no other traffic meanwhile")
    parser.add_argument("--keep-home", action="store_true",
                        help="keep the temporary stack home (data and logs) after the run")
    parser.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    args = parser.parse_args(argv)
    if args.url and not args.api_key:
        parser.error("--url needs --api-key")
    try:
        args.batches = [int(b) for b in args.batches.split(",")]
    except ValueError:
        parser.error("--batches takes comma-separated integers, e.g. 1,100")
    if any(not 1 <= b <= 1000 for b in args.batches):
        parser.error("batch sizes are 1..1000 (the server's limit per request)")
    return args


def run(args: argparse.Namespace, server: Server, description: str) -> dict[str, Any]:
    reader = Reader(server) if server.token else None
    load = LoadGenerators(args.workers, server.url.rstrip("/"), server.api_key)
    try:
        bench = Bench(server, load, reader, args.seconds, args.warmup, args.connections)
        if reader is not None:
            bench.expected = reader.count()
        report: dict[str, Any] = {
            "machine": {"cpus": os.cpu_count()},
            "server": description,
            "config": {"seconds": args.seconds, "warmup": args.warmup, "workers": args.workers,
                       "connections": args.connections},
        }
        if reader is not None and args.fresh_samples:
            # First, while the table is small: /v1/stats counts with uniqExact over every stored
            # event, under the lock the writer's inserts need, so on a big table the polling
            # itself would dominate the delay being measured.
            report["freshness"] = bench.freshness(args.fresh_samples, args.fresh_rate, batch=100)
        report["batches"] = [bench.batch_size(batch) for batch in args.batches]
        at_max = report["batches"][-1]["max"]
        maximum = at_max.get("stored_events_per_s", at_max["events_per_s"])
        if args.soak_minutes and maximum > 0:
            report["soak"] = bench.soak(args.batches[-1], maximum / 2, args.soak_minutes)
        if reader is not None:
            report["stats_poll_at_end"] = bench.stats_poll_cost()
        report["targets"] = _targets(report)
        return report
    finally:
        load.close()
        if reader is not None:
            reader.close()


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    # `kill` cleans up like Ctrl-C does: stops the load generators and the stack.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    stack = None
    failed = True
    try:
        if args.url:
            server = Server(args.url, args.api_key, args.token, pid=None)
            description = f"{args.url} (already running; its rate limits apply)"
        else:
            stack = OwnStack()
            print(f"starting a stack in {stack.home}", file=sys.stderr, flush=True)
            server = stack.start()
            description = (f"own stack at {server.url} (embedded Postgres + chdb), per-project "
                           f"rate limit raised to {int(BENCH_RATE_LIMIT):,} events/s")
        report = run(args, server, description)
        failed = False
    except KeyboardInterrupt:
        failed = False  # nothing to investigate: do not keep the home
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if stack is not None:
            stack.close(keep=args.keep_home or failed)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
