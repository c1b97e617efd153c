"""The paths read endpoint against hand-computed transitions, on the real server and ClickHouse:
each session's tool calls in the order they started (not returned), with a duplicated call,
other events and other days left out, and two platforms."""

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
from tests.ingest.test_overview import AFTER, DAY
from yavio_cli.client import YavioClient
from yavio_sdk.events import StepEvent, ToolCallEvent

RANGE = {"from": f"{DAY}T00:00:00Z", "to": f"{AFTER}T00:00:00Z"}
PLATFORMS = {"ses_1": "chatgpt", "ses_2": "claude", "ses_3": "claude", "ses_4": "chatgpt"}
USERS = {"ses_1": "u_1", "ses_2": None, "ses_3": None, "ses_4": "u_2"}  # two anonymous


def call(session: str, name: str, when: str, latency: float = 10) -> ToolCallEvent:
    """A tool call stamped (as the SDK does) when it returned, `latency` ms after its start."""
    return ToolCallEvent(event_id=str(uuid.uuid4()), trace_id=f"tr_{uuid.uuid4().hex[:8]}",
                         session_id=session, timestamp=when, source="server", event_name=name,
                         platform=PLATFORMS[session], user_id=USERS[session],
                         latency_ms=latency, status="success")


@pytest.fixture
def tenant(ingest_server: IngestServer) -> Tenant:
    mine = make_tenant(ingest_server.postgres, "p")
    second_search = call("ses_1", "search_rooms", f"{DAY}T09:01:00.000Z")
    events = [
        # ses_1: search, search (stored twice), book; a step and the next day's call left out
        call("ses_1", "search_rooms", f"{DAY}T09:00:00.000Z"), second_search,
        call("ses_1", "book_room", f"{DAY}T09:02:00.000Z"),
        StepEvent(event_id=str(uuid.uuid4()), trace_id="tr_step", session_id="ses_1",
                  timestamp=f"{DAY}T09:01:30.000Z", source="server", event_name="rooms_found",
                  platform="chatgpt", step_sequence=0),
        call("ses_1", "get_weather", f"{AFTER}T09:00:00.000Z"),
        # ses_2: search, book; ses_3: one call
        call("ses_2", "search_rooms", f"{DAY}T10:00:00.000Z"),
        call("ses_2", "book_room", f"{DAY}T10:05:00.000Z"),
        call("ses_3", "get_weather", f"{DAY}T11:00:00.000Z"),
        # ses_4: search_rooms returned first (.500) but book_room started first (.600 − 300
        # ms = .300, before .500 − 100 ms = .400): book → search
        call("ses_4", "search_rooms", f"{DAY}T12:00:00.500Z", latency=100),
        call("ses_4", "book_room", f"{DAY}T12:00:00.600Z", latency=300),
    ]
    random.Random(7).shuffle(events)  # stored in no particular order
    workspace, project = uuid.UUID(mine.workspace_id), uuid.UUID(mine.project_id)
    store_events(ingest_server.clickhouse, workspace, project, events)
    store_events(ingest_server.clickhouse, workspace, project, [second_search])  # a retry
    return mine


async def get(server: IngestServer, token: str, project: str, **query: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        return await client.get(f"/v1/projects/{project}/paths", params=query,
                                headers={"Authorization": f"Bearer {token}"})


def transitions(body: dict[str, Any]) -> list[tuple[str, str, int]]:
    return [(path["from"], path["to"], path["count"]) for path in body["paths"]]


async def test_paths_count_each_sessions_consecutive_calls_from_start_to_end(
        ingest_server: IngestServer, tenant: Tenant) -> None:
    response = await get(ingest_server, tenant.tokens["viewer"], tenant.project_id, **RANGE)
    assert response.status_code == 200, response.text
    body = response.json()
    # ses_1: (start)→search, search→search, search→book, book→(end)  (4)
    # ses_2: (start)→search, search→book, book→(end)                 (3)
    # ses_3: (start)→get_weather, get_weather→(end)                  (2)
    # ses_4: (start)→book, book→search, search→(end)                 (3)
    # 12 transitions in 4 sessions; ranked by count, then from, then to ("(" sorts first)
    assert (body["sessions"], body["transitions"]) == (4, 12)
    assert transitions(body) == [
        ("(start)", "search_rooms", 2), ("book_room", "(end)", 2),
        ("search_rooms", "book_room", 2),
        ("(start)", "book_room", 1), ("(start)", "get_weather", 1),
        ("book_room", "search_rooms", 1), ("get_weather", "(end)", 1),
        ("search_rooms", "(end)", 1), ("search_rooms", "search_rooms", 1)]
    assert [path["share"] for path in body["paths"]] == [2 / 12] * 3 + [1 / 12] * 6


async def test_paths_honour_the_limit_and_the_platform_filter(
        ingest_server: IngestServer, tenant: Tenant) -> None:
    top = (await get(ingest_server, tenant.tokens["viewer"], tenant.project_id, **RANGE,
                     limit="2")).json()
    # the totals are over every transition, not only the ones listed
    assert (top["sessions"], top["transitions"]) == (4, 12)
    assert transitions(top) == [("(start)", "search_rooms", 2), ("book_room", "(end)", 2)]

    def with_client() -> dict[str, Any]:
        with YavioClient(ingest_server.url, tenant.tokens["viewer"]) as client:
            return client.paths(tenant.project_id, start=RANGE["from"], end=RANGE["to"],
                                platforms=["claude"])

    claude = await asyncio.to_thread(with_client)
    # ses_2 and ses_3: 3 + 2 transitions, each once
    assert (claude["sessions"], claude["transitions"]) == (2, 5)
    assert transitions(claude) == [
        ("(start)", "get_weather", 1), ("(start)", "search_rooms", 1),
        ("book_room", "(end)", 1), ("get_weather", "(end)", 1), ("search_rooms", "book_room", 1)]
    assert claude["paths"][0]["share"] == 1 / 5

    empty = (await get(ingest_server, tenant.tokens["viewer"], tenant.project_id,
                       **{"from": f"{AFTER}T12:00:00Z", "to": f"{AFTER}T13:00:00Z"})).json()
    assert empty == {"sessions": 0, "transitions": 0, "paths": []}


async def test_a_bad_limit_is_refused(ingest_server: IngestServer, tenant: Tenant) -> None:
    for limit in ("0", "101", "many"):
        response = await get(ingest_server, tenant.tokens["viewer"], tenant.project_id,
                             limit=limit)
        assert response.status_code == 400, limit
        assert response.json()["error"]["code"] == "YAVIO-3010"


async def test_paths_are_only_for_the_projects_readers(
        ingest_server: IngestServer, tenant: Tenant) -> None:
    other = make_tenant(ingest_server.postgres, "q")
    for role in ("viewer", "owner"):
        outsider = await get(ingest_server, other.tokens[role], tenant.project_id, **RANGE)
        assert outsider.status_code == 404
        assert outsider.json()["error"]["code"] == "YAVIO-3004"
    anonymous = await get(ingest_server, "yat_" + "0" * 64, tenant.project_id, **RANGE)
    assert anonymous.status_code == 401
    theirs = await get(ingest_server, other.tokens["viewer"], other.project_id, **RANGE)
    assert theirs.json() == {"sessions": 0, "transitions": 0, "paths": []}
