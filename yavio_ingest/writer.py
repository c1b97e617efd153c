"""The writer: drains the spool into ClickHouse in big blocks.

It flushes when 10,000 rows wait or 250 ms after the oldest one arrived (both settings), and
commits the spool checkpoint only after ClickHouse accepted the block. An insert that fails is
retried with backoff, forever: acknowledged events wait in the spool (the ingest answers 503 once
the spool exceeds its budget) and nothing is dropped.

Records after the checkpoint at start-up may already be in ClickHouse (a crash between the insert
and the checkpoint): while replaying them the writer asks ClickHouse which ids it has, so a replay
never counts an event twice, in `events` or in the aggregate views.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time

import msgspec

from yavio_ingest.dedup import RecentIds
from yavio_ingest.spool import Batch, Spool
from yavio_ingest.store.clickhouse import ClickHouseStore

log = logging.getLogger("yavio.ingest.writer")

_MAX_BACKOFF_S = 5.0
# Inserts failing this long stall the writer: past its first retries (0.1 to 1.6 s), short of a
# monitor's usual interval. `/health` then reports ClickHouse down even while it answers a ping
# (a detached or read-only table, a block it refuses), as acknowledged events pile up.
STALLED_AFTER_S = 5.0


class _EventId(msgspec.Struct):
    event_id: str


_id_decoder = msgspec.json.Decoder(_EventId)


def _event_id(line: bytes) -> str:
    return _id_decoder.decode(line).event_id.lower()


# ClickHouse codes that mean "this data cannot be inserted" rather than "not now": parse and type
# errors. Anything else (connection, missing table, server down) is retried until it works.
_DATA_ERROR_CODES = frozenset({6, 26, 27, 32, 38, 41, 53, 69, 70, 72, 117, 321, 349})
_ERROR_CODE = re.compile(r"Code: (\d+)")


def _refuses_data(error: Exception) -> bool:
    match = _ERROR_CODE.search(str(error))
    return match is not None and int(match.group(1)) in _DATA_ERROR_CODES


class Writer:
    def __init__(self, spool: Spool, store: ClickHouseStore, recent: RecentIds, *,
                 flush_rows: int = 10_000, flush_interval_s: float = 0.25):
        self.spool = spool
        self.store = store
        self.recent = recent
        self.flush_rows = flush_rows
        self.flush_interval_s = flush_interval_s
        self.inserted_rows = 0
        self.quarantined = 0
        self.quarantine_path = spool.folder / "refused.jsonl"
        self.failing_since: float | None = None
        self._replay_end = spool.end
        self._waiting_rows = 0
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="yavio-writer")

    async def stop(self, drain_timeout_s: float = 10.0) -> None:
        """Stop after a last drain of what waits. An insert is never cancelled halfway: its
        checkpoint would be lost and the block inserted again. Past the timeout the writer is
        cancelled and what is left stays in the spool for the next start."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), drain_timeout_s)
        except asyncio.TimeoutError:
            log.warning("stopping with events still in the spool; they are replayed on start")
            self._task.cancel()
        self._task = None

    async def caught_up(self, timeout_s: float = 5.0) -> bool:
        """Wait until everything appended to the spool before this call is in ClickHouse;
        False if `timeout_s` passed first (ClickHouse down or far behind)."""
        target = self.spool.end
        self._wake.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.spool.checkpoint < target:
            if loop.time() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    def appended(self, rows: int) -> None:
        """Called after each spool append: wakes the writer early once a full block waits."""
        self._waiting_rows += rows
        if self._waiting_rows >= self.flush_rows:
            self._wake.set()

    @property
    def stalled(self) -> bool:
        """Inserts have failed for STALLED_AFTER_S without a success since."""
        return (self.failing_since is not None
                and time.monotonic() - self.failing_since >= STALLED_AFTER_S)

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.flush_interval_s)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            try:
                await self._drain()
            except Exception as error:
                if self._stopping:
                    return
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                    log.error("ClickHouse insert failed, events wait in the spool: %s", error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
                continue
            if self.failing_since is not None:
                log.info("ClickHouse inserts recovered after %.1f s",
                         time.monotonic() - self.failing_since)
                self.failing_since = None
            backoff = 0.1
            if self._stopping:
                return

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._waiting_rows = 0
            batch = await loop.run_in_executor(
                None, self.spool.read, self.spool.checkpoint, self.flush_rows)
            if batch is None:
                self.spool.reclaim()
                return
            try:
                await loop.run_in_executor(None, self._insert, batch)
                await loop.run_in_executor(None, self.spool.commit, batch)
            except BaseException:
                # Part of the block may be in ClickHouse already (a bisection half, a response
                # lost after a server accepted it, or all of it with its checkpoint unwritten):
                # retry it the way a replay goes.
                self._replay_end = max(self._replay_end, batch.end)
                raise
            self.inserted_rows += batch.rows

    def _insert(self, batch: Batch) -> None:
        lines = b"\n".join(batch.payloads)
        if self.spool.checkpoint < self._replay_end:
            self._replay(lines)
        else:
            self._insert_or_quarantine(lines.split(b"\n"))

    def _insert_or_quarantine(self, lines: list[bytes]) -> None:
        """Insert `lines`; if ClickHouse refuses their data (not its availability), find the
        refused lines by bisection and set them aside, so one bad event cannot stall the spool.
        Validation should let no such event through: this is the last line of defence."""
        try:
            self.store.insert_lines(b"\n".join(lines))
        except Exception as error:
            if not _refuses_data(error):
                raise
            if len(lines) == 1:
                self._quarantine(lines[0], error)
                return
            middle = len(lines) // 2
            self._insert_or_quarantine(lines[:middle])
            self._insert_or_quarantine(lines[middle:])

    def _quarantine(self, line: bytes, error: Exception) -> None:
        reason = str(error).splitlines()[0][:500]
        log.error("ClickHouse refused an event; kept in %s: %s", self.quarantine_path, reason)
        record = b'{"reason":' + msgspec.json.encode(reason) + b',"event":' + line + b"}\n"
        fd = os.open(self.quarantine_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, record)
        finally:
            os.close(fd)
        self.quarantined += 1

    def _replay(self, lines: bytes) -> None:
        """Insert what ClickHouse lacks of a block that a crashed process may have inserted in
        part, then rebuild the aggregate rows it touches (the views may have missed or doubled
        part of it)."""
        split = lines.split(b"\n")
        ids = [_event_id(line) for line in split]
        stored = self.store.existing_event_ids(ids)
        missing = [line for line, i in zip(split, ids) if i not in stored]
        if missing:
            self._insert_or_quarantine(missing)
        self.store.rebuild_aggregates(ids)
        log.info("replayed %d events (%d were already stored)", len(ids), len(stored))

    def seed_recent_ids(self, minutes: int = 10) -> None:
        """Before serving: remember the ids ingested lately and those still waiting in the spool,
        so a client retrying after a restart (it never got its answer) is acknowledged without
        storing the event a second time."""
        rows = self.store.query(
            "SELECT event_id FROM events WHERE ingested_at > now64(3) - INTERVAL {m:UInt32} MINUTE "
            "ORDER BY ingested_at DESC LIMIT {n:UInt32}",
            {"m": minutes, "n": self.recent.capacity})
        self.recent.update(str(row[0]) for row in reversed(rows))
        position = self.spool.checkpoint
        while (batch := self.spool.read(position, self.flush_rows)) is not None:
            for payload in batch.payloads:
                self.recent.update(_event_id(line) for line in payload.split(b"\n"))
            position = batch.end
