"""One user's timeline, opened from the Users view or a session of theirs (Enter): the days they
were first and last seen, their totals over the dashboard's range, their sessions (Enter: the
session's traces) and their events, newest first (Enter: the event's trace). Esc goes back;
`r` and `t` reload it like the views, and it follows the refresh timer."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static

from yavio_cli.client import YavioClient
from yavio_cli.tui.detail_screen import DetailScreen
from yavio_cli.tui.filtered_table import FilteredTable, Row
from yavio_cli.tui.footer import KeysFooter
from yavio_cli.tui.format import count, revenue
from yavio_cli.tui.session_rows import add_session_columns, session_row
from yavio_cli.tui.session_screen import SessionScreen
from yavio_cli.tui.trace_screen import TraceScreen

__all__ = ["UserScreen"]

# Colour by type, as the live tail does: calls stand out, conversions shine.
_STYLES = {"tool_call": "bold cyan", "conversion": "bold yellow", "identify": "blue"}


class UserScreen(DetailScreen):
    # Below 32 rows the sessions give up height so that the events stay in view.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]

    def __init__(self, user_id: str) -> None:
        super().__init__()
        self.user_id = user_id
        self.not_found = f"This project has no event of user {user_id!r}."
        self.sessions: dict[str, dict[str, Any]] = {}  # the listed sessions by id
        self.traces: dict[str, str | None] = {}  # the trace of each listed event (by id)

    def compose(self) -> ComposeResult:
        with Horizontal(id="user-header"):
            yield Static(Text.assemble(("User ", "bold"), self.user_id), id="user-name")
            yield Static(id="user-range")
        yield Static("loading…", id="user-totals")
        with Vertical(id="user-sessions-panel", classes="panel"):
            yield FilteredTable(id="user-sessions")
        with Vertical(id="user-events-panel", classes="panel"):
            yield FilteredTable(id="user-events")
        yield KeysFooter()

    def on_mount(self) -> None:
        add_session_columns(self.query_one("#user-sessions", DataTable), without=("user",))
        events = self.query_one("#user-events", DataTable)
        # fixed widths, as the sessions' (session_rows.COLUMNS): they fit 80 columns
        for header, width in (("Time (UTC)", 11), ("Type", 15), ("Name", 18), ("Status", 7),
                              ("Session", 13)):
            events.add_column(header, key=header.lower(), width=width)
        self.query_one("#user-sessions-panel").border_title = "Sessions (Enter: traces)"
        self.query_one("#user-events-panel").border_title = "Events, newest first (Enter: trace)"
        events.focus()

    def fetch(self, client: YavioClient, project_id: str, query: dict[str, Any]) -> Any:
        return client.user(project_id, self.user_id, **query)

    def show_failure(self, message: str) -> None:
        self.query_one("#user-totals", Static).update(f"[red]{escape(message)}[/]")

    def show(self, user: dict[str, Any]) -> None:
        app: Any = self.app
        platforms = ", ".join(app.filters.platforms) or "all platforms"
        self.query_one("#user-range", Static).update(
            f"[dim]{app.filters.label()} · {escape(platforms)}[/]")
        self.query_one("#user-name", Static).update(Text.assemble(
            ("User ", "bold"), user["userId"],
            (f" · seen {user['firstSeen'][:10]} → {user['lastSeen'][:10]}", "dim")))
        self.query_one("#user-totals", Static).update(totals(user["totals"]))
        self.sessions = {session["sessionId"]: session for session in user["sessions"]}
        self.query_one("#user-sessions", FilteredTable).set_rows(
            [session_row(session, without=("user",)) for session in user["sessions"]])
        self.traces = {event["eventId"]: event["traceId"] for event in user["events"]}
        self.query_one("#user-events", FilteredTable).set_rows(
            [event_row(event) for event in user["events"]])
        # a user without events in the range: the totals line says so, no empty tables
        for part in self.query("#user-sessions-panel, #user-events-panel"):
            part.display = bool(user["events"])

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value or ""
        if event.data_table.id == "user-sessions":
            self.app.push_screen(SessionScreen(self.sessions[key]))
        elif self.traces.get(key):
            self.app.push_screen(TraceScreen(self.traces[key] or ""))
        else:
            self.notify("This event belongs to no trace.", severity="warning")


def totals(figures: dict[str, Any]) -> str:
    """One line: what the user did in the range, or that they did nothing in it."""
    if not figures["events"]:
        return "No event of this user in this range; `t` shows a longer one."
    failed = f"failed {count(figures['errors'])}"
    line = (f"In this range: events [b]{count(figures['events'])}[/] · "
            f"sessions [b]{count(figures['sessions'])}[/] · "
            f"tool calls [b]{count(figures['toolCalls'])}[/], "
            f"{f'[red]{failed}[/]' if figures['errors'] else failed} · "
            f"conversions [b]{count(figures['conversions'])}[/]")
    if figures["revenue"]:
        line += f" ({revenue(figures['revenue'])})"
    return line


def event_row(event: dict[str, Any]) -> Row:
    """An event of the timeline as a row, keyed by its id (searched by its cells)."""
    status = event["status"]
    cells = (f"{event['timestamp'][5:10]} {event['timestamp'][11:16]}",
             Text(event["type"], style=_STYLES.get(event["type"], "")),
             Text(event["name"] or "—"),
             Text(status or "—", style={"error": "red", "success": "green"}.get(status or "",
                                                                              "dim")),
             Text(event["sessionId"]))
    return event["eventId"], cells, " ".join(str(cell) for cell in cells)
