"""The widget hook (widget-js) in a real browser, end to end.

The hotel booking example runs through a real MCP client session against a real ingest server
(aiohttp on a loopback port, real Postgres and chdb); its `book_room` result carries
`_meta.yavio`. A booking widget page, served by the test on another loopback port (so every
request to the ingest is cross-origin, CORS included), gets that result as ChatGPT hands it
over (`window.openai`) and loads the built hook (`widget-js/dist/yavio-widget.js`). The system's
Chromium, driven by `widget-js/e2e/drive.mjs`, clicks, rage-clicks, scrolls, fills the form,
follows a link, navigates and closes the page. What reaches ClickHouse is then checked.

`make test` builds the hook first (`npm ci`, `npm run build` in widget-js/).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from mcp import Client

from tests.conftest import TEST_SECRET, PostgresServer
from tests.examples.test_hotel_booking import EXAMPLE, GUEST, STAY, FakeUser
from tests.ingest.conftest import IngestServer, ingest_settings, start_ingest_server
from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_ingest.store.postgres import PostgresStore
from yavio_sdk import yavio

CHROMIUM = Path("/usr/bin/chromium")
WIDGET_JS = Path(__file__).resolve().parents[2] / "widget-js"
BUNDLE = WIDGET_JS / "dist" / "yavio-widget.js"
DRIVER = WIDGET_JS / "e2e" / "drive.mjs"
PAGE = Path(__file__).with_name("booking_widget.html")

# What the driver types into the form: none of it may be stored, in any column.
TYPED_SECRET = "Quokka-7731-door"
TYPED_NAME = "Quentin Oduya"  # not the booking's guest, whose name the server records
FIELDS = {"guest_name", "guest_email", "door_code"}
# The page's outbound link: only its domain may be stored.
LINK_DOMAIN = "transfers.example.net"
LINK_REST = "voucher=QX77"  # the query of its link

# Every auto-captured event the driver's actions cause: all but widget_error (the page has none).
EXPECTED_TYPES = {"widget_render", "widget_click", "widget_rage_click", "widget_scroll",
                  "widget_form_field", "widget_form_submit", "widget_link_click",
                  "widget_navigation", "widget_performance", "widget_visibility",
                  "widget_focus"}
WIDGET_STEPS = ["room_viewed", "guest_details_saved", "confirm_viewed"]
CLOSING = "widget_closing"  # tracked by the page in its pagehide listener

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js (`node`) to drive "
                       "Chromium; CI installs it"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Chromium at {CHROMIUM}; CI "
                       "installs Debian's `chromium`"),
]


@dataclass
class WidgetRun:
    """One browser session on the widget, and what it left in ClickHouse."""

    yavio_meta: dict[str, Any]  # the book_room result's _meta.yavio
    report: dict[str, Any]  # the driver's JSON
    rows: list[dict[str, Any]]  # the project's stored events, every column

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [row for row in self.rows if row["event_type"] == event_type]

    @property
    def widget_rows(self) -> list[dict[str, Any]]:
        return [row for row in self.rows if row["source"] == "widget"]


def load_example() -> Any:
    spec = importlib.util.spec_from_file_location("hotel_booking_widget_e2e", EXAMPLE)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = example  # its dataclasses look their module up
    spec.loader.exec_module(example)
    return example


async def book_a_room(server: IngestServer) -> tuple[dict[str, Any], dict[str, Any]]:
    """`book_room` through a real MCP session on the instrumented example: its `_meta` and
    structured result, as ChatGPT would hand them to the widget."""
    mcp_server = load_example().build_server(api_key=server.api_key, endpoint=server.url,
                                             flush_interval=0.2)
    user = FakeUser()
    async with Client(mcp_server, mode="legacy", sampling_callback=user.sampling,
                      elicitation_callback=user.elicitation) as client:
        booked = await client.call_tool("book_room", {"room_id": "ber-1", **GUEST, **STAY})
    assert not booked.is_error, booked.content
    assert booked.structured_content["status"] == "confirmed"
    meta = booked.meta or {}
    assert set(meta.get("yavio", {})) == {"token", "endpoint", "traceId", "sessionId",
                                          "stepSequence"}, meta
    return meta, booked.structured_content


def widget_site(tool_meta: dict[str, Any], tool_output: dict[str, Any],
                beacons: list[dict[str, Any]]) -> web.Application:
    """The widget's own origin: the page, `window.openai`, and the built hook; the outline of
    each beacon the page sends (its sendBeacon spy posts them here) goes to `beacons`."""
    page = PAGE.read_text()
    openai = json.dumps({"toolResponseMetadata": tool_meta, "toolOutput": tool_output})

    async def serve_page(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    async def serve_openai(request: web.Request) -> web.Response:
        return web.Response(text=f"window.openai = {openai};", content_type="text/javascript")

    async def serve_hook(request: web.Request) -> web.Response:
        return web.Response(body=BUNDLE.read_bytes(), content_type="text/javascript")

    async def log_beacon(request: web.Request) -> web.Response:
        beacons.append(json.loads(await request.text()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_get("/", serve_page)
    app.router.add_get("/booking/confirm", serve_page)  # the view the page pushes
    app.router.add_get("/openai.js", serve_openai)
    app.router.add_get("/yavio-widget.js", serve_hook)
    app.router.add_post("/beacon-log", log_beacon)
    return app


async def drive(url: str) -> dict[str, Any]:
    """Run the Chromium driver on `url`; its JSON report."""
    process = await asyncio.create_subprocess_exec(
        "node", str(DRIVER), url, "--secret", TYPED_SECRET, "--name", TYPED_NAME,
        cwd=WIDGET_JS, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(process.communicate(), 120)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError("the browser driver did not finish within 120 s") from None
    assert process.returncode == 0, f"the driver failed:\n{err.decode()}"
    return json.loads(out.decode().strip().splitlines()[-1])


def stored_rows(store: ClickHouseStore, project_id: str) -> list[dict[str, Any]]:
    """The project's events, every column, one row per event id."""
    answer = json.loads(store.query_json(
        "SELECT * FROM events WHERE project_id = {p:UUID} LIMIT 1 BY event_id",
        {"p": project_id}))
    names = [column["name"] for column in answer["meta"]]
    return [dict(zip(names, row)) for row in answer["data"]]


