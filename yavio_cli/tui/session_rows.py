"""How a listed session reads as a table row, wherever sessions are listed (the sessions view, a
user's timeline): when it started, its id, user and platform, how long it lasted, its tool
calls, failures and conversions."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from yavio_cli.tui.filtered_table import Row
from yavio_cli.tui.format import count, duration

__all__ = ["add_session_columns", "session_row"]

# (column key, header, width, right-aligned): fixed widths, so that the columns neither jump
# when a reload brings a longer value nor depend on when the table measures its rows; the
# widest list (sessions with users) fits 80 columns.
COLUMNS = (("started", "Started", 11, False), ("session", "Session", 13, False),
           ("user", "User", 14, False), ("platform", "Platform", 8, False),
           ("duration", "Duration", 9, True), ("calls", "Calls", 5, True),
           ("errors", "Errors", 6, True), ("conversions", "Conv.", 5, True))


def add_session_columns(table: DataTable, *, without: tuple[str, ...] = ()) -> None:
    """The columns of `session_row` (less those in `without`) on `table`."""
    for key, header, width, right in COLUMNS:
        if key not in without:
            table.add_column(Text(header, justify="right") if right else header, key=key,
                             width=width)


def session_row(session: dict[str, Any], *, without: tuple[str, ...] = ()) -> Row:
    """A session of the server's lists as a row of `COLUMNS` (less those in `without`), keyed
    by its id; `/` searches its id and every column shown."""
    started, errors, user = session["startedAt"], session["errors"], session["userId"]
    cells = {
        "started": f"{started[5:10]} {started[11:16]}",
        "session": Text(session["sessionId"]),
        "user": Text(user or "—", style="" if user else "dim"),
        "platform": Text(session["platform"] or "—"),
        "duration": Text(duration(session["durationMs"]), justify="right"),
        "calls": Text(count(session["toolCalls"]), justify="right"),
        "errors": Text(count(errors), justify="right", style="red" if errors else ""),
        "conversions": Text(count(session["conversions"]), justify="right"),
    }
    shown = [cell for key, cell in cells.items() if key not in without]
    return (session["sessionId"], shown,
            " ".join([session["sessionId"], *(str(cell) for cell in shown)]))
