"""The Sessions and Users views, a user's timeline and an anonymous session's traces, as a person
drives them against the real server serving the fixed week: the figures the server computes
on the screen, `/` on the lists, Enter into a user, a session, a trace and Esc back; and
what each screen looks like at 80×24 and 120×40."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from tests.cli.tui.conftest import SIZES, DashboardServer, dashboard, loaded
from tests.cli.tui.seed import NOW
from yavio_cli.client import YavioClient
from yavio_cli.tui.filters import Filters
from yavio_cli.tui.format import count, duration
from yavio_cli.tui.session_screen import SessionScreen
from yavio_cli.tui.trace_screen import TraceScreen
from yavio_cli.tui.user_screen import UserScreen


def api(server: DashboardServer, method: str, *args: Any, preset: str = "7d",
        project: dict[str, Any] | None = None, **options: Any) -> dict[str, Any]:
    """What the server answers the dashboard's client for the range `preset` ending at NOW."""
    with YavioClient(server.url, server.token) as client:
        return getattr(client, method)((project or server.project)["id"], *args,
                                       **options, **Filters(preset=preset).query(NOW))


def text(screen, selector: str) -> str:
    """A Static's words as the screen shows them, at the widget's width."""
    widget = screen.query_one(selector, Static)
    console = Console(width=widget.content_region.width, color_system=None)
    with console.capture() as capture:
        console.print(widget.content)
    return capture.get().rstrip("\n")


def keys(screen, selector: str) -> list[str]:
    """The keys of a table's rows, top to bottom."""
    return [key.value for key in screen.query_one(selector, DataTable).rows]


async def open_view(pilot: Pilot, key: str) -> None:
    await loaded(pilot)
    await pilot.press(key)
    await loaded(pilot)


async def highlight(pilot: Pilot, selector: str, row_key: str) -> None:
    table = pilot.app.screen.query_one(selector, DataTable)
    table.move_cursor(row=table.get_row_index(row_key), animate=False)
    await pilot.pause()


async def open_an_anonymous_session(pilot: Pilot) -> None:
    """The sessions view, Enter on the anonymous session with the most tool calls."""
    await open_view(pilot, "4")
    view = pilot.app.query_one("#sessions")
    anonymous = max((session for session in view.listed.values() if not session["userId"]),
                    key=lambda session: session["toolCalls"])["sessionId"]
    await highlight(pilot, "#sessions-table", anonymous)
    await pilot.press("enter")
    await loaded(pilot)


async def open_the_top_user(pilot: Pilot) -> None:
    await open_view(pilot, "5")
    await pilot.press("enter")
    await loaded(pilot)


# -- Sessions ---------------------------------------------------------------------------------

async def test_the_sessions_view_shows_the_weeks_sessions_as_the_server_counts_them(
        dashboard_server: DashboardServer) -> None:
    expected = api(dashboard_server, "sessions", limit=50)
    kpis = expected["kpis"]
    assert kpis["sessions"]["value"] > kpis["sessions"]["previous"] > 0
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "4")
        figures = text(app, "#sessions-kpis").splitlines()
        assert figures[0].split()[:2] == ["Sessions", count(kpis["sessions"]["value"])]
        assert "▲" in figures[0]  # a busier week than the one before
        assert figures[1].split()[:2] == ["Identified",
                                          count(kpis["identifiedSessions"]["value"])]
        assert figures[2].split()[:2] == ["Anonymous", count(kpis["anonymousSessions"]["value"])]
        assert duration(kpis["avgDurationMs"]["value"]) in figures[3]
        assert f"{kpis['avgToolCalls']['value']:.1f}" in figures[4]
        assert keys(app, "#sessions-table") == [session["sessionId"]
                                                for session in expected["sessions"]]
        newest = expected["sessions"][0]
        row = [str(cell) for cell in app.query_one("#sessions-table", DataTable).get_row_at(0)]
        assert row == [f"{newest['startedAt'][5:10]} {newest['startedAt'][11:16]}",
                       newest["userId"] or "—", newest["platform"],
                       duration(newest["durationMs"]), str(newest["toolCalls"]),
                       str(newest["errors"]), str(newest["conversions"])]


