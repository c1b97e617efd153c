"""The filters of the read endpoints (SPEC 7): `from`, `to` (UTC) and `platform` (repeatable),
the bucket derived from the range's length, the previous period of the same length that KPIs
are compared with, and the `type` filter of the event lists."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from yavio_ingest.responses import Reject
from yavio_sdk.events import EVENT_TYPES

__all__ = ["TimeRange", "event_types", "parse_range"]

DEFAULT_DAYS = 7
_MAX_DAYS = 3 * 366
# Well inside ClickHouse's DateTime64 (1900-2299), also for a previous period three years back.
_EARLIEST_YEAR, _LATEST_YEAR = 2000, 2200
# (longest range, bucket, ClickHouse expression of a DateTime64, the fill step). Every bucket
# is a DateTime in UTC (weeks start on Monday): WITH FILL needs one type from start to end.
_BUCKETS = (
    (timedelta(days=2), "hour", "toStartOfHour({})", "INTERVAL 1 HOUR"),
    (timedelta(days=60), "day", "toStartOfDay({})", "INTERVAL 1 DAY"),
    (timedelta(days=184), "week", "toDateTime(toStartOfWeek({}, 1), 'UTC')", "INTERVAL 1 WEEK"),
    (None, "month", "toDateTime(toStartOfMonth({}), 'UTC')", "INTERVAL 1 MONTH"),
)


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime
    platforms: tuple[str, ...] = ()

    @property
    def bucket(self) -> str:
        return self._bucket()[1]

    def bucket_sql(self, column: str) -> str:
        """The ClickHouse expression of `column`'s bucket."""
        return self._bucket()[2].format(column)

    def series_order(self) -> str:
        """`ORDER BY bucket WITH FILL ...`: every bucket of the range, empty ones zero-filled,
        for a query grouping by `bucket_sql(...) AS bucket` with `parameters()`."""
        start = self.bucket_sql("toDateTime(toDateTime64({start:String}, 3, 'UTC'), 'UTC')")
        return (f"ORDER BY bucket WITH FILL FROM {start} "
                "TO toDateTime(toDateTime64({end:String}, 3, 'UTC'), 'UTC') "
                f"STEP {self._bucket()[3]}")

    def buckets(self) -> list[datetime]:
        """Every bucket of the range (naive UTC), as `series_order()` fills them: from the
        bucket of `from` (to the second) while before `to` (to the second). For a series
        grouped with other figures in one query (GROUPING SETS cannot fill)."""
        end = self.end.astimezone(timezone.utc).replace(tzinfo=None, microsecond=0)
        bucket = self.start.astimezone(timezone.utc).replace(tzinfo=None, microsecond=0,
                                                             second=0, minute=0)
        if self.bucket != "hour":
            bucket = bucket.replace(hour=0)
        if self.bucket == "week":
            bucket -= timedelta(days=bucket.weekday())
        if self.bucket == "month":
            bucket = bucket.replace(day=1)
        buckets = []
        while bucket < end:
            buckets.append(bucket)
            if self.bucket == "month":
                bucket = bucket.replace(year=bucket.year + bucket.month // 12,
                                        month=bucket.month % 12 + 1)
            else:
                bucket += {"hour": timedelta(hours=1), "day": timedelta(days=1),
                           "week": timedelta(days=7)}[self.bucket]
        return buckets

    @property
    def previous(self) -> TimeRange:
        """The period of the same length just before this one."""
        return TimeRange(self.start - (self.end - self.start), self.start, self.platforms)

    def parameters(self) -> dict[str, Any]:
        """Query parameters `start`, `end` (DateTime64(3) strings) and `platforms`."""
        return {"start": _sql_time(self.start), "end": _sql_time(self.end),
                "platforms": list(self.platforms)}

    def condition(self) -> str:
        """The WHERE clause part for these parameters, on `events`."""
        sql = ("timestamp >= toDateTime64({start:String}, 3, 'UTC') "
               "AND timestamp < toDateTime64({end:String}, 3, 'UTC')")
        if self.platforms:
            sql += " AND platform IN {platforms:Array(String)}"
        return sql

    def _bucket(self) -> tuple[Any, ...]:
        length = self.end - self.start
        for longest, *rest in _BUCKETS:
            if longest is None or length <= longest:
                return (longest, *rest)
        raise AssertionError("the last bucket takes any length")


def parse_range(query: Mapping[str, Any], now: datetime | None = None) -> TimeRange:
    """The range of a request's query: `from`/`to` as ISO-8601 (UTC when no offset is given),
    by default the last 7 days; `platform` repeated or comma-separated. 400 `YAVIO-3010` for
    a malformed or backwards range, or one over three years."""
    now = now or datetime.now(timezone.utc)
    end = _when(query.get("to"), "to") or now
    start = _when(query.get("from"), "from") or end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise Reject("YAVIO-3010", "from must be before to.")
    if end - start > timedelta(days=_MAX_DAYS):
        raise Reject("YAVIO-3010", f"The range may span at most {_MAX_DAYS} days.")
    return TimeRange(start, end, _listed(query, "platform"))


def event_types(query: Mapping[str, Any]) -> tuple[str, ...]:
    """The `type` filter: event types, repeated or comma-separated, sorted; empty means every
    type. 400 `YAVIO-3010` for a type the contract does not have."""
    types = _listed(query, "type")
    unknown = [name for name in types if name not in EVENT_TYPES]
    if unknown:
        raise Reject("YAVIO-3010", f"Unknown event type {', '.join(unknown)}; type must be "
                                   f"among {', '.join(EVENT_TYPES)}.")
    return types


def _listed(query: Mapping[str, Any], name: str) -> tuple[str, ...]:
    """A parameter given repeatedly (`?a=x&a=y`), comma-separated (`?a=x,y`) or both."""
    getall = getattr(query, "getall", None)
    values = getall(name, []) if getall else [query.get(name) or ""]
    return tuple(sorted({item.strip() for value in values for item in value.split(",")
                         if item.strip()}))


def _when(value: Any, name: str) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise Reject("YAVIO-3010", f"{name} must be an ISO-8601 time, e.g. "
                                   "2026-01-31T00:00:00Z.") from None
    when = when.replace(tzinfo=timezone.utc) if when.tzinfo is None else \
        when.astimezone(timezone.utc)
    if not _EARLIEST_YEAR <= when.year <= _LATEST_YEAR:
        raise Reject("YAVIO-3010", f"{name} must be between the years {_EARLIEST_YEAR} and "
                                   f"{_LATEST_YEAR}.")
    return when


def _sql_time(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.") + \
        f"{when.microsecond // 1000:03d}"
