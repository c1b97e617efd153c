"""The intents read endpoint against hand-computed figures, on the real server and ClickHouse."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import store_events
from tests.ingest.conftest import IngestServer
from tests.ingest.test_management import make_tenant
from tests.ingest.test_overview import AFTER, DAY, tool_call


async def test_coverage_is_the_share_of_calls_with_an_intent_and_the_latest_come_first(
        ingest_server: IngestServer) -> None:
    mine = make_tenant(ingest_server.postgres, "i")
    ids = [str(uuid.uuid4()) for _ in range(4)]
    asked = tool_call(ids[0], f"{DAY}T01:00:00.000Z", "ses_1", "search_rooms", "claude", 5)
    asked.intent_signals = {"intent": "find a quiet room in Rome", "source": "context_parameter"}
    guessed = tool_call(ids[1], f"{DAY}T02:00:00.000Z", "ses_1", "book_room", "claude", 5)
    guessed.intent_signals = {"intent": "book it", "source": "inferred"}
    events = [asked, guessed,
              tool_call(ids[2], f"{DAY}T03:00:00.000Z", "ses_2", "search_rooms", "claude", 5),
              tool_call(ids[3], f"{DAY}T04:00:00.000Z", "ses_2", "search_rooms", "claude", 5)]
    store_events(ingest_server.clickhouse, uuid.UUID(mine.workspace_id),
                 uuid.UUID(mine.project_id), events)
    store_events(ingest_server.clickhouse, uuid.UUID(mine.workspace_id),
                 uuid.UUID(mine.project_id), [asked])  # stored twice: counts once

    async with httpx.AsyncClient(base_url=ingest_server.url) as client:
        response = await client.get(
            f"/v1/projects/{mine.project_id}/intents",
            params={"from": f"{DAY}T00:00:00Z", "to": f"{AFTER}T00:00:00Z"},
            headers={"Authorization": f"Bearer {mine.tokens['viewer']}"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["invocations"], body["withIntent"], body["coverage"]) == (4, 2, 0.5)
    assert body["byTool"] == [
        {"name": "search_rooms", "invocations": 3, "withIntent": 1, "coverage": 1 / 3},
        {"name": "book_room", "invocations": 1, "withIntent": 1, "coverage": 1.0}]
    assert [(i["tool"], i["intent"], i["source"]) for i in body["latest"]] == [
        ("book_room", "book it", "inferred"),
        ("search_rooms", "find a quiet room in Rome", "context_parameter")]
    assert body["latest"][1]["traceId"] == asked.trace_id
