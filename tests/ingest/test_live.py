"""The live tail (`GET /v1/projects/{project}/live`) on the real server: accepted events reach a
subscriber in milliseconds through the fan-out, filtered by type and never across projects or
tenants; with polling on, events another replica acknowledged (or written straight into
ClickHouse) arrive once each; streams end when their client leaves or the server stops."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from tests.conftest import store_events
from tests.ingest.conftest import (
    IngestServer,
    ingest_settings,
    make_event,
    start_ingest_server,
)
from tests.ingest.test_management import Tenant, make_tenant
from yavio_ingest import live
from yavio_sdk.events import StepEvent, ToolCallEvent

POLLING = {"live_poll_ms": 100}


class Stream:
    """An open live stream; a task reads its messages into a queue as they arrive."""

    def __init__(self, response: httpx.Response):
        self.response = response
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.comments: list[str] = []
        self.ended = asyncio.Event()
        self._lines = response.aiter_lines()

    async def first_line(self) -> str:
        return await anext(self._lines)

    async def pump(self) -> None:
        message: dict[str, Any] = {}
        try:
            async for line in self._lines:
                if line.startswith(":"):
                    self.comments.append(line)
                elif line:
                    field, _, value = line.partition(": ")
                    message[field] = value
                elif message:
                    message["data"] = msgspec.json.decode(message["data"])
                    message["received"] = time.perf_counter()
                    self.messages.put_nowait(message)
                    message = {}
        except httpx.HTTPError:
            pass  # the server went away: `ended` says so
        finally:
            self.ended.set()

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        return await asyncio.wait_for(self.messages.get(), timeout)

    async def take(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        return [await self.next(timeout) for _ in range(count)]

    async def quiet_for(self, seconds: float) -> list[dict[str, Any]]:
        """Whatever else arrives within `seconds` (expected: nothing)."""
        await asyncio.sleep(seconds)
        extra = []
        while not self.messages.empty():
            extra.append(self.messages.get_nowait())
        return extra


@asynccontextmanager
async def subscribed(url: str, token: str, project_id: str,
                     params: Any = None) -> AsyncIterator[Stream]:
    """A stream once the server has subscribed it (its `: connected` comment has arrived)."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as client:
        async with client.stream("GET", f"{url}/v1/projects/{project_id}/live", params=params,
                                 headers={"Authorization": f"Bearer {token}"}) as response:
            assert response.status_code == 200, await response.aread()
            assert response.headers["content-type"] == "text/event-stream"
            stream = Stream(response)
            assert await stream.first_line() == ": connected"
            reader = asyncio.create_task(stream.pump())
            try:
                yield stream
            finally:
                reader.cancel()


async def post(url: str, api_key: str, events: list[dict[str, Any]]) -> float:
    """Send a batch with the project's API key; the time of the acknowledgement."""
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{url}/v1/events", json={"events": events},
                                     headers={"Authorization": f"Bearer {api_key}"})
    acknowledged = time.perf_counter()
    assert response.status_code == 200, response.text
    return acknowledged


def api_key(server: IngestServer, tenant: Tenant) -> str:
    raw, _ = server.postgres.api_keys.create(uuid.UUID(tenant.project_id), "live")
    return raw


