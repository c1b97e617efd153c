"""The server events a `Recorder` makes of what an integration saw: connections, tool discovery,
tool calls (success, failure, capture switches, retries), widget responses and the explicit API
inside a call (`yavio_sdk.recorder`)."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from yavio_sdk import yavio
from yavio_sdk.config import YavioConfig, resolve_config
from yavio_sdk.events import (
    BaseEvent,
    ConnectionEvent,
    StepEvent,
    ToolCallEvent,
    ToolDiscoveryEvent,
    WidgetResponseEvent,
)
from yavio_sdk.ids import new_session_id
from yavio_sdk.recorder import Recorder, ToolInfo
from yavio_sdk.sender import DeferredEvent
from yavio_sdk.widget_tokens import WidgetTokens

API_KEY = "yav_" + "0" * 64
ENDPOINT = "http://ingest.test"
WIDGET_META = {"openai/outputTemplate": "ui://w"}


class MemorySink:
    """An in-memory event sink. A deferred event is built when the test reads it, as the real
    sender builds it on its own thread after the call path enqueued it."""

    def __init__(self) -> None:
        self.queued: list[BaseEvent | DeferredEvent] = []

    def enqueue(self, event: BaseEvent | DeferredEvent) -> bool:
        self.queued.append(event)
        return True

    @property
    def events(self) -> list[BaseEvent]:
        for index, event in enumerate(self.queued):
            if isinstance(event, DeferredEvent):
                self.queued[index] = event.build()
        return [event for event in self.queued if event is not None]

    def of(self, kind: type[BaseEvent]) -> list[Any]:
        return [event for event in self.events if type(event) is kind]


class FakeIngest:
    """A fake of the ingest's widget-token endpoint, served through `httpx.MockTransport`."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.transport = httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json={"token": f"wt_{len(self.requests)}"})


@pytest.fixture
def configure(tmp_path: Path) -> Any:
    """`resolve_config` with the test's options only: no environment, no `.yaviorc.json`."""
    def configure(**options: Any) -> YavioConfig:
        return resolve_config(api_key=API_KEY, environ={}, cwd=tmp_path, **options)
    return configure


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def recorder(configure: Any, sink: MemorySink) -> Recorder:
    return Recorder(configure(), sink)


@pytest.fixture
def session_id() -> str:
    return new_session_id()


async def run_call(recorder: Recorder, session_id: str, name: str,
                   arguments: dict[str, Any] | None = None, **options: Any) -> Any:
    """One successful call of `name` as an integration makes it; `returned`'s answer."""
    call = recorder.tool_call(session_id, name, arguments or {}, **options)
    with call:
        pass
    return await call.returned(content=[{"type": "text", "text": "ok"}])


# -- connections ----------------------------------------------------------------------------------

def test_a_session_opening_emits_one_connection_open_event(
        recorder: Recorder, sink: MemorySink, session_id: str) -> None:
    recorder.session_opened(session_id, client_name="claude-ai", client_version="1.2.3",
                            protocol_version="2025-06-18")

    [event] = sink.events
    assert isinstance(event, ConnectionEvent)
    assert event.session_id == session_id
    assert event.source == "server"
    assert event.metadata is not None
    assert event.metadata["phase"] == "open"
    assert event.metadata["intent_enabled"] is False
    assert event.client_name == "claude-ai"
    assert event.client_version == "1.2.3"
    assert event.protocol_version == "2025-06-18"
    assert event.connection_duration_ms is None


def test_the_open_event_says_when_intent_capture_is_on(
        configure: Any, sink: MemorySink, session_id: str) -> None:
    recorder = Recorder(configure(intent=True), sink)

    recorder.session_opened(session_id)

    [event] = sink.events
    assert event.metadata["intent_enabled"] is True


def test_opening_the_same_session_again_emits_nothing_more(
        recorder: Recorder, sink: MemorySink, session_id: str) -> None:
    recorder.session_opened(session_id, client_name="claude-ai")
    recorder.session_opened(session_id, client_name="claude-ai")

    assert len(sink.of(ConnectionEvent)) == 1


def test_a_session_closing_emits_a_close_event_with_its_duration_and_forgets_it(
        recorder: Recorder, sink: MemorySink, session_id: str) -> None:
    recorder.session_opened(session_id)
    recorder.sessions.get(session_id)  # the session has state to forget
    recorder.session_closed(session_id)

    opened, closed = sink.of(ConnectionEvent)
    assert opened.metadata["phase"] == "open"
    assert closed.metadata == {"phase": "close"}
    assert closed.session_id == session_id
    assert closed.connection_duration_ms is not None and closed.connection_duration_ms > 0
    assert recorder.sessions.peek(session_id) is None
    recorder.session_closed(session_id)  # closing again: nothing more
    assert len(sink.of(ConnectionEvent)) == 2


