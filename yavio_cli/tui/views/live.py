"""Live tail: the project's events as the server accepts them, newest at the bottom, coloured by
type. `p` pauses the screen (events keep arriving and are shown on resume), `/` keeps the events
whose type, name, trace or session contains the text, Enter shows the selected event whole.

The stream is read on the app's event loop (`YavioClient.live_async`) while the view is visible,
and closed when it is hidden. Events are put on the screen in batches, at most every
`FLUSH_S`, so a busy server (1,000 events a second) costs the screen a few updates a second,
not one per event; the table keeps the latest `KEPT` events.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import Any

from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from yavio_cli.client import ApiError, ServerUnavailable
from yavio_cli.tui.format import duration
from yavio_cli.tui.trace_screen import TraceScreen
from yavio_cli.tui.views.base import View

__all__ = ["Live"]

KEPT = 500
FLUSH_S = 0.1
RETRY_S = 2.0
# Colour by type: calls stand out, widget events share one colour, failures are red.
_STYLES = {"tool_call": "bold cyan", "step": "green", "conversion": "bold yellow",
           "identify": "blue", "track": "green", "connection": "dim"}


class Live(View):
    key = "0"
    title = "Live tail"
    refreshed = False
    BINDINGS = [Binding("p", "pause", "Pause/resume")]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.kept: deque[dict[str, Any]] = deque(maxlen=KEPT)
        self.pending: list[dict[str, Any]] = []
        self.paused = False
        self.waiting = 0  # arrived while paused
        self.dropped = 0
        self.text_filter = ""
        self.connected = False

    def compose(self) -> ComposeResult:
        yield Static(id="live-status")
        yield DataTable(id="live-events", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        # fixed widths: a table sizes auto columns only when idle, so they would jump as a
        # busy stream fills it (and the longest type, widget_rage_click, is 17 wide)
        for label, key, width in (("Time", "time", 12), ("Type", "type", 17),
                                  ("Name", "name", 18), ("Outcome", "outcome", 16),
                                  ("Trace", "trace", 20), ("Session", "session", 14)):
            table.add_column(label, key=key, width=width)
        self.set_interval(FLUSH_S, self._flush)
        self._status()

    def on_show(self) -> None:
        self._stream()

    def on_hide(self) -> None:
        self.workers.cancel_group(self, "live")
        self.connected = False

    # -- the stream --------------------------------------------------------------------------

    @work(exclusive=True, group="live", exit_on_error=False)
    async def _stream(self) -> None:
        app: Any = self.app
        while True:
            try:
                async with app.client.live_async(app.project["id"]) as messages:
                    app.clear_failure()
                    self.connected = True
                    self._status()
                    async for kind, data in messages:
                        if kind == "dropped":
                            self.dropped += data["dropped"]
                        else:
                            self.pending.append(data)
            except ServerUnavailable:
                app.show_failure(f"Cannot reach the server at {app.server_url}; the live tail "
                                 f"reconnects every {RETRY_S:g} s.")
            except ApiError as error:
                app.show_failure(f"The server answered {error.status}: {error.message}")
            # the server ended the stream (restarting) or could not be reached: try again
            self.connected = False
            self._status()
            await asyncio.sleep(RETRY_S)

    def _flush(self) -> None:
        """Put the events that arrived since the last flush on the screen (unless paused)."""
        if not self.pending:
            if self.dropped:
                self._status()
            return
        arrived, self.pending = self.pending, []
        self.kept.extend(arrived)
        if self.paused:
            self.waiting += len(arrived)
            self._status()
            return
        table = self.query_one(DataTable)
        shown = [event for event in arrived if self._matches(event)]
        at_bottom = table.cursor_row >= table.row_count - 1
        for event in shown:
            table.add_row(*_cells(event), key=event.get("event_id"))
        extra = table.row_count - KEPT
        if extra > 0:
            for row_key in list(table.rows)[:extra]:
                table.remove_row(row_key)
        if at_bottom and shown:  # follow the tail unless the person moved up to read
            table.move_cursor(row=table.row_count - 1)
        self._status()

    # -- keys --------------------------------------------------------------------------------

    def action_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused:
            self.waiting = 0
            self._redraw()
        self._status()

    def apply_filter(self, text: str) -> None:
        self.text_filter = text.lower()
        self._redraw()
        self._status()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        chosen = next((kept for kept in self.kept
                       if kept.get("event_id") == event.row_key.value), None)
        if chosen is not None:
            self.app.push_screen(EventScreen(chosen))

    # -- drawing -----------------------------------------------------------------------------

    def _matches(self, event: dict[str, Any]) -> bool:
        if not self.text_filter:
            return True
        fields = ("event_type", "event_name", "trace_id", "session_id", "platform", "status")
        return any(self.text_filter in str(event.get(name) or "").lower() for name in fields)

    def _redraw(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for event in self.kept:
            if self._matches(event):
                table.add_row(*_cells(event), key=event.get("event_id"))
        if table.row_count:
            table.move_cursor(row=table.row_count - 1)

    def _status(self) -> None:
        parts = []
        if not self.connected:
            parts.append("Connecting to the live stream…")
        elif self.paused:
            parts.append(f"[b]⏸ paused[/] — {self.waiting} new, p to resume")
        else:
            parts.append("[green]● live[/] — p to pause, / to filter, Enter for detail")
        if self.text_filter:
            parts.append(f"filter: {escape(self.text_filter)}")
        if self.dropped:
            parts.append(f"[yellow]{self.dropped} events dropped (the tail fell behind)[/]")
        self.query_one("#live-status", Static).update(" · ".join(parts))


def _cells(event: dict[str, Any]) -> tuple[Text, ...]:
    kind = event.get("event_type") or "?"
    style = "red" if event.get("status") == "error" else _STYLES.get(
        kind, "magenta" if kind.startswith("widget_") else "")
    outcome = " ".join(part for part in (
        event.get("status") or "",
        duration(event["latency_ms"]) if event.get("latency_ms") is not None else "",
        f"{event['conversion_value']:.2f} {event.get('conversion_currency') or ''}".strip()
        if event.get("conversion_value") is not None else "") if part)
    return (Text(str(event.get("timestamp") or "")[11:23], style="dim"), Text(kind, style=style),
            Text(event.get("event_name") or ""), Text(outcome, style=style),
            Text(event.get("trace_id") or ""), Text(event.get("session_id") or "", style="dim"))


class EventScreen(ModalScreen[None]):
    """One event of the live tail, every field; `o` opens its trace."""

    BINDINGS = [Binding("escape,enter", "dismiss", "Close"), Binding("o", "trace", "Open trace")]

    def __init__(self, event: dict[str, Any]) -> None:
        super().__init__()
        self.event = event

    def compose(self) -> ComposeResult:
        fields = {name: value for name, value in self.event.items()
                  if value not in (None, "", [], {})}
        with Vertical(id="event-detail") as box:
            box.border_title = f"{self.event.get('event_type')} {self.event.get('event_id')}"
            box.border_subtitle = "o open the trace · Esc close"
            yield Static(escape(json.dumps(fields, indent=2, ensure_ascii=False)))

    def action_trace(self) -> None:
        if self.event.get("trace_id"):
            self.app.switch_screen(TraceScreen(self.event["trace_id"]))
