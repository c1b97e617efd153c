"""Read API benchmark: p50/p95 of every read endpoint over 1M and 10M realistic events.

For each size it creates a fresh embedded ClickHouse (chdb) and bulk-loads the events through the
store (one `INSERT … SELECT` generating the rows inside ClickHouse, so the aggregates' views fire
as they do on ingest), starts an embedded Postgres and the real server on a loopback port in this
process, creates a viewer's access token and an API key, then times each endpoint over HTTP,
sequentially (one request at a time, as a person browsing), after one warm-up request each.

The data: 30 days of traffic ending now, four events per trace (a tool call, a server step, a
widget response or a track, a widget click or a conversion), five traces per session, three
sessions per user for 60% of the sessions (the rest anonymous), four platforms, six tools (one
more registered but never called), 5% failed calls, intents on half the calls. The timing starts
once ClickHouse's background merges of the load are over.

The live stream is timed separately: from the 200 of a one-event `POST /v1/events` to the
event's arrival on an open `GET …/live` stream.

Usage:
    .venv/bin/python bench/queries.py                          # 1M and 10M events, ~6 minutes
    .venv/bin/python bench/queries.py --events 1000000 --runs 50
    .venv/bin/python bench/queries.py --json                   # machine-readable, on stdout
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from yavio_cli.local_postgres import LocalPostgres
from yavio_ingest.app import create_app
from yavio_ingest.settings import Settings
from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_ingest.store.postgres import PostgresStore

TARGETS_MS = {1_000_000: 100.0, 10_000_000: 300.0}
FUNNEL_TARGET_MS = 300.0
LIVE_TARGET_MS = 500.0
DAYS = 30
CHUNK = 1_000_000  # rows per INSERT: bounds the load's memory
TOOLS = ("search_rooms", "check_availability", "book_room", "cancel_booking", "get_weather",
         "list_hotels")
NEVER_CALLED = "export_invoice"

# Row `number` of trace `t = number / 4` at position `k = number % 4`. Everything derives from
# the row number, so a load is reproducible and a chunk needs no state from the previous one.
_LOAD = """
INSERT INTO events (event_id, event_type, workspace_id, project_id, trace_id, session_id,
    timestamp, source, event_name, user_id, platform, latency_ms, status, error_category,
    error_message, intent_signals, step_sequence, conversion_value, conversion_currency)
SELECT
    generateUUIDv4(number),
    multiIf(k = 0, 'tool_call', k = 1, 'step', k = 2,
            if(t % 3 = 0, 'widget_response', 'track'),
            if(t % 7 = 0, 'conversion', 'widget_click')),
    {workspace:UUID}, {project:UUID},
    concat('tr_', toString(t)), concat('ses_', toString(intDiv(t, 5))),
    toDateTime64({start:String}, 3, 'UTC')
        + toIntervalMillisecond(intDiv(t * {span_ms:UInt64}, {traces:UInt64}) + k),
    if(k = 3 AND t % 7 != 0, 'widget', 'server'),
    multiIf(k = 0, arrayElement({tools:Array(String)}, 1 + cityHash64(t) % length({tools:Array(String)})),
            k = 1, arrayElement(['rooms_found', 'room_selected', 'details_completed'], 1 + t % 3),
            k = 2 AND t % 3 != 0, 'filter_changed',
            k = 3 AND t % 7 = 0, 'booking_completed', ''),
    if(intDiv(t, 5) % 5 < 3, concat('user_', toString(intDiv(intDiv(t, 5), 3) % 200000)), ''),
    arrayElement(['chatgpt', 'claude', 'cursor', 'vscode'], 1 + cityHash64(intDiv(t, 5)) % 4),
    if(k = 0, round(5 + (cityHash64(number) % 10000) / 40.0, 1), NULL),
    if(k = 0, if(cityHash64(t, 1) % 20 = 0, 'error', 'success'), ''),
    if(k = 0 AND cityHash64(t, 1) % 20 = 0,
       arrayElement(['auth', 'server', 'rate_limit', 'validation'], 1 + cityHash64(t, 2) % 4), ''),
    if(k = 0 AND cityHash64(t, 1) % 20 = 0, 'upstream said no', ''),
    if(k = 0 AND t % 2 = 0,
       '{"intent":"find a quiet room near the station","source":"context_parameter"}', ''),
    if(k = 1, toUInt32(0), NULL),
    if(k = 3 AND t % 7 = 0, 100 + t % 500, NULL),
    if(k = 3 AND t % 7 = 0, 'EUR', '')
