"""The Tools view and the tool detail screen as a person drives them, against the real server
serving the fixed week: the table's figures, its order and filter, the never-called tools, the
drill-in to one tool and from its latest calls to their traces; and what they look like."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from tests.cli.tui.conftest import SIZES, DashboardServer, dashboard, loaded
from tests.cli.tui.seed import NOW
from yavio_cli.client import YavioClient
from yavio_cli.tui.bars import Bars
from yavio_cli.tui.filters import Filters
from yavio_cli.tui.format import count, duration, percent
from yavio_cli.tui.tool_screen import ToolScreen
from yavio_cli.tui.trace_screen import TraceScreen
from yavio_cli.tui.views.tools import EMPTY

# A week before the seeded traffic: the tools are registered, none is called.
QUIET_WEEK = Filters().custom(datetime(2030, 1, 1, tzinfo=timezone.utc),
                              datetime(2030, 1, 8, tzinfo=timezone.utc))


def api(server: DashboardServer, method: str, *args: Any,
        filters: Filters | None = None) -> dict[str, Any]:
    """What the server answers the view (`tools`) or the detail screen (`tool`)."""
    with YavioClient(server.url, server.token) as client:
        return getattr(client, method)(server.project["id"], *args,
                                       **(filters or Filters()).query(NOW))


def text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def rows(screen, selector: str) -> list[list[str]]:
    table = screen.query_one(selector, DataTable)
    return [[str(cell) for cell in table.get_row_at(row)] for row in range(table.row_count)]


def names(app) -> list[str]:
    return [row[0] for row in rows(app, "#tools-table")]


async def open_tools(pilot: Pilot) -> None:
    await loaded(pilot)
    await pilot.press("2")
    await loaded(pilot)


async def open_search_rooms(pilot: Pilot) -> None:
    """The Tools view, then Enter on its first row (the busiest tool, search_rooms)."""
    await open_tools(pilot)
    await pilot.press("enter")
    await loaded(pilot)


async def test_the_tools_table_shows_every_tool_as_the_server_computes_it(
        dashboard_server: DashboardServer) -> None:
    expected = api(dashboard_server, "tools")
    assert [tool["name"] for tool in expected["neverCalled"]] == ["cancel_booking"]
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_tools(pilot)
        assert app.view.title == "Tools"
        assert rows(app, "#tools-table") == [
            [tool["name"], count(tool["invocations"]), percent(tool["successRate"]),
             percent(tool["errorRate"]), duration(tool["p50LatencyMs"]),
             duration(tool["p95LatencyMs"]),
             f"{tool['lastSeen'][5:10]} {tool['lastSeen'][11:16]}"]  # 03-07 14:22
            for tool in expected["tools"]
        ] + [["cancel_booking", "0", "—", "—", "—", "—", "never called"]]
        never_called = app.query_one("#tools-table", DataTable).get_row_at(3)[0]
        assert never_called.style == "dim"
        assert text(app, "#tools-summary") == "3 tools called · 1 registered, never called"


async def test_s_cycles_the_sort_column_and_shift_s_turns_the_order_round(
        dashboard_server: DashboardServer) -> None:
    called = api(dashboard_server, "tools")["tools"]
    slowest_first = [tool["name"] for tool in
                     sorted(called, key=lambda tool: tool["p95LatencyMs"], reverse=True)]
    # the seed's latencies: booking is the slowest, checking a room the fastest
    assert slowest_first == ["book_room", "search_rooms", "check_availability"]
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_tools(pilot)
        table = app.query_one("#tools-table", DataTable)
        assert names(app)[:3] == [tool["name"] for tool in called]  # most called first
        await pilot.press(*"ssss")  # from calls to success, error rate, p50, then p95
        assert str(table.ordered_columns[5].label) == "p95 ▼"
        assert names(app) == [*slowest_first, "cancel_booking"]
        # the cursor stayed on the tool it was on (the first row before)
        assert names(app)[table.cursor_row] == called[0]["name"]
        await pilot.press("S")
        assert str(table.ordered_columns[5].label) == "p95 ▲"
        # a tool never called has no latency: it stays below either way
        assert names(app) == [*reversed(slowest_first), "cancel_booking"]
        await pilot.press("s")
        assert str(table.ordered_columns[6].label) == "Last seen ▼"
        last_seen = sorted(called, key=lambda tool: tool["lastSeen"], reverse=True)
        assert names(app) == [*(tool["name"] for tool in last_seen), "cancel_booking"]
        await pilot.press("s")  # around to the tool's name, A to Z
        assert str(table.ordered_columns[0].label) == "Tool ▲"
        assert names(app) == sorted(names(app))


async def test_slash_narrows_the_tools_to_those_whose_name_matches(
        dashboard_server: DashboardServer) -> None:
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_tools(pilot)
        await pilot.press("slash", *"ROOM", "enter")
        assert names(app) == ["search_rooms", "book_room"]
        assert "2 of 4 match “ROOM”" in text(app, "#tools-summary")
        await pilot.press("r")  # a reload keeps the filter
        await loaded(pilot)
        assert names(app) == ["search_rooms", "book_room"]
        await pilot.press("slash", *"zzz", "enter")
        assert names(app) == []
        assert "none matches “zzz”" in text(app, "#tools-summary")
        await pilot.press("slash", "enter")
        assert len(names(app)) == 4


async def test_a_range_without_calls_lists_the_registered_tools_as_never_called(
        dashboard_server: DashboardServer) -> None:
    app = dashboard(dashboard_server, filters=QUIET_WEEK)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_tools(pilot)
        assert rows(app, "#tools-table") == [
            [name, "0", "—", "—", "—", "—", "never called"]
            for name in ("book_room", "cancel_booking", "check_availability", "search_rooms")]
        assert text(app, "#tools-summary").startswith("No calls in this range; `t` shows")
        await pilot.press("enter")
        await loaded(pilot)
        screen = app.screen
        assert isinstance(screen, ToolScreen) and screen.tool_name == "book_room"
        assert text(screen, "#tool-figures").startswith("No calls in this range")
        assert not screen.query_one("#tool-charts").display
        assert screen.query_one("#tool-recent", DataTable).row_count == 0
        assert text(screen, "#tool-schema").startswith("city string")


async def test_a_project_without_tools_says_how_to_get_them(
        dashboard_server: DashboardServer) -> None:
    app = dashboard(dashboard_server, project=dashboard_server.empty_project)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tools(pilot)
        assert text(app, "#tools-summary") == EMPTY
        assert not app.query_one("#tools-table").display


async def test_enter_opens_the_tool_with_the_servers_figures_and_esc_comes_back(
        dashboard_server: DashboardServer) -> None:
    tool = api(dashboard_server, "tool", "search_rooms")
    assert tool["errorCategories"] and len(tool["recent"]) == 20
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_search_rooms(pilot)
        screen = app.screen
        assert isinstance(screen, ToolScreen)
        assert text(screen, "#tool-name") == "Tool search_rooms · Search free rooms in a city"
        assert text(screen, "#tool-range") == "Last 7 days · all platforms"
        assert text(screen, "#tool-figures") == (
            f"{count(tool['invocations'])} calls · {count(tool['errors'])} errors "
            f"({percent(tool['errorRate'])}) · p50 {duration(tool['p50LatencyMs'])} · "
            f"p95 {duration(tool['p95LatencyMs'])} · p99 {duration(tool['p99LatencyMs'])}")
        assert [(label, value) for label, value, _ in screen.query_one(Bars).rows] == \
            [(category["category"], category["errors"]) for category in tool["errorCategories"]]
        recent = rows(screen, "#tool-recent")
        assert len(recent) == 20
        first = tool["recent"][0]
        assert recent[0][:5] == [f"{first['timestamp'][5:10]} {first['timestamp'][11:19]}",
                                 "ok" if first["status"] == "success" else
                                 first["errorCategory"],
                                 duration(first["latencyMs"]), first["platform"],
                                 first["userId"] or "anonymous"]
        # a search's trace goes on with the server's step
        assert recent[0][5].startswith("rooms_found")
        assert text(screen, "#tool-schema") == "city string"
        await pilot.press("escape")
        assert not isinstance(app.screen, ToolScreen) and app.view.title == "Tools"


async def test_enter_on_a_latest_call_opens_its_trace(
        dashboard_server: DashboardServer) -> None:
    second = api(dashboard_server, "tool", "search_rooms")["recent"][1]
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_search_rooms(pilot)
        await pilot.press("down", "enter")
        await loaded(pilot)
        trace = app.screen
        assert isinstance(trace, TraceScreen) and trace.trace_id == second["traceId"]
        await pilot.press("escape")
        assert isinstance(app.screen, ToolScreen)
        await pilot.press("escape")
        assert app.view.title == "Tools"


async def test_t_on_a_tool_moves_the_range_and_reloads_the_tool(
        dashboard_server: DashboardServer) -> None:
    month = api(dashboard_server, "tool", "search_rooms", filters=Filters(preset="30d"))
    week = api(dashboard_server, "tool", "search_rooms")
    assert month["invocations"] > week["invocations"]
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_search_rooms(pilot)
        await pilot.press("t")
        await loaded(pilot)
        screen = app.screen
        assert isinstance(screen, ToolScreen)
        assert text(screen, "#tool-range") == "Last 30 days · all platforms"
        assert text(screen, "#tool-figures").startswith(f"{count(month['invocations'])} calls")


async def test_a_tool_the_project_does_not_know_says_so(
        dashboard_server: DashboardServer) -> None:
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await app.push_screen(ToolScreen("no_such_tool"))
        await loaded(pilot)
        assert text(app.screen, "#tool-figures") == \
            "No tool called 'no_such_tool' in this project."


@pytest.mark.parametrize("size", SIZES)
def test_tools_view(snap_compare, dashboard_server: DashboardServer, size: str) -> None:
    assert snap_compare(dashboard(dashboard_server), terminal_size=SIZES[size],
                        run_before=open_tools)


@pytest.mark.parametrize("size", SIZES)
def test_tools_view_of_a_range_without_calls(snap_compare, dashboard_server: DashboardServer,
                                             size: str) -> None:
    assert snap_compare(dashboard(dashboard_server, filters=QUIET_WEEK),
                        terminal_size=SIZES[size], run_before=open_tools)


@pytest.mark.parametrize("size", SIZES)
def test_tool_detail(snap_compare, dashboard_server: DashboardServer, size: str) -> None:
    assert snap_compare(dashboard(dashboard_server), terminal_size=SIZES[size],
                        run_before=open_search_rooms)
