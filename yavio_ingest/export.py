"""The raw events of a project (SPEC 7, export): the deduplicated events of a range and its
platforms, oldest first, in pages, for `yavio export` and anyone who wants their data out.

An exported event looks like the event that was sent (SPEC 1-2): every column of `events` but
`workspace_id`, under its wire name, JSON payloads as JSON, an optional text field that was left
out as null rather than the empty string ClickHouse stores, timestamps as ISO-8601 UTC. So an
anonymous event has `user_id: null`.

Pages follow a keyset cursor, the (timestamp, event_id) of the last event of the page: unlike
an offset, it never skips or repeats an event at a page boundary, however many events share one
millisecond, and each page starts its read at the cursor's time instead of the range's start.
Dedup-aware (`events_of`) and scoped to one project.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import msgspec

from yavio_ingest.overview import events_of, iso
from yavio_ingest.responses import Reject
from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_ingest.time_range import TimeRange, event_types

__all__ = ["COLUMNS", "DEFAULT_LIMIT", "MAX_LIMIT", "events_page"]

DEFAULT_LIMIT = 1_000
MAX_LIMIT = 10_000

# Every column of `events` but workspace_id, in the table's order.
COLUMNS = (
    "event_id", "event_type", "project_id", "trace_id", "session_id", "timestamp",
    "ingested_at", "source", "event_name", "user_id", "platform", "sdk_version", "metadata",
    "latency_ms", "status", "error_category", "error_message", "is_retry", "input_keys",
    "input_types", "input_values", "output_content", "intent_signals", "tokens_in",
    "tokens_out", "country_code", "locale", "end_user_agent", "subject_id", "protocol_version",
    "client_name", "client_version", "connection_duration_ms", "tool_name", "description",
    "input_schema", "step_sequence", "conversion_value", "conversion_currency", "user_traits",
    "viewport_width", "viewport_height", "device_pixel_ratio", "device_touch",
    "connection_type", "visible_duration_ms", "click_count", "scroll_depth_pct", "field_name",
    "nav_from", "nav_to", "load_time_ms",
)
_IDS = frozenset({"event_id", "project_id"})
_TIMES = frozenset({"timestamp", "ingested_at"})
_NUMBERS = frozenset({
    "latency_ms", "is_retry", "tokens_in", "tokens_out", "connection_duration_ms",
    "step_sequence", "conversion_value", "viewport_width", "viewport_height",
    "device_pixel_ratio", "device_touch", "visible_duration_ms", "click_count",
    "scroll_depth_pct", "load_time_ms",
})
# String columns holding the JSON text of a payload (`store.clickhouse.event_line`).
_JSON = frozenset({"metadata", "input_keys", "input_types", "input_values", "output_content",
                   "intent_signals", "input_schema", "user_traits"})


def _json_of(column: str) -> str:
    """The ClickHouse expression of a column's value as JSON text."""
    if column in _TIMES:
        # A DateTime64(3, 'UTC') reads `2026-01-31 12:00:00.000`: made the text of `iso()`.
        return f"concat('\"', replaceOne(toString({column}), ' ', 'T'), 'Z\"')"
    if column in _IDS:
        return f"concat('\"', toString({column}), '\"')"
    if column in _NUMBERS:
        # The shortest text that reads back as the same number: a Float32 ratio sent as 1.1
        # is 1.1, not the 1.100000023841858 that the float32 holds. A number beyond a Float32's
        # range (a pixel ratio of 1e39, stored before the contract bounded it) is inf there,
        # which JSON cannot write: null, as msgspec writes it. NULL is null too (`if` takes it
        # as false).
        return f"if(isFinite({column}), toString({column}), 'null')"
    if column in _JSON:
        # The payload as sent, verbatim. A value that is somehow not JSON becomes a JSON
        # string rather than break the page.
        return (f"multiIf({column} = '', 'null', isValidJSON({column}), {column}, "
                f"toJSONString({column}))")
    # Text: an optional field left out is stored as '', exported as null.
    return f"if({column} = '', 'null', toJSONString({column}))"


# Each event is one JSON object built by ClickHouse and passed through as is (msgspec.Raw): a
# page holds up to 10,000 events, and reading 52 columns of each into Python objects and
# encoding them again took three times as long as the query (measured on a 10,000-event page).
_EVENT = ("concat('{', " + ", ',', ".join(f"'\"{column}\":', {_json_of(column)}"
                                         for column in COLUMNS) + ", '}')")

