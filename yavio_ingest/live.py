"""The live tail (SPEC 7): `GET /v1/projects/{project}/live`, a `text/event-stream` of a project's
events as the ingest accepts them, optionally narrowed to some event types.

Each event is one message: `id:` its event_id, `event:` its event_type, `data:` the event as
stored (`stored_event`). A `: connected` comment opens the stream, a `: ping` comment follows
every 15 s of silence so proxies keep it open, and an `event: dropped` message says how many
events a reader too slow to keep up has lost.

Two sources, merged so that no event is sent twice:
- the in-process fan-out, which `POST /v1/events` feeds as it acknowledges a batch: an event
  reaches the stream milliseconds after its acknowledgement;
- with `live_poll_ms` set (several replicas behind a proxy, where another replica acknowledges
  most events), ClickHouse, polled for the project's rows whose `ingested_at` is past the last
  one seen (less an overlap, for writers still flushing). The poll is bounded by `timestamp`
  too, because `ingested_at` is not in the sort key: an event whose own timestamp is more than
  `POLL_RECENT_S` old (backfilled, or from a client with a clock far behind) is not shown by
  polling, only by the fan-out of the replica that accepted it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from yavio_ingest.access import Access
from yavio_ingest.dedup import RecentIds
from yavio_ingest.fanout import Subscription
from yavio_ingest.ingestion import INGEST
from yavio_ingest.responses import REQUEST_ID, Reject
from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_ingest.time_range import event_types

__all__ = ["MAX_STREAMS_PER_PROJECT", "add_live_route", "stored_event"]

log = logging.getLogger("yavio.ingest.live")

MAX_STREAMS_PER_PROJECT = 100  # per server process
HEARTBEAT_S = 15.0
POLL_RECENT_S = 300
# Another replica's writer stores an event a few hundred ms after acknowledging it (it flushes
# every 250 ms by default): rows that land that late behind the last one seen are still found.
POLL_OVERLAP_MS = 3_000
# How often a quiet stream checks whether its client left or the server is stopping: aiohttp
# does not cancel a handler when its client disconnects.
_TICK_S = 1.0
# Events waiting for a slow reader, at about 1 KB each; past this the oldest are dropped.
_BACKLOG = 2_000
# Ids already sent: must hold every event of an overlap window, or polling would send it again.
_REMEMBERED_IDS = 20_000
_POLL_KEYS = 10_000
_POLL_ROWS = 1_000

# The String columns that hold JSON text: decoded, so an event reads the same from the fan-out
# (which carries objects) and from ClickHouse.
_JSON_TEXT_FIELDS = frozenset(("metadata", "input_keys", "input_types", "input_values",
                               "output_content", "intent_signals", "user_traits",
                               "input_schema"))
_TIME_FIELDS = frozenset(("timestamp", "ingested_at"))
# Float32 columns: a client's 33.333333 is stored as 33.333332; 7 significant digits agree.
_FLOAT32_FIELDS = frozenset(("device_pixel_ratio", "scroll_depth_pct"))

_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


def stored_event(line: bytes | str) -> dict[str, Any]:
    """An event line (the fan-out's JSONEachRow line, or a row ClickHouse formats the same way)
    as the API shows it: the stored columns with values, `workspace_id` left out, JSON text
    decoded, times as ISO-8601 with milliseconds. Columns the event does not use (empty
    strings, nulls, `is_retry` 0) are left out, as ClickHouse cannot tell them from absent."""
    event: dict[str, Any] = {}
    for field, value in _decoder.decode(line).items():
        if value is None or value == "" or field == "workspace_id":
            continue
        if field in _JSON_TEXT_FIELDS and isinstance(value, str):
            try:
                value = _decoder.decode(value)
            except msgspec.DecodeError:
                pass  # stored as plain text: show it as it is
        elif field in _TIME_FIELDS:
            value = _milliseconds(value)
        elif field in _FLOAT32_FIELDS:
            value = float(f"{value:.7g}")
        event[field] = value
    if not event.get("is_retry"):
        event.pop("is_retry", None)
    event["event_id"] = event["event_id"].lower()
    return event


def _milliseconds(text: str) -> str:
    """`…T12:00:00.123456Z` or `…T12:00:00Z` as `…T12:00:00.123Z`: ClickHouse keeps milliseconds,
    cut, not rounded."""
    whole, _, fraction = text.rstrip("Z").partition(".")
    return f"{whole}.{(fraction + '000')[:3]}Z"


def _message(event: dict[str, Any]) -> bytes:
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (
        event["event_id"].encode(), event["event_type"].encode(), _encoder.encode(event))


class _Streams:
    """The open streams of this process: how many per project, and whether the server is
    stopping (each stream then ends within `_TICK_S`)."""

    def __init__(self) -> None:
        self.open: Counter[str] = Counter()
        self.closing = False

    async def close_all(self, _app: web.Application) -> None:
        self.closing = True


_POLL_KEYS_SQL = """
SELECT toUnixTimestamp64Milli(ingested_at), toString(event_id) FROM events
WHERE workspace_id = {workspace:UUID} AND project_id = {project:UUID}
  AND timestamp >= fromUnixTimestamp64Milli({recent:Int64}, 'UTC')
  AND (ingested_at, event_id) > (fromUnixTimestamp64Milli({after:Int64}, 'UTC'),
                                 toUUID({after_id:String}))
  AND (empty({types:Array(String)}) OR event_type IN {types:Array(String)})
ORDER BY ingested_at, event_id LIMIT {limit:UInt32}
"""

# One row per event_id, though an event may be stored twice before ClickHouse merges its copies.
_POLL_ROWS_SQL = """
SELECT toString(event_id), formatRowNoNewline('JSONEachRow', * EXCEPT (workspace_id))
FROM events
WHERE workspace_id = {workspace:UUID} AND project_id = {project:UUID}
  AND timestamp >= fromUnixTimestamp64Milli({recent:Int64}, 'UTC')
  AND event_id IN {ids:Array(UUID)}
ORDER BY ingested_at, event_id LIMIT 1 BY event_id
SETTINGS date_time_output_format = 'iso'
"""

_NO_ID = "00000000-0000-0000-0000-000000000000"


class _ClickHousePoller:
    """Offers a stream's subscription the events that reached ClickHouse without passing
    through this process's fan-out (another replica acknowledged them)."""

    def __init__(self, store: ClickHouseStore, workspace_id: uuid.UUID, project_id: uuid.UUID,
                 types: frozenset[str], subscription: Subscription, sent: RecentIds,
                 blocking: Callable[..., Awaitable[Any]]) -> None:
        self._store, self._subscription, self._sent, self._blocking = (
            store, subscription, sent, blocking)
        self._tenant = {"workspace": str(workspace_id), "project": str(project_id)}
        self._types = sorted(types)
        self._subscribed_ms = _now_ms()  # the stream shows events from its start on
        self._last_seen_ms = self._subscribed_ms
        self._resume: tuple[int, str] | None = None
        self._offered = RecentIds(_REMEMBERED_IDS)

    async def run(self, interval_s: float) -> None:
        failing = False
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self._poll_once()
            except Exception as error:  # ClickHouse down for a while: the fan-out still works
                if not failing:  # once per outage, not once per poll
                    log.warning("live tail: polling ClickHouse failed: %s", error)
                failing = True
            else:
                failing = False

    async def _poll_once(self) -> None:
        keys = await self._blocking(self._new_keys)
        fresh = [event_id for _, event_id in keys
                 if event_id not in self._sent and event_id not in self._offered]
        for start in range(0, len(fresh), _POLL_ROWS):
            rows = await self._blocking(self._rows, fresh[start:start + _POLL_ROWS])
            for event_id, line in rows:
                # Sent meanwhile by the fan-out, or offered by an earlier poll: not again.
                if event_id not in self._sent and self._offered.add(event_id):
                    self._subscription.offer(line.encode())

    def _new_keys(self) -> list[tuple[int, str]]:
        """(ingested_at in ms, event_id) of the rows past the cursor (blocking). A full page
        leaves a cursor to resume from; otherwise the next poll looks back `POLL_OVERLAP_MS`
        from the last row seen, never before the stream started."""
        after = self._resume or (max(self._subscribed_ms, self._last_seen_ms - POLL_OVERLAP_MS),
                                 _NO_ID)
        keys = self._store.query(
            _POLL_KEYS_SQL,
            {**self._tenant, "recent": _now_ms() - POLL_RECENT_S * 1000, "types": self._types,
             "after": after[0], "after_id": after[1], "limit": _POLL_KEYS})
        self._resume = tuple(keys[-1]) if len(keys) == _POLL_KEYS else None
        if keys:
            self._last_seen_ms = max(self._last_seen_ms, keys[-1][0])
        return keys

    def _rows(self, event_ids: list[str]) -> list[tuple[str, str]]:
        """(event_id, the stored line) of these events (blocking)."""
        return self._store.query(_POLL_ROWS_SQL, {
            **self._tenant, "recent": _now_ms() - POLL_RECENT_S * 1000, "ids": event_ids})


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def add_live_route(app: web.Application, access: Access, clickhouse_key: Any,
                   blocking: Callable[..., Awaitable[Any]], poll_ms: int) -> None:
    """Register `GET /v1/projects/{project}/live`; `poll_ms` > 0 turns ClickHouse polling on."""
    streams = _Streams()
    app.on_shutdown.append(streams.close_all)

    async def live(request: web.Request) -> web.StreamResponse:
        try:
            user = await access.user(request)
            project = await access.project(request, user, "viewer")
            types = frozenset(event_types(request.query))
            if streams.open[str(project.id)] >= MAX_STREAMS_PER_PROJECT:
                raise Reject("YAVIO-3050", retry_after=5)
        except Reject as reject:
            return reject.reply(request)
        key = str(project.id)
        subscription = app[INGEST].fanout.subscribe(key, capacity=_BACKLOG)
        sent = RecentIds(_REMEMBERED_IDS)
        poller = None
        if poll_ms:
            poller = asyncio.create_task(_ClickHousePoller(
                app[clickhouse_key], project.workspace_id, project.id, types, subscription,
                sent, blocking).run(poll_ms / 1000))
        streams.open[key] += 1
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
            # nginx buffers responses unless told not to; a buffered tail is not live.
            "X-Accel-Buffering": "no", "x-request-id": request[REQUEST_ID]})
        try:
            await response.prepare(request)
            await response.write(b": connected\n\n")
            await _forward(request, response, subscription, types, sent, streams)
        except ConnectionError:
            pass  # the client left while we wrote: nothing to tell anyone
        finally:
            subscription.close()
            if poller is not None:
                poller.cancel()
            streams.open[key] -= 1
            if not streams.open[key]:
                del streams.open[key]
        return response

    app.router.add_get("/v1/projects/{project}/live", live)


async def _forward(request: web.Request, response: web.StreamResponse,
                   subscription: Subscription, types: frozenset[str], sent: RecentIds,
                   streams: _Streams) -> None:
    """Write the subscription's events until the client leaves or the server stops."""
    loop = asyncio.get_running_loop()
    last_write = loop.time()
    reported = 0
    while not streams.closing and not _gone(request):
        try:
            line = await asyncio.wait_for(subscription.get(), _TICK_S)
        except TimeoutError:
            line = None
        chunk = b""
        if subscription.dropped > reported:
            chunk += b"event: dropped\ndata: %s\n\n" % _encoder.encode(
                {"dropped": subscription.dropped - reported})
            reported = subscription.dropped
        if line is not None:
            event = stored_event(line)
            if (not types or event["event_type"] in types) and sent.add(event["event_id"]):
                chunk += _message(event)
        if not chunk and loop.time() - last_write >= HEARTBEAT_S:
            chunk = b": ping\n\n"
        if chunk:
            await response.write(chunk)
            last_write = loop.time()
