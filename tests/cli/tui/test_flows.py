"""The Funnels and Paths views as a person drives them, against the real server serving the fixed
week: the funnel's figures and the transitions as the server computes them, building a funnel
with keys, counting by trace or session and per platform, the dropped traces, the filter, and
what each screen looks like at 80×24 and 120×40."""

from __future__ import annotations

from typing import Any

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from tests.cli.tui.conftest import SIZES, DashboardServer, dashboard, loaded
from tests.cli.tui.seed import NOW
from yavio_cli.client import YavioClient
from yavio_cli.tui.dropped_screen import DroppedScreen
from yavio_cli.tui.filters import Filters
from yavio_cli.tui.format import count, percent
from yavio_cli.tui.step_picker import StepPicker
from yavio_cli.tui.trace_screen import TraceScreen
from yavio_cli.tui.views.funnels import EMPTY as NO_FUNNEL
from yavio_cli.tui.views.paths import EMPTY as NO_PATHS

DEFAULT_STEPS = ("tool_call:search_rooms", "step:rooms_found", "conversion:booking_completed")


def api_funnel(server: DashboardServer, steps: tuple[str, ...], **options: Any) -> dict:
    with YavioClient(server.url, server.token) as client:
        return client.funnel(server.project["id"], steps, **options,
                             **Filters().query(NOW))


def api_paths(server: DashboardServer) -> dict:
    with YavioClient(server.url, server.token) as client:
        return client.paths(server.project["id"], limit=100, **Filters().query(NOW))


def text(app, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


def rows(table: DataTable) -> list[list[str]]:
    """The table's cells as a person reads them (markup rendered)."""
    return [[(Text.from_markup(cell) if isinstance(cell, str) else cell).plain.strip()
             for cell in table.get_row_at(index)] for index in range(table.row_count)]


async def open_view(pilot: Pilot, key: str) -> None:
    await loaded(pilot)
    await pilot.press(key)
    await loaded(pilot)


async def press_and_load(pilot: Pilot, *keys: str) -> None:
    await pilot.press(*keys)
    await loaded(pilot)


def assert_steps_shown(app, expected: dict) -> None:
    """The steps table says what the server's funnel answer says, step by step."""
    shown = rows(app.query_one("#funnel-steps", DataTable))
    assert [row[1] for row in shown] == [step["spec"] for step in expected["steps"]]
    for number, (row, step) in enumerate(zip(shown, expected["steps"]), 1):
        assert row[2].split()[-1] == count(step["entered"]), row
        assert row[3] == percent(step["conversionFromPrevious"])
        assert row[4] == percent(step["conversionFromStart"])
        assert row[5] == (count(step["droppedHere"]) if number > 1 else "")


# -- Funnels -----------------------------------------------------------------------------------


async def test_the_funnel_opens_on_the_busiest_tool_its_step_and_its_conversion_by_session(
        dashboard_server: DashboardServer) -> None:
    expected = api_funnel(dashboard_server, DEFAULT_STEPS, by="session")
    assert 0 < expected["overallConversion"] < 1
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "6")
        assert_steps_shown(app, expected)
        summary = text(app, "#funnel-summary")
        assert summary.startswith("By session, within 1 h: "
                                  f"{count(expected['steps'][0]['entered'])} sessions entered")
        assert f"({percent(expected['overallConversion'])}) completed all 3 steps" in summary


async def test_s_counts_by_trace_and_w_widens_the_window(
        dashboard_server: DashboardServer) -> None:
    by_trace = api_funnel(dashboard_server, DEFAULT_STEPS, by="trace")
    # each tool call is a trace of its own: no search's trace holds the booking
    assert by_trace["steps"][2]["entered"] == 0
    a_day = api_funnel(dashboard_server, DEFAULT_STEPS, by="trace", window=86_400)
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "6")
        await press_and_load(pilot, "s")
        assert_steps_shown(app, by_trace)
        assert text(app, "#funnel-summary").startswith("By trace, within 1 h: ")
        await press_and_load(pilot, "W")
        assert_steps_shown(app, a_day)
        assert text(app, "#funnel-summary").startswith("By trace, within 1 day: ")


async def test_the_entries_per_platform_show_until_p_hides_them(
        dashboard_server: DashboardServer) -> None:
    expected = api_funnel(dashboard_server, DEFAULT_STEPS, by="session", split="platform")
    per_platform = [[platform["platform"], *(count(entry) for entry in platform["steps"]),
                     percent(platform["steps"][-1] / platform["steps"][0])]
                    for platform in expected["byPlatform"]]
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "6")
        assert app.query_one("#funnel-platforms-panel").display
        assert rows(app.query_one("#funnel-platforms", DataTable)) == per_platform
        await press_and_load(pilot, "p")
        assert not app.query_one("#funnel-platforms-panel").display
        await press_and_load(pilot, "p")
        assert rows(app.query_one("#funnel-platforms", DataTable)) == per_platform


