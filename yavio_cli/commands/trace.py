"""`yavio trace tr_…`: one tool call's story, server and widget events in the order they
happened, as a tree (session → trace → events)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.tree import Tree

from yavio_cli import scope
from yavio_cli.connection import Connection
from yavio_cli.terminal import HomeOption, JsonOption, console, print_json
from yavio_cli.trace_lines import event_line

TraceArgument = Annotated[str, typer.Argument(
    metavar="TRACE_ID", help="The trace's id (tr_…), e.g. from a tool result's _meta.yavio.",
    show_default=False)]


def trace(trace_id: TraceArgument, project: scope.ProjectOption = None,
          workspace: scope.WorkspaceOption = None, home: HomeOption = None,
          as_json: JsonOption = False) -> None:
    """Show one trace: the tool call, its steps, the widget's events and conversions, in order.

    Example: `yavio trace tr_V1StGXR8_Z5jdHi6B-myT`
    """
    connection = Connection.for_home(home)
    with connection.open() as client:
        target = scope.project(client, connection, workspace, project)
        found = client.trace(target["id"], trace_id)
    if as_json:
        print_json(found)
        return
    console.print(_tree(found))


def _tree(found: dict[str, Any]) -> Tree:
    session = f"session {found['sessionId']}"
    if found.get("userId"):
        session += f" · user {found['userId']}"
    if found.get("platform"):
        session += f" · {found['platform']}"
    root = Tree(escape(session))
    branch = root.add(f"[bold]trace {escape(found['traceId'])}[/]")
    for event in found["events"]:
        branch.add(event_line(event))
    return root
