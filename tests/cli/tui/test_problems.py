"""The Errors (8) and Intents (9) views as a person drives them, against the real server serving
the fixed week, and a project whose calls all succeed without an intent: the figures the server
computes, the drill-in to a failure's or an intent's trace, `/`, and what each view says when
there is nothing to show. Then the snapshots of both views at 80×24 and 120×40."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static, Tree

from tests.cli.tui.conftest import SIZES, DashboardServer, dashboard, loaded
from tests.cli.tui.seed import NOW
from tests.conftest import store_events
from yavio_cli.client import YavioClient
from yavio_cli.tui.bars import Bars
from yavio_cli.tui.filtered_table import FilteredTable
from yavio_cli.tui.filters import Filters
from yavio_cli.tui.format import count, percent
from yavio_cli.tui.trace_screen import TraceScreen
from yavio_sdk.config import resolve_config
from yavio_sdk.events import validate_obj


def text(app, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


def api(server: DashboardServer, view: str, project: dict[str, Any] | None = None,
        **filters: Any) -> dict[str, Any]:
    """What the server answers the dashboard's `view` over the default range (7 days)."""
    with YavioClient(server.url, server.token) as client:
        return getattr(client, view)((project or server.project)["id"],
                                     **Filters(**filters).query(NOW))


def column(table: FilteredTable, name: str) -> list[str]:
    return [str(cell) for cell in table.get_column(name)]


def tree_text(tree: Tree) -> str:
    """Every label of `tree`, a line each."""
    lines, nodes = [], [tree.root]
    while nodes:
        node = nodes.pop(0)
        lines.append(str(node.label))
        nodes.extend(node.children)
    return "\n".join(lines)


async def open_view(pilot: Pilot, key: str) -> None:
    await pilot.press(key)
    await loaded(pilot)


@pytest.fixture(scope="module")
def calm_project(dashboard_server: DashboardServer) -> dict[str, Any]:
    """A project of three successful calls in the week, none with an intent (capture off)."""
    workspace = uuid.UUID(dashboard_server.workspace["id"])
    project = dashboard_server.postgres.projects.create(workspace, "Calm hotel", "calm-hotel")
    calls = []
    for number in range(3):
        when = NOW - timedelta(days=2, hours=number)
        event, issues = validate_obj({
            "event_type": "tool_call", "event_id": str(uuid.UUID(int=1000 + number)),
            "trace_id": f"tr_calm_{number}", "session_id": "ses_calm", "source": "server",
            "timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "platform": "claude",
            "event_name": "search_rooms", "latency_ms": 80.0, "status": "success"})
        assert not issues
        calls.append(event)
    store_events(dashboard_server.clickhouse, workspace, project.id, calls)
    return {"id": str(project.id), "slug": "calm-hotel"}


# -- Errors ------------------------------------------------------------------------------------


async def test_the_errors_view_shows_the_weeks_failures_as_the_server_counts_them(
        dashboard_server: DashboardServer) -> None:
    expected = api(dashboard_server, "errors")
    assert expected["errors"] > 0 and expected["previous"]["invocations"] > 0
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "8")
        assert app.view.title == "Errors"
        summary = text(app, "#errors-summary")
        assert summary.startswith(f"{count(expected['errors'])} of "
                                  f"{count(expected['invocations'])} tool calls failed: "
                                  f"{percent(expected['errorRate'])}")
        assert "vs prev." in summary or "= prev." in summary
        assert app.query_one("#errors-by-category", Bars).rows == [
            (category["category"], category["errors"],
             f"{count(category['errors'])} · "
             f"{percent(category['errors'] / expected['errors'])}")
            for category in expected["byCategory"]]
        assert [name for name, _, _ in app.query_one("#errors-by-tool", Bars).rows] == \
            [tool["name"] for tool in expected["byTool"]]
        table = app.query_one("#errors-table", FilteredTable)
        assert column(table, "trace") == [error["traceId"] for error in expected["recent"]]
        assert column(table, "category") == [error["category"] for error in expected["recent"]]
        assert app.focused is table
        first = expected["recent"][0]
        assert first["traceId"] in text(app, "#errors-detail")


async def test_enter_on_a_failure_opens_its_trace_and_escape_comes_back_to_the_same_row(
        dashboard_server: DashboardServer) -> None:
    recent = api(dashboard_server, "errors")["recent"]
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "8")
        await pilot.press("down", "down", "enter")
        await loaded(pilot)
        screen = app.screen
        assert isinstance(screen, TraceScreen) and screen.trace_id == recent[2]["traceId"]
        assert f"trace {recent[2]['traceId']}" in tree_text(screen.query_one(Tree))
        assert f"{recent[2]['category']}: " in tree_text(screen.query_one(Tree))
        await pilot.press("escape")
        await pilot.pause()
        table = app.query_one("#errors-table", FilteredTable)
        assert not isinstance(app.screen, TraceScreen)
        assert table.highlighted_key == recent[2]["eventId"]


async def test_slash_narrows_the_latest_failures_and_an_empty_filter_brings_them_back(
        dashboard_server: DashboardServer) -> None:
    recent = api(dashboard_server, "errors")["recent"]
    timeouts = [error["traceId"] for error in recent if error["category"] == "timeout"]
    assert 0 < len(timeouts) < len(recent)
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "8")
        table = app.query_one("#errors-table", FilteredTable)
        await pilot.press("slash", *"TimeOut", "enter")
        await pilot.pause()
        assert column(table, "trace") == timeouts
        assert f"{len(timeouts)} of {len(recent)}" in str(
            app.query_one("#errors-latest").border_title)
        await pilot.press("slash", *"no such failure", "enter")
        await pilot.pause()
        assert table.row_count == 0
        assert "No failure matches" in text(app, "#errors-detail")
        await pilot.press("slash", "enter")
        await pilot.pause()
        assert column(table, "trace") == [error["traceId"] for error in recent]