FROM (SELECT number, intDiv(number, 4) AS t, number % 4 AS k
      FROM numbers({first:UInt64}, {count:UInt64}))
"""

_REGISTER = """
INSERT INTO events (event_id, event_type, workspace_id, project_id, trace_id, session_id,
    timestamp, source, tool_name, description, input_schema)
SELECT generateUUIDv4(number), 'tool_discovery', {workspace:UUID}, {project:UUID}, '',
       'ses_registration', toDateTime64({start:String}, 3, 'UTC'), 'server',
       arrayElement({names:Array(String)}, number + 1), 'A hotel tool',
       '{"type":"object","properties":{"city":{"type":"string"}}}'
FROM numbers(length({names:Array(String)}))
"""


def load(store: ClickHouseStore, workspace: str, project: str, events: int, now: datetime,
         ) -> float:
    """Generate `events` rows (and the tool registrations); returns the seconds it took."""
    started = time.perf_counter()
    start = now - timedelta(days=DAYS)
    parameters = {"workspace": workspace, "project": project, "traces": events // 4,
                  "span_ms": DAYS * 86_400_000, "tools": list(TOOLS),
                  "start": start.strftime("%Y-%m-%d %H:%M:%S.000")}
    for first in range(0, events, CHUNK):
        count = min(CHUNK, events - first)
        store.command(_LOAD, {**parameters, "first": first, "count": count})
        _progress(f"  loaded {first + count:,} / {events:,} events")
    store.command(_REGISTER, {**parameters, "names": [*TOOLS, NEVER_CALLED]})
    return time.perf_counter() - started


def settle(store: ClickHouseStore, timeout_s: float = 300) -> float:
    """Wait until ClickHouse's background merges of the load are over (a server in steady state
    is not merging a fresh 10M rows while it answers); returns the seconds waited."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if not store.command("SELECT count() FROM system.merges"):
            break
        time.sleep(0.5)
    return time.perf_counter() - started


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Stack:
    """Embedded Postgres, chdb and the real server, in a temporary folder of this process."""

    def __init__(self, root: Path):
        self.root = root
        self.secret = uuid.uuid4().hex * 2
        password = uuid.uuid4().hex
        self.local = LocalPostgres(root / "postgres", _free_port(), root / "postgres.log")
        self.local.initialize(uuid.uuid4().hex, password)
        self.postgres = PostgresStore(self.local.app_url(password), self.secret)
        self.postgres.migrate()
        self.clickhouse = ClickHouseStore(f"chdb://{root / 'clickhouse'}")
        self.clickhouse.migrate()
        owner = self.postgres.users.create("bench@example.com")
        workspace = self.postgres.workspaces.create("Bench", "bench", owner.id)
        project = self.postgres.projects.create(workspace.id, "Hotel", "hotel")
        self.workspace_id, self.project_id = str(workspace.id), str(project.id)
        self.token, _ = self.postgres.access_tokens.create(owner.id, "bench")
        self.api_key, _ = self.postgres.api_keys.create(project.id, "bench")
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None

    def serve(self) -> None:
        settings = Settings(home=self.root, database_url="unused", clickhouse_url="unused",
                            hmac_secret=self.secret, jwt_secret="jwt-" + self.secret,
                            project_rate=1e9, project_burst=1e9)
        app = create_app(settings, self.postgres, self.clickhouse)
        port = _free_port()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()

        async def start() -> web.AppRunner:
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            return runner

        self._runner = asyncio.run_coroutine_threadsafe(start(), self._loop).result(60)
        self.url = f"http://127.0.0.1:{port}"

    def close(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(60)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self.postgres.close()
        self.clickhouse.close()
        self.local.stop()


@contextmanager
def stack(keep: bool) -> Iterator[Stack]:
    root = Path(tempfile.mkdtemp(prefix="yavio-bench-queries-"))
    built = None
    try:
        built = Stack(root)
        yield built
    finally:
        if built is not None:
            built.close()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def endpoints(project: str, now: datetime, traces: int,
              ) -> list[tuple[str, str, dict[str, Any]]]:
    """(name, path, query) of every read endpoint, over the last 7 days (the TUI's default)."""
    week = {"from": (now - timedelta(days=7)).isoformat(), "to": now.isoformat()}
    base = f"/v1/projects/{project}"
    funnel = {**week, "step": ["tool_call:search_rooms", "step:rooms_found", "widget_response",
                               "conversion:booking_completed"]}
    return [
        ("overview", f"{base}/overview", week),
        ("overview 30 d", f"{base}/overview", {"from": (now - timedelta(days=30)).isoformat(),
                                               "to": now.isoformat()}),
        ("tools", f"{base}/tools", week),
        ("tool detail", f"{base}/tools/search_rooms", week),
        ("errors", f"{base}/errors", week),
        ("intents", f"{base}/intents", week),
        ("traces", f"{base}/traces", week),
        ("traces of a user", f"{base}/traces", {**week, "user": "user_42"}),
        ("trace", f"{base}/traces/tr_{traces // 2}", {}),
        ("sessions", f"{base}/sessions", week),
        ("users", f"{base}/users", week),
        ("user", f"{base}/users/user_42", week),
        ("funnel, 4 steps", f"{base}/funnel", funnel),
        ("paths", f"{base}/paths", week),
        ("export page", f"{base}/events", {**week, "limit": 1000}),
        ("query", f"{base}/query", {}),
    ]


def time_endpoint(client: httpx.Client, path: str, query: dict[str, Any], runs: int,
                  ) -> dict[str, Any]:
    def once() -> tuple[float, int]:
        started = time.perf_counter()
        if path.endswith("/query"):
            response = client.post(path, json={"sql": "SELECT event_name, count() FROM events "
                                               "WHERE event_type = 'tool_call' GROUP BY 1"})
        else:
            response = client.get(path, params=query)
        return (time.perf_counter() - started) * 1000, response.status_code

    _, status = once()  # warm-up
    times = sorted(once()[0] for _ in range(runs))
    return {"status": status, "p50_ms": statistics.median(times),
            "p95_ms": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]}


