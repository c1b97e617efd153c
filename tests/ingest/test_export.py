"""The events export endpoint against the events stored, on the real server and ClickHouse
(chdb): pages cover every event of the range exactly once, oldest first, even when page
boundaries fall inside a millisecond shared by five events; an event stored twice comes out
once; exported events look like the events that were sent."""

from __future__ import annotations

import base64
import json
import random
import uuid
from typing import Any

import httpx
import msgspec
import pytest

from tests.conftest import store_events
from tests.ingest.conftest import IngestServer
from tests.ingest.test_management import Tenant, make_tenant
from tests.ingest.test_overview import AFTER, BEFORE, DAY, tool_call
from yavio_sdk.events import (
    ConversionEvent,
    IdentifyEvent,
    StepEvent,
    ToolCallEvent,
    ToolDiscoveryEvent,
    WidgetRenderEvent,
    format_timestamp,
)

RANGE = {"from": f"{DAY}T00:00:00Z", "to": f"{AFTER}T00:00:00Z"}
TIE = f"{DAY}T03:00:00.000Z"  # one millisecond shared by five events


def _id() -> str:
    return str(uuid.uuid4())


def exported_fixture() -> tuple[list[Any], list[Any]]:
    """(the 9 events of RANGE, oldest first; 2 events outside it). Two platforms, an identified
    user (alice) and anonymous events, every payload kind, five events in one millisecond."""
    discovery = ToolDiscoveryEvent(
        event_id=_id(), trace_id="tr_boot", session_id="ses_boot",
        timestamp=f"{DAY}T00:30:00.000Z", source="server", tool_name="search_rooms",
        description="Find rooms", input_schema={"type": "object",
                                                "properties": {"city": {"type": "string"}}})
    call = ToolCallEvent(
        event_id=_id(), trace_id="tr_a", session_id="ses_1", timestamp=f"{DAY}T01:00:00.000Z",
        source="server", event_name="search_rooms", user_id="alice", platform="chatgpt",
        sdk_version="0.1.0", metadata={"region": "eu"}, latency_ms=12.5, status="success",
        is_retry=0, input_keys=["city"], input_types={"city": "string"},
        input_values={"city": "Paris"}, output_content="3 rooms",
        intent_signals={"intent": "a quiet room", "source": "context_parameter"},
        tokens_in=3, tokens_out=2, country_code="FR", locale="fr-FR")
    identify = IdentifyEvent(
        event_id=_id(), trace_id="tr_a", session_id="ses_1", timestamp=f"{DAY}T01:00:00.500Z",
        source="server", user_id="alice", platform="chatgpt", user_traits={"plan": "pro"})
    common = {"trace_id": "tr_b", "session_id": "ses_2", "timestamp": TIE, "platform": "claude"}
    tie = [
        StepEvent(event_id=_id(), source="server", event_name="rooms_found", step_sequence=0,
                  **common),
        StepEvent(event_id=_id(), source="widget", event_name="room_selected", step_sequence=1,
                  **common),
        StepEvent(event_id=_id(), source="widget", event_name="details_done", step_sequence=2,
                  **common),
        WidgetRenderEvent(event_id=_id(), source="widget", viewport_width=390,
                          device_pixel_ratio=1.1, device_touch=1, connection_type="4g",
                          **common),
        ConversionEvent(event_id=_id(), source="widget", event_name="booked",
                        conversion_value=49.9, conversion_currency="EUR", **common),
    ]
    failed = tool_call(_id(), f"{DAY}T05:00:00.000Z", "ses_2", "book_room", "claude", 30,
                       "error")
    failed.error_category, failed.error_message = "server", "upstream said no"
    # Within a millisecond the order is the event_id's, as ClickHouse compares UUIDs: the
    # second half first.
    tie.sort(key=lambda event: (uuid.UUID(event.event_id).bytes[8:],
                                uuid.UUID(event.event_id).bytes[:8]))
    outside = [tool_call(_id(), f"{BEFORE}T12:00:00.000Z", "ses_0", "search_rooms", "chatgpt", 5),
               tool_call(_id(), f"{AFTER}T05:00:00.000Z", "ses_9", "search_rooms", "claude", 5)]
    return [discovery, call, identify, *tie, failed], outside


