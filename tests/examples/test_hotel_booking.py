"""The hotel booking example (`examples/hotel_booking.py`) end to end: the example runs as its own
process, over stdio and over streamable HTTP, driven by the official `mcp` client, and sends its
events to a real ingest server (real Postgres and chdb). What a user sees in the client and what
lands in ClickHouse are both checked."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters, types

from tests.conftest import free_port
from tests.ingest.conftest import (  # noqa: F401  (fixtures, found by pytest in this module)
    IngestServer,
    ingest_server,
    make_event,
    settings_overrides,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hotel_booking.py"

STAY = {"check_in": "2026-05-01", "check_out": "2026-05-04"}  # 3 nights
GUEST = {"guest_name": "Ada Lovelace", "guest_email": "ada@example.com"}
PITCH = "A bright loft by the Spree, steps from the river."


class FakeUser:
    """The client side of sampling and elicitation: a model that pitches, a user who confirms."""

    def __init__(self, *actions: str) -> None:
        self.sampled: list[types.CreateMessageRequestParams] = []
        self.asked: list[types.ElicitRequestParams] = []
        self.actions = list(actions)  # what the user answers, in turn; then "accept"

    async def sampling(self, context: Any, params: types.CreateMessageRequestParams
                       ) -> types.CreateMessageResult:
        self.sampled.append(params)
        return types.CreateMessageResult(role="assistant", model="fake-llm",
                                         content=types.TextContent(type="text", text=PITCH))

    async def elicitation(self, context: Any, params: types.ElicitRequestParams
                          ) -> types.ElicitResult:
        self.asked.append(params)
        action = self.actions.pop(0) if self.actions else "accept"
        return types.ElicitResult(action=action,
                                  content={"confirm": True} if action == "accept" else None)


def example_env(server: IngestServer, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("YAVIO_")}
    return {**env, "YAVIO_API_KEY": server.api_key, "YAVIO_ENDPOINT": server.url, **extra}


def events(server: IngestServer) -> list[dict[str, Any]]:
    """This project's events in ClickHouse, one row per event id."""
    rows = server.clickhouse.query(
        "SELECT event_type, session_id, trace_id, event_name, user_id, metadata, status, "
        "step_sequence, conversion_value, conversion_currency, user_traits "
        "FROM events WHERE project_id = {p:UUID} LIMIT 1 BY event_id",
        {"p": server.project_id})
    names = ("event_type", "session_id", "trace_id", "event_name", "user_id", "metadata",
             "status", "step_sequence", "conversion_value", "conversion_currency", "user_traits")
    return [dict(zip(names, row)) for row in rows]


def phase(event: dict[str, Any]) -> str | None:
    return json.loads(event["metadata"] or "{}").get("phase")


async def wait_for_events(server: IngestServer, done: Any, timeout: float = 10.0,
                          ) -> list[dict[str, Any]]:
    """Poll ClickHouse until `done(events)` holds (or the timeout passes); the events."""
    deadline = time.monotonic() + timeout
    loop = asyncio.get_running_loop()
    while True:
        found = await loop.run_in_executor(None, events, server)
        if done(found) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


def has_closed(found: list[dict[str, Any]]) -> bool:
    """The session's last event (`connection` close) arrived, and with it everything queued."""
    return any(e["event_type"] == "connection" and phase(e) == "close" for e in found)


def assert_book_room_trace(found: list[dict[str, Any]], yavio_meta: dict[str, Any]) -> None:
    """The book_room call, its steps, the conversion and the widget share the widget's trace."""
    trace = yavio_meta["traceId"]
    in_trace = {(e["event_type"], e["event_name"]) for e in found if e["trace_id"] == trace}
    assert {("tool_call", "book_room"), ("step", "booking_confirmed"),
            ("conversion", "booking_completed"), ("widget_response", "book_room"),
            ("elicitation", "")} <= in_trace, in_trace
    conversion = next(e for e in found if e["event_type"] == "conversion")
    assert conversion["conversion_value"] == 360.0 and conversion["conversion_currency"] == "EUR"
    step = next(e for e in found if e["event_name"] == "booking_confirmed")
    assert step["step_sequence"] == 0
    assert yavio_meta["stepSequence"] == 1, "the widget's steps continue after the server's"


def assert_yavio_meta(result: types.CallToolResult, server: IngestServer) -> dict[str, Any]:
    meta = (result.meta or {}).get("yavio")
    assert isinstance(meta, dict), result.meta
    assert meta["token"] and isinstance(meta["token"], str)
    assert meta["endpoint"] == server.url
    assert meta["traceId"] and meta["sessionId"]
    assert isinstance(meta["stepSequence"], int)
    return meta