def live_latency(stack_: Stack, samples: int) -> dict[str, Any]:
    """Ack → arrival on the live stream, `samples` times, one event at a time."""
    arrivals: dict[str, float] = {}
    ready = threading.Event()
    stop = threading.Event()
    headers = {"Authorization": f"Bearer {stack_.token}"}

    def listen() -> None:
        with httpx.Client(base_url=stack_.url, headers=headers, timeout=None) as client, \
                client.stream("GET", f"/v1/projects/{stack_.project_id}/live",
                              params={"type": "track"}) as stream:
            for line in stream.iter_lines():
                ready.set()
                if line.startswith("id: "):
                    arrivals[line[4:].strip()] = time.perf_counter()
                if stop.is_set() and len(arrivals) >= samples:
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    if not ready.wait(10):
        return {"error": "the live stream did not open"}
    latencies = []
    with httpx.Client(base_url=stack_.url, timeout=10,
                      headers={"Authorization": f"Bearer {stack_.api_key}"}) as client:
        for index in range(samples):
            event_id = str(uuid.uuid4())
            when = datetime.now(timezone.utc)
            event = {"event_id": event_id, "event_type": "track", "event_name": "bench_ping",
                     "trace_id": f"tr_live_{index}", "session_id": "ses_live",
                     "timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.")
                     + f"{when.microsecond // 1000:03d}Z", "source": "server"}
            response = client.post("/v1/events", json={"events": [event]})
            acked = time.perf_counter()
            if response.status_code != 200:
                return {"error": f"POST /v1/events answered {response.status_code}"}
            deadline = acked + 5
            while event_id not in arrivals and time.perf_counter() < deadline:
                time.sleep(0.0005)
            if event_id in arrivals:
                latencies.append((arrivals[event_id] - acked) * 1000)
            time.sleep(0.02)
    stop.set()
    latencies.sort()
    if not latencies:
        return {"error": "no event arrived"}
    return {"samples": len(latencies), "lost": samples - len(latencies),
            "p50_ms": statistics.median(latencies),
            "p95_ms": latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]}