def store_exported_fixture(server: IngestServer, tenant: Tenant) -> list[Any]:
    """Store the fixture for `tenant`, shuffled, the failed call twice in separate blocks;
    returns the events of RANGE, oldest first."""
    inside, outside = exported_fixture()
    shuffled = [*inside, *outside]
    random.Random(6).shuffle(shuffled)
    workspace, project = uuid.UUID(tenant.workspace_id), uuid.UUID(tenant.project_id)
    store_events(server.clickhouse, workspace, project, shuffled)
    store_events(server.clickhouse, workspace, project, [inside[-1]])  # a retried batch
    return inside


def as_sent(event: Any) -> dict[str, Any]:
    """The event as its SDK put it on the wire."""
    return msgspec.to_builtins(event)


def without_storage_columns(exported: dict[str, Any], sent: dict[str, Any]) -> dict[str, Any]:
    """An exported event less what the ingest adds (project_id, ingested_at), the fields left
    out (null) and the 0 that the non-nullable `is_retry` column holds when none was sent."""
    kept = {name: value for name, value in exported.items()
            if value is not None and name not in ("project_id", "ingested_at")}
    if "is_retry" not in sent and kept.get("is_retry") == 0:
        del kept["is_retry"]
    return kept


@pytest.fixture
def tenant(ingest_server: IngestServer) -> Tenant:
    return make_tenant(ingest_server.postgres, "x")