async def test_an_accepted_event_reaches_a_subscriber_as_stored_within_milliseconds(
        ingest_server: IngestServer) -> None:
    mine = make_tenant(ingest_server.postgres, "l")
    key = api_key(ingest_server, mine)
    # Yesterday: the ingest refuses a timestamp older than the retention.
    day = (datetime.now(timezone.utc) - timedelta(days=1)).date()
    event = make_event(event_id=str(uuid.uuid4()).upper(), timestamp=f"{day}T12:00:00.123456Z",
                       metadata={"query": "rooms in Lisbon"}, platform="claude")
    async with subscribed(ingest_server.url, mine.tokens["viewer"], mine.project_id) as stream:
        sent = time.perf_counter()
        acknowledged = await post(ingest_server.url, key, [event])
        received = await stream.next()
    print(f"\nlive tail, fan-out: send → receive {(received['received'] - sent) * 1000:.1f} ms, "
          f"ack → receive {(received['received'] - acknowledged) * 1000:+.1f} ms")

    # The event as ClickHouse stores it: the id in lower case, the time cut to milliseconds,
    # the tenant's project and the ingest time added, no workspace_id.
    assert (received["id"], received["event"]) == (event["event_id"].lower(), "tool_call")
    data = received["data"]
    assert data.pop("ingested_at").endswith("Z")
    assert data == {"event_id": event["event_id"].lower(), "event_type": "tool_call",
                    "project_id": mine.project_id, "trace_id": "tr_test",
                    "session_id": "ses_test", "timestamp": f"{day}T12:00:00.123Z",
                    "source": "server", "event_name": "search_rooms", "platform": "claude",
                    "metadata": {"query": "rooms in Lisbon"}, "latency_ms": 12.5,
                    "status": "success"}
    # Generous guard only: the figure printed above is what matters.
    assert received["received"] - sent < 5


async def test_the_type_filter_keeps_only_the_types_asked_for(
        ingest_server: IngestServer) -> None:
    mine = make_tenant(ingest_server.postgres, "f")
    key = api_key(ingest_server, mine)
    for params in ({"type": "step,conversion"}, [("type", "step"), ("type", "conversion")]):
        batch = [make_event("tool_call"), make_event("step", event_name="rooms_found"),
                 make_event("track", event_name="filter_used"),
                 make_event("conversion", event_name="booked", conversion_value=99.0,
                            conversion_currency="EUR")]
        async with subscribed(ingest_server.url, mine.tokens["viewer"], mine.project_id,
                              params) as stream:
            await post(ingest_server.url, key, batch)
            # The fan-out hands the batch over in order: after the conversion, the tool call and
            # the track event have been seen and left out.
            got = await stream.take(2)
            assert [(m["event"], m["data"]["event_name"]) for m in got] == [
                ("step", "rooms_found"), ("conversion", "booked")]
            assert await stream.quiet_for(0.3) == []

    async with httpx.AsyncClient(base_url=ingest_server.url) as client:
        refused = await client.get(f"/v1/projects/{mine.project_id}/live",
                                   params={"type": "step,tool_calls"},
                                   headers={"Authorization": f"Bearer {mine.tokens['viewer']}"})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "YAVIO-3010"
    assert "tool_calls" in refused.json()["error"]["message"]


async def test_events_of_other_projects_never_arrive(ingest_server: IngestServer) -> None:
    mine, theirs = (make_tenant(ingest_server.postgres, label) for label in ("m", "t"))
    sibling = ingest_server.postgres.projects.create(uuid.UUID(mine.workspace_id), "S", "s")
    sibling_key, _ = ingest_server.postgres.api_keys.create(sibling.id, "k")
    marker = make_event("track", event_name="marker")
    async with subscribed(ingest_server.url, mine.tokens["viewer"], mine.project_id) as stream:
        await post(ingest_server.url, api_key(ingest_server, theirs), [make_event()])
        await post(ingest_server.url, sibling_key, [make_event()])
        await post(ingest_server.url, api_key(ingest_server, mine), [marker])
        # The other batches were acknowledged (and fanned out) before the marker was sent.
        assert (await stream.next())["id"] == marker["event_id"]
        assert await stream.quiet_for(0.3) == []