async def test_a_adds_the_chosen_step_after_the_selected_one(
        dashboard_server: DashboardServer) -> None:
    steps = ("tool_call:search_rooms", "tool_call:check_availability", "step:rooms_found",
             "conversion:booking_completed")
    expected = api_funnel(dashboard_server, steps, by="session")
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "6")
        await pilot.press("a")
        assert isinstance(app.screen, StepPicker)
        await pilot.press(*"check_av")
        assert app.screen.query_one("#step-options").option_count == 1
        await press_and_load(pilot, "enter")
        assert_steps_shown(app, expected)
        # the new step is the selected one: the next one goes after it
        assert app.query_one("#funnel-steps", DataTable).cursor_row == 1


async def test_a_takes_a_typed_step_that_did_not_happen_in_the_range(
        dashboard_server: DashboardServer) -> None:
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "6")
        await pilot.press("a", *"track:filters_applied")
        await press_and_load(pilot, "enter")
        shown = rows(app.query_one("#funnel-steps", DataTable))
        assert [row[1] for row in shown][:2] == ["tool_call:search_rooms",
                                                 "track:filters_applied"]
        assert shown[1][2].split() == ["0"]
        await pilot.press("a", *"not_a_type", "enter")
        assert isinstance(app.screen, StepPicker)  # refused, still asking
        await pilot.press("escape")
        assert len(rows(app.query_one("#funnel-steps", DataTable))) == 4


async def test_x_removes_the_selected_step_and_shift_k_moves_it_up(
        dashboard_server: DashboardServer) -> None:
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "6")
        await pilot.press("down")
        await press_and_load(pilot, "x")  # step:rooms_found
        two = ("tool_call:search_rooms", "conversion:booking_completed")
        assert_steps_shown(app, api_funnel(dashboard_server, two, by="session"))
        await press_and_load(pilot, "x")  # refused: a funnel has 2 steps or more
        assert [row[1] for row in rows(app.query_one("#funnel-steps", DataTable))] == list(two)
        await press_and_load(pilot, "K")
        assert_steps_shown(app, api_funnel(dashboard_server, two[::-1], by="session"))
        assert app.query_one("#funnel-steps", DataTable).cursor_row == 0


async def test_enter_on_a_step_lists_the_traces_dropped_before_it_and_opens_one(
        dashboard_server: DashboardServer) -> None:
    dropped = api_funnel(dashboard_server, DEFAULT_STEPS, by="trace")["steps"][1]
    # the server names any 5 of those dropped: all of them here, so both answers agree
    assert 0 < len(dropped["droppedSamples"]) == dropped["droppedHere"]
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "6")
        await press_and_load(pilot, "s")
        await pilot.press("down")
        await press_and_load(pilot, "enter")
        assert isinstance(app.screen, DroppedScreen)
        table = app.screen.query_one("#dropped-traces", DataTable)
        assert [row[1] for row in rows(table)] == dropped["droppedSamples"]
        # the searches that found no rooms: they failed
        assert {row[2] for row in rows(table)} == {"search_rooms"}
        assert {row[3] for row in rows(table)} == {"error"}
        await press_and_load(pilot, "enter")
        assert isinstance(app.screen, TraceScreen)
        assert app.screen.trace_id == dropped["droppedSamples"][0]
        await pilot.press("escape", "escape")
        assert app.query_one("#funnel-steps", DataTable).has_focus


async def test_by_session_the_dropped_sessions_list_all_their_traces(
        dashboard_server: DashboardServer) -> None:
    steps = ("tool_call:search_rooms", "step:rooms_found", "tool_call:book_room",
             "conversion:booking_completed")
    dropped = api_funnel(dashboard_server, steps, by="session")["steps"][3]
    assert 0 < len(dropped["droppedSamples"]) == dropped["droppedHere"]
    with YavioClient(dashboard_server.url, dashboard_server.token) as client:
        traces = [trace["traceId"] for session in dropped["droppedSamples"]
                  for trace in reversed(client.traces(dashboard_server.project["id"],
                                                      session=session,
                                                      **Filters().query(NOW))["traces"])]
    assert len(traces) > len(dropped["droppedSamples"])
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "6")
        await pilot.press("down", "a", *"book_room")
        await press_and_load(pilot, "enter")
        await pilot.press("down")
        await press_and_load(pilot, "enter")
        table = app.screen.query_one("#dropped-traces", DataTable)
        assert [row[1] for row in rows(table)] == traces
        assert {row[0] for row in rows(table)} == set(dropped["droppedSamples"])
        assert f"{count(dropped['droppedHere'])} sessions" in text(app.screen, "#dropped-title")


