"""The traces that dropped out of a funnel before one step (Enter on a step of the Funnels
view): the server names a few of them (`droppedSamples`); this screen lists their traces with
what each was, and Enter opens one (`TraceScreen`). By session, the samples are sessions and
every trace of each is listed, so the person sees how far the session went. Esc goes back."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from yavio_cli.client import ApiError, ServerUnavailable, YavioClient
from yavio_cli.tui.footer import KeysFooter
from yavio_cli.tui.format import count
from yavio_cli.tui.trace_screen import TraceScreen

__all__ = ["DroppedScreen"]

# A dropped session's traces listed at most: a funnel's window rarely holds more.
_TRACES_PER_SESSION = 20


class DroppedScreen(Screen[None]):
    """`step` is the funnel's step answer (`spec`, `droppedHere`, `droppedSamples`), its
    `number` counted from 1; `by` says whether the samples are traces or sessions; `query`
    is the range they dropped in."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, number: int, step: dict[str, Any], by: str,
                 query: dict[str, Any]) -> None:
        super().__init__()
        self.number, self.step, self.by, self.range_query = number, step, by, query

    def compose(self) -> ComposeResult:
        step = self.step
        shown, dropped = len(step["droppedSamples"]), step["droppedHere"]
        listed = "all listed" if shown == dropped else f"{shown} of them listed"
        yield Static(f"[b]Dropped before step {self.number}[/] {escape(step['spec'])} · "
                     f"{count(dropped)} {self.by}s, {listed}", id="dropped-title")
        yield DataTable(id="dropped-traces", cursor_type="row", zebra_stripes=True)
        yield KeysFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, key in (("Session", "session"), ("Trace", "trace"), ("Tool", "tool"),
                           ("Status", "status"), ("Events", "events"),
                           ("Started", "started")):
            table.add_column(label, key=key)
        table.loading = True
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _load(self) -> None:
        app: Any = self.app
        try:
            rows = _traces(app.client, app.project["id"], self.by,
                           self.step["droppedSamples"], self.range_query)
        except (ApiError, ServerUnavailable) as error:
            message = (error.message if isinstance(error, ApiError)
                       else f"Cannot reach the server at {app.server_url}.")
            self.app.call_from_thread(self._show_failure, message)
            return
        self.app.call_from_thread(self._show, rows)

    def _show_failure(self, message: str) -> None:
        self.query_one(DataTable).loading = False
        self.query_one("#dropped-title", Static).update(f"[red]{escape(message)}[/]")

    def _show(self, rows: list[dict[str, Any]]) -> None:
        table = self.query_one(DataTable)
        table.loading = False
        for row in rows:
            status = row["status"] or ""
            table.add_row(escape(row["sessionId"]), escape(row["traceId"]),
                          escape(row["tool"] or "—"),
                          f"[red]{status}[/]" if status == "error" else status,
                          count(row["events"]), _when(row["startedAt"]), key=row["traceId"])
        table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.app.push_screen(TraceScreen(str(event.row_key.value)))


def _traces(client: YavioClient, project_id: str, by: str, samples: list[str],
            query: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per trace of the samples (`sessionId`, `traceId`, `tool`, `status`, `events`,
    `startedAt`): the trace itself by trace, every trace of the session in the range by
    session, oldest first (blocking)."""
    if by == "session":
        return [trace for session in samples for trace in reversed(client.traces(
            project_id, session=session, limit=_TRACES_PER_SESSION, **query)["traces"])]
    rows = []
    for trace_id in samples:
        found = client.trace(project_id, trace_id)
        events = found["events"]
        call = next((event for event in events if event["type"] == "tool_call"), {})
        rows.append({"sessionId": found["sessionId"], "traceId": trace_id,
                     "tool": call.get("name"), "status": call.get("status"),
                     "events": len(events),
                     "startedAt": events[0]["timestamp"] if events else None})
    return rows


def _when(timestamp: str | None) -> str:
    """`03-02 14:05` (UTC) of an ISO-8601 time."""
    return f"{timestamp[5:10]} {timestamp[11:16]}" if timestamp else "—"