async def test_only_members_of_the_workspace_can_subscribe(ingest_server: IngestServer) -> None:
    mine, theirs = (make_tenant(ingest_server.postgres, label) for label in ("a", "b"))
    loner = ingest_server.postgres.users.create(f"loner-{uuid.uuid4().hex[:6]}@example.com")
    loner_token, _ = ingest_server.postgres.access_tokens.create(loner.id, "t")
    path = f"/v1/projects/{mine.project_id}/live"
    async with httpx.AsyncClient(base_url=ingest_server.url, timeout=10) as client:
        answers = {
            "other workspace's viewer": await client.get(
                path, headers={"Authorization": f"Bearer {theirs.tokens['viewer']}"}),
            "non-member": await client.get(
                path, headers={"Authorization": f"Bearer {loner_token}"}),
            "unknown project": await client.get(
                f"/v1/projects/{uuid.uuid4()}/live",
                headers={"Authorization": f"Bearer {mine.tokens['viewer']}"}),
            "no token": await client.get(path),
        }
    expected = {"other workspace's viewer": (404, "YAVIO-3004"),
                "non-member": (404, "YAVIO-3004"), "unknown project": (404, "YAVIO-3004"),
                "no token": (401, "YAVIO-3000")}
    assert {name: (a.status_code, a.json()["error"]["code"]) for name, a in answers.items()} \
        == expected
    for role in ("viewer", "owner"):
        async with subscribed(ingest_server.url, mine.tokens[role], mine.project_id):
            pass


async def stored(server: IngestServer, event_id: str) -> None:
    """Wait until the writer has stored `event_id` in ClickHouse."""
    deadline = time.monotonic() + 10
    while not await asyncio.to_thread(
            server.clickhouse.command, "SELECT count() FROM events WHERE event_id = {id:UUID}",
            {"id": event_id}):
        assert time.monotonic() < deadline, "the writer never stored the event"
        await asyncio.sleep(0.05)


def _recent(seconds_ago: float) -> str:
    at = datetime.now(timezone.utc) - timedelta(seconds=seconds_ago)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def polled_fixture() -> tuple[list[Any], Any]:
    """Six events written straight into ClickHouse (no fan-out sees them), stored shuffled:
    timestamps out of order, two tool calls and a step sharing one millisecond, two platforms,
    an identified user and an anonymous one (empty user_id). Returns them and the one that
    is stored a second time, in a block of its own."""
    shared = _recent(30)
    common = {"source": "server", "trace_id": "tr_poll"}
    events = [
        ToolCallEvent(event_id=str(uuid.uuid4()), session_id="ses_a", timestamp=shared,
                      event_name="search_rooms", platform="chatgpt", user_id="u_1",
                      latency_ms=10.0, status="success", **common),
        ToolCallEvent(event_id=str(uuid.uuid4()), session_id="ses_a", timestamp=shared,
                      event_name="book_room", platform="chatgpt", user_id="u_1",
                      latency_ms=20.0, status="error", error_category="server", **common),
        StepEvent(event_id=str(uuid.uuid4()), session_id="ses_a", timestamp=shared,
                  event_name="rooms_found", step_sequence=0, platform="chatgpt", **common),
        ToolCallEvent(event_id=str(uuid.uuid4()), session_id="ses_b", timestamp=_recent(90),
                      event_name="search_rooms", platform="claude", latency_ms=5.0,
                      status="success", **common),
        ToolCallEvent(event_id=str(uuid.uuid4()), session_id="ses_b", timestamp=_recent(10),
                      event_name="search_rooms", platform="claude", latency_ms=6.0,
                      status="success", metadata={"attempt": 2}, is_retry=1, **common),
        StepEvent(event_id=str(uuid.uuid4()), session_id="ses_b", timestamp=_recent(60),
                  event_name="details_completed", step_sequence=1, platform="claude",
                  **common),
    ]
    random.Random(6).shuffle(events)
    return events, events[0]


