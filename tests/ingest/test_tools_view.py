"""The tools and tool-detail read endpoints against hand-computed figures, on the real server
and ClickHouse (chdb): duplicated events and registrations, events stored shuffled, calls
sharing one millisecond, two platforms, identified and anonymous users, custom events beside
the latest calls, and tenancy.

Percentiles are ClickHouse's `quantilesExact`: the sorted latencies' value at the 0-based index
floor(q * n). For search_rooms' six timed calls, sorted 5, 12, 30, 80, 300, 3000: p50 is index 3
(80), p95 index floor(5.7) = 5 (3000), p99 index floor(5.94) = 5 (3000).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import store_events
from tests.ingest.conftest import IngestServer
from tests.ingest.test_management import Tenant, make_tenant
from tests.ingest.test_overview import AFTER, BEFORE, DAY, ids, tool_call
from yavio_cli.client import ApiError, YavioClient
from yavio_sdk.events import (
    ConversionEvent,
    StepEvent,
    ToolCallEvent,
    ToolDiscoveryEvent,
    TrackEvent,
)

RANGE = {"from": f"{DAY}T00:00:00Z", "to": f"{AFTER}T00:00:00Z"}
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
# A name that is not a plain path segment: the client percent-encodes it.
SLASHED = "catalog/search rooms"


def call(event_id: str, when: str, session: str, name: str, platform: str,
         latency: float | None, status: str = "success", category: str | None = None,
         user: str | None = None) -> ToolCallEvent:
    event = tool_call(event_id, when, session, name, platform, 0, status)
    event.latency_ms, event.error_category, event.user_id = latency, category, user
    return event


def discovery(when: str, name: str | None, description: str | None = None,
              schema: dict[str, Any] | None = None) -> ToolDiscoveryEvent:
    return ToolDiscoveryEvent(
        event_id=str(uuid.uuid4()), trace_id="tr_discovery", session_id="ses_1", timestamp=when,
        source="server", event_name=None if name else "tools/list", tool_name=name,
        description=description, input_schema=schema)


def step(trace: str, when: str, name: str, sequence: int, source: str = "server") -> StepEvent:
    return StepEvent(event_id=str(uuid.uuid4()), trace_id=trace, session_id="ses_1",
                     timestamp=when, source=source, event_name=name, step_sequence=sequence)


class Fixture:
    """One tenant's events; the calls of search_rooms are s1..s7 (see `tenant`)."""

    def __init__(self, tenant: Tenant, calls: dict[str, ToolCallEvent]):
        self.tenant = tenant
        self.calls = calls

    def trace(self, name: str) -> str:
        return self.calls[name].trace_id


