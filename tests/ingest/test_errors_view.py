"""The errors read endpoint against hand-computed figures, on the real server and ClickHouse."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import store_events
from tests.ingest.conftest import IngestServer
from tests.ingest.test_management import make_tenant
from tests.ingest.test_overview import AFTER, BEFORE, DAY, tool_call


async def test_errors_are_counted_by_category_and_tool_with_the_latest_first(
        ingest_server: IngestServer) -> None:
    mine = make_tenant(ingest_server.postgres, "e")
    ids = [str(uuid.uuid4()) for _ in range(7)]
    failed_auth = tool_call(ids[0], f"{DAY}T02:00:00.000Z", "ses_1", "book_room", "claude", 5,
                            "error")
    failed_auth.error_category, failed_auth.error_message = "auth", "forbidden: missing scope"
    failed_db = tool_call(ids[1], f"{DAY}T05:00:00.000Z", "ses_2", "book_room", "claude", 9,
                          "error")
    failed_db.error_category = "server"
    failed_search = tool_call(ids[2], f"{DAY}T05:30:00.000Z", "ses_2", "search_rooms",
                              "chatgpt", 7, "error")
    events = [failed_auth, failed_db, failed_search,
              tool_call(ids[3], f"{DAY}T06:00:00.000Z", "ses_3", "search_rooms", "chatgpt", 3),
              tool_call(ids[4], f"{DAY}T06:10:00.000Z", "ses_3", "search_rooms", "chatgpt", 4),
              # the day before: the previous period
              tool_call(ids[5], f"{BEFORE}T09:00:00.000Z", "ses_0", "book_room", "claude", 6,
                        "error"),
              tool_call(ids[6], f"{BEFORE}T10:00:00.000Z", "ses_0", "book_room", "claude", 6)]
    store_events(ingest_server.clickhouse, uuid.UUID(mine.workspace_id),
                 uuid.UUID(mine.project_id), events)
    store_events(ingest_server.clickhouse, uuid.UUID(mine.workspace_id),
                 uuid.UUID(mine.project_id), [failed_db])  # stored twice: counts once

    async with httpx.AsyncClient(base_url=ingest_server.url) as client:
        response = await client.get(
            f"/v1/projects/{mine.project_id}/errors",
            params={"from": f"{DAY}T00:00:00Z", "to": f"{AFTER}T00:00:00Z"},
            headers={"Authorization": f"Bearer {mine.tokens['viewer']}"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["invocations"], body["errors"], body["errorRate"]) == (5, 3, 0.6)
    assert body["byCategory"] == [{"category": "auth", "errors": 1},
                                  {"category": "server", "errors": 1},
                                  {"category": "unknown", "errors": 1}]
    assert body["byTool"] == [
        {"name": "book_room", "errors": 2, "invocations": 2, "errorRate": 1.0},
        {"name": "search_rooms", "errors": 1, "invocations": 3, "errorRate": 1 / 3}]
    assert body["range"]["bucket"] == "hour"
    assert body["previous"] == {"invocations": 2, "errors": 1, "errorRate": 0.5}
    series = {point["bucket"][11:13]: point for point in body["series"]}
    assert len(series) == 24
    assert (series["02"]["errors"], series["02"]["invocations"], series["02"]["errorRate"]) \
        == (1, 1, 1.0)
    assert (series["05"]["errors"], series["05"]["invocations"]) == (2, 2)
    assert (series["06"]["errors"], series["06"]["invocations"], series["06"]["errorRate"]) \
        == (0, 2, 0.0)
    assert series["07"] == {"bucket": series["07"]["bucket"], "invocations": 0, "errors": 0,
                            "errorRate": 0.0}
    assert [error["tool"] for error in body["recent"]] == ["search_rooms", "book_room",
                                                           "book_room"]
    assert body["recent"][-1]["message"] == "forbidden: missing scope"
    assert body["recent"][-1]["traceId"] == failed_auth.trace_id