@pytest.mark.parametrize("settings_overrides", [POLLING])
async def test_polling_shows_events_the_fan_out_never_saw_exactly_once(
        ingest_server: IngestServer) -> None:
    mine = make_tenant(ingest_server.postgres, "p")
    workspace, project = uuid.UUID(mine.workspace_id), uuid.UUID(mine.project_id)
    events, twice = polled_fixture()
    posted = make_event(event_name="through_the_api")
    token = mine.tokens["viewer"]
    async with subscribed(ingest_server.url, token, mine.project_id) as stream, \
            subscribed(ingest_server.url, token, mine.project_id, {"type": "step"}) as steps:
        store_events(ingest_server.clickhouse, workspace, project, events)
        store_events(ingest_server.clickhouse, workspace, project, [twice])
        # Seen by both sources: the fan-out at once, the poll once the writer stored it.
        await post(ingest_server.url, api_key(ingest_server, mine), [posted])
        got = await stream.take(7)
        only_steps = await steps.take(2)
        await stored(ingest_server, posted["event_id"])
        # Ten more polls, which see the posted event too.
        got += await stream.quiet_for(1.0)
        only_steps += await steps.quiet_for(0)
    # 6 events written straight into ClickHouse (one of them twice) + 1 posted: each once.
    counts = Counter(m["id"] for m in got)
    assert counts == Counter([e.event_id for e in events] + [posted["event_id"]])
    # The fixture's two steps (rooms_found, details_completed), and nothing else.
    assert sorted(m["data"]["event_name"] for m in only_steps) == ["details_completed",
                                                                   "rooms_found"]
    by_id = {m["id"]: m for m in got}
    retried = next(e for e in events if getattr(e, "is_retry", 0))
    data = by_id[retried.event_id]["data"]
    assert data.pop("ingested_at").endswith("Z")
    assert data == {"event_id": retried.event_id, "event_type": "tool_call",
                    "project_id": mine.project_id, "trace_id": "tr_poll", "session_id": "ses_b",
                    "timestamp": retried.timestamp, "source": "server",
                    "event_name": "search_rooms", "platform": "claude",
                    "metadata": {"attempt": 2}, "latency_ms": 6.0, "status": "success",
                    "is_retry": 1}
    # The anonymous events' user_id is stored as '': left out, like every empty column.
    assert {by_id[e.event_id]["data"].get("user_id") for e in events} == {"u_1", None}
    assert {by_id[e.event_id]["data"]["platform"] for e in events} == {"chatgpt", "claude"}


async def test_an_event_acknowledged_by_another_replica_arrives_once_and_reads_the_same(
        postgres_store: Any, clickhouse_store: Any, tmp_path: Path) -> None:
    """Two servers on one Postgres and one ClickHouse, as replicas behind a proxy."""
    first, first_server = await start_ingest_server(
        postgres_store, clickhouse_store, ingest_settings(tmp_path / "a", **POLLING))
    second, second_server = await start_ingest_server(
        postgres_store, clickhouse_store, ingest_settings(tmp_path / "b", **POLLING))
    try:
        mine = make_tenant(postgres_store, "r")
        key = api_key(first, mine)
        events = [
            make_event(event_id=str(uuid.uuid4()).upper(),
                       timestamp=_recent(1)[:19] + ".456789Z", platform="chatgpt",
                       user_id="u_1", metadata={"tags": ["a", "b"]}, input_keys=["city"],
                       input_types={"city": "string"}, input_values={"city": "Lisbon"},
                       output_content="3 rooms found", intent_signals={"intent": "book"},
                       is_retry=False, tokens_in=4, tokens_out=5, country_code="PT"),
            make_event("widget_scroll", scroll_depth_pct=33.333333, device_pixel_ratio=1.1,
                       viewport_width=390, device_touch=True),
        ]
        async with subscribed(first.url, mine.tokens["viewer"], mine.project_id) as here, \
                subscribed(second.url, mine.tokens["viewer"], mine.project_id) as there:
            acknowledged = await post(first.url, key, events)
            through_fan_out = await here.take(2)
            through_polling = await there.take(2)
            await asyncio.sleep(1.0)  # ten more polls on both
            assert here.messages.empty() and there.messages.empty()
        print(f"\nlive tail, other replica: ack → receive "
              f"{(through_polling[-1]['received'] - acknowledged) * 1000:.0f} ms "
              f"(polling every {POLLING['live_poll_ms']} ms)")
        # The same events, field for field (polling reads them in event_id order).
        fan_out = {m["id"]: m["data"] for m in through_fan_out}
        assert fan_out == {m["id"]: m["data"] for m in through_polling}
        call, scroll = (fan_out[e["event_id"].lower()] for e in events)
        assert call["timestamp"].endswith(".456Z") and call["event_id"].islower()
        assert (call["input_values"], call["output_content"], "is_retry" in call) == (
            {"city": "Lisbon"}, "3 rooms found", False)
        assert (scroll["scroll_depth_pct"], scroll["device_pixel_ratio"],
                scroll["device_touch"]) == (33.33333, 1.1, 1)
    finally:
        await first_server.close()
        await second_server.close()


