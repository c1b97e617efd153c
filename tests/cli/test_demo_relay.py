"""The demo's history relay forwards what the SDK hands it within the ingest's limits: a full
batch of large events goes out as several requests, and every event is accepted."""

from __future__ import annotations

import asyncio

from tests.ingest.conftest import (  # noqa: F401  (fixtures, found by pytest in this module)
    IngestServer,
    ingest_server,
    make_event,
    settings_overrides,
)
from yavio_cli.demo.relay import HistoryRelay
from yavio_sdk.events import MAX_BODY_BYTES


async def test_a_batch_over_the_body_limit_is_split_and_every_event_accepted(
        ingest_server: IngestServer) -> None:
    note = "a long tool output " * 50  # about 1 KB per event: 1,000 of them pass 512,000 bytes
    events = [make_event(metadata={"note": note}) for _ in range(1000)]
    assert len(str(events)) > MAX_BODY_BYTES
    relay = HistoryRelay(ingest_server.url)
    try:
        relay.enqueue(f"Bearer {ingest_server.api_key}", events)
        assert await asyncio.to_thread(relay.drain, 30)
    finally:
        relay.close()
    assert (relay.stats.accepted, relay.stats.rejected) == (1000, 0), relay.stats.errors
    assert await ingest_server.wait_stored(1000, timeout=20) == 1000
