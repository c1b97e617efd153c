"""The Traces view (key 3) and the trace screen as a person drives them, against the real server:
the latest traces as the server lists them, searching a session, a user or a trace, `/` on the
rows, Enter into a trace's tree and its payloads, Esc back; and what they look like."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from rich.text import Text
from textual.widgets import DataTable, Static, Tree

from tests.cli.tui.conftest import SIZES, DashboardServer, dashboard, loaded
from tests.cli.tui.seed import NOW
from tests.conftest import store_events
from yavio_cli.client import YavioClient
from yavio_cli.trace_lines import event_line
from yavio_cli.tui.filters import Filters
from yavio_cli.tui.format import duration
from yavio_cli.tui.trace_screen import TraceScreen
from yavio_sdk.events import (
    ConversionEvent,
    StepEvent,
    ToolCallEvent,
    WidgetRenderEvent,
    WidgetResponseEvent,
)

# a search of the seeded week: five events, an intent on its tool call
TRACE = "tr_7_006_0"
PAYLOAD_TRACE = "tr_payload_0001"


def text(app, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def api_traces(server: DashboardServer, **search: str) -> list[dict[str, Any]]:
    with YavioClient(server.url, server.token) as client:
        return client.traces(server.project["id"], limit=50, **search,
                             **Filters().query(NOW))["traces"]


def api_trace(server: DashboardServer, trace_id: str,
              project: dict[str, Any] | None = None) -> dict[str, Any]:
    with YavioClient(server.url, server.token) as client:
        return client.trace((project or server.project)["id"], trace_id)


def listed(app) -> list[str]:
    table = app.query_one("#traces-table", DataTable)
    return [str(table.coordinate_to_cell_key((row, 0)).row_key.value)
            for row in range(table.row_count)]


def labels(node) -> list[str]:
    return [str(child.label) for child in node.children]


def trace_node(app):
    """The trace's branch of the tree (under the session's)."""
    return app.screen.query_one(Tree).root.children[0].children[0]


async def open_traces(pilot) -> None:
    await loaded(pilot)
    await pilot.press("3")
    await loaded(pilot)


@pytest.fixture(scope="module")
def payload_project(dashboard_server: DashboardServer) -> dict[str, Any]:
    """A project with one trace whose events carry every kind of payload: the tool call's
    input, output and intent, a step's and a conversion's metadata."""
    workspace = uuid.UUID(dashboard_server.workspace["id"])
    project = dashboard_server.postgres.projects.create(workspace, "Lodge", "lodge")
    common = {"trace_id": PAYLOAD_TRACE, "session_id": "ses_lodge", "platform": "claude",
              "user_id": "user_anna", "timestamp": "2030-03-07T09:30:00.000Z"}

    def event_id(number: int) -> str:
        return str(uuid.UUID(int=number))

    store_events(dashboard_server.clickhouse, workspace, project.id, [
        ToolCallEvent(event_id=event_id(1), source="server", event_name="search_rooms",
                      latency_ms=182.4, status="success",
                      input_values={"city": "Lisbon", "nights": 2, "guests": 2},
                      output_content={"rooms": [{"id": 7, "name": "Garden double",
                                                 "price": 120.5},
                                                {"id": 9, "name": "Tower suite",
                                                 "price": 310.0}]},
                      intent_signals={"intent": "a quiet room near the river"}, **common),
        StepEvent(event_id=event_id(2), source="server", event_name="rooms_found",
                  step_sequence=0, metadata={"count": 2}, **common),
        WidgetResponseEvent(event_id=event_id(3), source="server", event_name="search_rooms",
                            **common),
        WidgetRenderEvent(event_id=event_id(4), source="widget", **common),
        ConversionEvent(event_id=event_id(5), source="widget", event_name="booking_completed",
                        conversion_value=241.0, conversion_currency="EUR",
                        metadata={"room": 7}, **common),
    ])
    return {"id": str(project.id), "slug": "lodge"}


# -- the list --------------------------------------------------------------------------------

async def test_the_list_shows_the_latest_traces_as_the_server_lists_them(
        dashboard_server: DashboardServer) -> None:
    expected = api_traces(dashboard_server)
    assert len(expected) == 50  # the seeded week holds more than one page
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_traces(pilot)
        assert app.view.title == "Traces"
        assert listed(app) == [trace["traceId"] for trace in expected]
        row = [str(cell) for cell in app.query_one("#traces-table", DataTable).get_row_at(0)]
        first = expected[0]
        assert row == [f"{first['startedAt'][5:10]} {first['startedAt'][11:19]}",
                       first["tool"], first["status"], duration(first["latencyMs"]),
                       first["sessionId"], first["userId"] or "—", first["platform"],
                       str(first["events"])]
        assert "The latest 50 traces" in text(app, "#traces-summary")


async def test_a_search_for_a_session_or_a_user_lists_only_their_traces(
        dashboard_server: DashboardServer) -> None:
    session = api_traces(dashboard_server, session="ses_7_001")
    user = api_traces(dashboard_server, user="user_06")
    assert 1 < len(session) < len(user) < 50
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_traces(pilot)
        await pilot.press("s", *"ses_7_001", "enter")
        await loaded(pilot)
        assert listed(app) == [trace["traceId"] for trace in session]
        assert "session ses_7_001" in text(app, "#traces-summary")
        app.query_one("#traces-search").value = ""
        await pilot.press("s", *"user_06", "enter")
        await loaded(pilot)
        assert listed(app) == [trace["traceId"] for trace in user]
        assert "user user_06" in text(app, "#traces-summary")
        app.query_one("#traces-search").value = ""
        await pilot.press("s", *"nobody", "enter")
        await loaded(pilot)
        assert listed(app) == []
        assert text(app, "#traces-summary").startswith("No trace of user nobody in this range")


async def test_slash_filters_the_listed_rows(dashboard_server: DashboardServer) -> None:
    expected = [trace["traceId"] for trace in api_traces(dashboard_server)
                if trace["tool"] == "book_room"]
    assert expected
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_traces(pilot)
        await pilot.press("slash", *"book_room", "enter")
        await pilot.pause()
        assert listed(app) == expected
        assert f"{len(expected)} match book_room" in text(app, "#traces-summary")
        await pilot.press("r")  # a reload keeps the filter
        await loaded(pilot)
        assert listed(app) == expected
        await pilot.press("slash", "enter")
        await pilot.pause()
        assert len(listed(app)) == 50


async def test_enter_opens_the_highlighted_trace_and_esc_comes_back(
        dashboard_server: DashboardServer) -> None:
    second = api_traces(dashboard_server)[1]["traceId"]
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_traces(pilot)
        await pilot.press("down", "enter")
        await loaded(pilot)
        assert isinstance(app.screen, TraceScreen) and app.screen.trace_id == second
        assert f"Trace {second}" in text(app, "#trace-title")
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, TraceScreen)
        assert app.query_one("#traces-table", DataTable).cursor_row == 1


async def test_searching_a_trace_id_opens_that_trace(dashboard_server: DashboardServer) -> None:
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_traces(pilot)
        await pilot.press("s", *TRACE, "enter")
        await loaded(pilot)
        assert isinstance(app.screen, TraceScreen) and app.screen.trace_id == TRACE
        assert labels(trace_node(app))  # its events are there


async def test_a_range_without_traces_says_so(dashboard_server: DashboardServer) -> None:
    app = dashboard(dashboard_server, project=dashboard_server.empty_project)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_traces(pilot)
        assert text(app, "#traces-summary").startswith("No traces in this range")
        assert app.query_one("#traces-table", DataTable).row_count == 0
        await pilot.press("1")  # the keys still reach the dashboard, not the search box
        assert app.view.title == "Overview"


# -- one trace -------------------------------------------------------------------------------

async def test_a_traces_tree_shows_its_events_in_order_and_expands_to_their_payload(
        dashboard_server: DashboardServer) -> None:
    expected = api_trace(dashboard_server, TRACE)
    call = expected["events"][0]
    assert call["type"] == "tool_call" and call["intent"]["intent"]
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        app.push_screen(TraceScreen(TRACE))
        await loaded(pilot)
        root = app.screen.query_one(Tree).root
        assert str(root.children[0].label) == \
            f"session {expected['sessionId']} · user user_06 · cursor"
        events = trace_node(app).children
        assert [str(node.label) for node in events] == \
            [Text.from_markup(event_line(event)).plain for event in expected["events"]]
        assert not any(node.is_expanded for node in events)
        # the cursor starts on the tool call: Enter opens it to its intent and id
        await pilot.press("enter")
        await pilot.pause()
        assert events[0].is_expanded
        assert labels(events[0]) == ["intent {1}", f"event id {call['eventId']}"]
        assert labels(events[0].children[0]) == [f'intent  "{call["intent"]["intent"]}"']
        await pilot.press("e")  # every event open; again: every event closed
        assert all(node.is_expanded for node in events)
        await pilot.press("e")
        assert not any(node.is_expanded for node in events)


async def test_the_tool_calls_input_and_output_are_in_its_payload(
        dashboard_server: DashboardServer, payload_project: dict[str, Any]) -> None:
    app = dashboard(dashboard_server, project=payload_project)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        app.push_screen(TraceScreen(PAYLOAD_TRACE))
        await loaded(pilot)
        call = trace_node(app).children[0]
        assert labels(call)[:3] == ["input {3}", "output {1}", "intent {1}"]
        assert labels(call.children[0]) == ['city  "Lisbon"', "nights  2", "guests  2"]
        rooms = call.children[1].children[0]
        assert str(rooms.label) == "rooms [2]"
        assert labels(rooms.children[1]) == ["id  9", 'name  "Tower suite"', "price  310.0"]
        assert "search_rooms · success · 182 ms · 5 events · 1 conversion" in \
            text(app, "#trace-title")


async def test_a_missing_trace_id_says_so(dashboard_server: DashboardServer) -> None:
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_traces(pilot)
        await pilot.press("s", *"tr_nope", "enter")
        await loaded(pilot)
        assert "No trace tr_nope in this project." in text(app, "#trace-title")
        assert not app.screen.query_one(Tree).root.children


# -- what a person sees ----------------------------------------------------------------------

@pytest.mark.parametrize("size", SIZES)
def test_traces(snap_compare, dashboard_server: DashboardServer, size: str) -> None:
    assert snap_compare(dashboard(dashboard_server), terminal_size=SIZES[size],
                        run_before=open_traces)


@pytest.mark.parametrize("size", SIZES)
def test_traces_of_an_empty_project(snap_compare, dashboard_server: DashboardServer,
                                    size: str) -> None:
    assert snap_compare(dashboard(dashboard_server, project=dashboard_server.empty_project),
                        terminal_size=SIZES[size], run_before=open_traces)


@pytest.mark.parametrize("size", SIZES)
def test_trace_with_its_payload_open(snap_compare, dashboard_server: DashboardServer,
                                     payload_project: dict[str, Any], size: str) -> None:
    async def open_trace(pilot) -> None:
        await open_traces(pilot)
        await pilot.press("s", *PAYLOAD_TRACE, "enter")
        await loaded(pilot)
        await pilot.press("enter")  # the tool call, open to its input, output and intent
        await pilot.pause()

    assert snap_compare(dashboard(dashboard_server, project=payload_project),
                        terminal_size=SIZES[size], run_before=open_trace)
