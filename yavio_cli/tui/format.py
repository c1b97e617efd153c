"""How the dashboard writes numbers: counts, rates, durations, money, changes and bars, so every
view reads the same way."""

from __future__ import annotations

from typing import Any

__all__ = ["bar", "change", "count", "duration", "percent", "revenue"]

_BLOCKS = " ▏▎▍▌▋▊▉█"


def count(value: int | float | None) -> str:
    if value is None:
        return "—"
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1000:.1f}k"
    return f"{value:,.0f}"


def percent(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.1f}%"


def duration(ms: float | None) -> str:
    """`8.4 ms`, `182 ms`, `2.35 s`, and for what lasts minutes (a session) `7m 03s`,
    `2h 05m`."""
    if ms is None:
        return "—"
    if round(ms / 60_000) >= 60:
        hours, minutes = divmod(round(ms / 60_000), 60)
        return f"{hours}h {minutes:02d}m"
    if round(ms / 1000) >= 60:
        minutes, seconds = divmod(round(ms / 1000), 60)
        return f"{minutes}m {seconds:02d}s"
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"


def revenue(totals: dict[str, float] | None) -> str:
    """`567.00 EUR`, currencies side by side; `—` for none."""
    if not totals:
        return "—"
    return " · ".join(f"{total:,.2f} {currency}" if currency != "none" else f"{total:,.2f}"
                      for currency, total in sorted(totals.items()))


def change(value: Any, previous: Any, *, lower_is_better: bool = False) -> str:
    """`▲ 12%` / `▼ 3%` against the previous period, green when it is good news; `new` when
    there was nothing before; `—` when there is nothing to compare."""
    if isinstance(value, dict):  # revenue: compare the sums over every currency
        value, previous = sum(value.values()), sum((previous or {}).values())
    if value is None or previous is None:
        return "[dim]—[/]"
    if not previous:
        return "[dim]new[/]" if value else "[dim]—[/]"
    ratio = (value - previous) / previous
    if abs(ratio) < 0.005:
        return "[dim]= prev.[/]"
    good = (ratio < 0) if lower_is_better else (ratio > 0)
    arrow = "▲" if ratio > 0 else "▼"
    return f"[{'green' if good else 'red'}]{arrow} {abs(ratio) * 100:.0f}%[/] [dim]vs prev.[/]"


def bar(share: float, width: int) -> str:
    """A horizontal bar of `share` (0-1) of `width` cells, in eighths of a cell."""
    eighths = round(max(0.0, min(1.0, share)) * width * 8)
    full, rest = divmod(eighths, 8)
    return ("█" * full + (_BLOCKS[rest] if rest else "")).ljust(width)