async def test_slash_narrows_the_latest_sessions_and_an_empty_filter_brings_them_back(
        dashboard_server: DashboardServer) -> None:
    listed = api(dashboard_server, "sessions", limit=50)["sessions"]
    on_claude = [session["sessionId"] for session in listed if session["platform"] == "claude"]
    assert 0 < len(on_claude) < len(listed)
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "4")
        await pilot.press("slash", *"claude", "enter")
        assert keys(app, "#sessions-table") == on_claude
        assert f"{len(on_claude)} of {len(listed)}" in app.query_one(
            "#sessions-latest").border_title
        await pilot.press("slash", "enter")
        assert len(keys(app, "#sessions-table")) == len(listed)


async def test_enter_on_an_identified_session_opens_its_users_timeline(
        dashboard_server: DashboardServer) -> None:
    listed = api(dashboard_server, "sessions", limit=50)["sessions"]
    session = next(session for session in listed if session["userId"])
    timeline = api(dashboard_server, "user", session["userId"])
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "4")
        await highlight(pilot, "#sessions-table", session["sessionId"])
        await pilot.press("enter")
        await loaded(pilot)
        screen = app.screen
        assert isinstance(screen, UserScreen) and screen.user_id == session["userId"]
        assert session["sessionId"] in keys(screen, "#user-sessions")
        assert keys(screen, "#user-events") == [event["eventId"]
                                                for event in timeline["events"]]
        await pilot.press("escape")
        assert not isinstance(app.screen, UserScreen)
        assert app.view.title == "Sessions"


async def test_enter_on_an_anonymous_session_lists_its_traces_each_opening_as_a_tree(
        dashboard_server: DashboardServer) -> None:
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_an_anonymous_session(pilot)
        screen = app.screen
        assert isinstance(screen, SessionScreen) and screen.session["userId"] is None
        expected = api(dashboard_server, "traces", session=screen.session["sessionId"],
                       limit=200)["traces"]
        assert expected
        assert keys(screen, "#session-traces") == [trace["traceId"] for trace in expected]
        assert "anonymous" in text(screen, "#session-title")
        await pilot.press("enter")
        assert isinstance(app.screen, TraceScreen)
        assert app.screen.trace_id == expected[0]["traceId"]
        await pilot.press("escape", "escape")
        assert app.view.title == "Sessions" and app.screen is app.screen_stack[0]


async def test_a_project_without_sessions_says_how_to_record_them(
        dashboard_server: DashboardServer) -> None:
    app = dashboard(dashboard_server, project=dashboard_server.empty_project)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "4")
        assert text(app, "#sessions-empty").startswith("No sessions in this range")
        assert app.query_one("#sessions-empty").display
        assert not app.query_one("#sessions-latest").display


# -- Users ------------------------------------------------------------------------------------

async def test_the_users_view_shows_active_and_top_users_as_the_server_counts_them(
        dashboard_server: DashboardServer) -> None:
    expected = api(dashboard_server, "users")
    active = expected["activeUsers"]
    assert 0 < active["dau"] < active["wau"] and expected["users"]
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "5")
        summary = text(app, "#users-summary")
        assert (f"Active users: {active['dau']} in the last day · {active['wau']} in 7 days · "
                f"{active['mau']} in 30 days") in summary
        assert f"{expected['anonymousSessions']} anonymous sessions" in summary
        assert keys(app, "#top-users") == [user["userId"] for user in expected["users"]]
        top = [str(cell) for cell in app.query_one("#top-users", DataTable).get_row_at(0)]
        first = expected["users"][0]
        assert top[:5] == [first["userId"], str(first["events"]), str(first["sessions"]),
                           str(first["toolCalls"]), str(first["conversions"])]
        # every user of the fixed week was first seen before it: no cohort to follow
        assert expected["retention"]["cohorts"] == []
        assert text(app, "#retention").startswith("No user was first seen in this range")


