"""A share of `yavio demo`'s history sent from a child process (what a large history is split
into): real MCP sessions against the example in that process, its events in the real ingest at
their simulated moments, its figures back in the parent."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from tests.ingest.conftest import (  # noqa: F401  (fixtures, found by pytest in this module)
    IngestServer,
    ingest_server,
    settings_overrides,
)
from yavio_cli.demo.relay import RelayStats
from yavio_cli.demo.shares import HistoryShare
from yavio_cli.demo.traffic import TrafficStats


@pytest.mark.timeout(120)
async def test_a_share_sends_its_quota_from_another_process_and_reports_its_figures(
        ingest_server: IngestServer) -> None:
    server = ingest_server
    end = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    start = end - timedelta(days=2)
    share = HistoryShare(server.url, server.api_key, seed=7, share=1, people=60, start=start,
                         end=end, quota=400)
    traffic, relay = TrafficStats(), RelayStats()
    # The ingest runs on this event loop: wait for the child beside it.
    await asyncio.to_thread(share.add_to, traffic, relay)

    assert relay.accepted >= 400 and relay.rejected == 0, relay
    assert share.accepted == relay.accepted, "the progress bar reached the share's total"
    assert traffic.sessions > 0 and traffic.tool_calls >= traffic.sessions
    assert traffic.people and traffic.people <= set(range(60)), "the parent's people"
    assert await server.wait_stored(relay.accepted, timeout=20) == relay.accepted
    (first, last), = server.clickhouse.query(
        "SELECT min(timestamp), max(timestamp) FROM events WHERE project_id = {p:UUID}",
        {"p": server.project_id})
    assert start <= first.replace(tzinfo=timezone.utc) and \
        last.replace(tzinfo=timezone.utc) < end + timedelta(hours=1), (first, last)