_PAGE = """
SELECT {event}, timestamp, event_id FROM {events} WHERE {where}
ORDER BY timestamp, event_id LIMIT {limit}
"""
# The page's last time, from the stored rows without FINAL (a copy of an event has its
# original's time, so copies can only bring it earlier): FINAL, which merges every row it
# reads, then reads up to that time only, not the whole range. Measured at 10M events: 300 ms
# for a first page before, about 100 after.
_BOUND = """
SELECT timestamp FROM {copies} WHERE {where}
ORDER BY timestamp, event_id LIMIT 1 OFFSET {limit}
"""
_BELOW_BOUND = " AND timestamp <= toDateTime64({bound:String}, 3, 'UTC')"
# For a progress bar: the stored rows, copies of an event included (counting them out would
# cost FINAL over the whole range).
_TOTAL = "SELECT count() FROM {copies} WHERE {where}"
_AFTER = ("(timestamp, event_id) > "
          "(parseDateTime64BestEffort({after_time:String}, 3, 'UTC'), {after_id:UUID})")
_TYPES = "event_type IN {types:Array(String)}"


def events_page(store: ClickHouseStore, project_id: uuid.UUID, period: TimeRange,
                query: Mapping[str, Any]) -> dict[str, Any]:
    """`{events, next, total}` (blocking): up to `limit` events (default 1,000, at most 10,000)
    of the range, of the `type`s asked for (repeatable; all by default), after the cursor
    `after`; `next` is the cursor of the following page, null on the last one; `total`, the
    range's event count, only on the first page (no `after`), else null. 400 `YAVIO-3010` for
    a bad limit, type or cursor."""
    limit = _limit(query.get("limit"))
    types = list(event_types(query))
    after = _cursor(query["after"]) if query.get("after") else None
    conditions, parameters = [], {"project": str(project_id)}
    if types:
        conditions.append(_TYPES)
        parameters["types"] = types
    where = " AND ".join(conditions) or "1"
    total, window = None, period
    if after is None:
        total = store.query(_TOTAL.format(copies=events_of(period, deduplicated=False),
                                          where=where),
                            {**parameters, **period.parameters()})[0][0]
    elif after[0] >= period.end:
        return {"events": [], "next": None, "total": None}
    elif after[0] >= period.start:  # a cursor before the range's start has nothing to skip
        where += f" AND {_AFTER}"
        parameters.update(after_time=iso(after[0]), after_id=str(after[1]))
        # Nothing before the cursor's millisecond is read again.
        window = replace(period, start=after[0])
    parameters.update(window.parameters())
    bound = store.query(_BOUND.format(copies=events_of(window, deduplicated=False),
                                      where=where, limit=limit), parameters)
    if bound:
        where += _BELOW_BOUND
        parameters["bound"] = bound[0][0].strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    rows = store.query(_PAGE.format(event=_EVENT, events=events_of(window), where=where,
                                    limit=limit + 1), parameters)
    # One row more than the page tells whether another page follows; so does a bound (rows
    # after it were not read), even when copies left fewer events than `limit` before it.
    page, more = rows[:limit], len(rows) > limit or bool(bound)
    return {"events": [msgspec.Raw(event) for event, _, _ in page],
            "next": _next_cursor(page[-1]) if more else None,
            "total": total}


def _limit(value: Any) -> int:
    if value is None or value == "":
        return DEFAULT_LIMIT
    try:
        limit = int(value)
    except ValueError:
        raise Reject("YAVIO-3010", "limit must be a whole number.") from None
    return min(max(1, limit), MAX_LIMIT)


def _next_cursor(row: tuple) -> str:
    _, when, event_id = row
    text = f"{iso(when)} {event_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _cursor(value: str) -> tuple[datetime, uuid.UUID]:
    """The (timestamp, event_id) of a `next` cursor."""
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        when, event_id = text.split(" ")
        if not when.endswith("Z"):
            raise ValueError(when)
        return (datetime.fromisoformat(when).astimezone(timezone.utc), uuid.UUID(event_id))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Reject("YAVIO-3010", "after must be the `next` cursor of a previous page.") \
            from None