@pytest.fixture
def fixture(ingest_server: IngestServer) -> Fixture:
    mine = make_tenant(ingest_server.postgres, "t")
    s1, s2, s3, s4, s5, s6, s7, b1, x1, before, after = ids(11)
    calls = {
        # s1 and s2 share one millisecond; s2's user is anonymous
        "s1": call(s1, f"{DAY}T01:00:00.000Z", "ses_1", "search_rooms", "chatgpt", 5,
                   user="u_1"),
        "s2": call(s2, f"{DAY}T01:00:00.000Z", "ses_2", "search_rooms", "claude", 12),
        "s3": call(s3, f"{DAY}T02:30:00.000Z", "ses_1", "search_rooms", "chatgpt", 30,
                   "error", "timeout", "u_1"),
        "s4": call(s4, f"{DAY}T03:15:00.000Z", "ses_3", "search_rooms", "claude", 80, "error"),
        "s5": call(s5, f"{DAY}T03:45:00.000Z", "ses_3", "search_rooms", "claude", 300),
        "s6": call(s6, f"{DAY}T05:00:00.000Z", "ses_2", "search_rooms", "chatgpt", 3000),
        # a call without a latency: counted, but in no percentile or histogram bucket
        "s7": call(s7, f"{DAY}T05:10:00.000Z", "ses_4", "search_rooms", "chatgpt", None),
        "b1": call(b1, f"{DAY}T03:20:00.000Z", "ses_3", "book_room", "claude", 20,
                   user="u_2"),
        "x1": call(x1, f"{DAY}T04:00:00.000Z", "ses_5", SLASHED, "claude", 7),
        # outside the range: the day before and the day after
        "before": call(before, f"{BEFORE}T12:00:00.000Z", "ses_0", "search_rooms", "chatgpt",
                       1),
        "after": call(after, f"{AFTER}T05:00:00.000Z", "ses_9", "search_rooms", "chatgpt", 1),
    }
    tr1, tr3 = calls["s1"].trace_id, calls["s3"].trace_id
    rooms_found = step(tr1, f"{DAY}T01:00:00.000Z", "rooms_found", 1)
    custom = [
        rooms_found,
        # stamped while the call ran, so before the call (stamped when it ended)
        step(tr1, f"{DAY}T00:59:59.990Z", "query_parsed", 0),
        TrackEvent(event_id=str(uuid.uuid4()), trace_id=tr1, session_id="ses_1",
                   timestamp=f"{DAY}T01:00:00.500Z", source="widget", event_name="filter_used",
                   metadata={"filter": "price"}),
        # after the range's end, yet part of the trace
        ConversionEvent(event_id=str(uuid.uuid4()), trace_id=tr1, session_id="ses_1",
                        timestamp=f"{AFTER}T00:30:00.000Z", source="server",
                        event_name="booking", conversion_value=100.0,
                        conversion_currency="EUR"),
        # two widget steps in one millisecond, stored in the wrong order
        step(tr3, f"{DAY}T02:30:01.000Z", "retry_shown", 2, "widget"),
        step(tr3, f"{DAY}T02:30:01.000Z", "error_seen", 1, "widget"),
        # a trace of no recent call of search_rooms
        step(calls["b1"].trace_id, f"{DAY}T03:20:00.000Z", "booked", 0),
    ]
    registrations = [
        discovery(f"{DAY}T00:00:00.000Z", "search_rooms", "Find free rooms", SCHEMA),
        discovery(f"{BEFORE}T00:00:00.000Z", "search_rooms", "An old description"),
        discovery(f"{DAY}T00:00:00.000Z", "cancel_booking", "Cancel a booking",
                  {"type": "object", "properties": {}}),
        discovery(f"{DAY}T00:00:01.000Z", None),  # a tools/list request, no tool
    ]
    events = [*calls.values(), *custom, *registrations]
    random.Random(6).shuffle(events)
    workspace, project = uuid.UUID(mine.workspace_id), uuid.UUID(mine.project_id)
    store_events(ingest_server.clickhouse, workspace, project, events)
    # a retried batch, stored again in another block: each of these counts once
    store_events(ingest_server.clickhouse, workspace, project,
                 [calls["s3"], rooms_found, registrations[2]])
    return Fixture(mine, calls)


