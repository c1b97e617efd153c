"""The dashboard as a person drives it, against the real server serving the fixed week: what the
overview shows, the keys that change the range, platforms and view, and what happens when the
server is away."""

from __future__ import annotations

from concurrent.futures import Future

from textual.widgets import DataTable, Static

from tests.cli.tui.conftest import DashboardServer, ThreadedServer, dashboard, loaded
from tests.cli.tui.seed import NOW
from tests.conftest import free_port
from tests.ingest.conftest import ingest_settings
from yavio_cli.client import YavioClient
from yavio_cli.tui.filters import Filters
from yavio_cli.tui.format import count, percent
from yavio_ingest.app import create_app


def text(app, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


def api_overview(server: DashboardServer, **filters) -> dict:
    with YavioClient(server.url, server.token) as client:
        return client.overview(server.project["id"], **Filters(**filters).query(NOW))


async def test_the_overview_shows_the_weeks_figures_as_the_server_computes_them(
        dashboard_server: DashboardServer) -> None:
    expected = api_overview(dashboard_server)
    kpis = expected["kpis"]
    assert kpis["invocations"]["value"] > kpis["invocations"]["previous"] > 0
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        card = text(app, "#card-invocations .value")
        assert card == count(kpis["invocations"]["value"])
        assert "▲" in text(app, "#card-invocations .change")  # a busier week than the last
        assert text(app, "#card-errorRate .value") == percent(kpis["errorRate"]["value"])
        assert "EUR" in text(app, "#card-revenue .value")
        table = app.query_one("#top-tools", DataTable)
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == \
            [tool["name"] for tool in expected["topTools"]]
        assert "cancel_booking" not in [tool["name"] for tool in expected["topTools"]]
        summary = text(app, "#summary")
        assert summary.startswith(f"{count(kpis['invocations']['value'])} tool calls in")
        assert "search_rooms the busiest" in summary
        assert "Last 7 days" in text(app, "#where") and "hotel-co/hotel" in text(app, "#where")


async def test_the_overview_asked_for_before_the_start_is_shown_first_then_the_server_is_read(
        dashboard_server: DashboardServer) -> None:
    # `yavio tui` asks for the overview while Textual loads and hands the answer over: the
    # first screen shows that answer (marked here), the next load reads the server again
    early = api_overview(dashboard_server)
    early["topTools"][0]["name"] = "asked_before_the_start"
    answer: Future[dict] = Future()
    answer.set_result(early)
    app = dashboard(dashboard_server, first_load=answer)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        assert "asked_before_the_start the busiest" in text(app, "#summary")
        await pilot.press("r")
        await loaded(pilot)
        assert "search_rooms the busiest" in text(app, "#summary")


async def test_t_moves_to_the_next_range_and_the_figures_follow(
        dashboard_server: DashboardServer) -> None:
    month = api_overview(dashboard_server, preset="30d")["kpis"]["invocations"]["value"]
    week = api_overview(dashboard_server)["kpis"]["invocations"]["value"]
    assert month > week
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await pilot.press("t")
        await loaded(pilot)
        assert "Last 30 days" in text(app, "#where")
        assert text(app, "#card-invocations .value") == count(month)
        await pilot.press("t", "t")  # 90 days, then around to 24 hours
        await loaded(pilot)
        assert "Last 24 hours" in text(app, "#where")


async def test_a_custom_range_is_typed_after_shift_t(
        dashboard_server: DashboardServer) -> None:
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await pilot.press("T")
        await pilot.press(*"2030-02-22 2030-03-08", "enter")
        await loaded(pilot)
        assert "2030-02-22 00:00 → 2030-03-08 00:00" in text(app, "#where")
        both = api_overview(dashboard_server, preset="30d")["kpis"]["invocations"]["value"]
        assert text(app, "#card-invocations .value") == count(both)
        await pilot.press("T")
        await pilot.press(*"2030-03-08 2030-03-01", "enter")  # backwards: refused, kept
        await pilot.pause()
        assert "2030-02-22 00:00" in text(app, "#where")


async def test_the_platform_filter_narrows_the_figures_to_the_ticked_platforms(
        dashboard_server: DashboardServer) -> None:
    claude = api_overview(dashboard_server, platforms=("claude",))
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await pilot.press("f")
        await pilot.pause()
        # the list is sorted: chatgpt, claude, …; tick the second and apply
        await pilot.press("down", "space", "enter")
        await loaded(pilot)
        assert "claude" in text(app, "#where")
        assert text(app, "#card-invocations .value") == \
            count(claude["kpis"]["invocations"]["value"])


async def test_an_empty_project_says_how_to_get_events(
        dashboard_server: DashboardServer) -> None:
    app = dashboard(dashboard_server, project=dashboard_server.empty_project)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        assert text(app, "#summary").startswith("No events yet — run `yavio demo`")


async def test_help_jump_and_palette_answer_their_keys(
        dashboard_server: DashboardServer) -> None:
    app = dashboard(dashboard_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert "Keys" in str(app.screen.query_one("#help", Static).render())
        await pilot.press("escape")
        await pilot.press("colon", *"over", "enter")
        await pilot.pause()
        assert app.view.title == "Overview"
        await pilot.press("colon", *"nope", "enter")
        await pilot.pause()
        assert app.view.title == "Overview"


async def test_a_server_that_goes_away_gets_a_banner_that_leaves_when_it_answers_again(
        dashboard_server: DashboardServer, tmp_path) -> None:
    port = free_port()
    app = dashboard(dashboard_server, url=f"http://127.0.0.1:{port}")
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        banner = app.query_one("#banner", Static)
        assert banner.display and "Cannot reach the server" in str(banner.render())
        # the same server comes up on that port; the next load finds it
        server = ThreadedServer(create_app(ingest_settings(tmp_path), dashboard_server.postgres,
                                      dashboard_server.clickhouse), port=port)
        try:
            await pilot.press("r")
            await loaded(pilot)
            assert not banner.display
            assert text(app, "#card-invocations .value") != ""
        finally:
            server.stop()