async def wait_for_rows(server: IngestServer, done: Callable[[list[dict[str, Any]]], bool],
                        timeout: float = 20.0) -> list[dict[str, Any]]:
    """Poll ClickHouse until `done(rows)` holds or the timeout passes (the writer batches)."""
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + timeout
    while True:
        rows = await loop.run_in_executor(None, stored_rows, server.clickhouse,
                                          server.project_id)
        if done(rows) or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.2)


def everything_arrived(rows: list[dict[str, Any]]) -> bool:
    """The widget's events, its last (the one tracked on pagehide), and the server's step."""
    types = {row["event_type"] for row in rows}
    closing = any(row["event_type"] == "track" and row["event_name"] == CLOSING for row in rows)
    server_step = any(row["event_type"] == "step" and row["source"] == "server" for row in rows)
    return closing and server_step and EXPECTED_TYPES <= types


def print_summary(report: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """What the run saw, for the log (`pytest -s`)."""
    counts: dict[str, int] = {}
    for row in rows:
        if row["source"] == "widget":
            key = row["event_type"] + (f":{row['event_name']}" if row["event_name"] else "")
            counts[key] = counts.get(key, 0) + 1
    print("\nwidget events stored:", json.dumps(dict(sorted(counts.items()))))
    print("requests to the ingest seen by Playwright:", json.dumps(report["requests"]))
    print("beacons:", json.dumps(report["beacons"]))
    print(f"long tasks > 50 ms on load: {json.dumps(report['longTasks'])}")
    print(f"long animation frames on load: {json.dumps(report['longFrames'])}")
    print(f"createYavio() took {report['hookStartMs']} ms")


@pytest.fixture(scope="module")
async def widget_run(postgres_server: PostgresServer, clickhouse_store: ClickHouseStore,
                     tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[WidgetRun]:
    """One booking, one browser session on its widget (shared by this module's tests: the
    browser run is the slow part, each test checks one behaviour of it)."""
    assert BUNDLE.exists(), f"{BUNDLE} is missing: run `npm ci && npm run build` in widget-js/"
    assert (WIDGET_JS / "node_modules" / "playwright-core").exists(), \
        "playwright-core is missing: run `npm ci` in widget-js/"
    postgres = PostgresStore(postgres_server.new_database(), TEST_SECRET)
    postgres.migrate()
    server, ingest = await start_ingest_server(
        postgres, clickhouse_store, ingest_settings(tmp_path_factory.mktemp("widget-ingest")))
    try:
        tool_meta, tool_output = await book_a_room(server)
        beacons: list[dict[str, Any]] = []
        site = TestServer(widget_site(tool_meta, tool_output, beacons), host="127.0.0.1")
        await site.start_server()
        try:
            report = await drive(f"http://127.0.0.1:{site.port}/")
            report["beacons"] = beacons
        finally:
            await site.close()
        # The server side's own events (the tool call, its step) too, for the step sequence.
        await asyncio.get_running_loop().run_in_executor(None, yavio.flush, 5.0)
        rows = await wait_for_rows(server, everything_arrived)
        print_summary(report, rows)
        yield WidgetRun(tool_meta["yavio"], report, rows)
    finally:
        await ingest.close()
        postgres.close()


def test_every_widget_event_lands_in_the_tool_calls_trace_and_session(
        widget_run: WidgetRun) -> None:
    meta = widget_run.yavio_meta
    seen = {row["event_type"] for row in widget_run.widget_rows}
    assert EXPECTED_TYPES <= seen, (EXPECTED_TYPES - seen, widget_run.report)
    assert {(row["trace_id"], row["session_id"]) for row in widget_run.widget_rows} == {
        (meta["traceId"], meta["sessionId"])}
    assert {row["source"] for row in widget_run.rows
            if row["event_type"].startswith("widget_") and row["event_type"] != "widget_response"
            } == {"widget"}
    book_room = [row for row in widget_run.of_type("tool_call") if row["event_name"] == "book_room"]
    assert [row["trace_id"] for row in book_room] == [meta["traceId"]], \
        "the widget's events join the trace of the tool call that rendered it"


def test_widget_steps_continue_the_servers_step_sequence(widget_run: WidgetRun) -> None:
    first = widget_run.yavio_meta["stepSequence"]
    widget_steps = sorted((row["step_sequence"], row["event_name"])
                          for row in widget_run.of_type("step") if row["source"] == "widget")
    assert widget_steps == [(first + i, name) for i, name in enumerate(WIDGET_STEPS)]
    server_steps = [row["step_sequence"] for row in widget_run.of_type("step")
                    if row["source"] == "server"
                    and row["trace_id"] == widget_run.yavio_meta["traceId"]]
    assert server_steps and max(server_steps) == first - 1, server_steps


def test_the_typed_columns_are_filled(widget_run: WidgetRun) -> None:
    render = widget_run.of_type("widget_render")
    assert [(row["viewport_width"], row["viewport_height"]) for row in render] == [(800, 600)]
    assert render[0]["device_pixel_ratio"] > 0

    depths = [row["scroll_depth_pct"] for row in widget_run.of_type("widget_scroll")]
    assert depths and all(0 <= depth <= 100 for depth in depths), depths
    assert max(depths) >= 90, f"the driver scrolled to the bottom: {depths}"

    fields = {row["field_name"] for row in widget_run.of_type("widget_form_field")}
    assert fields == FIELDS

    assert max(row["click_count"] for row in widget_run.of_type("widget_rage_click")) >= 3
    assert [row["nav_to"] for row in widget_run.of_type("widget_navigation")
            if row["nav_to"].endswith("/booking/confirm")], widget_run.of_type("widget_navigation")
    assert all(row["load_time_ms"] > 0 for row in widget_run.of_type("widget_performance"))
    links = widget_run.of_type("widget_link_click")
    assert links and all(LINK_DOMAIN in json.dumps(row) for row in links), links

    # Into the embedded map (the widget's window loses the focus) and back.
    focus = sorted(widget_run.of_type("widget_focus"), key=lambda row: row["timestamp"])
    assert [json.loads(row["metadata"])["focused"] for row in focus] == [False, True], focus


def test_nothing_typed_into_the_form_and_no_full_link_is_stored(widget_run: WidgetRun) -> None:
    assert widget_run.of_type("widget_form_field"), "the form was used"
    for row in widget_run.rows:
        stored = json.dumps(row)
        for value in (TYPED_SECRET, TYPED_NAME, LINK_REST):
            assert value not in stored, (value, row)


def test_events_queued_at_close_arrive_through_the_pagehide_beacon(widget_run: WidgetRun) -> None:
    closing = [row for row in widget_run.of_type("track") if row["event_name"] == CLOSING]
    assert len(closing) == 1, "the event tracked in pagehide, before the hook's own listener"
    assert closing[0]["source"] == "widget"
    assert closing[0]["trace_id"] == widget_run.yavio_meta["traceId"]
    assert json.loads(closing[0]["metadata"]) == {"view": "/booking/confirm"}
    beacons = [beacon for beacon in widget_run.report["beacons"]
               if beacon["url"].endswith("/v1/events")]
    assert any(beacon["queued"] and beacon["tokenInBody"]
               and f"track:{CLOSING}" in beacon["events"] for beacon in beacons), \
        f"sent by sendBeacon with the token in the body: {widget_run.report['beacons']}"
    # The hook's own last word: the widget went off screen when the page went away, after
    # being on screen since the render.
    gone = [row for row in widget_run.of_type("widget_visibility")
            if row["visible_duration_ms"] is not None]
    assert len(gone) == 1 and gone[0]["visible_duration_ms"] > 0, gone


def test_the_cross_origin_requests_are_accepted(widget_run: WidgetRun) -> None:
    report = widget_run.report
    assert report["pageErrors"] == [] and report["consoleErrors"] == [], report
    answered = [request for request in report["requests"] if request["status"] is not None]
    assert answered and {request["status"] for request in answered} == {200}, report["requests"]
    assert any(request["bearer"] for request in answered), "fetch sends the token as a header"


def test_loading_the_hook_adds_no_long_task(widget_run: WidgetRun) -> None:
    # Long animation frames name the scripts that ran in them: a frame counts against the hook
    # only for the time the widget's scripts took (what else runs on load, like parsing and
    # layout, is the browser's). The page's long tasks, whatever their cause, are printed by the
    # fixture.
    report = widget_run.report
    assert report["hookLongFrames"] == [], report["longFrames"]
    assert report["hookStartMs"] is not None and report["hookStartMs"] < 50, \
        f"createYavio() took {report['hookStartMs']} ms"