async def test_enter_on_the_first_step_says_nothing_drops_before_it(
        dashboard_server: DashboardServer) -> None:
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "6")
        await pilot.press("enter")
        assert not isinstance(app.screen, DroppedScreen)
        assert any("nothing drops before it" in str(note.message)
                   for note in app._notifications)


async def test_a_range_without_events_says_so_instead_of_a_funnel(
        dashboard_server: DashboardServer) -> None:
    app = dashboard(dashboard_server, project=dashboard_server.empty_project)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "6")
        assert text(app, "#funnel-summary") == NO_FUNNEL
        assert not app.query_one("#funnel-steps-panel").display


# -- Paths -------------------------------------------------------------------------------------


async def test_paths_lists_the_transitions_as_the_server_ranks_them(
        dashboard_server: DashboardServer) -> None:
    expected = api_paths(dashboard_server)
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "7")
        shown = rows(app.query_one("#paths-table", DataTable))
        assert [(row[0], row[2]) for row in shown] == \
            [(path["from"], path["to"]) for path in expected["paths"]]
        assert [row[3].split()[-1] for row in shown] == \
            [count(path["count"]) for path in expected["paths"]]
        assert [row[4] for row in shown] == [percent(path["share"]) for path in expected["paths"]]
        assert shown[0][:3] == ["(start)", "→", "search_rooms"]
        assert text(app, "#paths-summary") == (
            f"{count(expected['transitions'])} transitions in {count(expected['sessions'])} "
            "sessions.")


async def test_slash_keeps_the_transitions_from_or_to_a_tool(
        dashboard_server: DashboardServer) -> None:
    expected = [path for path in api_paths(dashboard_server)["paths"]
                if "book_room" in (path["from"], path["to"])]
    assert len(expected) == 2
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "7")
        await pilot.press("slash", *"book", "enter")
        table = app.query_one("#paths-table", DataTable)
        assert [(row[0], row[2]) for row in rows(table)] == \
            [(path["from"], path["to"]) for path in expected]
        assert "2 from or to a tool matching 'book'" in text(app, "#paths-summary")
        await pilot.press("slash", *"nothing_like_it", "enter")
        assert not app.query_one("#paths-panel").display
        await pilot.press("slash", "enter")
        assert table.row_count == len(api_paths(dashboard_server)["paths"])


async def test_paths_of_a_range_without_calls_says_so(dashboard_server: DashboardServer) -> None:
    app = dashboard(dashboard_server, project=dashboard_server.empty_project)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot, "7")
        assert text(app, "#paths-summary") == NO_PATHS
        assert not app.query_one("#paths-panel").display


# -- what a person sees ------------------------------------------------------------------------


def then(*keys: str):
    """A snapshot's `run_before`: the week loaded, then `keys`, each load waited for."""
    async def run(pilot: Pilot) -> None:
        await loaded(pilot)
        for key in keys:
            await press_and_load(pilot, key)
    return run


@pytest.mark.parametrize("size", SIZES)
def test_funnel_snapshot(snap_compare, dashboard_server: DashboardServer, size: str) -> None:
    assert snap_compare(dashboard(dashboard_server), terminal_size=SIZES[size],
                        run_before=then("6"))


@pytest.mark.parametrize("size", SIZES)
def test_funnel_by_trace_in_one_snapshot(snap_compare, dashboard_server: DashboardServer,
                                         size: str) -> None:
    assert snap_compare(dashboard(dashboard_server), terminal_size=SIZES[size],
                        run_before=then("6", "s", "p"))


@pytest.mark.parametrize("size", SIZES)
def test_step_picker_snapshot(snap_compare, dashboard_server: DashboardServer,
                              size: str) -> None:
    async def pick(pilot: Pilot) -> None:
        await then("6", "a")(pilot)
        # a blinking cursor would be on or off depending on when the picture is taken
        pilot.app.screen.query_one(Input).cursor_blink = False

    assert snap_compare(dashboard(dashboard_server), terminal_size=SIZES[size],
                        run_before=pick)


@pytest.mark.parametrize("size", SIZES)
def test_dropped_traces_snapshot(snap_compare, dashboard_server: DashboardServer,
                                 size: str) -> None:
    assert snap_compare(dashboard(dashboard_server), terminal_size=SIZES[size],
                        run_before=then("6", "down", "enter"))


@pytest.mark.parametrize("size", SIZES)
def test_empty_funnel_snapshot(snap_compare, dashboard_server: DashboardServer,
                               size: str) -> None:
    assert snap_compare(dashboard(dashboard_server, project=dashboard_server.empty_project),
                        terminal_size=SIZES[size], run_before=then("6"))


@pytest.mark.parametrize("size", SIZES)
def test_paths_snapshot(snap_compare, dashboard_server: DashboardServer, size: str) -> None:
    assert snap_compare(dashboard(dashboard_server), terminal_size=SIZES[size],
                        run_before=then("7"))
