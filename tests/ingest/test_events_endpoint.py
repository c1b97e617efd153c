"""`POST /v1/events`: the happy path, durability before the ack, and what lands in ClickHouse."""

from __future__ import annotations

import asyncio
import gzip
import json

import httpx

from tests.ingest.conftest import IngestServer, make_event


async def test_a_valid_batch_is_acknowledged_and_lands_in_clickhouse(
        ingest_server: IngestServer) -> None:
    events = [make_event(), make_event("step", event_name="rooms_found", step_sequence=0),
              make_event("conversion", event_name="booking", conversion_value=567,
                         conversion_currency="EUR")]
    response = await ingest_server.send(events)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 3 and body["rejected"] == 0
    assert body["requestId"] == response.headers["x-request-id"]
    assert await ingest_server.wait_stored(3) == 3
    revenue = ingest_server.clickhouse.command(
        "SELECT sum(conversion_value) FROM events WHERE project_id = {p:UUID}",
        {"p": ingest_server.project_id})
    assert revenue == 567


async def test_the_credential_decides_the_tenant(ingest_server: IngestServer) -> None:
    forged = make_event(workspace_id="00000000-0000-0000-0000-000000000001",
                        project_id="00000000-0000-0000-0000-000000000002",
                        ingested_at="2001-01-01T00:00:00.000Z")
    assert (await ingest_server.send([forged])).status_code == 200
    assert await ingest_server.wait_stored(1) == 1
    row = ingest_server.clickhouse.query(
        "SELECT toString(workspace_id), toYear(ingested_at) FROM events "
        "WHERE event_id = {e:UUID}", {"e": forged["event_id"]})
    assert row[0][0] == ingest_server.workspace_id and row[0][1] >= 2026


async def test_an_acknowledged_event_is_in_the_spool_before_the_response(
        ingest_server: IngestServer) -> None:
    event = make_event()
    await ingest_server.ingest.writer.stop()  # nothing drains: only the spool holds it
    response = await ingest_server.send([event])
    assert response.status_code == 200
    spooled = b"".join(p.read_bytes() for p in ingest_server.spool_dir.glob("*.spool"))
    assert event["event_id"].encode() in spooled


async def test_a_gzip_body_is_accepted(ingest_server: IngestServer) -> None:
    body = gzip.compress(json.dumps({"events": [make_event()]}).encode())
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{ingest_server.url}/v1/events", content=body,
                                     headers={**ingest_server.headers(),
                                              "Content-Encoding": "gzip"})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1


async def test_a_retried_event_is_acknowledged_again_but_stored_once(
        ingest_server: IngestServer) -> None:
    event = make_event()
    first = await ingest_server.send([event])
    second = await ingest_server.send([event, make_event()])
    assert first.json()["accepted"] == 1 and second.json()["accepted"] == 2
    assert await ingest_server.wait_stored(2) == 2
    sessions = ingest_server.clickhouse.command(
        "SELECT countMerge(events) FROM session_stats WHERE project_id = {p:UUID}",
        {"p": ingest_server.project_id})
    assert sessions == 2, "the aggregate views must not see the retry"


async def test_pii_is_redacted_before_storage(ingest_server: IngestServer) -> None:
    event = make_event(input_values={"note": "mail jane@example.com or call (555) 123-4567"},
                       error_message="card 4111 1111 1111 1111 declined", status="error")
    assert (await ingest_server.send([event])).status_code == 200
    await ingest_server.wait_stored(1)
    values, message = ingest_server.clickhouse.query(
        "SELECT input_values, error_message FROM events WHERE event_id = {e:UUID}",
        {"e": event["event_id"]})[0]
    assert "jane@example.com" not in values and "[EMAIL_REDACTED]" in values
    assert "[PHONE_REDACTED]" in values
    assert message == "card [CC_REDACTED] declined"


async def test_accepted_events_reach_live_subscribers_of_their_project(
        ingest_server: IngestServer) -> None:
    mine = ingest_server.ingest.fanout.subscribe(ingest_server.project_id)
    others = ingest_server.ingest.fanout.subscribe("00000000-0000-0000-0000-00000000000f")
    try:
        event = make_event()
        assert (await ingest_server.send([event, {"not": "an event"}])).status_code == 207
        line = json.loads(await asyncio.wait_for(mine.get(), 5))
        assert line["event_id"] == event["event_id"]
        assert line["project_id"] == ingest_server.project_id
        assert others._queue.empty()
    finally:
        mine.close()
        others.close()


async def test_a_key_records_its_last_use(ingest_server: IngestServer) -> None:
    keys = ingest_server.postgres.api_keys
    owner = keys.owner_of(ingest_server.api_key)
    assert keys.get(owner.key_id).last_used_at is None
    assert (await ingest_server.send([make_event()])).status_code == 200
    for _ in range(100):
        if keys.get(owner.key_id).last_used_at is not None:
            break
        await asyncio.sleep(0.05)
    assert keys.get(owner.key_id).last_used_at is not None


async def test_tool_discovery_events_fill_the_tool_registry(ingest_server: IngestServer) -> None:
    event = make_event("tool_discovery", tool_name="book_room", description="Book a room",
                       input_schema={"type": "object", "properties": {"room": {"type": "string"}}})
    assert (await ingest_server.send([event])).status_code == 200
    await ingest_server.wait_stored(1)
    rows = ingest_server.clickhouse.query(
        "SELECT tool_name, description FROM tool_registry FINAL WHERE project_id = {p:UUID}",
        {"p": ingest_server.project_id})
    assert rows == [("book_room", "Book a room")]


async def test_once_stored_the_spool_gives_its_disk_back(ingest_server: IngestServer) -> None:
    note = "a note of about a kilobyte " * 40
    for _ in range(8):  # about 1.7 MB spooled: more than a drained segment may keep
        batch = [make_event("track", event_name="note", metadata={"note": note})
                 for _ in range(150)]
        assert (await ingest_server.send(batch)).status_code == 200
    assert await ingest_server.wait_stored(1200, timeout=30) == 1200

    def spooled_bytes() -> int:
        return sum(p.stat().st_size for p in ingest_server.spool_dir.glob("*.spool"))

    for _ in range(100):
        if spooled_bytes() == 0:
            break
        await asyncio.sleep(0.05)
    assert spooled_bytes() == 0
