"""`yavio trace [tr_…]`: one tool call's story, server and widget events in the order they
happened, as a tree (session → trace → events); without an id, the project's latest call."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.tree import Tree

from yavio_cli import scope
from yavio_cli.connection import Connection
from yavio_cli.terminal import HomeOption, JsonOption, console, fail, print_json
from yavio_cli.trace_lines import event_line

TraceArgument = Annotated[str | None, typer.Argument(
    metavar="TRACE_ID", help="The trace's id (tr_…), e.g. from a tool result's _meta.yavio "
    "[default: the latest tool call's trace of the last 7 days].", show_default=False)]


def trace(trace_id: TraceArgument = None, project: scope.ProjectOption = None,
          workspace: scope.WorkspaceOption = None, home: HomeOption = None,
          as_json: JsonOption = False) -> None:
    """Show one trace: the tool call, its steps, the widget's events and conversions, in order;
    without TRACE_ID, the trace of the project's latest tool call.

    Examples: `yavio trace` · `yavio trace tr_V1StGXR8_Z5jdHi6B-myT`
    """
    connection = Connection.for_home(home)
    with connection.open() as client:
        target = scope.project(client, connection, workspace, project)
        if trace_id is None:
            # The trace list (newest first) is the cheapest way to the latest call; its
            # default range, 7 days, bounds the search.
            latest = client.traces(target["id"], limit=1)["traces"]
            if not latest:
                raise fail(f"Project {target['slug']} has no tool call in the last 7 days: "
                           "call a tool of a server wrapped with `with_yavio`, then run "
                           "`yavio trace` again.")
            trace_id = latest[0]["traceId"]
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
