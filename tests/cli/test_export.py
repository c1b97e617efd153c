"""`yavio export` against the real server (aiohttp, embedded Postgres, chdb): what was stored
comes back once per event, as it was sent, in JSON Lines, CSV and Parquet, across several
pages; a failed export leaves no file behind."""

from __future__ import annotations

import asyncio
import csv
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow
import pyarrow.parquet
import pytest
from typer.testing import CliRunner, Result

from tests.cli.test_commands_against_the_server import home_of
from tests.ingest.conftest import (  # noqa: F401  (fixtures, found by pytest in this module)
    IngestServer,
    ingest_server,
    settings_overrides,
)
from tests.ingest.test_export import (
    AFTER,
    DAY,
    as_sent,
    store_exported_fixture,
    without_storage_columns,
)
from tests.ingest.test_management import make_tenant
from yavio_cli.commands import export as export_command
from yavio_cli.main import app

RANGE = ["--from", f"{DAY}T00:00:00Z", "--to", f"{AFTER}T00:00:00Z"]


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    # 4 events a page: the 9 events of the fixture take three pages, the first boundary
    # inside the millisecond five of them share.
    monkeypatch.setattr(export_command, "PAGE_SIZE", 4)


async def export(home: Path, *args: str) -> Result:
    # The server answers on this event loop; the CLI's blocking client runs in a thread.
    return await asyncio.to_thread(CliRunner().invoke, app, ["export", *args],
                                   env={"YAVIO_HOME": str(home)})


def leftovers(folder: Path) -> list[str]:
    return [path.name for path in folder.iterdir() if path.name.endswith(".part")]


