"""`yavio tui` benchmark: startup to the first painted overview, live tail latency from the
server's acknowledgement to the screen, and the TUI's memory over a long live tail under load.

It starts its own stack (`yavio up` in a temporary home, as bench/ingest.py does), sends a week
of hotel-booking traffic through `POST /v1/events`, and runs the real `yavio tui` in a tmux
terminal of 120×40, read with `capture-pane` (what a person would see):

- **startup**: from starting the process to the overview's summary sentence on the screen,
  `--starts` times (each a new process).
- **live**: on the live tail, one event at a time (`--samples`): from the 200 of its `POST` to
  its trace id on the screen (the screen is read every 5 ms).
- **soak**: the live tail for `--soak-minutes` while a sender posts `--rate` events a second
  (batches of 100); the TUI's resident memory (VmRSS) every 15 s.

Usage:
    .venv/bin/python bench/tui.py                          # the figures of the issue, ~13 minutes
    .venv/bin/python bench/tui.py --soak-minutes 1         # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import msgspec

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from ingest import OwnStack  # noqa: E402  (bench/ingest.py: `yavio up` in a temporary home)

from tests.cli.tui.seed import week_of_traffic  # noqa: E402
from tests.cli.tui.tmux import Tmux  # noqa: E402

SUMMARY = "tool calls in"
BATCH = 100


def post(url: str, key: str, events: list[dict[str, Any]]) -> None:
    response = httpx.post(f"{url}/v1/events", json={"events": events}, timeout=30,
                          headers={"Authorization": f"Bearer {key}"})
    response.raise_for_status()


def call(trace: str) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    return {"event_type": "tool_call", "event_id": str(uuid.uuid4()), "trace_id": trace,
            "session_id": "ses_bench", "source": "server", "event_name": "search_rooms",
            "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
            "latency_ms": 42.0, "status": "success", "platform": "claude"}


def tui(home: Path) -> Tmux:
    return Tmux([sys.executable, "-m", "yavio_cli", "tui"],
                env={**_environment(), "YAVIO_HOME": str(home)})


def rss_mb(session: Tmux) -> float:
    """Resident memory of the `yavio tui` process in the terminal (the pane's process or its
    child, whichever runs the TUI)."""
    pid = session.pid()
    for candidate in [pid, *_children(pid)]:
        cmdline = Path(f"/proc/{candidate}/cmdline").read_bytes()
        if b"yavio_cli" in cmdline:
            for line in Path(f"/proc/{candidate}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    raise RuntimeError("the TUI process is gone")


def startup(home: Path, starts: int) -> list[float]:
    times = []
    for _ in range(starts):
        session = tui(home)
        try:
            session.wait_for(SUMMARY, timeout=60)
            times.append(time.monotonic() - session.started)
        finally:
            session.close()
    return times


def live(session: Tmux, url: str, key: str, samples: int) -> list[float]:
    session.keys("0")
    session.wait_for("● live", timeout=30)
    latencies = []
    for number in range(samples):
        trace = f"tr_bench_{number:04d}_{uuid.uuid4().hex[:6]}"
        post(url, key, [call(trace)])
        acknowledged = time.monotonic()
        session.wait_for(trace, timeout=30, poll=0.005)
        latencies.append((time.monotonic() - acknowledged) * 1000)
        time.sleep(0.05)
    return latencies


def soak(session: Tmux, url: str, key: str, minutes: float, rate: int) -> list[tuple[float, float]]:
    stop = threading.Event()
    sent = [0]

    def sender() -> None:
        interval = BATCH / rate
        with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {key}"}) as client:
            next_at = time.monotonic()
            while not stop.is_set():
                batch = [call(f"tr_soak_{sent[0] + i}") for i in range(BATCH)]
                client.post(f"{url}/v1/events", json={"events": batch}).raise_for_status()
                sent[0] += BATCH
                next_at += interval
                time.sleep(max(0.0, next_at - time.monotonic()))

    thread = threading.Thread(target=sender, daemon=True)
    thread.start()
    samples, started = [], time.monotonic()
    try:
        while time.monotonic() - started < minutes * 60:
            samples.append((time.monotonic() - started, rss_mb(session)))
            print(f"  {samples[-1][0]:6.0f} s  RSS {samples[-1][1]:6.1f} MB  "
                  f"sent {sent[0]:,}", file=sys.stderr, flush=True)
            time.sleep(15)
        samples.append((time.monotonic() - started, rss_mb(session)))
    finally:
        stop.set()
        thread.join(timeout=30)
    print(f"  sent {sent[0]:,} events in {minutes:g} min "
          f"({sent[0] / (minutes * 60):,.0f}/s)", file=sys.stderr)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=5, help="TUI starts timed")
    parser.add_argument("--samples", type=int, default=30, help="live events timed")
    parser.add_argument("--soak-minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=1000, help="events a second in the soak")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    stack = OwnStack()
    try:
        server = stack.start()
        print("sending a week of traffic", file=sys.stderr)
        week = [msgspec.to_builtins(event) for event in
                week_of_traffic(sessions=300, start=datetime.now(timezone.utc) - timedelta(days=7))]
        for first in range(0, len(week), 500):
            post(server.url, server.api_key, week[first:first + 500])
        time.sleep(2)  # the writer's flush interval: the overview shows them
        print("timing startup", file=sys.stderr)
        starts = startup(stack.home, args.starts)
        session = tui(stack.home)
        try:
            session.wait_for(SUMMARY, timeout=60)
            print("timing the live tail", file=sys.stderr)
            latencies = sorted(live(session, server.url, server.api_key, args.samples))
            print("soak", file=sys.stderr)
            memory = soak(session, server.url, server.api_key, args.soak_minutes, args.rate)
        finally:
            session.close()
    finally:
        stack.close(keep=False)
    report = {
        "startup_s": {"p50": statistics.median(starts), "max": max(starts)},
        "live_ms": {"p50": statistics.median(latencies),
                    "p95": latencies[round(0.95 * (len(latencies) - 1))],
                    "max": latencies[-1]},
        "rss_mb": {"start": memory[0][1], "max": max(rss for _, rss in memory),
                   "end": memory[-1][1], "minutes": args.soak_minutes, "rate": args.rate},
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"startup to the painted overview: p50 {report['startup_s']['p50']:.2f} s, "
          f"max {report['startup_s']['max']:.2f} s over {args.starts} starts (target < 1.5 s)")
    print(f"live tail, ack → screen: p50 {report['live_ms']['p50']:.0f} ms, "
          f"p95 {report['live_ms']['p95']:.0f} ms, max {report['live_ms']['max']:.0f} ms over "
          f"{args.samples} events (target < 1 s)")
    rss = report["rss_mb"]
    print(f"RSS over {args.soak_minutes:g} min of live tail at {args.rate:,} events/s: "
          f"{rss['start']:.0f} MB at the start, {rss['max']:.0f} MB at most, "
          f"{rss['end']:.0f} MB at the end (target stable, < 200 MB)")
    return 0


def _children(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        children += [int(child) for child in text]
    return children + [grandchild for child in children for grandchild in _children(child)]


def _environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("YAVIO_")}


if __name__ == "__main__":
    sys.exit(main())