def test_closing_a_session_twice_or_one_never_opened_emits_nothing(
        recorder: Recorder, sink: MemorySink, session_id: str) -> None:
    recorder.session_closed(session_id)
    recorder.session_opened(session_id)
    recorder.session_closed(session_id)
    recorder.session_closed(session_id)

    assert [event.metadata["phase"] for event in sink.of(ConnectionEvent)] == ["open", "close"]


def test_a_closed_session_that_comes_back_is_opened_again(
        recorder: Recorder, sink: MemorySink, session_id: str) -> None:
    recorder.session_opened(session_id)
    recorder.session_closed(session_id)
    recorder.session_opened(session_id)

    assert [event.metadata["phase"] for event in sink.of(ConnectionEvent)] == \
        ["open", "close", "open"]


# -- tool discovery -------------------------------------------------------------------------------

SEARCH = ToolInfo("search_rooms", "Search hotel rooms",
                  {"type": "object", "properties": {"city": {"type": "string"}}})
BOOK = ToolInfo("book_room", "Book a room",
                {"type": "object", "properties": {"room_id": {"type": "string"}}})


def test_listing_tools_announces_each_tool_then_records_the_listing(
        recorder: Recorder, sink: MemorySink, session_id: str) -> None:
    recorder.tools_listed(session_id, [SEARCH, BOOK])

    search, book, listing = sink.events
    assert all(isinstance(event, ToolDiscoveryEvent) for event in (search, book, listing))
    assert (search.tool_name, search.description, search.input_schema) == \
        ("search_rooms", "Search hotel rooms", SEARCH.input_schema)
    assert search.event_name is None
    assert book.tool_name == "book_room"
    assert listing.event_name == "tools/list"
    assert listing.tool_name is None
    assert listing.metadata == {"listed_tools": ["search_rooms", "book_room"]}


def test_listing_the_same_tools_again_records_only_the_listing(
        recorder: Recorder, sink: MemorySink, session_id: str) -> None:
    recorder.tools_listed(session_id, [SEARCH, BOOK])
    before = len(sink.events)

    recorder.tools_listed(new_session_id(), [SEARCH, BOOK])

    [listing] = sink.events[before:]
    assert listing.event_name == "tools/list"


def test_a_tool_whose_description_changed_is_announced_again(
        recorder: Recorder, sink: MemorySink, session_id: str) -> None:
    recorder.tools_listed(session_id, [SEARCH, BOOK])
    before = len(sink.events)

    changed = SEARCH._replace(description="Search hotel rooms by city")
    recorder.tools_listed(session_id, [changed, BOOK])

    announced, listing = sink.events[before:]
    assert announced.tool_name == "search_rooms"
    assert announced.description == "Search hotel rooms by city"
    assert listing.event_name == "tools/list"


def test_tools_announced_when_a_session_opens_are_not_announced_again_on_listing(
        recorder: Recorder, sink: MemorySink, session_id: str) -> None:
    recorder.session_opened(session_id, tools=[SEARCH])
    recorder.tools_listed(session_id, [SEARCH])

    discovery = sink.of(ToolDiscoveryEvent)
    assert [(event.tool_name, event.event_name) for event in discovery] == \
        [("search_rooms", None), (None, "tools/list")]


# -- tool calls -----------------------------------------------------------------------------------

async def test_a_successful_call_records_its_latency_input_output_and_token_estimates(
        recorder: Recorder, sink: MemorySink, session_id: str) -> None:
    call = recorder.tool_call(session_id, "search_rooms",
                              {"city": "Paris", "nights": 2, "flexible": True})
    with call:
        await asyncio.sleep(0.01)
    answer = await call.returned(content=[{"type": "text", "text": "ok"}])

    assert answer is None
    [event] = sink.of(ToolCallEvent)
    assert event.session_id == session_id
    assert event.trace_id == call.trace_id
    assert event.event_name == "search_rooms"
    assert event.status == "success"
    assert event.error_category is None and event.error_message is None
    assert event.latency_ms is not None and event.latency_ms >= 5
    assert event.input_keys == ["city", "nights", "flexible"]
    assert event.input_types == {"city": "string", "nights": "integer", "flexible": "boolean"}
    assert event.input_values == {"city": "Paris", "nights": 2, "flexible": True}
    assert event.output_content == [{"type": "text", "text": "ok"}]
    # ceil(len('{"city":"Paris","nights":2,"flexible":true}') / 4) and ceil(len("ok") / 4)
    assert event.tokens_in == 11
    assert event.tokens_out == 1


