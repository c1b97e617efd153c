"""Users: how many users were active at the end of the range (DAU, WAU, MAU) and how that moved
day by day, new vs returning users per bucket, the retention of the users first seen in the
range, anonymous sessions, and the most active users. `/` narrows the users; Enter opens a
user's timeline."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Resize
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from yavio_cli.client import YavioClient
from yavio_cli.tui.chart_axes import bucket_labels, count_axis, time_axis
from yavio_cli.tui.filtered_table import FilteredTable, Row
from yavio_cli.tui.format import count, revenue
from yavio_cli.tui.retention import RetentionMatrix
from yavio_cli.tui.user_screen import UserScreen
from yavio_cli.tui.views.base import View

__all__ = ["Users"]

EMPTY = ("No users in this range; `t` shows a longer one. A user is whoever your server "
         "names with `yavio.identify(user_id)`; sessions without one count as anonymous.")
# Below this many rows the charts give up height, so that the top users show on the screen.
SHORT = 30
# (field, label, colour as RGB) of the charts' series: the active users' lines, new vs
# returning's stacks. The charts' titles name them in their colours (plotext's legend would
# hide the data); RGB, as plotext's names for colours are not Textual's.
Series = tuple[tuple[str, str, tuple[int, int, int]], ...]
ACTIVE: Series = (("dau", "DAU", (64, 196, 255)), ("wau", "WAU", (120, 220, 120)),
                  ("mau", "MAU", (230, 110, 220)))
NEW: Series = (("new", "new", (120, 220, 120)), ("returning", "returning", (64, 150, 255)))


class Users(View):
    key = "5"
    title = "Users"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        # the user the cursor was on, to tell a move of the cursor from a reload
        self.highlighted: str | None = None
        self.data: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="users-page"):
            yield Static(id="users-summary")
            with Horizontal(id="users-charts"):
                active = PlotextPlot(id="active-chart", classes="panel")
                active.border_title = f"Active users: {legend(ACTIVE)}"
                yield active
                new = PlotextPlot(id="new-chart", classes="panel")
                new.border_title = "New vs returning"
                yield new
            with Vertical(id="retention-panel", classes="panel"):
                yield RetentionMatrix(id="retention")
            with Vertical(id="top-users-panel", classes="panel"):
                yield FilteredTable(id="top-users")

    def on_mount(self) -> None:
        table = self.query_one(FilteredTable)
        # fixed widths, as the sessions' (session_rows.COLUMNS): they fit 80 columns
        for key, header, width in (("user", "User", 12), ("events", "Events", 6),
                                   ("sessions", "Sessions", 8), ("calls", "Calls", 5),
                                   ("conversions", "Conv.", 5), ("revenue", "Revenue", 11),
                                   ("seen", "First → last", 13)):
            table.add_column(header if key in ("user", "seen")
                             else Text(header, justify="right"), key=key, width=width)
        self._title_top()

    def on_resize(self, event: Resize) -> None:
        self.set_class(event.size.height < SHORT, "-short")
        if self.data is not None:
            self.call_after_refresh(self._charts)

    def focus_first(self) -> None:
        # the top users, for Enter, without scrolling the charts out of view
        self.query_one(FilteredTable).focus(scroll_visible=False)

    def fetch(self, client: YavioClient, project_id: str, query: dict[str, Any]) -> Any:
        return client.users(project_id, **query)

    def show(self, data: dict[str, Any]) -> None:
        self.query_one("#users-summary", Static).update(summary(data))
        for part in self.query("#users-charts, #retention-panel, #top-users-panel"):
            part.display = not is_empty(data)
        self.data = data
        # the charts' marks fit their size: drawn once the layout above has settled it
        self.call_after_refresh(self._charts)
        self.query_one(RetentionMatrix).show(data["retention"])
        self.query_one("#retention-panel").border_title = (
            f"Retention by {data['retention']['period']}: share of each cohort active again")
        self.query_one(FilteredTable).set_rows([user_row(user) for user in data["users"]])
        self._title_top()

    def _charts(self) -> None:
        assert self.data is not None
        self._active_chart(self.data["series"])
        self._new_chart(self.data["range"]["bucket"], self.data["newVsReturning"])

    def _active_chart(self, series: list[dict[str, Any]]) -> None:
        chart = self.query_one("#active-chart", PlotextPlot)
        plot = chart.plt
        plot.clear_data()
        plot.clear_figure()
        days = list(range(1, len(series) + 1))
        # the widest window first: where the lines meet, the narrower one shows on top
        for field, _, colour in reversed(ACTIVE):
            plot.plot(days, [day[field] for day in series], color=colour, marker="braille")
        count_axis(chart, max(day["mau"] for day in series))
        time_axis(chart, bucket_labels("day", [day["day"] for day in series]))
        chart.refresh()

    def _new_chart(self, bucket: str, buckets: list[dict[str, Any]]) -> None:
        chart = self.query_one("#new-chart", PlotextPlot)
        plot = chart.plt
        plot.clear_data()
        plot.clear_figure()
        labels = bucket_labels(bucket, [point["bucket"] for point in buckets])
        plot.stacked_bar(labels, [[point[field] for point in buckets] for field, _, _ in NEW],
                         color=[colour for _, _, colour in NEW], marker="hd")
        count_axis(chart, max(point["new"] + point["returning"] for point in buckets))
        time_axis(chart, labels)
        chart.border_title = f"{legend(NEW)} users per {bucket}"
        chart.refresh()

    def apply_filter(self, text: str) -> None:
        table = self.query_one(FilteredTable)
        table.narrow(text)
        self._title_top()
        self.query_one("#users-page").scroll_to_widget(table.parent, animate=False)

    def _title_top(self) -> None:
        table = self.query_one(FilteredTable)
        title = "Most active users (Enter: timeline)"
        if table.needle:
            title = (f"Users matching “{escape(table.needle)}”: {table.row_count} of "
                     f"{len(table.all_rows)} (/ to change)")
        self.query_one("#top-users-panel").border_title = title

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # A person moving the cursor brings the users into view; a reload, which keeps the
        # cursor on its user, leaves the page where the person scrolled it.
        table = self.query_one(FilteredTable)
        key = event.row_key.value
        if key != table.highlighted_key:
            return  # a row the reload highlighted on its way back to the cursor's user
        if self.highlighted is not None and key != self.highlighted and table.has_focus:
            self.query_one("#users-page").scroll_to_widget(table.parent, animate=False)
        self.highlighted = key

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.app.push_screen(UserScreen(str(event.row_key.value)))


def is_empty(data: dict[str, Any]) -> bool:
    """No user active in the month before the range's end nor in the range, no anonymous
    session."""
    return not (data["activeUsers"]["mau"] or data["users"] or data["anonymousSessions"])


def summary(data: dict[str, Any]) -> str:
    """One line: the active users at the end of the range, the new ones, the anonymous
    sessions; or how to get users when there are none."""
    if is_empty(data):
        return EMPTY
    active = data["activeUsers"]
    new = sum(point["new"] for point in data["newVsReturning"])
    return (f"Active users: [b]{count(active['dau'])}[/] in the last day · "
            f"[b]{count(active['wau'])}[/] in 7 days · [b]{count(active['mau'])}[/] in 30 days"
            f" · [b]{count(new)}[/] new in this range · "
            f"[b]{count(data['anonymousSessions'])}[/] anonymous sessions")


def user_row(user: dict[str, Any]) -> Row:
    """A top user as a row, keyed by their id; `/` searches every column."""
    cells = (Text(user["userId"]),
             *(Text(count(user[field]), justify="right")
               for field in ("events", "sessions", "toolCalls", "conversions")),
             Text(revenue(user["revenue"]), justify="right"),
             f"{user['firstSeen'][5:10]} → {user['lastSeen'][5:10]}")
    return user["userId"], cells, " ".join(str(cell) for cell in cells)


def legend(series: Series) -> str:
    """The names of a chart's series, each in its colour."""
    return " ".join(f"[rgb({red},{green},{blue})]{label}[/]"
                    for _, label, (red, green, blue) in series)
