"""Storage benchmark: bytes on disk per event, for each ClickHouse table and for all of them.

Two sources of data:
- `--clickhouse URL`: a stack's ClickHouse as it is, `chdb:///<home>/clickhouse` of a stopped
  stack (embedded ClickHouse locks its folder while the server runs) or `http(s)://…` of a server.
- `--events FILE`: a JSON Lines export (`yavio export -o FILE`), inserted as the ingest does (the
  store's `insert_lines`, so the materialized views fill the aggregate tables) into a fresh
  embedded ClickHouse in a temporary folder, migrated to the current schema; deleted at the end.

Every table is merged first (`OPTIMIZE … FINAL`, what background merges do eventually), so the
figure does not depend on how far merging got; `--as-is` measures the parts as they are. The
figure per event divides each table's bytes by the events stored (copies included). Small
data sets read high: every part has fixed costs, and larger parts compress a little better.

Usage:
    .venv/bin/python bench/storage.py --events events.jsonl
    .venv/bin/python bench/storage.py --clickhouse chdb:///path/to/home/clickhouse --columns 15
    .venv/bin/python bench/storage.py --events events.jsonl --json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from yavio_ingest.store.clickhouse import ClickHouseStore

CHUNK = 10_000  # events per insert: the ingest's blocks are of this order

_PARTS = """
SELECT table, count(), sum(rows), sum(bytes_on_disk) FROM system.parts
WHERE active AND database = currentDatabase() GROUP BY table ORDER BY sum(bytes_on_disk) DESC
"""
_COLUMNS = """
SELECT column, sum(column_data_compressed_bytes) AS compressed,
       sum(column_data_uncompressed_bytes) FROM system.parts_columns
WHERE active AND database = currentDatabase() AND table = 'events'
GROUP BY column ORDER BY compressed DESC LIMIT {limit}
"""


def load_export(store: ClickHouseStore, path: Path) -> int:
    """Insert an export's events (one workspace, as exported) in blocks; returns how many."""
    prefix = f'{{"workspace_id":"{uuid.uuid4()}",'.encode()
    count, block = 0, []
    with path.open("rb") as lines:
        for line in lines:
            line = line.strip()
            if not line:
                continue
            block.append(prefix + line[1:])
            if len(block) == CHUNK:
                store.insert_lines(b"\n".join(block))
                count, block = count + len(block), []
    if block:
        store.insert_lines(b"\n".join(block))
        count += len(block)
    return count


def measure(store: ClickHouseStore, *, merge: bool, columns: int) -> dict[str, Any]:
    tables = [row[0] for row in store.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        "AND engine LIKE '%MergeTree'")]
    merge_seconds = None
    if merge:
        started = time.perf_counter()
        for table in tables:
            store.command(f"OPTIMIZE TABLE {table} FINAL")
        merge_seconds = round(time.perf_counter() - started, 1)
    events = store.query("SELECT count() FROM events")[0][0]
    per_event = (lambda size: round(size / events, 1)) if events else (lambda size: None)
    rows = [{"table": table, "parts": parts, "rows": count, "bytes": size,
             "bytes_per_event": per_event(size)}
            for table, parts, count, size in store.query(_PARTS)]
    total = sum(row["bytes"] for row in rows)
    costliest = [{"column": column, "bytes": size, "bytes_per_event": per_event(size),
                  "uncompressed": raw}
                 for column, size, raw in store.query(_COLUMNS.format(limit=int(columns)))]
    return {"events": events, "merged": merge, "merge_seconds": merge_seconds, "tables": rows,
            "total_bytes": total, "total_bytes_per_event": per_event(total),
            "events_columns": costliest}


def print_report(report: dict[str, Any]) -> None:
    state = (f"after OPTIMIZE FINAL ({report['merge_seconds']} s)" if report["merged"]
             else "as is, unmerged")
    print(f"{report['events']:,} events, {state}")
    print(f"{'table':<18}{'parts':>6}{'rows':>12}{'bytes':>14}{'bytes/event':>13}")
    for row in report["tables"]:
        print(f"{row['table']:<18}{row['parts']:>6}{row['rows']:>12,}{row['bytes']:>14,}"
              f"{row['bytes_per_event']:>13}")
    print(f"{'all tables':<36}{report['total_bytes']:>14,}{report['total_bytes_per_event']:>13}")
    if report["events_columns"]:
        print("\ncostliest columns of events (compressed data only)")
        for column in report["events_columns"]:
            print(f"  {column['column']:<24}{column['bytes']:>12,}  {column['bytes_per_event']:>6}"
                  f" bytes/event  ({column['uncompressed']:,} uncompressed)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--clickhouse", metavar="URL",
                        help="a stack's ClickHouse: chdb:///<dir> (stack stopped) or http(s)://…")
    source.add_argument("--events", type=Path, metavar="FILE",
                        help="a JSON Lines export, loaded into a temporary embedded ClickHouse")
    parser.add_argument("--as-is", action="store_true", help="do not merge the tables first")
    parser.add_argument("--columns", type=int, default=10,
                        help="how many of the events table's costliest columns to list")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = parser.parse_args(argv)

    folder = None
    if args.events is not None:
        folder = Path(tempfile.mkdtemp(prefix="yavio-bench-storage-"))
        url = f"chdb://{folder}"
    else:
        url = args.clickhouse
    try:
        store = ClickHouseStore(url)
        try:
            if args.events is not None:
                store.migrate()
                started = time.perf_counter()
                loaded = load_export(store, args.events)
                print(f"loaded {loaded:,} events in {time.perf_counter() - started:.1f} s",
                      file=sys.stderr)
            report = measure(store, merge=not args.as_is, columns=args.columns)
        finally:
            store.close()
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
