"""The demo's history from more than one process.

Driving MCP sessions is CPU-bound Python (the client, the server and the SDK run in one event
loop), so one process is held to one core. For a large history, `yavio demo` runs a share of the
sessions in each of a few more processes: each has its own lanes of example servers and its own
relay, the same people (the same seed draws them) but sessions of its own.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import queue
import threading
from dataclasses import asdict
from datetime import datetime
from typing import Any

from yavio_cli.demo.relay import HistoryRelay, RelayStats
from yavio_cli.demo.traffic import Traffic, TrafficStats

__all__ = ["HistoryShare", "extra_processes"]

# Below this a second process costs more (about 2 s to start and import) than it saves.
MIN_EVENTS_TO_SPLIT = 10_000
MAX_PROCESSES = 4


def extra_processes(events: int) -> int:
    """How many processes beside the demo's own send history: one per further core."""
    if events < MIN_EVENTS_TO_SPLIT:
        return 0
    return min(os.cpu_count() or 1, MAX_PROCESSES) - 1


class HistoryShare:
    """`quota` events of history sent by a child process, started at once."""

    def __init__(self, url: str, key: str, *, seed: int, share: int, people: int,
                 start: datetime, end: datetime, quota: int) -> None:
        context = multiprocessing.get_context("spawn")  # the parent runs threads: never fork
        self._accepted = context.Value("q", 0, lock=False)
        self._stop = context.Event()
        self._results: Any = context.Queue()
        self._result: dict[str, Any] | None = None
        self._process = context.Process(
            target=_send_share, name=f"yavio-demo-history-{share}", daemon=True,
            args=(url, key, seed, share, people, start, end, quota, self._accepted,
                  self._stop, self._results))
        self._process.start()

    @property
    def accepted(self) -> int:
        """Events of this share the ingest accepted so far."""
        return int(self._accepted.value)

    def stop(self) -> None:
        """End the share after its lanes' current sessions (Ctrl-C, an error elsewhere)."""
        self._stop.set()

    def done(self) -> bool:
        if self._result is None:
            try:
                self._result = self._results.get_nowait()
            except queue.Empty:
                pass
        return self._result is not None or not self._process.is_alive()

    def add_to(self, traffic: TrafficStats, relay: RelayStats) -> None:
        """Wait for the share to end; add its figures to the demo's. Raises RuntimeError if
        the share failed."""
        while not self.done():
            self._process.join(0.1)
        if self._result is None:
            try:  # it may have ended just after its last word
                self._result = self._results.get(timeout=2)
            except queue.Empty:
                raise RuntimeError(f"{self._process.name} exited with "
                                   f"{self._process.exitcode}") from None
        self._process.join()
        if "error" in self._result:
            raise RuntimeError(self._result["error"])
        traffic.add(self._result["traffic"])
        relay.add(self._result["relay"])


def _send_share(url: str, key: str, seed: int, share: int, people: int, start: datetime,
                end: datetime, quota: int, accepted: Any, stop: Any, results: Any) -> None:
    """The child process: its sessions until the relay took `quota` events, then every event
    answered by the ingest; its figures on `results`."""
    relay = HistoryRelay(url)
    finished = threading.Event()

    def report() -> None:  # for the parent's progress bar
        while not finished.wait(0.2):
            accepted.value = relay.stats.accepted

    reporter = threading.Thread(target=report, name="yavio-demo-share-progress", daemon=True)
    try:
        traffic = Traffic(relay, key, url, seed=seed, people=people)
        traffic.rng.seed(seed + share)  # the same people, drawn above; sessions of its own
        reporter.start()
        asyncio.run(traffic.run(start, end, lambda: (
            stop.is_set() or relay.stats.received >= quota)))
        traffic.flush()
        relay.drain()
        stats = asdict(traffic.stats)
        results.put({"traffic": {**stats, "people": sorted(stats["people"]),
                                 "identified": sorted(stats["identified"])},
                     "relay": asdict(relay.stats)})
    except BaseException as error:  # reported to the parent, which fails the demo
        results.put({"error": f"{type(error).__name__}: {error}"})
    finally:
        finished.set()
        accepted.value = relay.stats.accepted
        relay.close()
