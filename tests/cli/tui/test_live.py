"""The live tail as a person watches it, against the real server: an event the server accepts
appears on the screen, `p` holds the screen still and resumes with what arrived meanwhile, `/`
narrows the rows, Enter shows an event whole and `o` opens its trace."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from textual.widgets import DataTable, Static

from tests.cli.tui.conftest import SIZES, DashboardServer, dashboard
from yavio_cli.tui.trace_screen import TraceScreen
from yavio_cli.tui.views.live import EventScreen

WAIT_S = 10  # a guard against a hang, not a timing


@pytest.fixture(scope="module")
def live_project(dashboard_server: DashboardServer) -> dict[str, Any]:
    """A project of its own, so the events sent here change no other test's figures."""
    workspace = uuid.UUID(dashboard_server.workspace["id"])
    project = dashboard_server.postgres.projects.create(workspace, "Live", "live")
    key, _ = dashboard_server.postgres.api_keys.create(project.id, "live")
    return {"id": str(project.id), "slug": "live", "key": key}


# Today's date, not the seed's NOW: the ingest refuses a timestamp more than a day ahead of its
# clock, and the tail shows only the time of day.
TODAY = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


def call(number: int, **fields: Any) -> dict[str, Any]:
    """A tool call with a fixed id and time of day (what the snapshots show must not change)."""
    at = TODAY + timedelta(hours=12, minutes=number)
    return {"event_type": "tool_call", "event_id": str(uuid.UUID(int=1000 + number)),
            "trace_id": f"tr_live_{number:03d}", "session_id": "ses_live",
            "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "source": "server",
            "event_name": "search_rooms", "latency_ms": 40.0 + number, "status": "success",
            "platform": "claude", **fields}


async def send(server: DashboardServer, project: dict[str, Any],
               events: list[dict[str, Any]]) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{server.url}/v1/events", json={"events": events},
                                     headers={"Authorization": f"Bearer {project['key']}"})
    assert response.status_code == 200, response.text


async def shown(pilot, count: int) -> DataTable:
    """The tail's table once it holds `count` rows."""
    table = pilot.app.query_one("#live-events", DataTable)
    deadline = time.monotonic() + WAIT_S
    while table.row_count < count and time.monotonic() < deadline:
        await pilot.pause(0.05)
    return table


async def opened(pilot) -> None:
    """Switch to the live tail and wait until its stream is open."""
    await pilot.press("0")
    status = pilot.app.query_one("#live-status", Static)
    deadline = time.monotonic() + WAIT_S
    while "● live" not in str(status.render()) and time.monotonic() < deadline:
        await pilot.pause(0.05)


async def test_an_accepted_event_appears_in_the_tail(
        dashboard_server: DashboardServer, live_project: dict[str, Any]) -> None:
    app = dashboard(dashboard_server, project=live_project)
    async with app.run_test(size=(120, 40)) as pilot:
        await opened(pilot)
        await send(dashboard_server, live_project, [call(1), call(2, status="error",
                                                                error_category="timeout")])
        table = await shown(pilot, 2)
        assert table.row_count == 2
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(2)]
        assert [row[1] for row in rows] == ["tool_call", "tool_call"]
        assert rows[0][4] == "tr_live_001" and rows[1][3].startswith("error")


async def test_pause_holds_the_screen_and_resume_shows_what_arrived(
        dashboard_server: DashboardServer, live_project: dict[str, Any]) -> None:
    app = dashboard(dashboard_server, project=live_project)
    async with app.run_test(size=(120, 40)) as pilot:
        await opened(pilot)
        await pilot.press("p")
        await send(dashboard_server, live_project, [call(3), call(4)])
        status = app.query_one("#live-status", Static)
        deadline = time.monotonic() + WAIT_S
        while "2 new" not in str(status.render()) and time.monotonic() < deadline:
            await pilot.pause(0.05)
        assert "paused" in str(status.render()) and "2 new" in str(status.render())
        assert app.query_one("#live-events", DataTable).row_count == 0
        await pilot.press("p")
        table = await shown(pilot, 2)
        assert [str(table.get_row_at(i)[4]) for i in range(2)] == ["tr_live_003",
                                                                    "tr_live_004"]


async def test_the_filter_keeps_matching_events_and_enter_opens_one(
        dashboard_server: DashboardServer, live_project: dict[str, Any]) -> None:
    app = dashboard(dashboard_server, project=live_project)
    async with app.run_test(size=(120, 40)) as pilot:
        await opened(pilot)
        await send(dashboard_server, live_project,
                   [call(5), call(6, event_name="book_room"), call(7)])
        await shown(pilot, 3)
        await pilot.press("slash", *"book", "enter")
        await pilot.pause()
        table = app.query_one("#live-events", DataTable)
        assert [str(table.get_row_at(i)[2]) for i in range(table.row_count)] == ["book_room"]
        table.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, EventScreen)
        assert app.screen.event["trace_id"] == "tr_live_006"
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, TraceScreen) and app.screen.trace_id == "tr_live_006"


@pytest.mark.parametrize("size", SIZES)
def test_live_tail(snap_compare, dashboard_server: DashboardServer,
                   live_project: dict[str, Any], size: str) -> None:
    # events of their own for each size: the server keeps an event id it has seen once
    first = 100 if size == "large" else 10

    async def events_arrive(pilot) -> None:
        await opened(pilot)
        await send(dashboard_server, live_project,
                   [call(first), call(first + 1, event_type="conversion",
                                      event_name="booking_completed", latency_ms=None,
                                      status=None, conversion_value=420.0,
                                      conversion_currency="EUR", source="widget"),
                    call(first + 2, status="error", error_category="timeout")])
        assert (await shown(pilot, 3)).row_count == 3

    assert snap_compare(dashboard(dashboard_server, project=live_project),
                        terminal_size=SIZES[size], run_before=events_arrive)
