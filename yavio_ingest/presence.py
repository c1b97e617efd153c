"""Which sessions and users had events when, over a time range: the rows behind the session
counts of the overview and the sessions view, the anonymous sessions and the activity history
of the users view.

`session_hours` holds one row per session, user, platform and UTC hour with events, with the
first and last event in it: some 20x fewer rows than the events. The rows of a range come from
it for every hour of the range that no boundary falls inside (the range's own ends, and the
others a view splits the range at: the previous period's end, the last 1, 7 and 30 days), and
from the events only for the few hours a boundary cuts, one row per event. So no row straddles
a boundary: a row is on one side of each, as all the events it stands for are, and a view can
compare its `first_seen` with a boundary as it would each event's time.

Copies of an event change nothing read here (they repeat a key and leave a minimum and a
maximum as they were), so neither source needs `FINAL`; readers group the rows they need.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from yavio_ingest.time_range import TimeRange

__all__ = ["presence"]

_HOUR = timedelta(hours=1)

# The events of cut hour {n}: a range on the sort key's day and time per hour.
_CUT_HOUR = ("(timestamp >= toDateTime64({{cut{n}:String}}, 3, 'UTC') "
             "AND timestamp < toDateTime64({{cut{n}:String}}, 3, 'UTC') + INTERVAL 1 HOUR)")

# Braces doubled: formatted once with the cut hours' conditions and the platform filter.
_ROWS = """
SELECT session_id, user_id, first_seen, last_seen FROM session_hours
WHERE project_id = {{project:UUID}}
      AND hour >= toDateTime64({{start:String}}, 3, 'UTC')
      AND hour < toDateTime64({{end:String}}, 3, 'UTC')
      AND hour NOT IN {{cut_hours:Array(DateTime('UTC'))}} {platforms}
UNION ALL
SELECT session_id, user_id, timestamp, timestamp FROM events
WHERE project_id = {{project:UUID}} AND ({cut}) AND {condition}
"""


def presence(period: TimeRange, boundaries: Iterable[datetime] = ()) -> tuple[str, dict[str, Any]]:
    """A subquery of rows `(session_id, user_id, first_seen, last_seen)` standing for every
    event of `period` (and its platforms) of the project (parameter `project`), none of them
    straddling a hour's start, `period`'s ends or one of `boundaries`; and its parameters
    (`period.parameters()` included). Grouped by session, the rows give each session's first
    and last event in the range (or in a part of it between boundaries) and whether it had a
    user; grouped by user, when each user was active."""
    cut_hours = sorted({_hour_of(when) for when in (period.start, period.end, *boundaries)
                        if period.start <= when <= period.end and when != _hour_of(when)})
    parameters: dict[str, Any] = {
        **period.parameters(),
        "cut_hours": [_text(hour) for hour in cut_hours],
        **{f"cut{n}": _text(hour) for n, hour in enumerate(cut_hours)}}
    platforms = "AND platform IN {platforms:Array(String)}" if period.platforms else ""
    cut = " OR ".join(_CUT_HOUR.format(n=n) for n in range(len(cut_hours))) or "0"
    return _ROWS.format(platforms=platforms, cut=cut,
                        condition=period.condition()), parameters


def _hour_of(when: datetime) -> datetime:
    return when.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)


def _text(hour: datetime) -> str:
    return hour.strftime("%Y-%m-%d %H:%M:%S")
