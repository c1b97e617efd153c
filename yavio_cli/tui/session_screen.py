"""One session's traces, opened from a listed session that has no user (Enter): who it was (its
platform, start and figures) and its tool-call traces over the dashboard's range, newest
first, each opening as a tree (Enter). Esc goes back; `r` and `t` reload it like the views,
and it follows the refresh timer."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from yavio_cli.client import YavioClient
from yavio_cli.tui.detail_screen import DetailScreen
from yavio_cli.tui.filtered_table import FilteredTable, Row
from yavio_cli.tui.footer import KeysFooter
from yavio_cli.tui.format import count, duration
from yavio_cli.tui.trace_screen import TraceScreen

__all__ = ["SessionScreen"]

# The server's most: a session rarely has more traces than this.
LIMIT = 200


class SessionScreen(DetailScreen):
    def __init__(self, session: dict[str, Any]) -> None:
        """`session`: the session as the sessions list gives it (`sessionId`, `userId`,
        `platform`, `startedAt`, `durationMs`, `toolCalls`, `errors`, `conversions`)."""
        super().__init__()
        self.session = session

    def compose(self) -> ComposeResult:
        yield Static(header(self.session), id="session-title")
        with Vertical(id="session-traces-panel", classes="panel"):
            yield FilteredTable(id="session-traces")
        yield KeysFooter()

    def on_mount(self) -> None:
        table = self.query_one(FilteredTable)
        # fixed widths, as the sessions' (session_rows.COLUMNS): they fit 80 columns
        for header, width in (("Time (UTC)", 11), ("Tool", 18), ("Status", 7),
                              ("Latency", 8), ("Events", 6), ("Trace", 12)):
            right = header in ("Latency", "Events")
            table.add_column(Text(header, justify="right") if right else header,
                             key=header.lower(), width=width)
        self.query_one("#session-traces-panel").border_title = "Traces: loading…"
        table.focus()

    def fetch(self, client: YavioClient, project_id: str, query: dict[str, Any]) -> Any:
        return client.traces(project_id, session=self.session["sessionId"], limit=LIMIT,
                             **query)["traces"]

    def show_failure(self, message: str) -> None:
        self.query_one("#session-traces-panel").border_title = f"[red]{escape(message)}[/]"

    def show(self, traces: list[dict[str, Any]]) -> None:
        self.query_one(FilteredTable).set_rows([trace_row(trace) for trace in traces])
        self.query_one("#session-traces-panel").border_title = (
            f"Traces ({count(len(traces))}), newest first (Enter: trace)" if traces
            else "No tool call of this session in this range")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.app.push_screen(TraceScreen(str(event.row_key.value)))


def header(session: dict[str, Any]) -> Text:
    """Which session: its id, user (or none), platform, start and figures."""
    started = session["startedAt"]
    line = Text.assemble(("Session ", "bold"), session["sessionId"])
    line.append(f" · {session['userId'] or 'anonymous'} · {session['platform'] or '—'}"
                f" · started {started[:10]} {started[11:16]} UTC"
                f" · lasted {duration(session['durationMs'])}"
                f" · tool calls {count(session['toolCalls'])}, failed {count(session['errors'])}",
                style="dim")
    return line


def trace_row(trace: dict[str, Any]) -> Row:
    """A trace of the session as a row (searched by its cells)."""
    started, status = trace["startedAt"], trace["status"] or "—"
    cells = (f"{started[5:10]} {started[11:16]}", Text(trace["tool"]),
             Text(status, style="red" if status == "error" else "green"),
             Text(duration(trace["latencyMs"]), justify="right"),
             Text(count(trace["events"]), justify="right"), Text(trace["traceId"]))
    return trace["traceId"], cells, " ".join(str(cell) for cell in cells)
