"""`yavio trace` and the trace endpoint on the seeds' combined funnel, against the real server:
the events come out in the order they happened, though the steps share one millisecond."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from typer.testing import CliRunner

from tests.cli.test_commands_against_the_server import home_of
from tests.conftest import store_events
from tests.ingest.conftest import (  # noqa: F401  (fixtures, found by pytest in this module)
    IngestServer,
    ingest_server,
    settings_overrides,
)
from tests.ingest.test_management import make_tenant
from yavio_cli.main import app
from yavio_sdk.events import (
    ConversionEvent,
    StepEvent,
    ToolCallEvent,
    WidgetRenderEvent,
    WidgetResponseEvent,
)

TRACE = "tr_combined_funnel_0001"


def combined_funnel() -> list:
    """The seeds' example, every step in one millisecond (stored shuffled)."""
    now = datetime.now(timezone.utc) - timedelta(minutes=5)
    at = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    common = {"trace_id": TRACE, "session_id": "ses_funnel", "timestamp": at,
              "platform": "chatgpt"}

    def ids() -> str:
        return str(uuid.uuid4())

    return [
        ConversionEvent(event_id=ids(), source="widget", event_name="booking_completed",
                        conversion_value=567.0, conversion_currency="EUR", **common),
        StepEvent(event_id=ids(), source="widget", event_name="details_completed",
                  step_sequence=2, **common),
        WidgetRenderEvent(event_id=ids(), source="widget", **common),
        ToolCallEvent(event_id=ids(), source="server", event_name="search_rooms",
                      latency_ms=12.5, status="success", **common),
        StepEvent(event_id=ids(), source="widget", event_name="room_selected", step_sequence=1,
                  **common),
        WidgetResponseEvent(event_id=ids(), source="server", event_name="search_rooms",
                            **common),
        StepEvent(event_id=ids(), source="server", event_name="rooms_found", step_sequence=0,
                  **common),
    ]


EXPECTED = [("tool_call", "search_rooms"), ("step", "rooms_found"),
            ("widget_response", "search_rooms"), ("widget_render", None),
            ("step", "room_selected"), ("step", "details_completed"),
            ("conversion", "booking_completed")]


async def test_a_trace_lists_the_combined_funnel_in_order_and_json_matches_the_api(
        ingest_server: IngestServer, tmp_path: Path) -> None:
    mine, theirs = make_tenant(ingest_server.postgres, "t"), make_tenant(ingest_server.postgres,
                                                                          "u")
    funnel = combined_funnel()
    for block in (funnel, funnel[2:5]):  # three events stored twice, in separate blocks
        store_events(ingest_server.clickhouse, uuid.UUID(mine.workspace_id),
                     uuid.UUID(mine.project_id), block)
    async with httpx.AsyncClient(base_url=ingest_server.url) as client:
        api = await client.get(f"/v1/projects/{mine.project_id}/traces/{TRACE}",
                               headers={"Authorization": f"Bearer {mine.tokens['viewer']}"})
        outsider = await client.get(
            f"/v1/projects/{mine.project_id}/traces/{TRACE}",
            headers={"Authorization": f"Bearer {theirs.tokens['owner']}"})
    assert api.status_code == 200, api.text
    assert outsider.status_code == 404
    assert [(e["type"], e["name"]) for e in api.json()["events"]] == EXPECTED

    home = home_of(tmp_path, ingest_server, mine, "viewer")
    runner = CliRunner()
    shown = await asyncio.to_thread(runner.invoke, app, ["trace", TRACE],
                                    env={"YAVIO_HOME": str(home), "COLUMNS": "160"})
    assert shown.exit_code == 0, shown.output
    lines = [line for line in shown.output.splitlines() if "server" in line or "widget" in line]
    order = ["search_rooms", "rooms_found", "widget_response", "widget_render",
             "room_selected", "details_completed", "booking_completed"]
    assert len(lines) == len(order)
    for line, expected in zip(lines, order, strict=True):
        assert expected in line, (expected, line)
    assert "567.00 EUR" in lines[-1] and "#0" in lines[1] and "12.5 ms" in lines[0]

    as_json = await asyncio.to_thread(runner.invoke, app, ["trace", TRACE, "--json"],
                                      env={"YAVIO_HOME": str(home)})
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout) == api.json()

    missing = await asyncio.to_thread(runner.invoke, app, ["trace", "tr_nope"],
                                      env={"YAVIO_HOME": str(home)})
    assert missing.exit_code == 1 and "No event of this trace" in missing.output


async def test_trace_without_an_id_shows_the_latest_call_and_says_when_there_is_none(
        ingest_server: IngestServer, tmp_path: Path) -> None:
    mine, empty = make_tenant(ingest_server.postgres, "t"), make_tenant(ingest_server.postgres,
                                                                         "u")
    an_hour_ago = datetime.now(timezone.utc) - timedelta(hours=1)
    older = ToolCallEvent(
        event_id=str(uuid.uuid4()), source="server", event_name="check_availability",
        trace_id="tr_an_hour_ago", session_id="ses_earlier", latency_ms=3.0, status="success",
        timestamp=an_hour_ago.isoformat(timespec="milliseconds").replace("+00:00", "Z"))
    # The older call is stored last: "latest" is the call's time, not the order of arrival.
    for block in (combined_funnel(), [older]):
        store_events(ingest_server.clickhouse, uuid.UUID(mine.workspace_id),
                     uuid.UUID(mine.project_id), block)
    runner = CliRunner()

    shown = await asyncio.to_thread(
        runner.invoke, app, ["trace"],
        env={"YAVIO_HOME": str(home_of(tmp_path, ingest_server, mine, "viewer")),
             "COLUMNS": "160"})
    assert shown.exit_code == 0, shown.output
    assert f"trace {TRACE}" in shown.output and "booking_completed" in shown.output
    assert "tr_an_hour_ago" not in shown.output

    nothing = await asyncio.to_thread(
        runner.invoke, app, ["trace"],
        env={"YAVIO_HOME": str(home_of(tmp_path, ingest_server, empty, "viewer"))})
    assert nothing.exit_code == 1
    assert "no tool call in the last 7 days" in nothing.output