async def search_and_book(client: Client, user: FakeUser, server: IngestServer,
                          ) -> tuple[str, dict[str, Any]]:
    """search_rooms then book_room, checked as a user sees them; the booking id and _meta.yavio."""
    search = await client.call_tool("search_rooms", {"city": "Berlin", **STAY, "guests": 2})
    assert not search.is_error, search.content
    found = search.structured_content
    assert [room["id"] for room in found["rooms"]] == ["ber-1", "ber-2"]
    assert found["rooms"][0]["total_price"] == 360.0
    assert found["pitch"] == PITCH and len(user.sampled) == 1

    booked = await client.call_tool("book_room", {"room_id": "ber-1", **GUEST, **STAY})
    assert not booked.is_error, booked.content
    booking = booked.structured_content
    assert booking["status"] == "confirmed" and booking["total_price"] == 360.0
    assert len(user.asked) == 1 and "360.00 EUR" in user.asked[0].message
    return booking["booking_id"], assert_yavio_meta(booked, server)


@pytest.mark.timeout(60)
async def test_stdio_flow_reaches_clickhouse(ingest_server: IngestServer) -> None:
    server = ingest_server
    user = FakeUser()
    params = StdioServerParameters(
        command=sys.executable, args=[str(EXAMPLE)],
        env=example_env(server, YAVIO_FLUSH_INTERVAL="0.2"))

    async with Client(params, mode="legacy", sampling_callback=user.sampling,
                      elicitation_callback=user.elicitation) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == {"search_rooms", "check_availability", "book_room",
                              "cancel_booking"}
        assert tools["book_room"].meta == {"openai/outputTemplate": "ui://widget/booking.html"}

        availability = await client.call_tool("check_availability", {"room_id": "ber-1", **STAY})
        assert availability.structured_content["available"] is True
        booking_id, yavio_meta = await search_and_book(client, user, server)

        widget = (await client.read_resource("ui://widget/booking.html")).contents[0]
        assert widget.mime_type == "text/html+skybridge"
        assert "window.openai" in widget.text and "__YAVIO__" in widget.text
        room = (await client.read_resource("hotel://rooms/ber-1")).contents[0]
        assert json.loads(room.text)["hotel"] == "Spree Loft"

        prompt = await client.get_prompt("plan_stay", {"city": "Paris", "nights": "3"})
        assert "3 nights in Paris" in prompt.messages[0].content.text

        cancelled = await client.call_tool("cancel_booking", {"booking_id": booking_id})
        assert not cancelled.is_error
        assert cancelled.structured_content == {"booking_id": booking_id, "status": "cancelled"}
        again = await client.call_tool("cancel_booking", {"booking_id": booking_id})
        assert again.is_error and "already cancelled" in again.content[0].text
        unknown = await client.call_tool("cancel_booking", {"booking_id": "bk_nope"})
        assert unknown.is_error

    # The widget sends its own events to the same trace with the token it was given.
    sent = await server.send([make_event("widget_render", trace_id=yavio_meta["traceId"],
                                         session_id=yavio_meta["sessionId"])],
                             token=yavio_meta["token"])
    assert sent.status_code == 200 and sent.json()["accepted"] == 1, sent.text

    # The client closed stdin: the example records the session's end and flushes as it exits.
    found = await wait_for_events(server, lambda found: has_closed(found) and any(
        e["event_type"] == "widget_render" for e in found))
    types_seen = {e["event_type"] for e in found}
    assert types_seen >= {
        "connection", "tool_discovery", "tool_call", "resource_access", "prompt_usage",
        "sampling_call", "elicitation", "widget_response", "step", "track", "conversion",
        "identify"}, types_seen
    assert {phase(e) for e in found if e["event_type"] == "connection"} == {"open", "close"}
    assert {e["session_id"] for e in found} == {yavio_meta["sessionId"]}, \
        "one stdio connection, one session"

    calls = [e for e in found if e["event_type"] == "tool_call"]
    assert {(e["event_name"], e["status"]) for e in calls} >= {
        ("search_rooms", "success"), ("check_availability", "success"),
        ("book_room", "success"), ("cancel_booking", "success"), ("cancel_booking", "error")}
    assert sum(e["event_name"] == "cancel_booking" and e["status"] == "error"
               for e in calls) == 2
    assert {e["event_name"] for e in found if e["event_type"] == "step"} >= {
        "rooms_searched", "availability_checked", "booking_confirmed"}
    search_trace = next(e["trace_id"] for e in calls if e["event_name"] == "search_rooms")
    sampling = next(e for e in found if e["event_type"] == "sampling_call")
    assert sampling["trace_id"] == search_trace, "the pitch belongs to the search"
    assert_book_room_trace(found, yavio_meta)
    assert any(e["event_type"] == "widget_render" and e["trace_id"] == yavio_meta["traceId"]
               for e in found), "the widget's event joins the booking's trace"

    identify = next(e for e in found if e["event_type"] == "identify")
    assert identify["user_id"].startswith("guest_")
    traits = json.loads(identify["user_traits"])
    assert traits["name"] == GUEST["guest_name"]
    assert GUEST["guest_email"] not in identify["user_traits"], "PII is redacted"
    track = next(e for e in found if e["event_type"] == "track")
    assert track["event_name"] == "booking_cancelled"
    assert track["user_id"] == identify["user_id"], "later events carry the identified user"


