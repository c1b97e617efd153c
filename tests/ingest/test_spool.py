"""The spool keeps every acknowledged record across restarts and cuts only a torn tail."""

from __future__ import annotations

from pathlib import Path

from yavio_ingest.spool import Spool


def fill(spool: Spool, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        spool.append(f'{{"n":{i}}}'.encode(), 1)


def read_all(spool: Spool) -> list[bytes]:
    batch = spool.read(spool.checkpoint, 1_000_000)
    return [] if batch is None else batch.payloads


def test_records_come_back_in_order_across_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=200)
    fill(spool, 40)
    assert len(list(tmp_path.glob("*.spool"))) > 3
    assert read_all(spool) == [f'{{"n":{i}}}'.encode() for i in range(40)]


def test_reads_stop_at_the_row_limit_and_resume_from_the_checkpoint(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=200)
    fill(spool, 25)
    first = spool.read(spool.checkpoint, 10)
    assert first.rows == 10
    spool.commit(first)
    spool.close()

    reopened = Spool(tmp_path, segment_bytes=200)
    assert read_all(reopened)[0] == b'{"n":10}'
    assert len(read_all(reopened)) == 15
    assert reopened.pending_bytes == sum(12 + len(p) for p in read_all(reopened))


def test_committed_segments_are_deleted(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=200)
    fill(spool, 40)
    spool.commit(spool.read(spool.checkpoint, 1_000_000))
    assert spool.pending_bytes == 0
    assert len(list(tmp_path.glob("*.spool"))) == 1


def test_a_torn_tail_is_cut_and_every_whole_record_survives(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    fill(spool, 5)
    spool.close()
    segment = next(tmp_path.glob("*.spool"))
    with segment.open("ab") as handle:  # a crash in the middle of a write
        handle.write(b"\x40\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00{\"n\":")

    reopened = Spool(tmp_path)
    assert read_all(reopened) == [f'{{"n":{i}}}'.encode() for i in range(5)]
    fill(reopened, 1, start=5)
    assert read_all(reopened)[-1] == b'{"n":5}'


def test_the_budget_counts_only_what_is_not_yet_committed(tmp_path: Path) -> None:
    spool = Spool(tmp_path, budget_bytes=90)  # five 20-byte records
    fill(spool, 5)
    assert spool.over_budget
    spool.commit(spool.read(spool.checkpoint, 1_000_000))
    assert not spool.over_budget


def spool_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.spool"))


def fill_megabytes(spool: Spool, megabytes: int) -> None:
    record = b'{"pad":"' + b"x" * 1000 + b'"}'
    for _ in range(megabytes * 1024):
        spool.append(record, 1)


def test_a_drained_spool_gives_its_disk_back_and_keeps_working(tmp_path: Path) -> None:
    spool = Spool(tmp_path)  # a 64 MB segment: 2 MB would otherwise stay on disk
    fill_megabytes(spool, 2)
    spool.commit(spool.read(spool.checkpoint, 1_000_000))
    assert spool_bytes(tmp_path) > 2_000_000

    spool.reclaim()
    assert spool_bytes(tmp_path) == 0
    fill(spool, 3)
    assert read_all(spool) == [b'{"n":0}', b'{"n":1}', b'{"n":2}']
    spool.close()
    reopened = Spool(tmp_path)
    assert read_all(reopened) == [b'{"n":0}', b'{"n":1}', b'{"n":2}']


def test_reclaim_keeps_what_is_not_committed_yet(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    fill_megabytes(spool, 2)
    spool.commit(spool.read(spool.checkpoint, 1_000_000))
    fill(spool, 1)  # appended after the drain read: still waiting
    spool.reclaim()
    assert read_all(spool) == [b'{"n":0}']


def test_a_segment_left_by_a_crash_during_reclaim_is_deleted_on_open(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    fill_megabytes(spool, 2)
    spool.commit(spool.read(spool.checkpoint, 1_000_000))
    drained = next(tmp_path.glob("*.spool")).read_bytes()
    spool.reclaim()
    spool.close()
    (tmp_path / "0000000001.spool").write_bytes(drained)  # the unlink never happened

    reopened = Spool(tmp_path)
    assert read_all(reopened) == []
    assert spool_bytes(tmp_path) == 0