async def test_the_call_records_the_arguments_as_the_handler_got_them(
        recorder: Recorder, sink: MemorySink, session_id: str) -> None:
    arguments = {"city": "Paris"}
    call = recorder.tool_call(session_id, "search_rooms", arguments)
    with call:
        arguments["city"] = "changed by the handler"
    await call.returned(content="ok")

    [event] = sink.of(ToolCallEvent)
    assert event.input_values == {"city": "Paris"}


async def test_a_handler_exception_goes_on_unchanged_and_is_recorded_as_an_auth_error(
        recorder: Recorder, sink: MemorySink, session_id: str) -> None:
    error = PermissionError("no access to bookings")
    call = recorder.tool_call(session_id, "book_room", {"room_id": "r1"})

    with pytest.raises(PermissionError) as raised, call:
        raise error

    assert raised.value is error
    [event] = sink.of(ToolCallEvent)
    assert event.status == "error"
    assert event.error_category == "auth"
    assert event.error_message == "PermissionError: no access to bookings"
    assert event.trace_id == call.trace_id


async def test_a_failed_call_is_recorded_once_even_if_returned_is_called_after(
        recorder: Recorder, sink: MemorySink, session_id: str) -> None:
    call = recorder.tool_call(session_id, "book_room", {})
    with pytest.raises(TimeoutError), call:
        raise TimeoutError("upstream took too long")

    assert await call.returned(content="late") is None
    [event] = sink.of(ToolCallEvent)
    assert event.error_category == "timeout"


async def test_an_error_result_is_recorded_with_the_category_its_text_names(
        recorder: Recorder, sink: MemorySink, session_id: str) -> None:
    call = recorder.tool_call(session_id, "search_rooms", {"city": "Paris"})
    with call:
        pass
    await call.returned(content=[{"type": "text", "text": "rate limit exceeded"}], is_error=True)

    [event] = sink.of(ToolCallEvent)
    assert event.status == "error"
    assert event.error_category == "rate_limit"
    assert event.error_message == "rate limit exceeded"


async def test_input_values_are_left_out_when_their_capture_is_off(
        configure: Any, sink: MemorySink, session_id: str) -> None:
    recorder = Recorder(configure(capture_input_values=False), sink)

    await run_call(recorder, session_id, "search_rooms", {"city": "Paris"})

    [event] = sink.of(ToolCallEvent)
    assert event.input_values is None
    assert event.input_keys == ["city"]
    assert event.output_content == [{"type": "text", "text": "ok"}]


async def test_output_content_is_left_out_when_its_capture_is_off(
        configure: Any, sink: MemorySink, session_id: str) -> None:
    recorder = Recorder(configure(capture_output_values=False), sink)

    await run_call(recorder, session_id, "search_rooms", {"city": "Paris"})

    [event] = sink.of(ToolCallEvent)
    assert event.output_content is None
    assert event.input_values == {"city": "Paris"}
    assert event.tokens_out == 1


async def test_a_binary_image_in_the_output_becomes_a_placeholder_with_its_size(
        recorder: Recorder, sink: MemorySink, session_id: str) -> None:
    data = base64.b64encode(b"\x89PNG\r\n\x1a\n\x00\x01").decode()  # 10 bytes
    call = recorder.tool_call(session_id, "render_map", {})
    with call:
        pass
    await call.returned(content=[{"type": "image", "mimeType": "image/png", "data": data}])

    [event] = sink.of(ToolCallEvent)
    assert event.output_content == [
        {"type": "image", "mimeType": "image/png", "data": "[binary:image/png:10]"}]
    assert data not in json.dumps(event.output_content)


async def test_an_email_in_an_argument_value_is_redacted(
        recorder: Recorder, sink: MemorySink, session_id: str) -> None:
    await run_call(recorder, session_id, "send_confirmation",
                   {"note": "send it to bob@example.com please", "nights": 2})

    [event] = sink.of(ToolCallEvent)
    assert event.input_values == {"note": "send it to [EMAIL_REDACTED] please", "nights": 2}
    assert "bob@example.com" not in json.dumps(event.input_values)


async def test_the_same_tool_twice_in_a_row_is_a_retry_and_after_another_tool_it_is_not(
        recorder: Recorder, sink: MemorySink, session_id: str) -> None:
    for name in ("search_rooms", "search_rooms", "book_room", "search_rooms"):
        await run_call(recorder, session_id, name)

    assert [(event.event_name, event.is_retry) for event in sink.of(ToolCallEvent)] == [
        ("search_rooms", 0), ("search_rooms", 1), ("book_room", 0), ("search_rooms", 0)]


