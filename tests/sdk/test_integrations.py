"""`with_yavio` end to end: real client sessions against every installed framework's server,
events delivered to the real ingest (aiohttp, Postgres, chdb) and read back from ClickHouse."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.ingest.conftest import (  # noqa: F401  (fixtures, found by pytest in this module)
    IngestServer,
    ingest_server,
    make_event,
    settings_overrides,
)
from tests.sdk.frameworks import AVAILABLE, adapter, booking, serve_asgi
from yavio_sdk import yavio
from yavio_sdk.ids import session_id_from_key

pytestmark = pytest.mark.skipif(not AVAILABLE, reason="no MCP framework installed")

COLUMNS = ("event_type", "session_id", "trace_id", "event_name", "user_id", "step_sequence",
           "status", "error_category", "error_message", "intent_signals", "input_keys",
           "input_values", "metadata", "platform", "client_name", "is_retry",
           "connection_duration_ms", "conversion_value", "conversion_currency", "tool_name",
           "source", "country_code", "locale", "subject_id", "output_content", "tokens_in",
           "tokens_out")
CHATGPT_META = {"openai/userLocation": {"country": "de", "city": "Berlin"},
                "openai/locale": "de-DE", "openai/subject": "anon-7"}


@pytest.fixture(params=AVAILABLE)
def framework(request: pytest.FixtureRequest) -> Any:
    return adapter(request.param)


def options(server: IngestServer, **extra: Any) -> dict[str, Any]:
    return {"api_key": server.api_key, "endpoint": server.url, "flush_interval": 0.2, **extra}


def stored(server: IngestServer) -> list[dict[str, Any]]:
    rows = server.clickhouse.query(
        f"SELECT {', '.join(COLUMNS)} FROM events FINAL WHERE project_id = {{p:UUID}} "
        "ORDER BY timestamp", {"p": server.project_id})
    return [dict(zip(COLUMNS, row)) for row in rows]


async def wait_for(server: IngestServer, done: Callable[[list[dict[str, Any]]], bool],
                   timeout: float = 15.0) -> list[dict[str, Any]]:
    """The project's events once `done(events)` holds (flushing the SDK first)."""
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, yavio.flush, 5.0)
    deadline = time.monotonic() + timeout
    while True:
        events = await loop.run_in_executor(None, stored, server)
        if done(events) or time.monotonic() > deadline:
            return events
        await asyncio.sleep(0.1)


