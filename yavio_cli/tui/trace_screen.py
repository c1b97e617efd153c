"""One trace as a tree, opened from any list of the dashboard (Enter): the session and user,
the trace, and its server and widget events in the order they happened (`event_line`: time,
source, type and step, name, latency, conversion value, error), each expandable (Enter or
Space) to its payload: the tool call's input, output and intent, the event's metadata and id.
`e` expands or collapses every event, `r` reads the trace again, Esc goes back."""

from __future__ import annotations

import json
from typing import Any

from rich.highlighter import JSONHighlighter
from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode

from yavio_cli.client import YavioClient
from yavio_cli.trace_lines import event_line
from yavio_cli.tui.detail_screen import DetailScreen
from yavio_cli.tui.footer import KeysFooter
from yavio_cli.tui.format import count, duration

__all__ = ["TraceScreen"]

# An event's payload fields, in the order they are shown when it is expanded.
PAYLOAD = ("input", "output", "intent", "metadata")

_highlight = JSONHighlighter()


class TraceScreen(DetailScreen):
    BINDINGS = [Binding("e", "expand_all", "Expand all"),
                Binding("r", "reload", "Reload")]
    follows_range = False  # a trace is the same whatever the range

    def __init__(self, trace_id: str) -> None:
        super().__init__()
        self.trace_id = trace_id
        self.not_found = f"No trace {trace_id} in this project."

    def compose(self) -> ComposeResult:
        yield Static(f"[b]Trace[/] {escape(self.trace_id)} [dim]loading…[/]", id="trace-title")
        yield Tree("", id="trace-tree")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one(Tree).show_root = False

    def fetch(self, client: YavioClient, project_id: str, query: dict[str, Any]) -> Any:
        return client.trace(project_id, self.trace_id)

    def show_failure(self, message: str) -> None:
        self.query_one("#trace-title", Static).update(
            f"[b]Trace[/] {escape(self.trace_id)}  [red]{escape(message)}[/]")

    def show(self, found: dict[str, Any]) -> None:
        self.query_one("#trace-title", Static).update(title(found))
        tree = self.query_one(Tree)
        # a reload keeps the events a person opened and the line they were on
        opened = {node.data for node in _events(tree) if node.is_expanded}
        line = tree.cursor_line
        tree.clear()
        session = f"session {found['sessionId']}"
        if found.get("userId"):
            session += f" · user {found['userId']}"
        if found.get("platform"):
            session += f" · {found['platform']}"
        top = tree.root.add(f"[b]{escape(session)}[/]", expand=True)
        branch = top.add(f"[b]trace {escape(found['traceId'])}[/]", expand=True)
        for event in found["events"]:
            node = branch.add(event_line(event), data=event["eventId"],
                              expand=event["eventId"] in opened)
            for name in PAYLOAD:
                if event.get(name) is not None:
                    _add_value(node, Text(name, style="magenta"), event[name])
            node.add_leaf(Text.assemble(("event id ", "dim"), (event["eventId"], "dim")))
        tree.cursor_line = line if line >= 0 else 2  # the tool call, on the first load
        tree.focus()

    def action_expand_all(self) -> None:
        """Open every event to its payload; when all are open, close them all."""
        events = list(_events(self.query_one(Tree)))
        closing = all(node.is_expanded for node in events)
        for node in events:
            if closing:
                node.collapse()
            else:
                node.expand_all()


def title(found: dict[str, Any]) -> str:
    """The trace in one line: its tool call (name, status, latency), how many events, and the
    conversions it led to."""
    events = found["events"]
    parts = [f"[b]Trace[/] {escape(found['traceId'])}"]
    call = next((event for event in events if event["type"] == "tool_call"), None)
    if call is not None:
        status = call["status"] or "—"
        parts += [f"[b]{escape(call['name'] or '?')}[/]",
                  f"[{'red' if status == 'error' else 'green'}]{status}[/]",
                  duration(call["latencyMs"])]
    parts.append(f"{count(len(events))} events")
    conversions = sum(event["type"] == "conversion" for event in events)
    if conversions:
        parts.append(f"{count(conversions)} conversion{'s' * (conversions > 1)}")
    return " · ".join(parts)


def _events(tree: Tree[str]) -> list[TreeNode[str]]:
    """The event nodes (the trace's children), for expanding them together or again."""
    return [node for top in tree.root.children for branch in top.children
            for node in branch.children]


def _add_value(parent: TreeNode[str], name: Text, value: Any) -> None:
    """`value` (decoded JSON) under `parent` as `name`: a scalar on one line, an object or a
    list as a branch (open) with one child per key or item."""
    if isinstance(value, (dict, list)) and value:
        items = value.items() if isinstance(value, dict) else enumerate(value)
        shape = f" {{{len(value)}}}" if isinstance(value, dict) else f" [{len(value)}]"
        node = parent.add(Text.assemble(name, (shape, "dim")), expand=True)
        for key, item in items:
            _add_value(node, Text(str(key), style="bold"), item)
    else:
        parent.add_leaf(Text.assemble(name, "  ",
                                      _highlight(Text(json.dumps(value, ensure_ascii=False)))))