async def test_a_month_shows_each_cohorts_retention_as_shares_of_its_users(
        dashboard_server: DashboardServer) -> None:
    retention = api(dashboard_server, "users", preset="30d")["retention"]
    cohorts = retention["cohorts"]
    assert retention["period"] == "day" and len(cohorts) > 1
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "5")
        await pilot.press("t")
        await loaded(pilot)
        lines = text(app, "#retention").splitlines()
        assert lines[0].split()[:4] == ["First", "day", "Users", "d0"]
        for cohort, line in zip(cohorts, lines[1:], strict=True):
            shares = [f"{returned / cohort['users'] * 100:.0f}%"
                      for returned in cohort["returned"]]
            assert line.split() == [cohort["cohort"][5:10], str(cohort["users"]), *shares]


async def test_slash_narrows_the_top_users(dashboard_server: DashboardServer) -> None:
    users = [user["userId"] for user in api(dashboard_server, "users")["users"]]
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "5")
        await pilot.press("slash", *users[1], "enter")
        assert keys(app, "#top-users") == [users[1]]
        assert "1 of" in app.query_one("#top-users-panel").border_title


async def test_enter_on_a_user_opens_their_timeline_and_enter_on_an_event_its_trace(
        dashboard_server: DashboardServer) -> None:
    top = api(dashboard_server, "users")["users"][0]["userId"]
    timeline = api(dashboard_server, "user", top)
    totals = timeline["totals"]
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_the_top_user(pilot)
        screen = app.screen
        assert isinstance(screen, UserScreen) and screen.user_id == top
        assert (f"In this range: events {totals['events']} · sessions {totals['sessions']} · "
                f"tool calls {totals['toolCalls']}") in text(screen, "#user-totals")
        assert (f"seen {timeline['firstSeen'][:10]} → {timeline['lastSeen'][:10]}"
                in text(screen, "#user-name"))
        assert keys(screen, "#user-sessions") == [session["sessionId"]
                                                  for session in timeline["sessions"]]
        events = timeline["events"]
        assert keys(screen, "#user-events") == [event["eventId"] for event in events]
        assert events[0]["timestamp"] >= events[-1]["timestamp"]  # newest first
        await pilot.press("down", "enter")
        assert isinstance(app.screen, TraceScreen)
        assert app.screen.trace_id == events[1]["traceId"]
        await pilot.press("escape")
        assert app.screen is screen
        await pilot.press("escape")
        assert app.screen is app.screen_stack[0] and app.view.title == "Users"


async def test_a_users_session_opens_its_traces(dashboard_server: DashboardServer) -> None:
    top = api(dashboard_server, "users")["users"][0]["userId"]
    session = api(dashboard_server, "user", top)["sessions"][0]
    traces = api(dashboard_server, "traces", session=session["sessionId"])["traces"]
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_the_top_user(pilot)
        app.screen.query_one("#user-sessions", DataTable).focus()
        await pilot.press("enter")
        await loaded(pilot)
        assert isinstance(app.screen, SessionScreen)
        assert keys(app.screen, "#session-traces") == [trace["traceId"] for trace in traces]


async def test_moving_down_the_top_users_brings_them_into_view_on_a_small_terminal(
        dashboard_server: DashboardServer) -> None:
    app = dashboard(dashboard_server)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_view(pilot, "5")
        page = app.query_one("#users-page")
        table = app.query_one("#top-users", DataTable)
        assert page.scroll_y == 0  # opens on the charts
        # another range ranks the users anew: the cursor follows its user down the list,
        # and the page stays where it was
        await pilot.press("t")
        await loaded(pilot)
        assert table.cursor_row > 0
        assert page.scroll_y == 0
        await pilot.press("down")
        await pilot.pause()
        assert page.scroll_y > 0
        assert table.region.bottom <= page.region.bottom  # the whole table is in view


