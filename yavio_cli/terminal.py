"""What every `yavio` command prints and the options they share: Rich consoles, the one-line
error, JSON output, tables, times.

Exit codes: 0 success, 1 a user error (one line saying what to do), 2 a usage error (Typer's).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()
errors = Console(stderr=True)

HomeOption = Annotated[Path | None, typer.Option(
    "--home", envvar="YAVIO_HOME", help="Where the stack keeps its data [default: ~/.yavio].",
    show_default=False)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def fail(message: str) -> typer.Exit:
    """Print `error: message` on stderr and return the exit to raise (code 1)."""
    # Escaped: a server's message or a user's argument may contain `[…]`, which is Rich markup.
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


def say(message: str) -> None:
    """One plain line on stdout: no markup, so names and keys print exactly as they are."""
    console.print(message, markup=False, highlight=False, soft_wrap=True)


def print_json(value: Any) -> None:
    # Plain print, not Rich: the output must stay parseable whatever the terminal width.
    print(json.dumps(value, indent=2))


def print_table(columns: Sequence[str], rows: Iterable[Sequence[str]], *, empty: str) -> None:
    """A borderless Rich table, or the `empty` line when there are no rows. On a narrow
    terminal only names and ids give way (they wrap); slugs, prefixes, roles and times are read
    or copied whole, so they stay on one line."""
    rows = list(rows)
    if not rows:
        say(empty)
        return
    table = Table(box=None, pad_edge=False)
    for column in columns:
        wraps = column == "name" or column.endswith("id")
        table.add_column(column, no_wrap=not wraps, overflow="fold" if wraps else "ellipsis")
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    console.print(table)


def parse_time(value: str | None) -> datetime | None:
    """An ISO-8601 time from the API (`…Z`), as an aware datetime."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value)  # 3.11 reads the `Z` suffix itself
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def show_time(value: str | None, *, zone: bool = True) -> str:
    """An API time as `2026-11-20 10:00 UTC` (without ` UTC` for a column whose header says
    it), or `-` when absent."""
    parsed = parse_time(value)
    if parsed is None:
        return "-"
    return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M" + (" UTC" if zone else ""))


def credential_state(revoked_at: str | None, expires_at: str | None = None) -> str:
    """`active`, `revoked`, `expired`, or `until <UTC time>` for one that works until then (a
    rotated key in its grace period, a token with an expiry)."""
    now = datetime.now(UTC)
    revoked, expires = parse_time(revoked_at), parse_time(expires_at)
    if revoked and revoked <= now:
        return "revoked"
    if expires and expires <= now:
        return "expired"
    ends = min(t for t in (revoked, expires) if t) if (revoked or expires) else None
    return f"until {show_time(ends.isoformat(), zone=False)}" if ends else "active"
