"""The explicit API (SPEC 4): `yavio.step/track/conversion/identify` inside a tool call, through the
module-level `yavio` (contextvars) and the per-call handle an integration attaches as `ctx.yavio`.

Events go to `RecordingSender`, a fake standing in for the network (the real sender has its own
tests); one end-to-end test runs the real `EventSender` over `httpx.MockTransport`.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
from collections.abc import Callable
from typing import Any

import httpx
import msgspec
import pytest

from yavio_sdk.config import YavioConfig
from yavio_sdk.events import (
    BaseEvent,
    ConversionEvent,
    Envelope,
    IdentifyEvent,
    StepEvent,
    TrackEvent,
    validate_obj,
)
from yavio_sdk.sender import EventSender
from yavio_sdk.session_state import PrecedingEvent
from yavio_sdk.tracking import CallHandle, Tracker, current_call, yavio

API_KEY = "yav_" + "ef" * 32
ENDPOINT = "https://ingest.example.test"
CONFIG = YavioConfig(api_key=API_KEY, endpoint=ENDPOINT)


class RecordingSender:
    """A fake sender standing in for the network: keeps every enqueued event, in order."""

    def __init__(self) -> None:
        self.events: list[BaseEvent] = []

    def enqueue(self, event: BaseEvent) -> bool:
        self.events.append(event)
        return True


class ExplodingSender:
    """A sender whose `enqueue` raises, as a broken transport might."""

    def enqueue(self, event: BaseEvent) -> bool:
        raise RuntimeError("boom")


def make_tracker(sender: Any = None) -> Tracker:
    return Tracker(CONFIG, sender if sender is not None else RecordingSender(),
                   sdk_version="9.9.9")


def sent(tracker: Tracker) -> list[Any]:
    return tracker.sender.events


def yavio_records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "yavio" and r.levelno == level]


# -- each method's event --------------------------------------------------------------------------

EMITTERS: dict[str, tuple[Callable[[Any], None], type[BaseEvent]]] = {
    "step": (lambda api: api.step("rooms_found", count=3), StepEvent),
    "track": (lambda api: api.track("filter_used", field="price"), TrackEvent),
    "conversion": (lambda api: api.conversion("booking_completed", value=567, currency="EUR",
                                              rooms=1), ConversionEvent),
    "identify": (lambda api: api.identify("user_42", {"plan": "pro"}), IdentifyEvent),
}


@pytest.mark.parametrize("method", EMITTERS)
def test_each_method_sends_one_valid_event_carrying_the_calls_trace_session_and_platform(
    method: str,
) -> None:
    tracker = make_tracker()
    tracker.sessions.set_client("ses_a", platform="claude")
    emit, event_type = EMITTERS[method]

    with tracker.call("ses_a", "tr_a"):
        emit(yavio)

    [event] = sent(tracker)
    decoded, issues = validate_obj(event)
    assert issues == []
    assert type(decoded) is event_type
    assert (event.trace_id, event.session_id, event.platform) == ("tr_a", "ses_a", "claude")
    assert event.source == "server"
    assert event.sdk_version == "9.9.9"


def test_events_carry_what_the_user_passed() -> None:
    tracker = make_tracker()
    with tracker.call("ses_a", "tr_a") as call:
        call.step("rooms_found", count=3)
        call.track("filter_used", field="price")
        call.conversion("booking_completed", value=567, currency="eur", rooms=1)
        call.identify("user_42", {"plan": "pro"})

    step, track, conversion, identify = sent(tracker)
    assert (step.event_name, step.metadata, step.step_sequence) == ("rooms_found", {"count": 3}, 0)
    assert (track.event_name, track.metadata) == ("filter_used", {"field": "price"})
    assert conversion.event_name == "booking_completed"
    assert conversion.conversion_value == 567.0 and type(conversion.conversion_value) is float
    assert conversion.conversion_currency == "EUR"
    assert conversion.metadata == {"rooms": 1}
    assert (identify.user_id, identify.user_traits) == ("user_42", {"plan": "pro"})


def test_a_call_platform_overrides_the_sessions_and_unknown_is_the_default() -> None:
    tracker = make_tracker()
    with tracker.call("ses_a", "tr_a"):
        yavio.track("a")
    with tracker.call("ses_a", "tr_b", platform="chatgpt"):
        yavio.track("b")
    assert [e.platform for e in sent(tracker)] == ["unknown", "chatgpt"]


def test_events_inside_a_call_leave_the_call_as_the_sessions_preceding_event() -> None:
    tracker = make_tracker()
    tracker.sessions.record_event("ses_a", "tool_call", "search_rooms")  # the call starting
    with tracker.call("ses_a", "tr_a") as call:
        yavio.step("rooms_found")
        yavio.identify("user_42")
    # its own steps do not hide a retry of the same tool
    assert tracker.sessions.get("ses_a").preceding_event == PrecedingEvent(
        "tool_call", "search_rooms")
    call.track("later")  # after the call (a task it started): the agent's next move
    assert tracker.sessions.get("ses_a").preceding_event == PrecedingEvent("track", "later")


# -- step sequence --------------------------------------------------------------------------------

def test_steps_count_from_zero_within_a_trace_and_restart_for_a_new_trace() -> None:
    tracker = make_tracker()
    with tracker.call("ses_a", "tr_1"):
        for name in ("a", "b", "c"):
            yavio.step(name)
    with tracker.call("ses_a", "tr_2"):
        yavio.step("a")
        yavio.track("not_a_step")
        yavio.step("b")

    steps = [e for e in sent(tracker) if isinstance(e, StepEvent)]
    assert [(e.trace_id, e.step_sequence) for e in steps] == [
        ("tr_1", 0), ("tr_1", 1), ("tr_1", 2), ("tr_2", 0), ("tr_2", 1)]


# -- identify -------------------------------------------------------------------------------------

def test_identify_with_the_same_id_merges_traits_and_later_events_carry_the_user() -> None:
    tracker = make_tracker()
    with tracker.call("ses_a", "tr_1"):
        yavio.track("before")
        yavio.identify("user_42", {"plan": "free", "seats": 1})
    with tracker.call("ses_a", "tr_2"):
        yavio.identify("user_42", {"plan": "pro"})
        yavio.step("after")

    before, first, second, after = sent(tracker)
    assert before.user_id is None
    assert first.user_traits == {"plan": "free", "seats": 1}
    assert second.user_traits == {"plan": "pro", "seats": 1}
    assert after.user_id == "user_42"


def test_identify_with_a_different_id_is_ignored_with_a_warning_and_sends_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tracker = make_tracker()
    with tracker.call("ses_a", "tr_1"):
        yavio.identify("user_42", {"plan": "pro"})
        caplog.clear()
        yavio.identify("user_99", {"plan": "enterprise"})
        yavio.track("after")

    identify, after = sent(tracker)
    assert identify.user_id == after.user_id == "user_42"
    assert tracker.sessions.get("ses_a").traits == {"plan": "pro"}
    assert len(yavio_records(caplog, logging.WARNING)) == 1


# -- isolation ------------------------------------------------------------------------------------

def test_two_sessions_of_one_server_never_share_the_user() -> None:
    tracker = make_tracker()
    with tracker.call("ses_a", "tr_a"):
        yavio.identify("user_a", {"plan": "pro"})
    with tracker.call("ses_b", "tr_b"):
        yavio.track("seen")
        yavio.identify("user_b")  # not "a different user" for this session: accepted

    _, seen, identify_b = sent(tracker)
    assert seen.user_id is None
    assert (identify_b.user_id, identify_b.user_traits) == ("user_b", None)


def test_two_servers_in_one_process_never_mix_events_users_or_steps() -> None:
    first, second = make_tracker(), make_tracker()
    with first.call("ses_same", "tr_same"):
        yavio.identify("user_1")
        yavio.step("one")
    with second.call("ses_same", "tr_same"):
        yavio.step("two")

    assert [type(e) for e in sent(first)] == [IdentifyEvent, StepEvent]
    [step] = sent(second)
    assert (step.user_id, step.step_sequence) == (None, 0)


def test_nested_call_contexts_restore_the_outer_call() -> None:
    tracker = make_tracker()
    assert current_call() is None
    with tracker.call("ses_a", "tr_outer") as outer:
        with tracker.call("ses_a", "tr_inner"):
            yavio.track("inner")
        assert current_call() is outer
        yavio.track("outer")
    assert current_call() is None
    assert [e.trace_id for e in sent(tracker)] == ["tr_inner", "tr_outer"]


async def test_concurrent_tasks_in_different_calls_never_see_each_others_context() -> None:
    tracker = make_tracker()
    both_inside = asyncio.Barrier(2)

    async def handler(session_id: str, trace_id: str) -> None:
        async with tracker.call(session_id, trace_id):
            await both_inside.wait()  # both contexts entered before either emits
            yavio.step("start")
            await asyncio.sleep(0)
            yavio.step("end")
            await both_inside.wait()

    await asyncio.gather(handler("ses_a", "tr_a"), handler("ses_b", "tr_b"))

    by_trace = {(e.trace_id, e.session_id, e.step_sequence) for e in sent(tracker)}
    assert by_trace == {("tr_a", "ses_a", 0), ("tr_a", "ses_a", 1),
                        ("tr_b", "ses_b", 0), ("tr_b", "ses_b", 1)}
    assert current_call() is None


# -- outside a call -------------------------------------------------------------------------------

@pytest.mark.parametrize("method", EMITTERS)
def test_a_call_outside_a_tool_call_is_a_silent_no_op_with_a_debug_log(
    method: str, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str],
) -> None:
    tracker = make_tracker()
    caplog.set_level(logging.DEBUG, logger="yavio")

    assert EMITTERS[method][0](yavio) is None

    assert sent(tracker) == []
    assert [r.levelno for r in caplog.records if r.name == "yavio"] == [logging.DEBUG]
    assert capfd.readouterr() == ("", "")


# -- the handle and the module-level object ------------------------------------------------------

def _comparable(event: BaseEvent) -> dict[str, Any]:
    fields = msgspec.structs.asdict(event)
    del fields["event_id"], fields["timestamp"]
    return fields


def test_the_module_level_yavio_and_the_call_handle_send_the_same_events() -> None:
    via_module, via_handle = make_tracker(), make_tracker()
    with via_module.call("ses_a", "tr_a"):
        for emit, _ in EMITTERS.values():
            emit(yavio)
    handle = CallHandle(via_handle, "ses_a", "tr_a")  # outside any context: bound to its call
    for emit, _ in EMITTERS.values():
        emit(handle)

    assert len(sent(via_module)) == 4
    assert [_comparable(e) for e in sent(via_module)] == [_comparable(e) for e in sent(via_handle)]


# -- payloads -------------------------------------------------------------------------------------

def test_pii_in_properties_metadata_and_traits_is_redacted_before_enqueue() -> None:
    tracker = make_tracker()
    with tracker.call("ses_a", "tr_a"):
        yavio.track("contact", email="jane@example.com", nested={"notes": ["call 555-867-5309"]})
        yavio.step("s", who="jane@example.com")
        yavio.conversion("c", value=1, note="card 4111 1111 1111 1111")
        yavio.identify("user_42", {"email": "jane@example.com"})

    track, step, conversion, identify = sent(tracker)
    assert track.metadata == {"email": "[EMAIL_REDACTED]",
                              "nested": {"notes": ["call [PHONE_REDACTED]"]}}
    assert step.metadata == {"who": "[EMAIL_REDACTED]"}
    assert conversion.metadata == {"note": "card [CC_REDACTED]"}
    assert identify.user_traits == {"email": "[EMAIL_REDACTED]"}
    assert tracker.sessions.get("ses_a").traits == {"email": "[EMAIL_REDACTED]"}


def test_values_json_cannot_hold_become_strings_and_the_event_stays_valid() -> None:
    class Room:
        def __str__(self) -> str:
            return "Room 12 for jane@example.com"

    class Unprintable:
        def __str__(self) -> str:
            raise ValueError("no")

    cycle: list[Any] = []
    cycle.append(cycle)
    tracker = make_tracker()
    with tracker.call("ses_a", "tr_a"):
        yavio.track("odd", room=Room(), broken=Unprintable(), keys={1: "one"}, tags=("a", "b"),
                    cycle=cycle, ratio=float("nan"), blob=b"\x00\x01")

    [event] = sent(tracker)
    assert validate_obj(event)[1] == []
    assert event.metadata["room"] == "Room 12 for [EMAIL_REDACTED]"
    assert event.metadata["broken"] == "<Unprintable>"
    assert event.metadata["keys"] == {"1": "one"}
    assert event.metadata["tags"] == ["a", "b"]
    assert event.metadata["cycle"] == ["[Circular]"]
    assert event.metadata["ratio"] == "nan"
    assert event.metadata["blob"] == "b'\\x00\\x01'"


def test_an_oversized_payload_becomes_a_truncation_marker_and_the_event_is_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tracker = make_tracker()
    with tracker.call("ses_a", "tr_a"):
        yavio.track("big", text="x" * 20_000)

    [event] = sent(tracker)
    assert event.metadata == {"_truncated": True, "_original_size": 20_011}
    assert validate_obj(event)[1] == []
    assert len(yavio_records(caplog, logging.WARNING)) == 1


@pytest.mark.parametrize(("value", "currency", "expected_value", "expected_currency"), [
    (19.99, "usd", 19.99, "USD"),
    ("19.99", "EUR", None, "EUR"),
    (True, "EUR", None, "EUR"),
    (float("inf"), "EUR", None, "EUR"),
    (10, "EURO", 10.0, None),
    (10, "€€€", 10.0, None),
    (10, 978, 10.0, None),
])
def test_an_invalid_conversion_value_or_currency_drops_that_field_with_a_warning_not_the_event(
    value: Any, currency: Any, expected_value: float | None, expected_currency: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tracker = make_tracker()
    with tracker.call("ses_a", "tr_a"):
        yavio.conversion("booking_completed", value=value, currency=currency)

    [event] = sent(tracker)
    assert (event.conversion_value, event.conversion_currency) == (expected_value,
                                                                   expected_currency)
    assert validate_obj(event)[1] == []
    dropped = (expected_value is None) + (expected_currency is None)
    assert len(yavio_records(caplog, logging.WARNING)) == dropped


# -- never raises, never prints -------------------------------------------------------------------

GARBAGE: dict[str, Callable[[Any], None]] = {
    "non-str step name": lambda api: api.step(42),
    "empty track name": lambda api: api.track(""),
    "overlong conversion name": lambda api: api.conversion("x" * 300),
    "none conversion name": lambda api: api.conversion(None, value=object()),
    "non-str user id": lambda api: api.identify(["user"]),
    "empty user id": lambda api: api.identify(""),
    "overlong user id": lambda api: api.identify("u" * 300),
}


@pytest.mark.parametrize("call", GARBAGE.values(), ids=GARBAGE.keys())
def test_garbage_arguments_send_nothing_warn_and_never_raise_or_print(
    call: Callable[[Any], None], caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    tracker = make_tracker()
    with tracker.call("ses_a", "tr_a") as handle:
        call(yavio)
        call(handle)

    assert sent(tracker) == []
    assert yavio_records(caplog, logging.WARNING)
    assert capfd.readouterr().out == ""


def test_identify_traits_that_are_not_a_mapping_are_dropped_and_the_user_still_identified() -> None:
    tracker = make_tracker()
    with tracker.call("ses_a", "tr_a"):
        yavio.identify("user_42", ["plan", "pro"])  # type: ignore[arg-type]

    [event] = sent(tracker)
    assert (event.user_id, event.user_traits) == ("user_42", None)


def test_a_sender_that_raises_never_reaches_the_caller_and_nothing_is_printed(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str],
) -> None:
    tracker = make_tracker(ExplodingSender())
    with tracker.call("ses_a", "tr_a") as handle:
        for emit, _ in EMITTERS.values():
            emit(yavio)
            emit(handle)

    assert len(yavio_records(caplog, logging.WARNING)) == 8
    assert capfd.readouterr().out == ""


# -- end to end -----------------------------------------------------------------------------------

def test_events_reach_the_ingest_in_a_gzip_envelope_through_the_real_sender() -> None:
    requests: list[httpx.Request] = []

    def ingest(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json={"accepted": 4, "rejected": 0})

    sender = EventSender(API_KEY, ENDPOINT, transport=httpx.MockTransport(ingest),
                         flush_interval=60.0, sdk_version="9.9.9")
    tracker = Tracker(CONFIG, sender, sdk_version="9.9.9")
    try:
        with tracker.call("ses_e2e", "tr_e2e", platform="cursor"):
            yavio.identify("user_42", {"plan": "pro"})
            yavio.step("rooms_found", count=3)
            yavio.track("filter_used", email="jane@example.com")
            yavio.conversion("booking_completed", value=567, currency="EUR", rooms=1)
        assert sender.flush(timeout=5).sent == 4
    finally:
        sender.close(timeout=2)

    [request] = requests
    assert request.url == ENDPOINT + "/v1/events"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    body = msgspec.json.decode(gzip.decompress(request.content))
    assert body["sdk_version"] == "9.9.9"
    assert [e["event_type"] for e in body["events"]] == ["identify", "step", "track", "conversion"]
    assert all(e["trace_id"] == "tr_e2e" and e["session_id"] == "ses_e2e"
               and e["platform"] == "cursor" and e["user_id"] == "user_42"
               and e["source"] == "server" for e in body["events"])
    identify, step, track, conversion = body["events"]
    assert identify["user_traits"] == {"plan": "pro"}
    assert (step["event_name"], step["step_sequence"], step["metadata"]) == (
        "rooms_found", 0, {"count": 3})
    assert track["metadata"] == {"email": "[EMAIL_REDACTED]"}
    assert (conversion["conversion_value"], conversion["conversion_currency"]) == (567.0, "EUR")
    msgspec.json.decode(gzip.decompress(request.content), type=Envelope)  # the ingest's contract
