"""Durations typed on the command line: `30m`, `24h`, `7d`, `2w`, `3600s`, `1h30m`; a bare
number is seconds. Option parsers raise `typer.BadParameter`, a usage error (exit 2)."""

from __future__ import annotations

import re

import typer

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d+)([smhdw])")
DAY = _UNITS["d"]


def seconds(text: str) -> int:
    """`text` in seconds; ValueError says what is wrong."""
    cleaned = text.strip().lower().replace(" ", "")
    if cleaned.isdigit():
        return int(cleaned)
    if not cleaned or _PART.sub("", cleaned):
        raise ValueError(f"{text!r} is not a duration; write it like 30m, 24h, 7d or 3600s")
    return sum(int(amount) * _UNITS[unit] for amount, unit in _PART.findall(cleaned))


def grace_seconds(text: str) -> int:
    """Parser of `--grace`: how long a rotated key keeps working."""
    try:
        return seconds(text)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def whole_days(text: str) -> int:
    """Parser of `--expires`: a positive whole number of days (the API takes `expiresInDays`)."""
    try:
        value = seconds(text)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    if value <= 0 or value % DAY:
        raise typer.BadParameter(f"{text!r} is not a whole number of days; write it like 30d")
    return value // DAY