async def wait_for_port(port: int, process: asyncio.subprocess.Process, timeout: float = 15.0,
                        ) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise AssertionError(f"the example exited with {process.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise AssertionError(f"the example did not listen on port {port}")


@pytest.mark.timeout(60)
async def test_streamable_http_flow_is_flushed_at_shutdown(
        ingest_server: IngestServer, tmp_path: Path) -> None:
    server = ingest_server
    user = FakeUser()
    port = free_port()
    log = tmp_path / "example.log"
    # A flush interval longer than the test: the events can only arrive through the flush the
    # example does when it is stopped.
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(EXAMPLE), "--http", "--port", str(port),
            env=example_env(server, YAVIO_FLUSH_INTERVAL="600"),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=stderr)
    try:
        await wait_for_port(port, process)
        async with Client(f"http://127.0.0.1:{port}/mcp", mode="legacy",
                          sampling_callback=user.sampling,
                          elicitation_callback=user.elicitation) as client:
            _, yavio_meta = await search_and_book(client, user, server)

        await asyncio.sleep(0.5)
        assert server.stored() == 0, "nothing is sent before the flush interval or the shutdown"
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    found = await wait_for_events(server, has_closed)
    types_seen = {e["event_type"] for e in found}
    assert types_seen >= {"connection", "tool_discovery", "tool_call", "sampling_call",
                          "elicitation", "widget_response", "step", "conversion",
                          "identify"}, (types_seen, log.read_text())
    assert {phase(e) for e in found if e["event_type"] == "connection"} == {"open", "close"}
    assert {e["session_id"] for e in found} == {yavio_meta["sessionId"]}, \
        "one MCP session, one Yavio session"
    calls = {(e["event_name"], e["status"]) for e in found if e["event_type"] == "tool_call"}
    assert calls == {("search_rooms", "success"), ("book_room", "success")}
    assert_book_room_trace(found, yavio_meta)


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The example module, loaded by path (it is not a package), to run in-process."""
    spec = importlib.util.spec_from_file_location("hotel_booking_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclasses look it up
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(60)
async def test_each_way_a_call_fails_is_stored_with_its_error_category(
        ingest_server: IngestServer, example: Any) -> None:
    server = ingest_server
    mcp_server = example.build_server(api_key=server.api_key, endpoint=server.url,
                                      flush_interval=0.2)
    backwards = {"check_in": STAY["check_out"], "check_out": STAY["check_in"]}
    calls = [({"room_id": "sandbox-timeout", **STAY}, "did not answer", "timeout"),
             ({"room_id": "sandbox-rate-limit", **STAY}, "too many requests", "rate_limit"),
             ({"room_id": "sandbox-expired-credentials", **STAY}, "credentials have expired",
              "auth"),
             ({"room_id": "sandbox-error-500", **STAY}, "internal server error", "server"),
             ({"room_id": "ber-1", **backwards}, "check_out must be after", "validation")]
    async with Client(mcp_server, mode="legacy") as client:
        for arguments, _, _ in calls:
            failed = await client.call_tool("check_availability", arguments)
            assert failed.is_error, failed.content  # the model sees a generic message
        fine = await client.call_tool("check_availability", {"room_id": "ber-1", **STAY})
        assert not fine.is_error and fine.structured_content["available"] is True

    def stored() -> list[tuple[str, str, str]]:
        return server.clickhouse.query(
            "SELECT status, error_category, error_message FROM events "
            "WHERE project_id = {p:UUID} AND event_type = 'tool_call' LIMIT 1 BY event_id",
            {"p": server.project_id})

    deadline = time.monotonic() + 10
    while len(rows := stored()) < len(calls) + 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert sorted(status for status, _, _ in rows) == ["error"] * len(calls) + ["success"]
    for _, message, category in calls:  # the stored message is the exception's own
        assert [found for _, found, text in rows if message in text] == [category], rows


@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
async def test_without_an_api_key_the_example_runs_the_same(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [key for key in os.environ if key.startswith("YAVIO_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no .yaviorc.json above
    spec = importlib.util.spec_from_file_location("hotel_booking_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, example)  # its dataclasses look it up
    spec.loader.exec_module(example)
    mcp_server = example.build_server()
    assert getattr(mcp_server, "_yavio_recorder", None) is None, "not instrumented"

    user = FakeUser("decline")
    async with Client(mcp_server, mode="legacy", sampling_callback=user.sampling,
                      elicitation_callback=user.elicitation) as client:
        search = await client.call_tool("search_rooms", {"city": "Lisbon", **STAY})
        assert [room["id"] for room in search.structured_content["rooms"]] == ["lis-1", "lis-2"]
        assert search.structured_content["pitch"] == PITCH
        declined = await client.call_tool("book_room", {"room_id": "lis-1", **GUEST, **STAY})
        assert not declined.is_error
        assert declined.structured_content["status"] == "not_booked"
        booked = await client.call_tool("book_room", {"room_id": "lis-1", **GUEST, **STAY})
        assert booked.structured_content["status"] == "confirmed", booked.content
        assert "yavio" not in (booked.meta or {})
        booking_id = booked.structured_content["booking_id"]
        cancelled = await client.call_tool("cancel_booking", {"booking_id": booking_id})
        assert not cancelled.is_error, cancelled.content
