"""`yavio query` against the real server: the project's figures as a table or as the API's JSON,
a refused query as one line saying why (exit 1)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner, Result

from tests.cli.test_commands_against_the_server import home_of
from tests.ingest.conftest import (  # noqa: F401  (fixtures, found by pytest in this module)
    IngestServer,
    ingest_server,
    settings_overrides,
)
from tests.ingest.test_query import two_tenants
from yavio_cli.main import app

CALLS = ("SELECT event_name, count() AS calls, avg(latency_ms) AS mean_ms FROM events "
         "WHERE event_type = 'tool_call' GROUP BY event_name ORDER BY calls DESC")


async def run(home: Path, *args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, app, ["query", *args],
                                   env={"YAVIO_HOME": str(home), "COLUMNS": "120"})


async def test_a_query_prints_the_projects_rows_as_a_table_or_json(
        ingest_server: IngestServer, tmp_path: Path) -> None:
    mine, _ = two_tenants(ingest_server)
    home = home_of(tmp_path, ingest_server, mine, "viewer")
    shown = await run(home, CALLS)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    # search_rooms: 3 calls (one stored twice, counted once) of 10, 30 and 40 ms; book_room: 1
    # call of 20 ms.
    assert lines[0].split() == ["event_name", "calls", "mean_ms"]
    assert lines[1].split() == ["search_rooms", "3", str(80 / 3)]
    assert lines[2].split() == ["book_room", "1", "20"]

    as_json = await run(home, CALLS, "--json")
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout)["rows"] == [["search_rooms", 3, 80 / 3],
                                                  ["book_room", 1, 20.0]]

    cut = await run(home, "SELECT event_name FROM events ORDER BY timestamp", "--max-rows", "2")
    assert cut.exit_code == 0 and "Only the first 2 rows are shown" in cut.output

    refused = await run(home, "SELECT * FROM system.tables")
    assert refused.exit_code == 1
    assert "system.tables cannot" in refused.output