def run_size(events: int, runs: int, keep: bool) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    with stack(keep) as built:
        _progress(f"{events:,} events: loading")
        load_s = load(built.clickhouse, built.workspace_id, built.project_id, events, now)
        settle_s = settle(built.clickhouse)
        built.serve()
        results: dict[str, Any] = {"events": events, "load_s": load_s, "settle_s": settle_s,
                                   "endpoints": {}}
        with httpx.Client(base_url=built.url, timeout=120,
                          headers={"Authorization": f"Bearer {built.token}"}) as client:
            for name, path, query in endpoints(built.project_id, now, events // 4):
                _progress(f"  timing {name}")
                results["endpoints"][name] = time_endpoint(client, path, query, runs)
        _progress("  timing the live stream")
        results["live"] = live_latency(built, samples=50)
    return results


def print_report(reports: list[dict[str, Any]]) -> None:
    names = list(reports[0]["endpoints"])
    columns = (f"{report['events']:,} p50 / p95 ms" for report in reports)
    header = f"{'endpoint':20}" + "".join(f"{column:>26}" for column in columns)
    print(header)
    for name in names:
        cells = []
        for report in reports:
            row = report["endpoints"][name]
            target = FUNNEL_TARGET_MS if name.startswith("funnel") else \
                TARGETS_MS.get(report["events"])
            mark = "" if row["status"] == 200 else f" ({row['status']})"
            if row["status"] == 200 and target is not None and row["p95_ms"] >= target:
                mark = " over"
            cells.append(f"{row['p50_ms']:9.1f} / {row['p95_ms']:7.1f}{mark:>6}")
        print(f"{name:20}" + "".join(f"{cell:>26}" for cell in cells))
    for report in reports:
        live = report["live"]
        figures = live.get("error") or (f"p50 {live['p50_ms']:.1f} ms, p95 {live['p95_ms']:.1f}"
                                        f" ms over {live['samples']} events (target "
                                        f"< {LIVE_TARGET_MS:.0f} ms)")
        print(f"live stream, ack → client, {report['events']:,} events: {figures}")
        print(f"load of {report['events']:,} events: {report['load_s']:.1f} s, then "
              f"{report['settle_s']:.1f} s of background merges")
    print("targets: p95 < 100 ms at 1M events, < 300 ms at 10M; a 4-step funnel < 300 ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", default="1000000,10000000",
                        help="comma-separated data sizes (default: 1M and 10M)")
    parser.add_argument("--runs", type=int, default=30, help="timed requests per endpoint")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = parser.parse_args(argv)
    sizes = [int(size.replace("_", "")) for size in args.events.split(",")]
    reports = [run_size(size, args.runs, args.keep) for size in sizes]
    if args.json:
        print(json.dumps(reports, indent=2))
    else:
        print_report(reports)
    return 0


if __name__ == "__main__":
    sys.exit(main())
