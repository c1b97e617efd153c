"""The trace list read endpoint, on the real server and ClickHouse."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import store_events
from tests.ingest.conftest import IngestServer
from tests.ingest.test_management import make_tenant
from tests.ingest.test_overview import AFTER, DAY, tool_call
from yavio_sdk.events import StepEvent, ToolCallEvent


async def test_the_trace_list_is_newest_first_and_filters_by_session_tool_and_status(
        ingest_server: IngestServer) -> None:
    mine = make_tenant(ingest_server.postgres, "l")
    ids = [str(uuid.uuid4()) for _ in range(4)]
    calls = [tool_call(ids[0], f"{DAY}T01:00:00.000Z", "ses_1", "search_rooms", "claude", 5),
             tool_call(ids[1], f"{DAY}T02:00:00.000Z", "ses_1", "book_room", "claude", 9,
                       "error"),
             tool_call(ids[2], f"{DAY}T03:00:00.000Z", "ses_2", "search_rooms", "chatgpt", 7),
             tool_call(ids[3], f"{AFTER}T03:00:00.000Z", "ses_2", "search_rooms", "chatgpt",
                       7)]  # outside the range
    store_events(ingest_server.clickhouse, uuid.UUID(mine.workspace_id),
                 uuid.UUID(mine.project_id), calls)

    async def listed(**filters: str) -> list[str]:
        async with httpx.AsyncClient(base_url=ingest_server.url) as client:
            response = await client.get(
                f"/v1/projects/{mine.project_id}/traces",
                params={"from": f"{DAY}T00:00:00Z", "to": f"{AFTER}T00:00:00Z", **filters},
                headers={"Authorization": f"Bearer {mine.tokens['viewer']}"})
        assert response.status_code == 200, response.text
        return [trace["traceId"] for trace in response.json()["traces"]]

    trace_ids = [call.trace_id for call in calls]
    assert await listed() == [trace_ids[2], trace_ids[1], trace_ids[0]]
    assert await listed(session="ses_1") == [trace_ids[1], trace_ids[0]]
    assert await listed(tool="search_rooms") == [trace_ids[2], trace_ids[0]]
    assert await listed(status="error") == [trace_ids[1]]
    assert await listed(limit="1") == [trace_ids[2]]


async def test_a_traces_events_carry_the_tool_calls_input_output_and_intent(
        ingest_server: IngestServer) -> None:
    mine = make_tenant(ingest_server.postgres, "p")
    call_id, step_id, answer_id = (str(uuid.uuid4()) for _ in range(3))
    common = {"trace_id": "tr_payload", "session_id": "ses_1", "source": "server",
              "timestamp": f"{DAY}T01:00:00.000Z"}
    store_events(ingest_server.clickhouse, uuid.UUID(mine.workspace_id),
                 uuid.UUID(mine.project_id), [
        ToolCallEvent(event_id=call_id, event_name="search_rooms", latency_ms=5.0,
                      status="success", input_values={"city": "Lisbon", "nights": 2},
                      output_content={"rooms": [{"id": 7, "price": 120.5}]},
                      intent_signals={"intent": "a quiet room"}, **common),
        StepEvent(event_id=step_id, event_name="rooms_found", step_sequence=0,
                  metadata={"count": 1}, **common),
        # a tool that answered plain text: stored as a JSON string, read back as that string
        ToolCallEvent(event_id=answer_id, event_name="describe", status="success",
                      output_content="Two rooms left.",
                      **{**common, "trace_id": "tr_text"}),
    ])

    async def events(trace_id: str) -> list[dict]:
        async with httpx.AsyncClient(base_url=ingest_server.url) as client:
            response = await client.get(
                f"/v1/projects/{mine.project_id}/traces/{trace_id}",
                headers={"Authorization": f"Bearer {mine.tokens['viewer']}"})
        assert response.status_code == 200, response.text
        return response.json()["events"]

    call, step = await events("tr_payload")
    assert (call["input"], call["output"], call["intent"]) == (
        {"city": "Lisbon", "nights": 2}, {"rooms": [{"id": 7, "price": 120.5}]},
        {"intent": "a quiet room"})
    assert call["metadata"] is None
    assert (step["input"], step["output"], step["intent"]) == (None, None, None)
    assert step["metadata"] == {"count": 1}
    [text] = await events("tr_text")
    assert text["output"] == "Two rooms left." and text["input"] is None