async def test_calls_in_different_sessions_are_not_retries_of_each_other(
        recorder: Recorder, sink: MemorySink, session_id: str) -> None:
    await run_call(recorder, session_id, "search_rooms")
    await run_call(recorder, new_session_id(), "search_rooms")

    assert [event.is_retry for event in sink.of(ToolCallEvent)] == [0, 0]


async def test_the_agents_context_becomes_the_calls_intent_when_intent_is_on(
        configure: Any, sink: MemorySink, session_id: str) -> None:
    recorder = Recorder(configure(intent=True), sink)

    await run_call(recorder, session_id, "search_rooms", {"city": "Paris"},
                   context="Plan a weekend in Paris")

    [event] = sink.of(ToolCallEvent)
    assert event.intent_signals == {"intent": "Plan a weekend in Paris",
                                    "source": "context_parameter"}


# -- widgets --------------------------------------------------------------------------------------

async def test_a_widget_call_returns_its_widget_config_and_emits_a_widget_response(
        configure: Any, sink: MemorySink, session_id: str) -> None:
    ingest = FakeIngest()
    tokens = WidgetTokens(API_KEY, ENDPOINT, transport=ingest.transport)
    recorder = Recorder(configure(), sink, tokens=tokens)

    call = recorder.tool_call(session_id, "show_rooms", {"city": "Paris"}, tool_meta=WIDGET_META)
    with call:
        await asyncio.sleep(0)
    answer = await call.returned(content=[{"type": "text", "text": "3 rooms"}])

    assert answer == {"token": "wt_1", "endpoint": ENDPOINT, "traceId": call.trace_id,
                      "sessionId": session_id, "stepSequence": 0}
    assert len(ingest.requests) == 1
    assert json.loads(ingest.requests[0].content) == {"traceId": call.trace_id,
                                                      "sessionId": session_id}
    [widget] = sink.of(WidgetResponseEvent)
    assert widget.trace_id == call.trace_id
    assert widget.session_id == session_id
    assert widget.event_name == "show_rooms"
    assert widget.metadata == {"template_uri": "ui://w"}
    [event] = sink.of(ToolCallEvent)
    assert event.status == "success"


async def test_a_widget_calls_step_sequence_continues_after_the_handlers_steps(
        configure: Any, sink: MemorySink, session_id: str) -> None:
    tokens = WidgetTokens(API_KEY, ENDPOINT, transport=FakeIngest().transport)
    recorder = Recorder(configure(), sink, tokens=tokens)

    call = recorder.tool_call(session_id, "show_rooms", {}, tool_meta=WIDGET_META)
    with call:
        yavio.step("rooms_found", count=3)
    answer = await call.returned(content="ok")

    assert answer is not None
    assert answer["stepSequence"] == 1


async def test_a_server_only_widget_call_returns_nothing_but_still_emits_a_widget_response(
        configure: Any, sink: MemorySink, session_id: str) -> None:
    ingest = FakeIngest()
    tokens = WidgetTokens(API_KEY, ENDPOINT, transport=ingest.transport)
    recorder = Recorder(configure(server_only=True), sink, tokens=tokens)

    call = recorder.tool_call(session_id, "show_rooms", {}, tool_meta=WIDGET_META)
    with call:
        pass
    answer = await call.returned(content="ok")

    assert answer is None
    assert ingest.requests == []
    [widget] = sink.of(WidgetResponseEvent)
    assert widget.trace_id == call.trace_id
    assert widget.metadata == {"template_uri": "ui://w"}


# -- the explicit API inside a call ---------------------------------------------------------------

async def test_a_step_inside_a_call_belongs_to_the_calls_trace(
        recorder: Recorder, sink: MemorySink, session_id: str) -> None:
    call = recorder.tool_call(session_id, "search_rooms", {"city": "Paris"})
    with call:
        yavio.step("rooms_found", count=3)
    await call.returned(content="ok")

    [step] = sink.of(StepEvent)
    assert step.event_name == "rooms_found"
    assert step.trace_id == call.trace_id
    assert step.session_id == session_id
    assert step.step_sequence == 0
    assert step.metadata == {"count": 3}


async def test_a_step_after_the_call_is_ignored(
        recorder: Recorder, sink: MemorySink, session_id: str) -> None:
    await run_call(recorder, session_id, "search_rooms")

    yavio.step("too_late")

    assert sink.of(StepEvent) == []
