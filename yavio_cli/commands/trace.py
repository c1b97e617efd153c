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


def event_line(event: dict[str, Any]) -> str:
    """One event of a trace on one line (Rich markup): time, source, type and step, name,
    latency, conversion value, error."""
    parts = [f"[dim]{event['timestamp'][11:23]}[/]", f"[cyan]{event['source']:6}[/]"]
    kind = event["type"]
    if event.get("stepSequence") is not None:
        kind = f"{kind} #{event['stepSequence']}"
    parts.append(escape(kind))
    if event.get("name"):
        parts.append(f"[bold]{escape(event['name'])}[/]")
    if event.get("latencyMs") is not None:
        parts.append(f"{event['latencyMs']:.1f} ms")
    if event.get("conversionValue") is not None:
        currency = escape(event.get("conversionCurrency") or "")
        parts.append(f"{event['conversionValue']:.2f} {currency}")
    if event.get("status") == "error":
        detail = event.get("errorCategory") or "error"
        if event.get("errorMessage"):
            detail += f": {event['errorMessage']}"
        parts.append(f"[red]{escape(detail)}[/]")
    return "  ".join(parts)
