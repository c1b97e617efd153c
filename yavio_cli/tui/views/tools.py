"""Tools: every tool of the project with its calls, success and error rates, latency
percentiles and when it was last called, and the registered tools nobody called in the range
(dimmed, "never called"). `s` cycles the column the table is sorted by, `S` turns the order
round, `/` narrows the rows by tool name and Enter opens the tool's detail."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from yavio_cli.client import YavioClient
from yavio_cli.tui.format import count, duration, percent
from yavio_cli.tui.tool_screen import ToolScreen
from yavio_cli.tui.views.base import View

__all__ = ["Tools"]

EMPTY = ("No tools yet: they appear here once your server registers them or its tools are "
         "called (`yavio demo` shows an example).")


@dataclass(frozen=True)
class Column:
    """A column of the table: `value` is what it sorts by (None: the tool has no such figure,
    e.g. a tool never called, and sorts last either way), `cell` how it reads; `descending`
    is the order a person wants first (the most called, the slowest, the latest...)."""

    key: str
    label: str
    value: Callable[[dict[str, Any]], Any]
    cell: Callable[[dict[str, Any]], str]
    descending: bool = True
    numeric: bool = True


COLUMNS = (
    Column("name", "Tool", lambda tool: tool["name"], lambda tool: tool["name"],
           descending=False, numeric=False),
    Column("calls", "Calls", lambda tool: tool["invocations"],
           lambda tool: count(tool["invocations"])),
    # least successful first: the tools that need a look
    Column("success", "Success", lambda tool: tool.get("successRate"),
           lambda tool: percent(tool.get("successRate")), descending=False),
    Column("errors", "Err %", lambda tool: tool.get("errorRate"),
           lambda tool: percent(tool.get("errorRate"))),
    Column("p50", "p50", lambda tool: tool.get("p50LatencyMs"),
           lambda tool: duration(tool.get("p50LatencyMs"))),
    Column("p95", "p95", lambda tool: tool.get("p95LatencyMs"),
           lambda tool: duration(tool.get("p95LatencyMs"))),
    # `03-07 14:22` (UTC, as every time of the dashboard): the year would not fit 80 columns
    Column("last", "Last seen", lambda tool: tool.get("lastSeen"),
           lambda tool: f"{tool['lastSeen'][5:10]} {tool['lastSeen'][11:16]}"
           if tool.get("lastSeen") else "never called", numeric=False),
)


class Tools(View):
    key = "2"
    title = "Tools"

    BINDINGS = [Binding("s", "sort", "Sort"), Binding("S", "reverse", "Reverse order", show=False)]

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.tools: list[dict[str, Any]] = []
        self.never_called = 0
        self.sorted_by, self.reversed, self.filter = COLUMNS[1], False, ""

    def compose(self) -> ComposeResult:
        yield Static(id="tools-summary")
        yield DataTable(id="tools-table", cursor_type="row", zebra_stripes=True)

    def fetch(self, client: YavioClient, project_id: str, query: dict[str, Any]) -> Any:
        return client.tools(project_id, **query)

    def show(self, data: dict[str, Any]) -> None:
        self.tools = [*data["tools"], *({**tool, "invocations": 0}
                                        for tool in data["neverCalled"])]
        self.never_called = len(data["neverCalled"])
        self._fill()

    def apply_filter(self, text: str) -> None:
        self.filter = text
        self._fill()

    def action_sort(self) -> None:
        self.sorted_by = COLUMNS[(COLUMNS.index(self.sorted_by) + 1) % len(COLUMNS)]
        self.reversed = False
        self._fill()

    def action_reverse(self) -> None:
        self.reversed = not self.reversed
        self._fill()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.app.push_screen(ToolScreen(str(event.row_key.value)))

    def rows(self) -> list[dict[str, Any]]:
        """The tools as listed: those matching the filter, in the chosen order."""
        shown = [tool for tool in self.tools if self.filter.lower() in tool["name"].lower()]
        column = self.sorted_by
        known = sorted((tool for tool in shown if column.value(tool) is not None),
                       key=lambda tool: tool["name"])
        known.sort(key=column.value, reverse=column.descending != self.reversed)
        return known + sorted((tool for tool in shown if column.value(tool) is None),
                              key=lambda tool: tool["name"])

    def _fill(self) -> None:
        table = self.query_one("#tools-table", DataTable)
        # a reload or a new order keeps the cursor on the tool it was on
        selected = (table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
                    if table.row_count else None)
        table.clear(columns=True)
        for column in COLUMNS:
            # Widths measured over every tool, not only those shown, so that the columns stay
            # put while the filter and the order change; set here rather than measured by the
            # table when idle, so the first frame already shows whole cells.
            width = max([len(column.label) + 2, *(len(column.cell(tool)) for tool in self.tools)])
            table.add_column(self._label(column), width=width, key=column.key)
        rows = self.rows()
        for tool in rows:
            style = "" if tool["invocations"] else "dim"
            table.add_row(*(Text(column.cell(tool), style=style,
                                 justify="right" if column.numeric else "left")
                            for column in COLUMNS), key=tool["name"])
        names = [tool["name"] for tool in rows]
        if selected in names:
            table.move_cursor(row=names.index(selected))
        table.display = bool(self.tools)
        self.query_one("#tools-summary", Static).update(self._summary(len(rows)))

    def _label(self, column: Column) -> Text:
        if column != self.sorted_by:
            return Text(column.label)
        arrow = "▼" if column.descending != self.reversed else "▲"
        return Text(f"{column.label} {arrow}", style="bold")

    def _summary(self, shown: int) -> str:
        if not self.tools:
            return EMPTY
        called = len(self.tools) - self.never_called
        parts = [f"{count(called)} tool{'s' if called != 1 else ''} called" if called
                 else "No calls in this range; `t` shows a longer one"]
        if self.never_called:
            parts.append(f"[dim]{count(self.never_called)} registered, never called[/]")
        if self.filter:
            parts.append(f"{shown} of {len(self.tools)} match “{escape(self.filter)}”"
                         if shown else f"none matches “{escape(self.filter)}” (/ then Enter"
                                       " on an empty line shows all)")
        return " · ".join(parts)
