"""Intents: why agents call each tool. The share of each tool's calls that came with an intent
(the SDK's intent capture), the latest intents, searched with `/`, each opening its trace
(Enter); and, when no call of the range carries one, the lines that turn intent capture on."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from yavio_cli.client import YavioClient
from yavio_cli.tui.bars import Bars
from yavio_cli.tui.filtered_table import FilteredTable, Row
from yavio_cli.tui.format import count, percent
from yavio_cli.tui.trace_screen import TraceScreen
from yavio_cli.tui.views.base import View

__all__ = ["Intents"]

# What README.md's "Intent" section says: the option of `with_yavio`, its variable and its
# `.yaviorc.json` key.
HOW_TO_TURN_ON = (
    "Intent capture is off by default. Turn it on where you wrap your server:\n\n"
    "    [b]from yavio_sdk import with_yavio\n"
    "    server = with_yavio(server, intent=True)[/]\n\n"
    "or set [b]YAVIO_INTENT=true[/] in its environment ([b]\"intent\": true[/] in "
    ".yaviorc.json). Agents then get a [b]context[/] argument asking what the user is trying to "
    "achieve; it is taken out before your tool runs and stored with the call.")


class Intents(View):
    key = "9"
    title = "Intents"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.latest: dict[str, dict[str, Any]] = {}  # the latest intents by row key

    def compose(self) -> ComposeResult:
        yield Static(id="intents-summary")
        yield Static(HOW_TO_TURN_ON, id="intents-how-to")
        with Vertical(id="intents-coverage", classes="panel") as coverage:
            coverage.border_title = "Coverage: calls with an intent"
            yield Bars(id="intents-by-tool")
        with Vertical(id="intents-latest", classes="panel"):
            yield FilteredTable(id="intents-table")
        yield Static(id="intents-detail")

    def on_mount(self) -> None:
        table = self.query_one(FilteredTable)
        for label in ("Time", "Tool", "Intent"):
            table.add_column(label, key=label.lower())
        self._title_latest()

    def fetch(self, client: YavioClient, project_id: str, query: dict[str, Any]) -> Any:
        return client.intents(project_id, **query)

    def show(self, data: dict[str, Any]) -> None:
        captured = bool(data["withIntent"])
        self.query_one("#intents-summary", Static).update(summary(data))
        self.query_one("#intents-how-to").display = not captured
        for part in self.query("#intents-coverage, #intents-latest, #intents-detail"):
            part.display = captured
        self.query_one("#intents-by-tool", Bars).show(
            [(tool["name"], tool["coverage"],
              f"{percent(tool['coverage'])} of {count(tool['invocations'])}")
             for tool in data["byTool"]])
        rows = [intent_row(intent) for intent in data["latest"]]
        self.latest = {key: intent for (key, _, _), intent in zip(rows, data["latest"])}
        self.query_one(FilteredTable).set_rows(rows)
        self._title_latest()
        self._describe_highlighted()

    def apply_filter(self, text: str) -> None:
        self.query_one(FilteredTable).narrow(text)
        self._title_latest()
        self._describe_highlighted()

    def _title_latest(self) -> None:
        table = self.query_one(FilteredTable)
        title = "Latest intents (Enter: trace, /: search)"
        if table.needle:
            title = (f"Intents with “{escape(table.needle)}”: {table.row_count} of "
                     f"{len(table.all_rows)} (/ to change)")
        self.query_one("#intents-latest").border_title = title

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._describe_highlighted()

    def _describe_highlighted(self) -> None:
        """The highlighted intent in full under the table: it may be longer than its column."""
        intent = self.latest.get(self.query_one(FilteredTable).highlighted_key or "")
        detail = self.query_one("#intents-detail", Static)
        if intent is None:
            detail.update("[dim]No intent matches the search.[/]" if self.latest else "")
            return
        source = "inferred" if intent["source"] == "inferred" else "from the agent"
        trace = f" · trace {intent['traceId']}" if intent["traceId"] else ""
        detail.update(Text.assemble(f"“{intent['intent']}”", (f"  {source}{trace}", "dim")))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        intent = self.latest.get(event.row_key.value or "")
        if intent is None:
            return
        if intent["traceId"]:
            self.app.push_screen(TraceScreen(intent["traceId"]))
        else:
            self.notify("This intent came without a trace.", severity="warning")


def intent_row(intent: dict[str, Any]) -> Row:
    """An intent as a row of the latest intents; `/` searches the intent's text only."""
    # one tool call per trace, read once (FINAL): its trace and time name the row
    key = f"{intent['traceId']}@{intent['timestamp']}"
    cells = (intent["timestamp"][5:16].replace("T", " "), Text(intent["tool"]),
             Text(intent["intent"]))
    return key, cells, intent["intent"]


def summary(data: dict[str, Any]) -> str:
    """One sentence: how many calls said why they were made."""
    calls, covered = data["invocations"], data["withIntent"]
    if not calls:
        return "No tool calls in this range; `t` shows a longer one."
    if not covered:
        return f"None of the {count(calls)} tool calls in this range came with an intent."
    return (f"[b]{count(covered)}[/] of {count(calls)} tool calls came with an intent "
            f"([b]{percent(data['coverage'])}[/]).")
