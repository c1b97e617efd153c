"""`yavio query "SELECT …"`: one read-only SQL SELECT over the project's events, through the
server's guarded query endpoint, printed as a table (or `--json`, the endpoint's answer)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from yavio_cli import scope
from yavio_cli.connection import Connection
from yavio_cli.terminal import HomeOption, JsonOption, print_json, print_table, say

SqlArgument = Annotated[str, typer.Argument(
    metavar="SQL", show_default=False,
    help="One ClickHouse SELECT over `events` (the project's, deduplicated) and "
         "`tool_registry`.")]
MaxRowsOption = Annotated[int, typer.Option(
    "--max-rows", min=1, max=1000, help="At most this many rows (up to 1000).")]


def query(sql: SqlArgument, max_rows: MaxRowsOption = 100,
          project: scope.ProjectOption = None, workspace: scope.WorkspaceOption = None,
          home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Run one read-only SQL SELECT over the project's events (5 s at most).

    Example: `yavio query "SELECT event_name, count() AS calls FROM events WHERE event_type =
    'tool_call' GROUP BY event_name ORDER BY calls DESC"`
    """
    connection = Connection.for_home(home)
    with connection.open() as client:
        target = scope.project(client, connection, workspace, project)
        answer = client.query(target["id"], sql, max_rows)
    if as_json:
        print_json(answer)
        return
    print_table([column["name"] for column in answer["columns"]],
                ([_cell(value) for value in row] for row in answer["rows"]), empty="No rows.")
    if answer["truncated"]:
        say(f"Only the first {len(answer['rows'])} rows are shown; --max-rows raises the "
            "limit (up to 1000).")


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
