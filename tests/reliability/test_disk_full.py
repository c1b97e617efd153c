"""Disk full (docs/RELIABILITY.md): the spool's disk runs out while ClickHouse refuses inserts.

The spool lives on a tmpfs of DISK_BYTES, far below its byte budget, so the disk fills before
backpressure would start. Once it is full the server answers 503 `YAVIO-2402` with `Retry-After`
and acknowledges nothing it could not write; the spool holds whole records only (a copy of it
reopens without cutting anything and holds exactly the acknowledged events); and once
ClickHouse is back the spool drains, gives its space back and ingest answers 200 again, with
every acknowledged event stored once.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.ingest.conftest import ingest_settings, make_event, start_ingest_server
from tests.reliability.conftest import scaled
from tests.reliability.test_store_faults import stored_figures, wait_drained
from yavio_ingest.spool import Spool
from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_ingest.store.postgres import PostgresStore

DISK_BYTES = scaled(2, 64) << 20
BATCH = scaled(20, 200)
# Requests refused with the disk full before ClickHouse comes back.
REFUSED = scaled(20, 200)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "small-disk"
    folder.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs",
                            str(folder)], capture_output=True, text=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a {DISK_BYTES}-byte tmpfs for the spool (needs root or "
                    f"CAP_SYS_ADMIN): {mount.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


def spooled_ids(spool_copy: Path) -> list[str]:
    """The event ids a reopened spool holds after its checkpoint, in order."""
    spool = Spool(spool_copy)
    try:
        ids, position = [], spool.checkpoint
        while (batch := spool.read(position, 10_000)) is not None:
            for payload in batch.payloads:
                ids += [json.loads(line)["event_id"] for line in payload.split(b"\n")]
            position = batch.end
        return ids
    finally:
        spool.close()


async def test_a_full_spool_disk_answers_503_keeps_the_spool_whole_and_recovers(
        postgres_store: PostgresStore, clickhouse_store: ClickHouseStore, tmp_path: Path,
        small_disk: Path) -> None:
    spool_dir = small_disk / "spool"
    # No rate limit: the test fills the disk as fast as it can.
    server, test_server = await start_ingest_server(
        postgres_store, clickhouse_store, ingest_settings(
            tmp_path, spool_dir=spool_dir, project_rate=1e9, project_burst=1e9))
    acknowledged: set[str] = set()
    refused = []
    full_after = 0
    clickhouse_store.command("DETACH TABLE events")  # every insert fails: the spool only grows
    try:
        async with httpx.AsyncClient(timeout=30, headers=server.headers()) as client:
            while len(refused) < REFUSED:
                batch = [make_event() for _ in range(BATCH)]
                response = await client.post(f"{server.url}/v1/events", json={"events": batch})
                if response.status_code == 200:  # after a refusal too, if a smaller record fits
                    acknowledged.update(e["event_id"] for e in batch)
                else:
                    full_after = full_after or len(acknowledged)
                    refused.append(response)
        free_when_full = shutil.disk_usage(small_disk).free

        for response in refused:
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "YAVIO-2402"
            assert response.headers["Retry-After"] == "1"
        copy = tmp_path / "spool-copy"
        shutil.copytree(spool_dir, copy)
        sizes = {p.name: p.stat().st_size for p in copy.iterdir()}
        assert sorted(spooled_ids(copy)) == sorted(acknowledged)
        assert {p.name: p.stat().st_size for p in copy.iterdir() if p.name in sizes} == sizes, \
            "reopening the spool cut a torn record off its tail"
    finally:
        clickhouse_store.command("ATTACH TABLE events")

    try:
        drain_s = await wait_drained(server)
        # The drained segment is given back (Spool.reclaim) once the writer finds nothing more.
        for _ in range(100):
            if shutil.disk_usage(small_disk).free > DISK_BYTES // 2:
                break
            await asyncio.sleep(0.05)
        free_after = shutil.disk_usage(small_disk).free
        assert free_after > DISK_BYTES // 2, f"the spool kept its space: {free_after} bytes free"
        after = [make_event() for _ in range(BATCH)]
        response = await server.send(after)
        assert response.status_code == 200, response.text
        acknowledged.update(e["event_id"] for e in after)
        await wait_drained(server)
        figures = await asyncio.get_running_loop().run_in_executor(
            None, stored_figures, clickhouse_store, server.project_id)
    finally:
        await test_server.close()

    assert figures["ids"] == acknowledged
    assert figures["rows"] == figures["views"] == len(acknowledged), "stored twice"
    print(f"spool disk of {DISK_BYTES >> 20} MB full after {full_after} events "
          f"({free_when_full} bytes free); {len(refused)} requests refused with 503; drained "
          f"{drain_s:.2f} s after ClickHouse was back, {free_after >> 10} KB free again")
