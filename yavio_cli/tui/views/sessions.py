"""Sessions: how many sessions the range had (identified and anonymous), how long they lasted
and how many tools they called, each against the previous period; sessions started per bucket;
the latest sessions. `/` narrows the list; Enter opens the session's user (their timeline) or,
for an anonymous session, its traces."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from yavio_cli.client import YavioClient
from yavio_cli.tui.chart_axes import bucket_labels, count_axis, time_axis
from yavio_cli.tui.filtered_table import FilteredTable
from yavio_cli.tui.format import change, count, duration
from yavio_cli.tui.session_rows import add_session_columns, session_row
from yavio_cli.tui.session_screen import SessionScreen
from yavio_cli.tui.user_screen import UserScreen
from yavio_cli.tui.views.base import View

__all__ = ["Sessions"]

# The server's default: the latest sessions, a small answer every refresh.
LIMIT = 50
EMPTY = ("No sessions in this range; `t` shows a longer one. A session is one conversation "
         "with your server: wrap it with `with_yavio` to record them.")


# (KPI, label, how its value reads): an average of tool calls is a small ratio, 1.9
KPIS = (
    ("sessions", "Sessions", count),
    ("identifiedSessions", "Identified", count),
    ("anonymousSessions", "Anonymous", count),
    ("avgDurationMs", "Avg duration", duration),
    ("avgToolCalls", "Avg tool calls", lambda value: "—" if value is None else f"{value:.1f}"),
)


class Sessions(View):
    key = "4"
    title = "Sessions"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.listed: dict[str, dict[str, Any]] = {}  # the latest sessions by id
        self.data: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        yield Static(EMPTY, id="sessions-empty")
        with Horizontal(id="sessions-top"):
            kpis = Static(id="sessions-kpis", classes="panel")
            kpis.border_title = "Against the previous period"
            yield kpis
            chart = PlotextPlot(id="sessions-chart", classes="panel")
            chart.border_title = "Sessions started"
            yield chart
        with Vertical(id="sessions-latest", classes="panel"):
            yield FilteredTable(id="sessions-table")

    def on_mount(self) -> None:
        # the id says little to a person; Enter opens the session, `/` still finds it
        add_session_columns(self.query_one(FilteredTable), without=("session",))
        self.query_one("#sessions-empty").display = False
        self._title_latest()

    def focus_first(self) -> None:
        self.query_one(FilteredTable).focus(scroll_visible=False)

    def fetch(self, client: YavioClient, project_id: str, query: dict[str, Any]) -> Any:
        return client.sessions(project_id, limit=LIMIT, **query)

    def show(self, data: dict[str, Any]) -> None:
        empty = not data["kpis"]["sessions"]["value"]
        # nothing in the range: the sentence saying so is the whole view
        self.query_one("#sessions-empty").display = empty
        for part in self.query("#sessions-top, #sessions-latest"):
            part.display = not empty
        self.query_one("#sessions-kpis", Static).update(kpi_table(data["kpis"]))
        self.data = data
        # the chart's marks fit its size: drawn once the layout above has settled it
        self.call_after_refresh(self._chart)
        self.listed = {session["sessionId"]: session for session in data["sessions"]}
        self.query_one(FilteredTable).set_rows([session_row(session, without=("session",))
                                                for session in data["sessions"]])
        self._title_latest()

    def on_resize(self) -> None:
        if self.data is not None:
            self.call_after_refresh(self._chart)

    def _chart(self) -> None:
        assert self.data is not None
        bucket, series = self.data["range"]["bucket"], self.data["series"]
        chart = self.query_one("#sessions-chart", PlotextPlot)
        plot = chart.plt
        plot.clear_data()
        plot.clear_figure()
        labels = bucket_labels(bucket, [point["bucket"] for point in series])
        started = [point["sessions"] for point in series]
        plot.bar(labels, started, marker="hd")
        count_axis(chart, max(started))
        time_axis(chart, labels)
        chart.border_title = f"Sessions started per {bucket}"
        chart.refresh()

    def apply_filter(self, text: str) -> None:
        self.query_one(FilteredTable).narrow(text)
        self._title_latest()

    def _title_latest(self) -> None:
        table = self.query_one(FilteredTable)
        title = f"Latest {len(table.all_rows)} sessions (Enter: user timeline, or traces)"
        if table.needle:
            title = (f"Sessions matching “{escape(table.needle)}”: {table.row_count} of "
                     f"{len(table.all_rows)} (/ to change)")
        self.query_one("#sessions-latest").border_title = title

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        session = self.listed.get(event.row_key.value or "")
        if session is None:
            return
        if session["userId"]:
            self.app.push_screen(UserScreen(session["userId"]))
        else:
            self.app.push_screen(SessionScreen(session))


def kpi_table(kpis: dict[str, dict[str, Any]]) -> Table:
    """Each KPI's value and its change against the previous period, one per line."""
    table = Table.grid(padding=(0, 1))
    table.add_column()
    table.add_column(justify="right", style="bold")
    table.add_column()
    for name, label, reads in KPIS:
        value, previous = kpis[name]["value"], kpis[name]["previous"]
        table.add_row(label, reads(value), Text.from_markup(change(value, previous)))
    return table
