"""Errors: how many tool calls failed and whether that is getting worse (the rate against the
previous period, the rate per bucket), what kind of failures they are and which tools fail,
and the latest failures, each opening its trace (Enter); `/` narrows them."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from yavio_cli.client import YavioClient
from yavio_cli.tui.bars import Bars
from yavio_cli.tui.chart_axes import bucket_labels, time_axis
from yavio_cli.tui.filtered_table import FilteredTable, Row
from yavio_cli.tui.format import change, count, percent
from yavio_cli.tui.trace_screen import TraceScreen
from yavio_cli.tui.views.base import View

__all__ = ["Errors"]

NO_CALLS = "No tool calls in this range; `t` shows a longer one."


class Errors(View):
    key = "8"
    title = "Errors"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.recent: dict[str, dict[str, Any]] = {}  # the latest failures by event id

    def compose(self) -> ComposeResult:
        yield Static(id="errors-summary")
        chart = PlotextPlot(id="errors-chart", classes="panel")
        chart.border_title = "Error rate"
        yield chart
        with Horizontal(id="errors-breakdown"):
            with Vertical(classes="panel") as categories:
                categories.border_title = "By category"
                yield Bars(id="errors-by-category")
            with Vertical(classes="panel") as tools:
                tools.border_title = "By tool"
                yield Bars(id="errors-by-tool")
        with Vertical(id="errors-latest", classes="panel"):
            yield FilteredTable(id="errors-table")
        yield Static(id="errors-detail")

    def on_mount(self) -> None:
        table = self.query_one(FilteredTable)
        # the message last: a long one runs off the edge, not the columns after it
        for label in ("Time", "Tool", "Category", "Trace", "Message"):
            table.add_column(label, key=label.lower())
        self._title_latest()

    def fetch(self, client: YavioClient, project_id: str, query: dict[str, Any]) -> Any:
        return client.errors(project_id, **query)

    def show(self, data: dict[str, Any]) -> None:
        self.query_one("#errors-summary", Static).update(summary(data))
        # without a failure, the sentence is the whole view
        for part in self.query("#errors-chart, #errors-breakdown, #errors-latest, "
                               "#errors-detail"):
            part.display = bool(data["errors"])
        self._chart(data["range"]["bucket"], data["series"])
        self.query_one("#errors-by-category", Bars).show(
            [(category["category"], category["errors"],
              f"{count(category['errors'])} · {percent(category['errors'] / data['errors'])}")
             for category in data["byCategory"]])
        self.query_one("#errors-by-tool", Bars).show(
            [(tool["name"], tool["errors"],
              f"{count(tool['errors'])} · {percent(tool['errorRate'])}")
             for tool in data["byTool"]])
        self.recent = {error["eventId"]: error for error in data["recent"]}
        self.query_one(FilteredTable).set_rows([error_row(error) for error in data["recent"]])
        self._title_latest()
        self._describe_highlighted()

    def _chart(self, bucket: str, series: list[dict[str, Any]]) -> None:
        chart = self.query_one("#errors-chart", PlotextPlot)
        plot = chart.plt
        plot.clear_data()
        plot.clear_figure()
        labels = bucket_labels(bucket, [point["bucket"] for point in series])
        rates = [point["errorRate"] * 100 for point in series]
        plot.bar(labels, rates, marker="hd")
        top = max([1.0, *rates])  # a range without failures keeps a floor at zero
        plot.ylim(0, top)
        # two marks: on a short chart plotext drops a middle one, not always the same one
        plot.yticks([0, top], [f"{tick:.0f}%" for tick in (0, top)])
        time_axis(chart, labels)
        chart.refresh()

    def apply_filter(self, text: str) -> None:
        self.query_one(FilteredTable).narrow(text)
        self._title_latest()
        self._describe_highlighted()

    def _title_latest(self) -> None:
        table = self.query_one(FilteredTable)
        title = "Latest errors (Enter: trace)"
        if table.needle:
            title = (f"Latest errors matching “{escape(table.needle)}”: {table.row_count} of "
                     f"{len(table.all_rows)} (/ to change)")
        self.query_one("#errors-latest").border_title = title

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._describe_highlighted()

    def _describe_highlighted(self) -> None:
        """The highlighted failure in full under the table: its message may be longer than
        its column."""
        error = self.recent.get(self.query_one(FilteredTable).highlighted_key or "")
        detail = self.query_one("#errors-detail", Static)
        if error is None:
            detail.update("[dim]No failure matches the filter.[/]" if self.recent else "")
            return
        detail.update(Text.assemble(
            (f"{error['category']}: ", "bold red"), error["message"] or "(no message)",
            (f"  trace {error['traceId']} · session {error['sessionId']}", "dim")))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        error = self.recent.get(event.row_key.value or "")
        if error is not None:
            self.app.push_screen(TraceScreen(error["traceId"]))


def error_row(error: dict[str, Any]) -> Row:
    """A failure as a row of the latest errors; `/` searches every column."""
    cells = (error["timestamp"][5:16].replace("T", " "), Text(error["tool"]),
             Text(error["category"]), Text(error["traceId"]), Text(error["message"] or "—"))
    return error["eventId"], cells, " ".join(str(cell) for cell in cells)


def summary(data: dict[str, Any]) -> str:
    """One sentence: how many calls failed and how the rate moved, or that none did."""
    calls, failures = data["invocations"], data["errors"]
    if not calls:
        return NO_CALLS
    if not failures:
        return f"No tool call failed in this range ({count(calls)} calls)."
    text = f"[b]{count(failures)}[/] of {count(calls)} tool calls failed: " \
           f"[b]{percent(data['errorRate'])}[/]"
    previous = data["previous"]
    if previous["invocations"]:  # without calls before, there is no rate to compare with
        text += "  " + change(data["errorRate"], previous["errorRate"], lower_is_better=True)
    return text