async def get(server: IngestServer, token: str, path: str, **query: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        return await client.get(path, params=query, headers={"Authorization": f"Bearer {token}"})


async def tools(server: IngestServer, fixture: Fixture, **query: Any) -> dict[str, Any]:
    response = await get(server, fixture.tenant.tokens["viewer"],
                         f"/v1/projects/{fixture.tenant.project_id}/tools", **query)
    assert response.status_code == 200, response.text
    return response.json()


async def detail(server: IngestServer, fixture: Fixture, name: str,
                 **query: Any) -> dict[str, Any]:
    response = await get(server, fixture.tenant.tokens["viewer"],
                         f"/v1/projects/{fixture.tenant.project_id}/tools/{name}", **query)
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_tools_list_matches_the_hand_computed_figures(
        ingest_server: IngestServer, fixture: Fixture) -> None:
    body = await tools(ingest_server, fixture, **RANGE)
    assert body["tools"] == [
        # s1..s7 (s3 stored twice counts once; the days before and after are out): 2 failed
        {"name": "search_rooms", "description": "Find free rooms", "invocations": 7,
         "errors": 2, "successRate": 5 / 7, "errorRate": 2 / 7, "p50LatencyMs": 80.0,
         "p95LatencyMs": 3000.0, "lastSeen": f"{DAY}T05:10:00.000Z"},
        # one call each, never registered; the tie sorts by name
        {"name": "book_room", "description": None, "invocations": 1, "errors": 0,
         "successRate": 1.0, "errorRate": 0.0, "p50LatencyMs": 20.0, "p95LatencyMs": 20.0,
         "lastSeen": f"{DAY}T03:20:00.000Z"},
        {"name": SLASHED, "description": None, "invocations": 1, "errors": 0,
         "successRate": 1.0, "errorRate": 0.0, "p50LatencyMs": 7.0, "p95LatencyMs": 7.0,
         "lastSeen": f"{DAY}T04:00:00.000Z"},
    ]
    # registered (twice, in two blocks) and never called; the tools/list request is no tool
    assert body["neverCalled"] == [{"name": "cancel_booking", "description": "Cancel a booking"}]


async def test_a_platform_filter_narrows_the_calls_and_the_never_called(
        ingest_server: IngestServer, fixture: Fixture) -> None:
    body = await tools(ingest_server, fixture, **RANGE, platform="chatgpt")
    # s1 (5), s3 (30, failed), s6 (3000), s7 (no latency): p50 of 5, 30, 3000 is index 1
    assert [(t["name"], t["invocations"], t["errors"], t["p50LatencyMs"], t["p95LatencyMs"])
            for t in body["tools"]] == [("search_rooms", 4, 1, 30.0, 3000.0)]
    assert body["neverCalled"] == [{"name": "cancel_booking", "description": "Cancel a booking"}]


async def test_the_tool_detail_matches_the_hand_computed_figures(
        ingest_server: IngestServer, fixture: Fixture) -> None:
    body = await detail(ingest_server, fixture, "search_rooms", **RANGE)
    # the latest registration wins over the one of the day before
    assert (body["name"], body["description"], body["inputSchema"]) == (
        "search_rooms", "Find free rooms", SCHEMA)
    assert (body["invocations"], body["errors"], body["errorRate"]) == (7, 2, 2 / 7)
    assert (body["p50LatencyMs"], body["p95LatencyMs"], body["p99LatencyMs"]) == (
        80.0, 3000.0, 3000.0)
    # 5 | 12 | 30 | 80 | - | 300 | - | - | 3000; s7 has no latency
    assert body["latencyHistogram"] == [
        {"fromMs": 0, "toMs": 10, "count": 1}, {"fromMs": 10, "toMs": 25, "count": 1},
        {"fromMs": 25, "toMs": 50, "count": 1}, {"fromMs": 50, "toMs": 100, "count": 1},
        {"fromMs": 100, "toMs": 250, "count": 0}, {"fromMs": 250, "toMs": 500, "count": 1},
        {"fromMs": 500, "toMs": 1000, "count": 0}, {"fromMs": 1000, "toMs": 2500, "count": 0},
        {"fromMs": 2500, "toMs": None, "count": 1}]
    assert body["errorCategories"] == [{"category": "timeout", "errors": 1},
                                       {"category": "unknown", "errors": 1}]  # s4: none given
    series = {point["bucket"][11:13]: (point["invocations"], point["errors"],
                                       point["p50LatencyMs"], point["p95LatencyMs"])
              for point in body["series"]}
    assert len(series) == 24  # every hour of the day, zero-filled
    assert series == {**{f"{hour:02d}": (0, 0, None, None) for hour in range(24)},
                      "01": (2, 0, 12.0, 12.0),  # 5, 12: index 1 for both
                      "02": (1, 1, 30.0, 30.0),
                      "03": (2, 1, 300.0, 300.0),  # 80, 300
                      "05": (2, 0, 3000.0, 3000.0)}  # 3000 and an untimed call


async def test_the_latest_calls_come_newest_first_with_their_traces_custom_events(
        ingest_server: IngestServer, fixture: Fixture) -> None:
    recent = (await detail(ingest_server, fixture, "search_rooms", **RANGE))["recent"]
    calls = fixture.calls
    assert [r["eventId"] for r in recent[:5]] == [calls[n].event_id
                                                  for n in ("s7", "s6", "s5", "s4", "s3")]
    # s1 and s2 share one millisecond: both come last, in a stable order
    assert {r["eventId"] for r in recent[5:]} == {calls["s1"].event_id, calls["s2"].event_id}
    by_id = {r["eventId"]: r for r in recent}
    s1, s2, s3 = (by_id[calls[n].event_id] for n in ("s1", "s2", "s3"))
    assert {key: value for key, value in s3.items() if key != "events"} == {
        "eventId": calls["s3"].event_id, "traceId": fixture.trace("s3"), "sessionId": "ses_1",
        "userId": "u_1", "platform": "chatgpt", "status": "error", "latencyMs": 30.0,
        "errorCategory": "timeout", "timestamp": f"{DAY}T02:30:00.000Z"}
    assert (s2["userId"], s2["platform"]) == (None, "claude")  # anonymous
    assert s1["events"] == [
        {"type": "step", "name": "query_parsed", "source": "server", "stepSequence": 0,
         "conversionValue": None, "conversionCurrency": None,
         "timestamp": f"{DAY}T00:59:59.990Z"},
        # stored twice, shown once; the conversion after the range's end belongs to the trace
        {"type": "step", "name": "rooms_found", "source": "server", "stepSequence": 1,
         "conversionValue": None, "conversionCurrency": None,
         "timestamp": f"{DAY}T01:00:00.000Z"},
        {"type": "track", "name": "filter_used", "source": "widget", "stepSequence": None,
         "conversionValue": None, "conversionCurrency": None,
         "timestamp": f"{DAY}T01:00:00.500Z"},
        {"type": "conversion", "name": "booking", "source": "server", "stepSequence": None,
         "conversionValue": 100.0, "conversionCurrency": "EUR",
         "timestamp": f"{AFTER}T00:30:00.000Z"}]
    # one millisecond, stored in the wrong order: by step_sequence
    assert [(e["name"], e["stepSequence"]) for e in s3["events"]] == [
        ("error_seen", 1), ("retry_shown", 2)]
    assert s2["events"] == []


async def test_a_platform_filter_narrows_the_tool_detail(
        ingest_server: IngestServer, fixture: Fixture) -> None:
    body = await detail(ingest_server, fixture, "search_rooms", **RANGE, platform="claude")
    # s2 (12), s4 (80, failed, no category), s5 (300): p50 index 1, p95 and p99 index 2
    assert (body["invocations"], body["errors"], body["p50LatencyMs"], body["p95LatencyMs"],
            body["p99LatencyMs"]) == (3, 1, 80.0, 300.0, 300.0)
    assert body["errorCategories"] == [{"category": "unknown", "errors": 1}]
    assert [r["eventId"] for r in body["recent"]] == [fixture.calls[n].event_id
                                                      for n in ("s5", "s4", "s2")]


async def test_a_registered_tool_without_calls_answers_with_zero_figures_and_its_schema(
        ingest_server: IngestServer, fixture: Fixture) -> None:
    body = await detail(ingest_server, fixture, "cancel_booking", **RANGE)
    assert body["description"] == "Cancel a booking"
    assert body["inputSchema"] == {"type": "object", "properties": {}}
    assert (body["invocations"], body["errors"], body["errorRate"]) == (0, 0, 0.0)
    assert (body["p50LatencyMs"], body["p95LatencyMs"], body["p99LatencyMs"]) == (
        None, None, None)
    assert [bucket["count"] for bucket in body["latencyHistogram"]] == [0] * 9
    assert len(body["series"]) == 24 and all(
        point["invocations"] == 0 and point["p50LatencyMs"] is None for point in body["series"])
    assert (body["errorCategories"], body["recent"]) == ([], [])


async def test_a_tool_called_only_outside_the_range_answers_with_zero_figures(
        ingest_server: IngestServer, fixture: Fixture) -> None:
    body = await detail(ingest_server, fixture, "book_room", **{
        "from": f"{BEFORE}T00:00:00Z", "to": f"{DAY}T00:00:00Z"})
    assert (body["name"], body["description"], body["inputSchema"]) == ("book_room", None, None)
    assert (body["invocations"], body["recent"]) == (0, [])


async def test_an_unknown_tool_is_not_found(
        ingest_server: IngestServer, fixture: Fixture) -> None:
    response = await get(ingest_server, fixture.tenant.tokens["viewer"],
                         f"/v1/projects/{fixture.tenant.project_id}/tools/no_such_tool")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "YAVIO-3004"


async def test_the_client_reads_both_views_and_encodes_the_tool_name(
        ingest_server: IngestServer, fixture: Fixture) -> None:
    def read() -> tuple[dict[str, Any], dict[str, Any], ApiError]:
        with YavioClient(ingest_server.url, fixture.tenant.tokens["viewer"],
                         timeout=30) as client:
            window = {"start": RANGE["from"], "end": RANGE["to"], "platforms": ["claude"]}
            listing = client.tools(fixture.tenant.project_id, **window)
            one = client.tool(fixture.tenant.project_id, SLASHED, **window)
            try:
                client.tool(fixture.tenant.project_id, "no_such_tool")
            except ApiError as error:
                return listing, one, error
            raise AssertionError("an unknown tool was found")

    listing, one, missing = await asyncio.to_thread(read)
    assert [(t["name"], t["invocations"]) for t in listing["tools"]] == [
        ("search_rooms", 3), ("book_room", 1), (SLASHED, 1)]
    assert (one["name"], one["invocations"], one["p50LatencyMs"]) == (SLASHED, 1, 7.0)
    assert (missing.status, missing.code) == (404, "YAVIO-3004")


async def test_the_tools_views_are_only_for_the_projects_readers(
        ingest_server: IngestServer, fixture: Fixture) -> None:
    other = make_tenant(ingest_server.postgres, "u")
    # the other tenant's own events in a trace of the same id never show in this project
    store_events(ingest_server.clickhouse, uuid.UUID(other.workspace_id),
                 uuid.UUID(other.project_id),
                 [step(fixture.trace("s1"), f"{DAY}T01:00:00.000Z", "foreign_step", 5)])
    mine = fixture.tenant.project_id
    for path in (f"/v1/projects/{mine}/tools", f"/v1/projects/{mine}/tools/search_rooms"):
        for token in (other.tokens["viewer"], other.tokens["owner"]):  # non-members
            response = await get(ingest_server, token, path, **RANGE)
            assert response.status_code == 404, path
            assert response.json()["error"]["code"] == "YAVIO-3004"
        anonymous = await get(ingest_server, "yat_" + "0" * 64, path)
        assert anonymous.status_code == 401
    recent = (await detail(ingest_server, fixture, "search_rooms", **RANGE))["recent"]
    assert "foreign_step" not in {e["name"] for r in recent for e in r["events"]}
    # the other project has none of these tools, registered or called
    theirs = await get(ingest_server, other.tokens["viewer"],
                       f"/v1/projects/{other.project_id}/tools", **RANGE)
    assert theirs.json() == {"tools": [], "neverCalled": []}
    unknown = await get(ingest_server, other.tokens["viewer"],
                        f"/v1/projects/{other.project_id}/tools/cancel_booking")
    assert unknown.status_code == 404