def json_text(value: Any) -> str:
    """How a sent value reads in a CSV cell or a Parquet string: text as is, the rest JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


async def test_jsonl_to_stdout_and_to_a_file_holds_every_event_once_as_sent(
        ingest_server: IngestServer, tmp_path: Path, small_pages: None) -> None:
    mine = make_tenant(ingest_server.postgres, "j")
    inside = store_exported_fixture(ingest_server, mine)
    home = home_of(tmp_path, ingest_server, mine, "viewer")

    shown = await export(home, *RANGE)
    assert shown.exit_code == 0, shown.output
    exported = [json.loads(line) for line in shown.stdout.splitlines()]
    # Oldest first, the failed call (stored twice) once, the events outside the range left out.
    assert [event["event_id"] for event in exported] == [event.event_id for event in inside]
    for event, sent in zip(exported, inside, strict=True):
        assert without_storage_columns(event, as_sent(sent)) == as_sent(sent)
    assert shown.stderr.strip() == "Exported 9 events to stdout."

    target = tmp_path / "events.jsonl"
    written = await export(home, *RANGE, "--output", str(target))
    assert written.exit_code == 0 and written.stdout == ""
    assert target.read_text().splitlines() == shown.stdout.splitlines()
    assert leftovers(tmp_path) == []

    steps = await export(home, *RANGE, "--type", "step", "--quiet")
    assert [json.loads(line)["event_name"] for line in steps.stdout.splitlines()] == [
        event.event_name for event in inside if event.__struct_config__.tag == "step"]
    assert steps.stderr == ""


async def test_csv_has_a_header_of_every_column_and_payloads_as_json_text(
        ingest_server: IngestServer, tmp_path: Path, small_pages: None) -> None:
    mine = make_tenant(ingest_server.postgres, "c")
    inside = store_exported_fixture(ingest_server, mine)
    home = home_of(tmp_path, ingest_server, mine, "viewer")
    target = tmp_path / "events.csv"  # CSV because of the extension

    result = await export(home, *RANGE, "-o", str(target))
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == f"Exported 9 events to {target}."
    with target.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = [name for (name,) in ingest_server.clickhouse.query(
        "SELECT name FROM system.columns WHERE database = currentDatabase() "
        "AND table = 'events' AND name != 'workspace_id' ORDER BY position")]
    assert list(rows[0]) == columns
    for row, event in zip(rows, inside, strict=True):
        sent = as_sent(event)
        assert row["project_id"] == mine.project_id and row["ingested_at"].endswith("Z")
        for name in columns:
            if isinstance(sent.get(name), (int, float)):  # 30 was sent, 30.0 is stored
                assert float(row[name]) == sent[name], name
            elif name in sent:
                assert row[name] == json_text(sent[name]), name
            elif name not in ("project_id", "ingested_at", "is_retry"):
                assert row[name] == "", name  # null
    call = rows[1]
    assert json.loads(call["input_values"]) == {"city": "Paris"}
    assert call["input_keys"] == '["city"]' and call["output_content"] == "3 rooms"


async def test_parquet_is_typed_by_the_contract_and_holds_what_was_stored(
        ingest_server: IngestServer, tmp_path: Path, small_pages: None) -> None:
    mine = make_tenant(ingest_server.postgres, "q")
    inside = store_exported_fixture(ingest_server, mine)
    home = home_of(tmp_path, ingest_server, mine, "viewer")
    target = tmp_path / "events.parquet"

    result = await export(home, *RANGE, "-o", str(target))
    assert result.exit_code == 0, result.output
    table = pyarrow.parquet.read_table(target)
    schema = {field.name: field.type for field in table.schema}
    assert schema["timestamp"] == pyarrow.timestamp("ms", tz="UTC")
    assert schema["latency_ms"] == schema["device_pixel_ratio"] == pyarrow.float64()
    assert schema["tokens_in"] == schema["is_retry"] == schema["step_sequence"] == (
        pyarrow.int64())
    assert schema["metadata"] == schema["event_id"] == pyarrow.string()
    rows = table.to_pylist()
    assert len(rows) == 9  # three row groups of 4, 4 and 1 events
    for row, event in zip(rows, inside, strict=True):
        sent = as_sent(event)
        assert row["timestamp"] == datetime.fromisoformat(sent.pop("timestamp"))
        stored = {name: value for name, value in row.items()
                  if value is not None and name != "timestamp"}
        for name, value in sent.items():
            expected = json_text(value) if schema[name] == pyarrow.string() else value
            assert stored[name] == expected, name
        assert set(stored) - set(sent) <= {"project_id", "ingested_at", "is_retry"}
    render = next(row for row in rows if row["event_type"] == "widget_render")
    assert render["device_pixel_ratio"] == 1.1 and rows[1]["tokens_out"] == 2


async def test_a_failed_export_leaves_no_file_and_keeps_the_one_it_would_replace(
        ingest_server: IngestServer, tmp_path: Path) -> None:
    mine, theirs = make_tenant(ingest_server.postgres, "f"), make_tenant(
        ingest_server.postgres, "g")
    store_exported_fixture(ingest_server, mine)
    outsider = home_of(tmp_path, ingest_server, theirs, "owner")
    target = tmp_path / "events.csv"
    target.write_text("yesterday's export\n")

    result = await export(outsider, *RANGE, "--project", mine.project_id, "-o", str(target))
    assert result.exit_code == 1
    assert "not found" in result.stderr.lower()
    assert target.read_text() == "yesterday's export\n" and leftovers(tmp_path) == []

    nowhere = await export(home_of(tmp_path, ingest_server, mine, "viewer"), *RANGE,
                           "-o", str(tmp_path / "no such folder" / "events.csv"))
    assert nowhere.exit_code == 1 and "Cannot write" in nowhere.stderr


@pytest.mark.parametrize("args, complaint", [
    (["--format", "parquet"], "Parquet is binary"),
    (["--from", "2026-01-01", "--last", "7d"], "not both"),
    (["--from", "last tuesday"], "not an ISO-8601 date or time"),
    (["--last", "a week"], "not a duration"),
    (["--from", "2026-02-01", "--to", "2026-01-01"], "ends before it starts"),
], ids=["parquet to stdout", "from and last", "bad time", "bad duration", "backwards"])
def test_a_usage_error_says_what_to_write_instead(tmp_path: Path, args: list[str],
                                                  complaint: str) -> None:
    result = CliRunner().invoke(app, ["export", *args],
                                env={"YAVIO_HOME": str(tmp_path), "COLUMNS": "200"})
    assert result.exit_code == 2
    assert complaint in " ".join(result.stderr.split())
