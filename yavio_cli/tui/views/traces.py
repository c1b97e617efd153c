"""Traces: the latest tool-call traces of the range (time, tool, status, latency, session, user,
platform, events), a search box that narrows them to one session or one user or opens one
trace, and Enter to open the highlighted trace as a tree."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input, Static

from yavio_cli.client import YavioClient
from yavio_cli.tui.format import count, duration
from yavio_cli.tui.trace_screen import TraceScreen
from yavio_cli.tui.views.base import View

__all__ = ["Traces"]

# The server's default: enough to scroll through, a small answer every refresh.
LIMIT = 50
# (column key, header, shown only when the view is WIDE), in the order the table shows them
COLUMNS = (("time", "Time", False), ("tool", "Tool", False), ("status", "Status", False),
           ("latency", "Latency", False), ("session", "Session", False),
           ("user", "User", False), ("platform", "Platform", True), ("events", "Events", True))
# Every column fits from this width on (92 cells and the scrollbar); narrower, as in an 80×24
# terminal, the table leaves out the platform, the event count and the seconds.
WIDE = 100

Search = tuple[str, str]  # (field: trace, session or user; its value)


def search_for(text: str) -> Search | None:
    """What a search for `text` looks for: the SDK's ids say what they are (`tr_…` a trace,
    `ses_…` a session), anything else is a user id; None for an empty search."""
    text = text.strip()
    if not text:
        return None
    if text.startswith("tr_"):
        return ("trace", text)
    return ("session" if text.startswith("ses_") else "user", text)


class Traces(View):
    key = "3"
    title = "Traces"
    BINDINGS = [Binding("s", "search", "Search")]

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.search: Search | None = None
        self.filter = ""
        self.data: dict[str, Any] | None = None
        self.wide: bool | None = None  # known once the view has a size

    def compose(self) -> ComposeResult:
        yield Input(placeholder="s: search a trace (tr_…), session (ses_…) or user id; Enter",
                    id="traces-search")
        yield Static(id="traces-summary")
        yield DataTable(id="traces-table", cursor_type="row", zebra_stripes=True)

    def on_resize(self, event: events.Resize) -> None:
        wide = event.size.width >= WIDE
        if wide == self.wide:
            return
        self.wide = wide
        table = self.query_one("#traces-table", DataTable)
        table.clear(columns=True)
        for key, header, wide_only in COLUMNS:
            if wide or not wide_only:
                table.add_column(header, key=key)
        if self.data is not None:
            self._fill()

    def focus_first(self) -> None:
        # the table, not the search box: typed keys must reach the dashboard (digits, t, q…)
        self.query_one("#traces-table", DataTable).focus(scroll_visible=False)

    # -- loading -----------------------------------------------------------------------------

    def fetch(self, client: YavioClient, project_id: str, query: dict[str, Any]) -> Any:
        search = self.search
        narrowed = {search[0]: search[1]} if search else {}
        return {"search": search,
                **client.traces(project_id, limit=LIMIT, **narrowed, **query)}

    def show(self, data: dict[str, Any]) -> None:
        # a load for a search replaced since is dropped: the next one is under way
        if data["search"] != self.search or data == self.data:
            return
        self.data = data
        self._fill()

    def _fill(self) -> None:
        """Put the loaded traces that match the filter in the table, the cursor kept on the
        trace it was on (the list reloads every few seconds)."""
        assert self.data is not None
        table = self.query_one("#traces-table", DataTable)
        highlighted = (table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
                       if table.row_count else None)
        traces = self.data["traces"]
        shown = [trace for trace in traces if matches(trace, self.filter)]
        table.clear()
        for trace in shown:
            table.add_row(*cells(trace, wide=bool(self.wide)), key=trace["traceId"])
        keys = [trace["traceId"] for trace in shown]
        if highlighted in keys:
            table.move_cursor(row=keys.index(highlighted), animate=False)
        self.query_one("#traces-summary", Static).update(
            summary(self.search, len(traces), len(shown), self.filter))

    # -- keys --------------------------------------------------------------------------------

    def action_search(self) -> None:
        self.query_one("#traces-search", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()  # the dashboard's own prompt answers Input.Submitted too
        search = search_for(event.value)
        self.focus_first()
        if search and search[0] == "trace":
            # the box goes back to what the list shows
            event.input.value = self.search[1] if self.search else ""
            self.app.push_screen(TraceScreen(search[1]))
            return
        if search != self.search:
            self.search, self.data = search, None
            self.query_one("#traces-summary", Static).update("[dim]loading…[/]")
            self.app.action_reload()

    def key_escape(self) -> None:
        # Esc in the search box gives the keys back to the list, search unchanged
        if self.query_one("#traces-search", Input).has_focus:
            self.focus_first()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.app.push_screen(TraceScreen(str(event.row_key.value)))

    def apply_filter(self, text: str) -> None:
        self.filter = text.strip()
        if self.data is not None:
            self._fill()


def cells(trace: dict[str, Any], *, wide: bool) -> tuple[Any, ...]:
    """One trace as the table's row (COLUMNS, the WIDE ones when `wide`)."""
    started = trace["startedAt"]
    status = trace["status"] or "—"
    row = (f"{started[5:10]} {started[11:19 if wide else 16]}", trace["tool"],
           Text(status, style="red" if status == "error" else "green"),
           Text(duration(trace["latencyMs"]), justify="right"), trace["sessionId"],
           trace["userId"] or "—")
    if wide:
        row += (trace["platform"] or "—", Text(count(trace["events"]), justify="right"))
    return row


def matches(trace: dict[str, Any], text: str) -> bool:
    """The trace has `text` (any case) in its id, tool, status, session, user or platform."""
    return not text or any(text.lower() in (trace[field] or "").lower() for field in
                           ("traceId", "tool", "status", "sessionId", "userId", "platform"))


def summary(search: Search | None, loaded: int, shown: int, text: str) -> str:
    """What the list holds: which traces, how many, and the filter narrowing them."""
    what = f"{search[0]} {escape(search[1])}" if search else "the range"
    if not loaded:
        if search:
            return (f"No trace of {what} in this range; `t` shows a longer one, "
                    "`s` and an empty search the latest traces.")
        return ("No traces in this range; `t` shows a longer one. A trace is one tool call: "
                "wrap your server with `with_yavio` to record them.")
    latest = f"The latest {loaded}" if loaded == LIMIT else f"{loaded}"
    line = f"[b]{latest} traces[/] of {what}, newest first"
    if text:
        return line + f" · {shown} match [b]{escape(text)}[/] (/ Enter clears)"
    return line + " · Enter opens one"
