"""The funnel read endpoint against hand-computed figures, on the real server and ClickHouse:
steps in flow order though they share a millisecond or the tool call is stamped after its
steps, a window that leaves out a slow conversion, sessions, platforms, and the seeds'
combined funnel converting 100%."""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

import httpx
import msgspec
import pytest

from tests.cli.test_trace import combined_funnel
from tests.conftest import store_events
from tests.ingest.conftest import IngestServer
from tests.ingest.test_management import Tenant, make_tenant
from tests.ingest.test_overview import AFTER, DAY
from yavio_cli.client import YavioClient
from yavio_sdk.events import (
    ConversionEvent,
    StepEvent,
    ToolCallEvent,
    WidgetRenderEvent,
)

STEPS = ["tool_call:search_rooms", "step:rooms_found", "widget_render",
         "conversion:booking_completed"]
RANGE = {"from": f"{DAY}T00:00:00Z", "to": f"{AFTER}T00:00:00Z"}
SESSIONS = {"tr_1": "ses_a", "tr_2": "ses_a", "tr_3": "ses_b", "tr_4": "ses_b", "tr_5": "ses_b",
            "tr_6": "ses_c", "tr_7": "ses_c", "tr_8": "ses_c"}
PLATFORMS = {"ses_a": "chatgpt", "ses_b": "claude", "ses_c": "chatgpt"}
USERS = {"ses_a": "u_1", "ses_b": None, "ses_c": "u_2"}  # ses_b is anonymous


def _common(trace: str, time: str) -> dict[str, Any]:
    session = SESSIONS[trace]
    return {"event_id": str(uuid.uuid4()), "trace_id": trace, "session_id": session,
            "timestamp": f"{DAY}T{time}Z", "platform": PLATFORMS[session],
            "user_id": USERS[session]}


def search(trace: str, time: str, latency: float, name: str = "search_rooms") -> ToolCallEvent:
    """A tool call, stamped (as the SDK does) when its handler returned."""
    return ToolCallEvent(source="server", event_name=name, latency_ms=latency,
                         status="success", **_common(trace, time))


def found(trace: str, time: str) -> StepEvent:
    return StepEvent(source="server", event_name="rooms_found", step_sequence=0,
                     **_common(trace, time))


def render(trace: str, time: str) -> WidgetRenderEvent:
    return WidgetRenderEvent(source="widget", **_common(trace, time))


def booked(trace: str, time: str) -> ConversionEvent:
    return ConversionEvent(source="widget", event_name="booking_completed",
                           conversion_value=120.0, conversion_currency="EUR",
                           **_common(trace, time))


@pytest.fixture
def tenant(ingest_server: IngestServer) -> Tenant:
    mine = make_tenant(ingest_server.postgres, "f")
    duplicated = search("tr_4", "11:10:00.000", 10)
    events = [
        # tr_1 reaches every step. The step was recorded at .080, before the tool call's
        # stamp (.100, 50 ms of latency: it started at .050); render and conversion share
        # the stamp's millisecond.
        search("tr_1", "10:00:00.100", 50), found("tr_1", "10:00:00.080"),
        render("tr_1", "10:00:00.100"), booked("tr_1", "10:00:00.100"),
        # tr_2 stops before the conversion; its step shares the tool call's millisecond
        search("tr_2", "10:05:00.000", 20), found("tr_2", "10:05:00.000"),
        render("tr_2", "10:05:00.000"),
        # tr_3 converts two hours later: outside a one-hour window
        search("tr_3", "11:00:00.000", 30), found("tr_3", "11:00:00.000"),
        render("tr_3", "11:00:01.000"), booked("tr_3", "13:00:00.000"),
        # tr_4 stops after rooms_found; tr_5 after the search
        duplicated, found("tr_4", "11:10:00.000"),
        search("tr_5", "11:20:00.000", 10),
        # tr_6 never enters: another tool
        search("tr_6", "12:00:00.000", 10, "book_room"), found("tr_6", "12:00:00.000"),
        # tr_7's step came ten minutes before its search: out of order, it stays at step 1
        found("tr_7", "12:30:00.000"), search("tr_7", "12:40:00.000", 5),
        # tr_8 only converts; and a search the day after, outside the range
        booked("tr_8", "12:50:00.000"),
        msgspec.structs.replace(search("tr_8", "00:00:00.000", 5),
                                timestamp=f"{AFTER}T01:00:00.000Z"),
    ]
    random.Random(6).shuffle(events)  # stored in no particular order
    workspace, project = uuid.UUID(mine.workspace_id), uuid.UUID(mine.project_id)
    store_events(ingest_server.clickhouse, workspace, project, events)
    store_events(ingest_server.clickhouse, workspace, project, [duplicated])  # a retried batch
    return mine


