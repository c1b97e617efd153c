"""What every view of the TUI shows: a time range (a preset relative to now, or custom) and the
platforms kept (all when none is chosen)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = ["PRESETS", "Filters", "parse_when"]

# (key, label, length): what `t` cycles through, the 7 days first (the server's default too).
PRESETS = (
    ("24h", "Last 24 hours", timedelta(hours=24)),
    ("7d", "Last 7 days", timedelta(days=7)),
    ("30d", "Last 30 days", timedelta(days=30)),
    ("90d", "Last 90 days", timedelta(days=90)),
)


@dataclass(frozen=True)
class Filters:
    """A preset (`24h`, `7d`, `30d`, `90d`, ending now) or a custom range (`start`, `end`),
    and the platforms kept."""

    preset: str | None = "7d"
    start: datetime | None = None
    end: datetime | None = None
    platforms: tuple[str, ...] = field(default_factory=tuple)

    def bounds(self, now: datetime) -> tuple[datetime, datetime]:
        """The range's start and end (UTC) when it is read at `now`."""
        if self.preset is None:
            assert self.start is not None and self.end is not None
            return self.start, self.end
        length = next(length for key, _, length in PRESETS if key == self.preset)
        return now - length, now

    def query(self, now: datetime) -> dict[str, Any]:
        """The client's range arguments (`start`, `end`, `platforms`) at `now`."""
        start, end = self.bounds(now)
        return {"start": _iso(start), "end": _iso(end), "platforms": self.platforms}

    def label(self) -> str:
        """`Last 7 days`, or `2026-03-01 00:00 → 2026-03-08 00:00` for a custom range."""
        if self.preset is None:
            assert self.start is not None and self.end is not None
            return f"{self.start:%Y-%m-%d %H:%M} → {self.end:%Y-%m-%d %H:%M}"
        return next(label for key, label, _ in PRESETS if key == self.preset)

    def next_preset(self) -> Filters:
        """The next preset in `PRESETS` (from a custom range: the first)."""
        keys = [key for key, _, _ in PRESETS]
        following = keys[(keys.index(self.preset) + 1) % len(keys)] if self.preset else keys[0]
        return replace(self, preset=following, start=None, end=None)

    def custom(self, start: datetime, end: datetime) -> Filters:
        return replace(self, preset=None, start=start, end=end)


def parse_when(text: str) -> datetime:
    """A time typed by a person: ISO-8601 (`2026-03-01`, `2026-03-01T14:00`), UTC unless an
    offset is given. ValueError says what was expected."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