async def test_a_project_has_at_most_the_cap_of_streams_and_a_closed_one_frees_its_place(
        ingest_server: IngestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "MAX_STREAMS_PER_PROJECT", 2)
    mine = make_tenant(ingest_server.postgres, "c")
    token, path = mine.tokens["viewer"], f"/v1/projects/{mine.project_id}/live"

    async def one_more() -> tuple[int, dict[str, Any] | None, str | None]:
        """The status of one more stream (closed at once), with the body of a refusal."""
        async with httpx.AsyncClient(base_url=ingest_server.url, timeout=10) as client:
            async with client.stream("GET", path,
                                     headers={"Authorization": f"Bearer {token}"}) as answer:
                if answer.status_code != 200:
                    await answer.aread()
                    return answer.status_code, answer.json(), answer.headers["Retry-After"]
                return 200, None, None

    async with subscribed(ingest_server.url, token, mine.project_id):
        async with subscribed(ingest_server.url, token, mine.project_id):
            status, body, retry_after = await one_more()
            assert (status, body["error"]["code"], retry_after) == (429, "YAVIO-3050", "5")
        # The server notices a client left within its one-second tick, and frees the place.
        deadline = time.monotonic() + 5
        while (status := (await one_more())[0]) == 429 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert status == 200


async def test_a_quiet_stream_is_kept_open_with_pings(
        ingest_server: IngestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "HEARTBEAT_S", 0.5)
    mine = make_tenant(ingest_server.postgres, "h")
    async with subscribed(ingest_server.url, mine.tokens["viewer"], mine.project_id) as stream:
        await asyncio.sleep(2.5)
    assert stream.comments and set(stream.comments) == {": ping"}


async def test_a_reader_that_falls_behind_is_told_how_many_events_it_lost(
        ingest_server: IngestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "_BACKLOG", 5)
    mine = make_tenant(ingest_server.postgres, "d")
    batch = [make_event(event_name=f"call_{n}") for n in range(50)]
    async with subscribed(ingest_server.url, mine.tokens["viewer"], mine.project_id) as stream:
        await post(ingest_server.url, api_key(ingest_server, mine), batch)
        # The fan-out offers all 50 before the stream takes one: the oldest 45 are dropped.
        got = await stream.take(6)
    assert (got[0]["event"], got[0]["data"]) == ("dropped", {"dropped": 45})
    assert [m["data"]["event_name"] for m in got[1:]] == [f"call_{n}" for n in range(45, 50)]


async def test_streams_end_when_the_server_stops_and_leave_no_task_behind(
        postgres_store: Any, clickhouse_store: Any, tmp_path: Path) -> None:
    server, test_server = await start_ingest_server(
        postgres_store, clickhouse_store, ingest_settings(tmp_path, **POLLING))
    mine = make_tenant(postgres_store, "s")
    async with subscribed(server.url, mine.tokens["viewer"], mine.project_id) as stream:
        started = time.monotonic()
        await test_server.close()
        stopped = time.monotonic() - started
        await asyncio.wait_for(stream.ended.wait(), 5)
    await asyncio.sleep(0.1)  # a cancelled task leaves the loop at its next turn
    # Without the shutdown hook the server would wait its 60 s shutdown timeout for the stream.
    assert stopped < 10, stopped
    pollers = [task for task in asyncio.all_tasks()
               if "_ClickHousePoller" in repr(task.get_coro())]
    assert pollers == []