async def get_events(server: IngestServer, token: str | None, project: str,
                     **query: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        return await client.get(f"/v1/projects/{project}/events", params=query,
                                headers=headers)


async def all_pages(server: IngestServer, token: str, project: str,
                    **query: Any) -> list[dict[str, Any]]:
    """Every page, following `next`."""
    pages, after = [], None
    while True:
        response = await get_events(server, token, project, **query,
                                    **({"after": after} if after else {}))
        assert response.status_code == 200, response.text
        pages.append(response.json())
        after = pages[-1]["next"]
        if after is None:
            return pages


async def test_pages_cover_every_event_once_oldest_first_even_inside_one_millisecond(
        ingest_server: IngestServer, tenant: Tenant) -> None:
    inside = store_exported_fixture(ingest_server, tenant)
    pages = await all_pages(ingest_server, tenant.tokens["viewer"], tenant.project_id,
                            **RANGE, limit=2)
    # 9 events of the range (the failed call stored twice counts once; one event the day
    # before and one the day after are out): 2 + 2 + 2 + 2 + 1. The five events of TIE sit
    # at positions 4..8, so three page boundaries fall inside that millisecond.
    assert [len(page["events"]) for page in pages] == [2, 2, 2, 2, 1]
    # The total, for a progress bar, counts the stored rows: the copy too, until a merge drops it.
    assert pages[0]["total"] in (9, 10)
    assert [page["total"] for page in pages[1:]] == [None, None, None, None]
    exported = [event for page in pages for event in page["events"]]
    assert [event["event_id"] for event in exported] == [event.event_id for event in inside]
    assert sum(event["timestamp"] == TIE for event in exported) == 5

    # One page with the default limit holds them all, and says it is the last.
    whole = (await get_events(ingest_server, tenant.tokens["viewer"], tenant.project_id,
                              **RANGE)).json()
    assert whole["events"] == exported and whole["next"] is None and whole["total"] in (9, 10)


async def test_an_exported_event_is_the_event_sent_with_every_column_but_the_workspace(
        ingest_server: IngestServer, tenant: Tenant) -> None:
    inside = store_exported_fixture(ingest_server, tenant)
    response = await get_events(ingest_server, tenant.tokens["viewer"], tenant.project_id,
                                **RANGE)
    exported = response.json()["events"]
    columns = [name for (name,) in ingest_server.clickhouse.query(
        "SELECT name FROM system.columns WHERE database = currentDatabase() "
        "AND table = 'events' ORDER BY position")]
    for event, sent in zip(exported, inside, strict=True):
        assert list(event) == [name for name in columns if name != "workspace_id"]
        assert event["project_id"] == tenant.project_id
        assert event["ingested_at"].endswith("Z")
        assert without_storage_columns(event, as_sent(sent)) == as_sent(sent)
    call = exported[1]
    render = next(event for event in exported if event["event_type"] == "widget_render")
    # JSON payloads are JSON again; 1.1, stored as a Float32, is not 1.100000023841858.
    assert call["input_keys"] == ["city"] and call["intent_signals"]["intent"] == "a quiet room"
    assert call["output_content"] == "3 rooms" and render["device_pixel_ratio"] == 1.1
    # Optional text left out is null, not the empty string ClickHouse keeps: the anonymous
    # events have no user, the tool registration no platform.
    assert [event["user_id"] for event in exported].count("alice") == 2
    assert exported[0]["platform"] is None and exported[-1]["user_id"] is None


async def test_a_number_beyond_its_column_range_is_exported_as_null_in_valid_json(
        ingest_server: IngestServer, tenant: Tenant) -> None:
    # Validation now bounds the pixel ratio; one stored before the bound, 1e39, is inf in its
    # Float32 column.
    render = WidgetRenderEvent(event_id=_id(), trace_id="tr_1", session_id="ses_1",
                               timestamp=format_timestamp(), source="widget",
                               device_pixel_ratio=1e39, viewport_width=390)
    store_events(ingest_server.clickhouse, uuid.UUID(tenant.workspace_id),
                 uuid.UUID(tenant.project_id), [render])
    response = await get_events(ingest_server, tenant.tokens["viewer"], tenant.project_id)
    # Strict JSON: no inf, nor the Infinity and NaN that Python's parser would let pass.
    [exported] = json.loads(response.content, parse_constant=_not_json)["events"]
    assert exported["device_pixel_ratio"] is None and exported["viewport_width"] == 390


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


async def test_type_and_platform_filters_narrow_the_events_and_the_total(
        ingest_server: IngestServer, tenant: Tenant) -> None:
    inside = store_exported_fixture(ingest_server, tenant)
    ids = {event.event_id: event for event in inside}
    viewer = tenant.tokens["viewer"]

    async def exported(**query: Any) -> tuple[list[str], int]:
        pages = await all_pages(ingest_server, viewer, tenant.project_id, **RANGE, limit=2,
                                **query)
        return ([ids[event["event_id"]].__struct_config__.tag + ":" + (event["platform"] or "")
                 for page in pages for event in page["events"]], pages[0]["total"])

    # The three steps of TIE.
    assert await exported(type="step") == (["step:claude"] * 3, 3)
    # Both calls and the conversion, of which claude has the failed call (05:00) and the
    # conversion (03:00); the total counts the failed call's stored copy until a merge drops it.
    events, total = await exported(type="tool_call,conversion", platform="claude")
    assert events == ["conversion:claude", "tool_call:claude"] and total in (2, 3)
    events, total = await exported(type=["tool_call", "identify"])
    assert events == ["tool_call:chatgpt", "identify:chatgpt", "tool_call:claude"]
    assert total in (3, 4)
    # chatgpt: the first call and alice's identify; nothing of the registration (no platform).
    assert await exported(platform="chatgpt") == (["tool_call:chatgpt", "identify:chatgpt"], 2)


async def test_another_workspace_and_a_caller_without_a_token_cannot_read_the_events(
        ingest_server: IngestServer, tenant: Tenant) -> None:
    store_exported_fixture(ingest_server, tenant)
    theirs = make_tenant(ingest_server.postgres, "y")
    outsider = await get_events(ingest_server, theirs.tokens["owner"], tenant.project_id,
                                **RANGE)
    assert outsider.status_code == 404 and outsider.json()["error"]["code"] == "YAVIO-3004"
    anonymous = await get_events(ingest_server, None, tenant.project_id, **RANGE)
    assert anonymous.status_code == 401
    # Their own project has none of these events.
    own = await get_events(ingest_server, theirs.tokens["viewer"], theirs.project_id, **RANGE)
    assert own.json() == {"events": [], "next": None, "total": 0}


@pytest.mark.parametrize("query", [
    {"after": "not a cursor"},
    {"after": base64.urlsafe_b64encode(b"2026-01-01T00:00:00.000Z nope").decode()},
    {"after": base64.urlsafe_b64encode(f"yesterday {uuid.uuid4()}".encode()).decode()},
    {"limit": "ten"},
    {"type": "tool_calls"},
], ids=["garbage cursor", "cursor without an event id", "cursor without a time",
        "limit not a number", "unknown type"])
async def test_a_bad_cursor_limit_or_type_is_a_400(
        ingest_server: IngestServer, tenant: Tenant, query: dict[str, str]) -> None:
    response = await get_events(ingest_server, tenant.tokens["viewer"], tenant.project_id,
                                **RANGE, **query)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "YAVIO-3010"


async def test_a_cursor_outside_the_range_starts_at_the_range_or_ends_the_export(
        ingest_server: IngestServer, tenant: Tenant) -> None:
    # A client that sends no range gets the last 7 days as of each request: the range moves
    # on between pages, and a cursor can fall before its start or, for another range, after
    # its end.
    inside = store_exported_fixture(ingest_server, tenant)
    viewer = tenant.tokens["viewer"]
    first = (await get_events(ingest_server, viewer, tenant.project_id, **RANGE,
                              limit=2)).json()
    cursor = first["next"]  # the call at 01:00

    later = await get_events(ingest_server, viewer, tenant.project_id, after=cursor,
                             **{"from": TIE, "to": RANGE["to"]})
    # From 03:00: the five events of TIE and the failed call; no total after the first page.
    assert [event["event_id"] for event in later.json()["events"]] == [
        event.event_id for event in inside[3:]]
    assert later.json()["total"] is None

    earlier = await get_events(ingest_server, viewer, tenant.project_id, after=cursor,
                               **{"from": RANGE["from"], "to": f"{DAY}T00:45:00Z"})
    assert earlier.json() == {"events": [], "next": None, "total": None}

    ancient = base64.urlsafe_b64encode(f"0001-01-01T00:00:00.000Z {uuid.uuid4()}".encode())
    response = await get_events(ingest_server, viewer, tenant.project_id, **RANGE,
                                after=ancient.decode())
    assert len(response.json()["events"]) == 9


async def test_copies_before_a_page_boundary_never_end_the_export_early(
        ingest_server: IngestServer, tenant: Tenant) -> None:
    # Stored rows in time order: a, a's copy, b, c. With two events a page, the first page
    # reads up to b's time (the third stored row) and holds a and b, no more than `limit`:
    # only the bound says that c is still to come.
    a, b, c = (tool_call(_id(), f"{DAY}T0{hour}:00:00.000Z", "ses_c", "search_rooms",
                         "chatgpt", 5) for hour in (1, 2, 3))
    workspace, project = uuid.UUID(tenant.workspace_id), uuid.UUID(tenant.project_id)
    store_events(ingest_server.clickhouse, workspace, project, [a, b, c])
    store_events(ingest_server.clickhouse, workspace, project, [a])
    pages = await all_pages(ingest_server, tenant.tokens["viewer"], tenant.project_id,
                            **RANGE, limit=2)
    assert [event["event_id"] for page in pages for event in page["events"]] == [
        a.event_id, b.event_id, c.event_id]