async def test_a_filter_shows_the_users_it_kept_on_a_small_terminal(
        dashboard_server: DashboardServer) -> None:
    app = dashboard(dashboard_server)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_view(pilot, "5")
        page = app.query_one("#users-page")
        await pilot.press("slash", *"user_0", "enter")
        await pilot.pause()
        table = app.query_one("#top-users", DataTable)
        assert table.row_count and all(key.startswith("user_0") for key in keys(app, "#top-users"))
        assert page.scroll_y > 0
        assert table.region.bottom <= page.region.bottom


async def test_a_project_without_users_says_how_to_name_them(
        dashboard_server: DashboardServer) -> None:
    app = dashboard(dashboard_server, project=dashboard_server.empty_project)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "5")
        assert text(app, "#users-summary").startswith("No users in this range")
        assert not app.query_one("#top-users-panel").display


# -- what a person sees -----------------------------------------------------------------------

async def settled(pilot: Pilot) -> None:
    """The loads landed and the charts are drawn at their final size."""
    await loaded(pilot)
    for chart in pilot.app.screen.query(PlotextPlot):
        chart.refresh()
    await pilot.pause()


def pressing(*keys: str):
    """Press `keys` one by one, each once the loads before it have landed (a load for a
    range replaced since may land or not: the screen would differ from run to run)."""
    async def run_before(pilot: Pilot) -> None:
        for key in keys:
            await loaded(pilot)
            await pilot.press(key)
        await settled(pilot)
    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_sessions_snapshot(snap_compare, dashboard_server: DashboardServer, size: str) -> None:
    assert snap_compare(dashboard(dashboard_server), terminal_size=SIZES[size],
                        run_before=pressing("4"))


@pytest.mark.parametrize("size", SIZES)
def test_sessions_of_an_empty_project_snapshot(snap_compare, dashboard_server: DashboardServer,
                                               size: str) -> None:
    assert snap_compare(dashboard(dashboard_server, project=dashboard_server.empty_project),
                        terminal_size=SIZES[size], run_before=pressing("4"))


@pytest.mark.parametrize("size", SIZES)
def test_anonymous_session_snapshot(snap_compare, dashboard_server: DashboardServer,
                                    size: str) -> None:
    async def run_before(pilot: Pilot) -> None:
        await open_an_anonymous_session(pilot)
        await settled(pilot)

    assert snap_compare(dashboard(dashboard_server), terminal_size=SIZES[size],
                        run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_users_snapshot(snap_compare, dashboard_server: DashboardServer, size: str) -> None:
    assert snap_compare(dashboard(dashboard_server), terminal_size=SIZES[size],
                        run_before=pressing("5"))


@pytest.mark.parametrize("size", SIZES)
def test_users_over_a_month_snapshot(snap_compare, dashboard_server: DashboardServer,
                                     size: str) -> None:
    assert snap_compare(dashboard(dashboard_server), terminal_size=SIZES[size],
                        run_before=pressing("5", "t"))


@pytest.mark.parametrize("size", SIZES)
def test_users_of_an_empty_project_snapshot(snap_compare, dashboard_server: DashboardServer,
                                            size: str) -> None:
    assert snap_compare(dashboard(dashboard_server, project=dashboard_server.empty_project),
                        terminal_size=SIZES[size], run_before=pressing("5"))


@pytest.mark.parametrize("size", SIZES)
def test_user_timeline_snapshot(snap_compare, dashboard_server: DashboardServer,
                                size: str) -> None:
    async def run_before(pilot: Pilot) -> None:
        await open_the_top_user(pilot)
        await settled(pilot)

    assert snap_compare(dashboard(dashboard_server), terminal_size=SIZES[size],
                        run_before=run_before)