async def get(server: IngestServer, token: str, project: str,
              query: list[tuple[str, str]]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        return await client.get(f"/v1/projects/{project}/funnel", params=query,
                                headers={"Authorization": f"Bearer {token}"})


async def funnel(server: IngestServer, tenant: Tenant, steps: list[str] = STEPS,
                 **options: str) -> dict[str, Any]:
    query = [*RANGE.items(), *(("step", step) for step in steps), *options.items()]
    response = await get(server, tenant.tokens["viewer"], tenant.project_id, query)
    assert response.status_code == 200, response.text
    return response.json()


def entered(body: dict[str, Any]) -> list[int]:
    return [step["entered"] for step in body["steps"]]


async def test_each_step_counts_the_traces_that_reached_it_in_flow_order(
        ingest_server: IngestServer, tenant: Tenant) -> None:
    body = await funnel(ingest_server, tenant)
    # search_rooms: tr_1, tr_2, tr_3, tr_4, tr_5, tr_7 (tr_6 called book_room) = 6
    # then rooms_found: tr_1 (its step stamped before the call, but after the call's start),
    #   tr_2, tr_3, tr_4 = 4 (tr_7's step came before its search)
    # then widget_render: tr_1, tr_2, tr_3 = 3
    # then booking_completed within an hour of the search: tr_1 = 1 (tr_3's is 2 h later)
    assert entered(body) == [6, 4, 3, 1]
    assert (body["by"], body["window"], body["overallConversion"]) == ("trace", 3600, 1 / 6)
    assert "byPlatform" not in body
    first, second, third, last = body["steps"]
    assert first == {"spec": "tool_call:search_rooms", "entered": 6, "conversionFromStart": 1.0,
                     "conversionFromPrevious": 1.0, "droppedHere": 0, "droppedSamples": []}
    assert second == {"spec": "step:rooms_found", "entered": 4, "conversionFromStart": 4 / 6,
                      "conversionFromPrevious": 4 / 6, "droppedHere": 2,
                      # stopped after the search
                      "droppedSamples": ["tr_5", "tr_7"]}
    assert (third["spec"], third["conversionFromPrevious"], third["droppedHere"],
            third["droppedSamples"]) == ("widget_render", 3 / 4, 1, ["tr_4"])
    assert (last["conversionFromStart"], last["conversionFromPrevious"], last["droppedHere"],
            last["droppedSamples"]) == (1 / 6, 1 / 3, 2, ["tr_2", "tr_3"])


async def test_a_longer_window_takes_in_the_slow_conversion(
        ingest_server: IngestServer, tenant: Tenant) -> None:
    body = await funnel(ingest_server, tenant, window="10800")
    # three hours: tr_3's conversion, 2 h after its search, now counts
    assert entered(body) == [6, 4, 3, 2]
    assert body["window"] == 10800 and body["overallConversion"] == 2 / 6
    assert body["steps"][3]["droppedSamples"] == ["tr_2"]


async def test_split_by_platform_counts_each_platforms_entries(
        ingest_server: IngestServer, tenant: Tenant) -> None:
    body = await funnel(ingest_server, tenant, split="platform")
    assert entered(body) == [6, 4, 3, 1]
    # chatgpt: tr_1 (all 4 steps), tr_2 (3), tr_7 (1) → [3, 2, 2, 1]
    # claude: tr_3 (3), tr_4 (2), tr_5 (1) → [3, 2, 1, 0]
    assert body["byPlatform"] == [{"platform": "chatgpt", "steps": [3, 2, 2, 1]},
                                  {"platform": "claude", "steps": [3, 2, 1, 0]}]
    claude = await funnel(ingest_server, tenant, platform="claude")
    assert entered(claude) == [3, 2, 1, 0] and claude["overallConversion"] == 0.0


async def test_a_session_funnel_counts_one_event_once_even_for_a_repeated_step(
        ingest_server: IngestServer, tenant: Tenant) -> None:
    body = await funnel(ingest_server, tenant,
                        ["tool_call:search_rooms", "tool_call:search_rooms", "conversion"],
                        by="session")
    # two searches, then any conversion, within an hour:
    # ses_a: tr_1's search (10:00), tr_2's (10:05), but tr_1's conversion came before the
    #   second search → 2 steps
    # ses_b: tr_3, tr_4 (stored twice: still one search), tr_5; the conversion (13:00) is
    #   two hours after the first search of any pair → 2 steps
    # ses_c: one search (tr_7) → 1 step; tr_8's conversion needs two searches before it
    assert entered(body) == [3, 2, 0]
    assert body["by"] == "session"
    assert body["steps"][1]["droppedSamples"] == ["ses_c"]
    assert body["steps"][2]["droppedSamples"] == ["ses_a", "ses_b"]


async def test_the_seeds_combined_funnel_converts_fully_though_every_step_shares_a_millisecond(
        ingest_server: IngestServer) -> None:
    mine = make_tenant(ingest_server.postgres, "g")
    store_events(ingest_server.clickhouse, uuid.UUID(mine.workspace_id),
                 uuid.UUID(mine.project_id), combined_funnel())
    steps = ["tool_call:search_rooms", "step:rooms_found", "widget_response", "widget_render",
             "step:room_selected", "step:details_completed", "conversion:booking_completed"]
    # the default range: the last 7 days, which hold the seeds' events (5 minutes ago)
    response = await get(ingest_server, mine.tokens["viewer"], mine.project_id,
                         [("step", step) for step in steps])
    assert response.status_code == 200, response.text
    body = response.json()
    assert entered(body) == [1] * 7 and body["overallConversion"] == 1.0

    def with_client() -> dict[str, Any]:
        with YavioClient(ingest_server.url, mine.tokens["viewer"]) as client:
            return client.funnel(mine.project_id, steps, split="platform")

    through_client = await asyncio.to_thread(with_client)
    assert entered(through_client) == [1] * 7
    assert through_client["byPlatform"] == [{"platform": "chatgpt", "steps": [1] * 7}]
    # a tool call's own stamp comes after its steps: the wrong order converts nothing
    reversed_order = await get(ingest_server, mine.tokens["viewer"], mine.project_id,
                               [("step", "step:details_completed"),
                                ("step", "tool_call:search_rooms")])
    assert entered(reversed_order.json()) == [1, 0]


MALFORMED = [
    ([("step", "tool_call:search_rooms"), ("step", "search_rooms")], "type:name"),
    ([("step", "tool_call:search_rooms"), ("step", "tool_call:")], "type:name"),
    ([("step", "tool_call:search_rooms")], "2 to 8 steps"),
    ([("step", "tool_call")] * 9, "2 to 8 steps"),
    ([("step", "tool_call"), ("step", "conversion"), ("by", "user")], "trace or session"),
    ([("step", "tool_call"), ("step", "conversion"), ("window", "0")], "window"),
    ([("step", "tool_call"), ("step", "conversion"), ("window", "2592001")], "window"),
    ([("step", "tool_call"), ("step", "conversion"), ("window", "1h")], "window"),
    ([("step", "tool_call"), ("step", "conversion"), ("split", "user")], "platform"),
]


async def test_a_malformed_funnel_is_refused_with_the_syntax(
        ingest_server: IngestServer) -> None:
    mine = make_tenant(ingest_server.postgres, "h")
    for query, says in MALFORMED:
        response = await get(ingest_server, mine.tokens["viewer"], mine.project_id, query)
        assert response.status_code == 400, query
        error = response.json()["error"]
        assert error["code"] == "YAVIO-3010" and says in error["message"], (query, error)


async def test_the_funnel_is_only_for_the_projects_readers(
        ingest_server: IngestServer, tenant: Tenant) -> None:
    query = [*RANGE.items(), *(("step", step) for step in STEPS)]
    other = make_tenant(ingest_server.postgres, "i")
    outsider = await get(ingest_server, other.tokens["viewer"], tenant.project_id, query)
    assert outsider.status_code == 404
    assert outsider.json()["error"]["code"] == "YAVIO-3004"
    owner_elsewhere = await get(ingest_server, other.tokens["owner"], tenant.project_id, query)
    assert owner_elsewhere.status_code == 404
    anonymous = await get(ingest_server, "yat_" + "0" * 64, tenant.project_id, query)
    assert anonymous.status_code == 401
    # the other workspace's own funnel sees none of these events
    theirs = await get(ingest_server, other.tokens["viewer"], other.project_id, query)
    assert entered(theirs.json()) == [0, 0, 0, 0]


async def test_the_dropped_samples_are_the_first_ids_in_order_at_every_reload(
        ingest_server: IngestServer) -> None:
    # 12 traces stop after the search, stored in shuffled order over three parts (so a reader
    # meets them in no particular order): the samples are always the 5 first ids
    mine = make_tenant(ingest_server.postgres, "samples")
    traces = [f"tr_{number:02d}" for number in range(12)]
    events = [msgspec.structs.replace(search("tr_1", f"10:{number:02d}:00.000", 10),
                                      trace_id=trace) for number, trace in enumerate(traces)]
    # one reaches the step: it is no sample
    events.append(msgspec.structs.replace(found("tr_1", "10:01:30.000"), trace_id="tr_01"))
    random.Random(12).shuffle(events)
    workspace, project = uuid.UUID(mine.workspace_id), uuid.UUID(mine.project_id)
    for part in (events[:4], events[4:8], events[8:]):
        store_events(ingest_server.clickhouse, workspace, project, part)
    for _ in range(3):
        body = await funnel(ingest_server, mine, steps=STEPS[:2])
        assert entered(body) == [12, 1]
        assert body["steps"][1]["droppedSamples"] == ["tr_00", "tr_02", "tr_03", "tr_04",
                                                      "tr_05"]