async def test_a_reload_keeps_the_highlighted_failure(
        dashboard_server: DashboardServer) -> None:
    recent = api(dashboard_server, "errors")["recent"]
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "8")
        await pilot.press("down", "down", "down")
        await pilot.press("r")
        await loaded(pilot)
        table = app.query_one("#errors-table", FilteredTable)
        assert table.cursor_row == 3 and table.highlighted_key == recent[3]["eventId"]


async def test_a_range_without_failures_says_so_instead_of_empty_charts(
        dashboard_server: DashboardServer, calm_project: dict[str, Any]) -> None:
    assert api(dashboard_server, "errors", calm_project)["invocations"] == 3
    app = dashboard(dashboard_server, project=calm_project)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_view(pilot, "8")
        assert text(app, "#errors-summary") == "No tool call failed in this range (3 calls)."
        assert not app.query_one("#errors-chart").display
        assert not app.query_one("#errors-latest").display


# -- Intents -----------------------------------------------------------------------------------


async def test_the_intents_view_shows_coverage_per_tool_and_the_latest_intents(
        dashboard_server: DashboardServer) -> None:
    expected = api(dashboard_server, "intents")
    assert 0 < expected["withIntent"] < expected["invocations"]
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "9")
        assert app.view.title == "Intents"
        assert text(app, "#intents-summary") == (
            f"{count(expected['withIntent'])} of {count(expected['invocations'])} tool calls "
            f"came with an intent ({percent(expected['coverage'])}).")
        assert not app.query_one("#intents-how-to").display
        assert app.query_one("#intents-by-tool", Bars).rows == [
            (tool["name"], tool["coverage"],
             f"{percent(tool['coverage'])} of {count(tool['invocations'])}")
            for tool in expected["byTool"]]
        table = app.query_one("#intents-table", FilteredTable)
        assert column(table, "intent") == [intent["intent"] for intent in expected["latest"]]
        assert column(table, "tool") == [intent["tool"] for intent in expected["latest"]]
        assert expected["latest"][0]["intent"] in text(app, "#intents-detail")


async def test_slash_searches_the_intents_text_and_enter_opens_the_intents_trace(
        dashboard_server: DashboardServer) -> None:
    latest = api(dashboard_server, "intents")["latest"]
    parking = [intent for intent in latest if "parking" in intent["intent"]]
    assert 1 < len(parking) < len(latest)
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "9")
        table = app.query_one("#intents-table", FilteredTable)
        # a tool's name is not an intent's text: searching it finds nothing
        await pilot.press("slash", *"search_rooms", "enter")
        await pilot.pause()
        assert table.row_count == 0
        await pilot.press("slash", *"PARKING", "enter")
        await pilot.pause()
        assert column(table, "intent") == [intent["intent"] for intent in parking]
        await pilot.press("down", "enter")
        await loaded(pilot)
        assert isinstance(app.screen, TraceScreen)
        assert app.screen.trace_id == parking[1]["traceId"]
        await pilot.press("escape")
        await pilot.pause()
        assert app.view.title == "Intents" and table.row_count == len(parking)


async def test_without_any_intent_the_view_shows_the_lines_that_turn_capture_on(
        dashboard_server: DashboardServer, calm_project: dict[str, Any]) -> None:
    assert api(dashboard_server, "intents", calm_project)["withIntent"] == 0
    app = dashboard(dashboard_server, project=calm_project)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_view(pilot, "9")
        assert text(app, "#intents-summary") == \
            "None of the 3 tool calls in this range came with an intent."
        how_to = text(app, "#intents-how-to")
        assert "server = with_yavio(server, intent=True)" in how_to
        assert "YAVIO_INTENT=true" in how_to and '"intent": true' in how_to
        assert not app.query_one("#intents-latest").display


def test_the_lines_shown_to_turn_intent_capture_on_do_turn_it_on(tmp_path) -> None:
    assert not resolve_config(cwd=tmp_path, environ={}).intent
    assert resolve_config(cwd=tmp_path, environ={}, intent=True).intent
    assert resolve_config(cwd=tmp_path, environ={"YAVIO_INTENT": "true"}).intent
    (tmp_path / ".yaviorc.json").write_text('{"intent": true}')
    assert resolve_config(cwd=tmp_path, environ={}).intent


# -- Snapshots ---------------------------------------------------------------------------------


def opening(key: str):
    async def run_before(pilot: Pilot) -> None:
        await open_view(pilot, key)
    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_errors_snapshot(snap_compare, dashboard_server: DashboardServer, size: str) -> None:
    assert snap_compare(dashboard(dashboard_server), terminal_size=SIZES[size],
                        run_before=opening("8"))


@pytest.mark.parametrize("size", SIZES)
def test_errors_without_failures_snapshot(snap_compare, dashboard_server: DashboardServer,
                                          calm_project: dict[str, Any], size: str) -> None:
    assert snap_compare(dashboard(dashboard_server, project=calm_project),
                        terminal_size=SIZES[size], run_before=opening("8"))


@pytest.mark.parametrize("size", SIZES)
def test_intents_snapshot(snap_compare, dashboard_server: DashboardServer, size: str) -> None:
    assert snap_compare(dashboard(dashboard_server), terminal_size=SIZES[size],
                        run_before=opening("9"))


@pytest.mark.parametrize("size", SIZES)
def test_intents_how_to_snapshot(snap_compare, dashboard_server: DashboardServer,
                                 calm_project: dict[str, Any], size: str) -> None:
    assert snap_compare(dashboard(dashboard_server, project=calm_project),
                        terminal_size=SIZES[size], run_before=opening("9"))
