"""The spool: an append-only log of acknowledged events on local disk (ARCHITECTURE "Durability").

A batch is acknowledged only after its record is appended here, in one write; the writer drains
records into ClickHouse and commits a checkpoint only after ClickHouse accepted them. On start the
log is replayed from the checkpoint. So an acknowledged event survives a crash of the process at
any point (and, with `fsync`, of the machine).

Layout: numbered segment files `NNNNNNNNNN.spool` and a `checkpoint` file. A record is a 12-byte
header (payload length, CRC-32 of the payload, row count) and the payload: JSONEachRow lines. A torn
record at the tail (a crash mid-write) fails its length or CRC and is cut off on open: it was never
acknowledged. The checkpoint is rewritten in place at a fixed width, so moving it never needs disk
space: a full disk cannot keep the spool from draining and deleting what it drained. (A write of
that size into one page is never seen half done after a crash of the process.)
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

_HEADER = struct.Struct("<III")
_SUFFIX = ".spool"
_CHUNK_BYTES = 16 << 20
# A drained segment at least this large is deleted at once (`reclaim`) instead of waiting for the
# segment to fill: an idle server should not keep up to a segment of events already stored.
_RECLAIM_BYTES = 1 << 20
_CHECKPOINT_BYTES = 64


@dataclass(frozen=True, order=True)
class Position:
    segment: int
    offset: int


@dataclass(frozen=True)
class Batch:
    """Consecutive records read from the spool: their payloads, row count, size and end."""
    payloads: list[bytes]
    rows: int
    size: int
    end: Position


class Spool:
    def __init__(self, folder: Path, *, segment_bytes: int = 64 << 20,
                 budget_bytes: int = 1 << 30, fsync: bool = False):
        self.folder = folder
        self.segment_bytes = segment_bytes
        self.budget_bytes = budget_bytes
        self.fsync = fsync
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.checkpoint = self._read_checkpoint()
        self._checkpoint_fd = os.open(folder / "checkpoint", os.O_RDWR | os.O_CREAT, 0o600)
        self._write_checkpoint(self.checkpoint)
        for segment in self._segments():  # left by a crash in `reclaim` before its unlink
            if segment < self.checkpoint.segment:
                self._path(segment).unlink()
        segments = self._segments()
        self._segment = segments[-1] if segments else max(self.checkpoint.segment, 1)
        self._size = self._recover_tail(self._segment)
        self._fd = os.open(self._path(self._segment), os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                           0o600)
        self.pending_bytes = sum(self._path(s).stat().st_size for s in segments
                                 if s >= self.checkpoint.segment) - self.checkpoint.offset
        self._sync_task: asyncio.Task | None = None

    @property
    def end(self) -> Position:
        """Where the next record will be appended."""
        return Position(self._segment, self._size)

    @property
    def over_budget(self) -> bool:
        return self.pending_bytes > self.budget_bytes

    def append(self, payload: bytes, rows: int) -> None:
        """Append one record with one write; durable against a process crash on return."""
        if self._size >= self.segment_bytes:
            self._rotate()
        record = _HEADER.pack(len(payload), zlib.crc32(payload), rows) + payload
        written = os.write(self._fd, record)
        if written != len(record):  # a short write to a regular file means the disk is full
            os.ftruncate(self._fd, self._size)
            raise OSError(f"spool write cut short ({written} of {len(record)} bytes)")
        self._size += len(record)
        self.pending_bytes += len(record)

    async def sync(self) -> None:
        """With `fsync`, wait until everything appended so far is on disk. Requests that arrive
        while a sync runs share the next one (group commit)."""
        if not self.fsync:
            return
        while self._sync_task is not None:
            await asyncio.shield(self._sync_task)
        loop = asyncio.get_running_loop()
        self._sync_task = asyncio.ensure_future(loop.run_in_executor(None, os.fsync, self._fd))
        try:
            await self._sync_task
        finally:
            self._sync_task = None

    def read(self, start: Position, max_rows: int) -> Batch | None:
        """Records from `start` until `max_rows` rows (at least one record), or None if none.

        Safe to call from another thread while the event loop appends: it reads only up to the
        size recorded after the last completed append, never a record still being written.
        """
        payloads: list[bytes] = []
        rows = size = 0
        position = start
        while rows < max_rows:
            appended = self._size if position.segment == self._segment else None
            data = self._chunk(position, appended)
            cursor = 0
            while cursor + _HEADER.size <= len(data) and rows < max_rows:
                length, _, count = _HEADER.unpack_from(data, cursor)
                end = cursor + _HEADER.size + length
                if end > len(data):
                    break
                payloads.append(data[cursor + _HEADER.size:end])
                rows += count
                size += end - cursor
                cursor = end
            position = Position(position.segment, position.offset + cursor)
            if rows >= max_rows:
                break
            if appended is None and position.segment < self._segment and \
                    position.offset >= self._path(position.segment).stat().st_size:
                position = Position(position.segment + 1, 0)  # segment done: on to the next
                continue
            if cursor > 0:  # the chunk ended at or inside a record: more may follow
                continue
            break
        if not payloads:
            return None
        return Batch(payloads, rows, size, position)

    def _chunk(self, position: Position, limit: int | None) -> bytes:
        # Records are at most ~1 MB (a 512 KB body plus enrichment), so a chunk holds many.
        want = _CHUNK_BYTES if limit is None else min(_CHUNK_BYTES, limit - position.offset)
        if want <= 0:
            return b""
        try:
            with self._path(position.segment).open("rb") as handle:
                handle.seek(position.offset)
                return handle.read(want)
        except FileNotFoundError:
            return b""

    def commit(self, batch: Batch) -> None:
        """Record that `batch` is in ClickHouse: move the checkpoint, drop finished segments."""
        self._move_checkpoint(batch.end)
        self.pending_bytes -= batch.size

    def reclaim(self) -> None:
        """If everything appended is committed and the current segment has grown past
        `_RECLAIM_BYTES`, start a new segment and delete the drained one.

        Only while nothing appends or reads: the writer calls it on the event loop (where
        appends run) once a drain found nothing more to read.
        """
        if self.checkpoint != self.end or self._size < _RECLAIM_BYTES:
            return
        self._rotate()
        self._move_checkpoint(self.end)

    def _move_checkpoint(self, position: Position) -> None:
        """Record `position` as committed, then delete the segments wholly before it (a crash
        in between leaves them to the next open, which deletes them)."""
        self._write_checkpoint(position)
        finished = range(self.checkpoint.segment, position.segment)
        self.checkpoint = position
        for segment in finished:
            self._path(segment).unlink(missing_ok=True)

    def _write_checkpoint(self, position: Position) -> None:
        record = json.dumps({"segment": position.segment, "offset": position.offset}).encode()
        os.pwrite(self._checkpoint_fd, record.ljust(_CHECKPOINT_BYTES), 0)

    def close(self) -> None:
        os.close(self._fd)
        os.close(self._checkpoint_fd)

    def _rotate(self) -> None:
        os.close(self._fd)
        self._segment += 1
        self._size = 0
        self._fd = os.open(self._path(self._segment), os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                           0o600)

    def _path(self, segment: int) -> Path:
        return self.folder / f"{segment:010d}{_SUFFIX}"

    def _segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.folder.glob(f"*{_SUFFIX}") if p.stem.isdigit())

    def _read_checkpoint(self) -> Position:
        try:
            text = (self.folder / "checkpoint").read_text()
        except FileNotFoundError:
            text = ""
        if not text.strip():  # none yet, or a crash right after creating the file
            segments = self._segments()
            return Position(segments[0] if segments else 1, 0)
        stored = json.loads(text)
        return Position(int(stored["segment"]), int(stored["offset"]))

    def _recover_tail(self, segment: int) -> int:
        """The size of the valid records of `segment`; a torn tail is cut off."""
        path = self._path(segment)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return 0
        cursor = 0
        while cursor + _HEADER.size <= len(data):
            length, crc, _ = _HEADER.unpack_from(data, cursor)
            end = cursor + _HEADER.size + length
            if end > len(data) or zlib.crc32(data[cursor + _HEADER.size:end]) != crc:
                break
            cursor = end
        if cursor != len(data):
            with path.open("r+b") as handle:
                handle.truncate(cursor)
        return cursor