def of_type(events: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [event for event in events if event["event_type"] == event_type]


async def test_the_booking_flow_lands_in_clickhouse_with_its_session_and_traces(
        framework: Any, ingest_server: IngestServer) -> None:
    server = framework.build_server(**options(ingest_server, intent=True))
    async with framework.connect(server, mode="legacy", client_name="claude-ai") as client:
        tools = await client.tools()
        assert "context" in tools["search_rooms"]["properties"]
        found = await client.call("search_rooms", {"city": "Rome",
                                                   "context": "plan a weekend in Rome"})
        assert found.text == "3 rooms in Rome" and not found.is_error
        booked = await client.call("book_room", {"room_id": "r1", "guest": "ada",
                                                 "context": "book the cheapest room"},
                                   meta=CHATGPT_META)
        raised = await client.call("crash", {"kind": "auth", "context": "test"})
        soft = await client.call("soft_fail", {})
        asked = await client.call("ask", {})
        assert await client.read(booking.WIDGET_URI) == booking.WIDGET_HTML
        assert json.loads(await client.read("hotel://rooms/r7"))["room_id"] == "r7"
        assert "Rome" in await client.prompt("plan_stay", {"city": "Rome"})

    assert raised.is_error and soft.is_error and soft.text == booking.SOFT_FAILURE
    assert asked.text == "test-llm/accept"
    widget = booked.meta["yavio"]
    assert set(widget) == {"token", "endpoint", "traceId", "sessionId", "stepSequence"}
    assert widget["stepSequence"] == 2  # the server's steps were 0 and 1
    assert widget["endpoint"] == ingest_server.url

    expected = {"connection", "tool_discovery", "tool_call", "resource_access", "prompt_usage",
                "sampling_call", "elicitation", "widget_response", "step", "track",
                "conversion", "identify"}
    events = await wait_for(ingest_server, lambda events: expected <= {
        event["event_type"] for event in events} and len(of_type(events, "connection")) == 2)
    assert expected <= {event["event_type"] for event in events}
    assert {event["session_id"] for event in events} == {widget["sessionId"]}
    assert {event["platform"] for event in events} == {"claude"}

    opened, closed = sorted(of_type(events, "connection"),
                            key=lambda event: event["connection_duration_ms"] is not None)
    assert opened["client_name"] == "claude-ai"
    assert json.loads(opened["metadata"])["intent_enabled"] is True
    assert closed["connection_duration_ms"] > 0

    calls = {event["event_name"]: event for event in of_type(events, "tool_call")}
    book = calls["book_room"]
    assert book["trace_id"] == widget["traceId"] and book["status"] == "success"
    in_book_trace = [event for event in events if event["trace_id"] == widget["traceId"]]
    assert sorted((event["event_type"], event["step_sequence"]) for event in in_book_trace
                  if event["event_type"] == "step") == [("step", 0), ("step", 1)]
    assert {"conversion", "identify", "widget_response"} <= {
        event["event_type"] for event in in_book_trace}
    conversion = of_type(events, "conversion")[0]
    assert (conversion["conversion_value"], conversion["conversion_currency"]) == (120.5, "EUR")
    assert of_type(events, "identify")[0]["user_id"] == "ada"
    assert book["user_id"] == "ada"  # later events of the session carry the user
    assert (book["country_code"], book["locale"], book["subject_id"]) == ("DE", "de-DE",
                                                                          "anon-7")
    assert "Berlin" not in json.dumps(book)  # no city, region or coordinates
    assert json.loads(book["output_content"]) == [{"type": "text",
                                                   "text": "booked r1 for ada"}]
    assert book["tokens_in"] > 0 and book["tokens_out"] > 0

    assert calls["crash"]["status"] == "error" and calls["crash"]["error_category"] == "auth"
    assert "forbidden" in calls["crash"]["error_message"]
    assert calls["soft_fail"]["status"] == "error"
    assert calls["soft_fail"]["error_category"] == "rate_limit"

    intent = json.loads(calls["search_rooms"]["intent_signals"])
    assert intent == {"intent": "plan a weekend in Rome", "source": "context_parameter"}
    assert json.loads(calls["search_rooms"]["input_keys"]) == ["city"]
    assert "context" not in json.loads(calls["search_rooms"]["input_values"])

    ask_trace = calls["ask"]["trace_id"]
    sampling, elicitation = of_type(events, "sampling_call")[0], of_type(events, "elicitation")[0]
    assert sampling["trace_id"] == elicitation["trace_id"] == ask_trace
    assert json.loads(sampling["metadata"])["model"] == "test-llm"
    assert json.loads(elicitation["metadata"]) == {"field_names": ["confirm"],
                                                   "action": "accept"}
    resources = {event["event_name"] for event in of_type(events, "resource_access")}
    assert resources == {booking.WIDGET_URI, "hotel://rooms/{room_id}"}
    registered = {event["tool_name"] for event in of_type(events, "tool_discovery")
                  if event["tool_name"]}
    assert {"search_rooms", "book_room", "crash", "soft_fail", "ask", "whoami"} <= registered
    listed = [event for event in of_type(events, "tool_discovery")
              if event["event_name"] == "tools/list"]
    assert "book_room" in json.loads(listed[0]["metadata"])["listed_tools"]


async def test_the_handler_never_sees_the_intent_context(
        framework: Any, ingest_server: IngestServer) -> None:
    server = framework.build_server(**options(ingest_server, intent=True))
    async with framework.connect(server) as client:
        # whoami returns its only argument: an unexpected `context` would fail validation or
        # leak into the result
        result = await client.call("whoami", {"guest": "bob", "context": "who am I"})
        plain = await client.call("whoami", {"guest": "eve"})
    assert (result.is_error, result.text) == (False, "bob")
    assert (plain.is_error, plain.text) == (False, "eve")


async def test_two_sessions_on_one_server_never_share_user_or_steps(
        framework: Any, ingest_server: IngestServer) -> None:
    server = framework.build_server(**options(ingest_server))
    async with framework.connect(server, client_name="claude-ai") as first, \
            framework.connect(server, client_name="cursor") as second:
        await first.call("whoami", {"guest": "ada"})
        await second.call("search_rooms", {"city": "Oslo"})
        await second.call("whoami", {"guest": "bob"})
        await first.call("search_rooms", {"city": "Rome"})

    events = await wait_for(ingest_server, lambda events: len(of_type(events, "tool_call")) == 4)
    sessions: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        sessions.setdefault(event["session_id"], []).append(event)
    assert len(sessions) == 2
    users = {session: {event["user_id"] for event in session_events
                       if event["event_type"] in ("tool_call", "identify", "step")
                       and event["user_id"]}
             for session, session_events in sessions.items()}
    assert sorted(map(sorted, users.values())) == [["ada"], ["bob"]]
    platforms = sorted({event["platform"] for event in evs} .pop() for evs in sessions.values())
    assert platforms == ["claude", "cursor"]
    for session_events in sessions.values():  # each trace counts its own steps from 0
        assert all(event["step_sequence"] == 0 for event in session_events
                   if event["event_type"] == "step")


async def test_widget_events_sent_with_the_minted_token_land_in_the_calls_trace(
        framework: Any, ingest_server: IngestServer) -> None:
    server = framework.build_server(**options(ingest_server))
    async with framework.connect(server) as client:
        first = (await client.call("book_room", {"room_id": "r1", "guest": "ada"})).meta["yavio"]
        second = (await client.call("book_room", {"room_id": "r2", "guest": "ada"})).meta["yavio"]
    assert first["traceId"] != second["traceId"]
    assert first["token"] != second["token"]  # one token per trace, never reused

    click = make_event("widget_click", trace_id=first["traceId"], session_id=first["sessionId"],
                       event_name="book_button", step_sequence=None)
    accepted = await ingest_server.send([click], token=first["token"])
    assert accepted.status_code == 200, accepted.text
    other = make_event("widget_click", trace_id=first["traceId"], session_id="ses_someone_else")
    refused = await ingest_server.send([other], token=first["token"])
    assert refused.status_code >= 400
    assert refused.json()["error"]["code"] == "YAVIO-2112"

    events = await wait_for(ingest_server, lambda events: bool(of_type(events, "widget_click")))
    clicks = of_type(events, "widget_click")
    assert [(event["trace_id"], event["session_id"], event["source"]) for event in clicks] == [
        (first["traceId"], first["sessionId"], "widget")]
    book_call = [event for event in of_type(events, "tool_call")
                 if event["trace_id"] == first["traceId"]]
    assert len(book_call) == 1 and book_call[0]["session_id"] == clicks[0]["session_id"]


async def test_server_only_leaves_results_untouched_and_still_sends_events(
        framework: Any, ingest_server: IngestServer) -> None:
    server = framework.build_server(**options(ingest_server, server_only=True))
    async with framework.connect(server) as client:
        booked = await client.call("book_room", {"room_id": "r1", "guest": "ada"})
    assert "yavio" not in booked.meta
    events = await wait_for(ingest_server, lambda events: bool(of_type(events, "widget_response")))
    assert of_type(events, "widget_response")[0]["event_name"] == "book_room"


async def test_the_widget_html_gets_its_config_when_injection_is_on(
        framework: Any, ingest_server: IngestServer) -> None:
    server = framework.build_server(**options(ingest_server, inject_widget_config=True))
    async with framework.connect(server) as client:
        booked = (await client.call("book_room", {"room_id": "r1", "guest": "ada"})).meta["yavio"]
        html = await client.read(booking.WIDGET_URI)
    head, _, rest = html.partition("<script>window.__YAVIO__ = ")
    assert head == "<!doctype html><html><head>"
    config = json.loads(rest.partition(";</script>")[0])
    assert (config["traceId"], config["sessionId"]) == (booked["traceId"], booked["sessionId"])
    assert config["stepSequence"] == 2 and config["token"]


async def test_the_handshake_less_protocol_groups_a_clients_requests_into_one_session(
        framework: Any, ingest_server: IngestServer) -> None:
    if "modern" not in framework.MODES:
        pytest.skip("this framework's client speaks only the handshake protocol")
    server = framework.build_server(**options(ingest_server))
    async with framework.connect(server, mode="modern", client_name="claude-ai") as client:
        await client.call("search_rooms", {"city": "Rome"})
        await client.call("search_rooms", {"city": "Oslo"})
        await client.call("book_room", {"room_id": "r1", "guest": "ada"},
                          meta={"openai/session": "chatgpt-conversation-1"})
    events = await wait_for(ingest_server, lambda events: len(of_type(events, "tool_call")) == 3)
    calls = of_type(events, "tool_call")
    assert calls[0]["session_id"] == calls[1]["session_id"]
    assert calls[2]["session_id"] == session_id_from_key("chatgpt-conversation-1")
    assert calls[1]["is_retry"] == 1  # the same tool again, nothing in between


async def test_a_low_level_server_is_recorded_too(
        framework: Any, ingest_server: IngestServer) -> None:
    server = framework.build_lowlevel_server(**options(ingest_server))
    if server is None:
        pytest.skip("this framework has no low-level server")
    async with framework.connect(server) as client:
        assert "echo" in await client.tools()
        echoed = await client.call("echo", {"text": "hi"})
    assert echoed.text == "hi"
    events = await wait_for(ingest_server, lambda events: bool(of_type(events, "tool_call")))
    call = of_type(events, "tool_call")[0]
    assert (call["event_name"], call["status"]) == ("echo", "success")
    assert of_type(events, "tool_discovery")


async def test_streamable_http_sessions_derive_from_the_mcp_session_id(
        framework: Any, ingest_server: IngestServer) -> None:
    server = framework.build_server(**options(ingest_server))
    async with serve_asgi(framework.http_app(server)) as url:
        async with framework.connect_http(url, headers={"User-Agent": "Cursor/1.2",
                                                        "Authorization": "Bearer secret-1"}
                                          ) as client:
            await client.call("search_rooms", {"city": "Rome"})
            booked = await client.call("book_room", {"room_id": "r1", "guest": "ada"})
    events = await wait_for(ingest_server, lambda events: len(of_type(events, "connection")) == 2)
    widget = booked.meta["yavio"]
    assert {event["session_id"] for event in events} == {widget["sessionId"]}
    calls = of_type(events, "tool_call")
    assert [call["event_name"] for call in calls] == ["search_rooms", "book_room"]
    headers = json.loads(calls[0]["metadata"])["headers"]
    assert headers["user-agent"] == "Cursor/1.2" and "authorization" not in headers
    assert calls[0]["platform"] == "claude"  # the client's name wins over its User-Agent


async def test_a_stdio_server_in_a_subprocess_delivers_its_events_at_exit(
        framework: Any, ingest_server: IngestServer) -> None:
    env = {**os.environ, "YAVIO_API_KEY": ingest_server.api_key,
           "YAVIO_ENDPOINT": ingest_server.url, "PYTHONPATH": os.getcwd()}
    async with framework.connect_stdio(env) as client:
        await client.call("search_rooms", {"city": "Rome"})
        booked = await client.call("book_room", {"room_id": "r1", "guest": "ada"})
    events = await wait_for(ingest_server, lambda events: len(of_type(events, "connection")) == 2)
    assert {event["session_id"] for event in events} == {booked.meta["yavio"]["sessionId"]}
    assert [call["event_name"] for call in of_type(events, "tool_call")] == [
        "search_rooms", "book_room"]
    assert any(event["connection_duration_ms"] for event in of_type(events, "connection"))


def test_without_an_api_key_the_server_is_returned_untouched_with_no_thread_or_socket(
        framework: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    import socket
    import threading

    monkeypatch.delenv("YAVIO_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # no .yaviorc.json above
    sockets: list[Any] = []
    real_socket = socket.socket

    class CountingSocket(real_socket):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            sockets.append(args)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(socket, "socket", CountingSocket)
    threads = set(threading.enumerate())
    plain = framework.build_server()
    from yavio_sdk import with_yavio

    assert with_yavio(plain) is plain
    assert not hasattr(plain, "_yavio_recorder")
    assert set(threading.enumerate()) == threads
    assert sockets == []


def test_an_unknown_server_is_returned_untouched_with_a_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    from yavio_sdk import with_yavio

    thing = object()
    with caplog.at_level("WARNING", logger="yavio"):
        assert with_yavio(thing, api_key="yav_" + "0" * 64) is thing
    assert "does not know builtins.object" in caplog.text


async def test_an_event_stream_is_what_the_sdk_sent_nothing_printed_to_stdout(
        framework: Any, ingest_server: IngestServer, capfd: pytest.CaptureFixture[str]) -> None:
    server = framework.build_server(**options(ingest_server))
    async with framework.connect(server) as client:
        await client.call("search_rooms", {"city": "Rome"})
        await client.call("crash", {"kind": "db"})
    await wait_for(ingest_server, lambda events: len(of_type(events, "tool_call")) == 2)
    assert capfd.readouterr().out == ""


# -- host safety: the ingest down, slow or failing --------------------------------------------

async def _latencies(client: Any, calls: int) -> list[float]:
    timings = []
    for index in range(calls):
        started = time.perf_counter()
        result = await client.call("search_rooms", {"city": f"c{index}"})
        timings.append(time.perf_counter() - started)
        assert not result.is_error
    return sorted(timings)


@pytest.mark.parametrize("ingest", ["down", "slow", "failing"])
async def test_tool_calls_keep_their_latency_when_the_ingest_misbehaves(
        framework: Any, ingest: str, capfd: pytest.CaptureFixture[str]) -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    async def answer(request: web.Request) -> web.Response:
        if ingest == "slow":
            await asyncio.sleep(5)
            return web.json_response({"accepted": 0})
        return web.json_response({"error": {"code": "YAVIO-3000"}}, status=500)

    app = web.Application()
    app.router.add_post("/v1/events", answer)
    app.router.add_post("/v1/widget-tokens", answer)
    backend = TestServer(app, host="127.0.0.1")
    await backend.start_server()
    url = f"http://127.0.0.1:{backend.port}"
    if ingest == "down":
        await backend.close()
    try:
        plain = framework.build_server()
        instrumented = framework.build_server(api_key="yav_" + "0" * 64, endpoint=url,
                                              batch_size=10, queue_size=50,
                                              flush_interval=0.05)
        recorder = instrumented._yavio_recorder
        async with framework.connect(plain) as client:
            await _latencies(client, 20)  # warm up
            baseline = await _latencies(client, 100)
        async with framework.connect(instrumented) as client:
            await _latencies(client, 20)
            observed = await _latencies(client, 100)
            booked = await client.call("book_room", {"room_id": "r1", "guest": "ada"})
            raised = await client.call("crash", {"kind": "auth"})
        assert not booked.is_error and "yavio" not in booked.meta  # no token: result untouched
        assert raised.is_error
        # A guard against waiting on the network (5 s answers, retries), not a benchmark:
        # bench/sdk_overhead.py measures the overhead.
        assert observed[len(observed) // 2] < baseline[len(baseline) // 2] + 0.02
        assert recorder.sender.queued <= 50  # memory bounded at the queue size
        assert capfd.readouterr().out == ""
    finally:
        if ingest != "down":
            await backend.close()


async def test_a_handler_exception_reaches_the_client_unchanged(
        framework: Any, ingest_server: IngestServer) -> None:
    plain, instrumented = framework.build_server(), framework.build_server(
        **options(ingest_server))
    results = []
    for server in (plain, instrumented):
        async with framework.connect(server) as client:
            results.append(await client.call("crash", {"kind": "db"}))
    assert results[0] == results[1]
    assert results[0].is_error


def test_the_sdk_module_imports_no_framework() -> None:
    import subprocess

    code = ("import sys, yavio_sdk; "
            "print(sorted(m for m in ('mcp', 'fastmcp') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
