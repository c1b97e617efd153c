"""The event contract: what the SDK sends comes back unchanged, and what the ingest must refuse is
refused with issues that name the field."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yavio_sdk.events import (
    EVENT_TYPES,
    MAX_EVENT_BYTES,
    MAX_EVENTS_PER_BATCH,
    ConnectionEvent,
    ConversionEvent,
    ElicitationEvent,
    Envelope,
    IdentifyEvent,
    PromptUsageEvent,
    RawEnvelope,
    ResourceAccessEvent,
    SamplingCallEvent,
    StepEvent,
    TimestampWindow,
    ToolCallEvent,
    ToolDiscoveryEvent,
    TrackEvent,
    WidgetClickEvent,
    WidgetErrorEvent,
    WidgetFocusEvent,
    WidgetFormFieldEvent,
    WidgetFormSubmitEvent,
    WidgetLinkClickEvent,
    WidgetNavigationEvent,
    WidgetPerformanceEvent,
    WidgetRageClickEvent,
    WidgetRenderEvent,
    WidgetResponseEvent,
    WidgetScrollEvent,
    WidgetVisibilityEvent,
    decode,
    encode,
    format_timestamp,
    json_schema,
    validate_event,
    validate_obj,
)

SERVER = dict(
    event_id="0195f3c2-8a4b-7c1d-9e2f-3a4b5c6d7e8f",
    trace_id="tr_V1StGXR8_Z5jdHi6B-myT",
    session_id="ses_2kPq9sLm0XcR4tYb7NvWe",
    timestamp="2025-06-01T12:00:00.123Z",
    source="server",
    platform="chatgpt",
    sdk_version="0.1.0",
)
WIDGET = {**SERVER, "event_id": "6f1c1a52-3b0e-4d7a-9c55-0d9f2a8e4b11", "source": "widget",
          "timestamp": "2025-06-01T12:00:01.456Z"}

# One realistic event per type, shaped like what the SDK and the widget send.
EXAMPLES: dict[str, Any] = {
    "tool_call": ToolCallEvent(
        **SERVER, event_name="search_flights", user_id="user_42", metadata={
            "request": {"user-agent": "openai-mcp/1.0", "mcp-protocol-version": "2025-06-18"}},
        latency_ms=183.25, status="error", error_category="rate_limit",
        error_message="429 Too Many Requests from the fares API", is_retry=1,
        input_keys=["origin", "destination", "date"],
        input_types={"origin": "string", "destination": "string", "date": "string"},
        input_values={"origin": "BER", "destination": "LIS", "date": "2025-07-01"},
        output_content=[{"type": "text", "text": "No fares found"}, "[binary:image/png:2048]"],
        intent_signals={"intent": "find a cheap flight to Lisbon", "source": "context_parameter"},
        tokens_in=17, tokens_out=5, country_code="DE", locale="de-DE",
        end_user_agent="ChatGPT/1.2025.140 (iOS 18.5)", subject_id="v1/abc123"),
    "connection": ConnectionEvent(
        **SERVER, metadata={"phase": "close", "intent_enabled": True},
        protocol_version="2025-06-18", client_name="openai-mcp", client_version="1.0.0",
        connection_duration_ms=65_432.5),
    "resource_access": ResourceAccessEvent(
        **SERVER, event_name="ui://widget/fares.html",
        metadata={"method": "read", "size_bytes": 5120, "mime_type": "text/html+skybridge"},
        latency_ms=2.5, status="success"),
    "prompt_usage": PromptUsageEvent(
        **SERVER, event_name="plan_trip", metadata={"method": "get", "argument_keys": ["city"]},
        latency_ms=0.75, status="success"),
    "sampling_call": SamplingCallEvent(
        **SERVER, metadata={"model": "claude-sonnet-4"}, latency_ms=1_204.0, tokens_in=350,
        tokens_out=120, status="success"),
    "elicitation": ElicitationEvent(
        **SERVER, metadata={"action": "decline", "field_names": ["passport_number"]},
        latency_ms=9_876.5),
    "widget_response": WidgetResponseEvent(
        **SERVER, event_name="search_flights", metadata={"template_uri": "ui://widget/fares.html"}),
    "tool_discovery": ToolDiscoveryEvent(
        **SERVER, tool_name="search_flights", description="Search flights between two airports.",
        input_schema={"type": "object", "properties": {"origin": {"type": "string"}},
                      "required": ["origin"]}),
    "step": StepEvent(**SERVER, event_name="fares_shown", step_sequence=0,
                      metadata={"results": 12}),
    "track": TrackEvent(**WIDGET, event_name="filter_changed",
                        metadata={"filter": "nonstop", "enabled": True}),
    "conversion": ConversionEvent(**SERVER, event_name="ticket_booked", conversion_value=129.99,
                                  conversion_currency="EUR", metadata={"fare_class": "Y"}),
    "identify": IdentifyEvent(**SERVER, user_id="user_42",
                              user_traits={"plan": "pro", "signed_up": "2024-11-02"}),
    "widget_render": WidgetRenderEvent(
        **WIDGET, viewport_width=390, viewport_height=844, device_pixel_ratio=3.0, device_touch=1,
        connection_type="4g"),
    "widget_error": WidgetErrorEvent(
        **WIDGET, metadata={"message": "TypeError: fares is undefined", "kind": "error"}),
    "widget_visibility": WidgetVisibilityEvent(**WIDGET, visible_duration_ms=4_250.5),
    "widget_click": WidgetClickEvent(**WIDGET, click_count=1, metadata={"target": "button#book"}),
    "widget_scroll": WidgetScrollEvent(**WIDGET, scroll_depth_pct=72.5),
    "widget_form_field": WidgetFormFieldEvent(**WIDGET, field_name="email",
                                              metadata={"time_spent_ms": 3100}),
    "widget_form_submit": WidgetFormSubmitEvent(**WIDGET, metadata={"validation_errors": 2}),
    "widget_link_click": WidgetLinkClickEvent(**WIDGET, metadata={"domain": "tap.pt"}),
    "widget_navigation": WidgetNavigationEvent(**WIDGET, nav_from="/results", nav_to="/fare/3"),
    "widget_focus": WidgetFocusEvent(**WIDGET, metadata={"focused": False}),
    "widget_performance": WidgetPerformanceEvent(
        **WIDGET, load_time_ms=412.3, metadata={"first_paint_ms": 180.0, "tti_ms": 520.1}),
    "widget_rage_click": WidgetRageClickEvent(**WIDGET, click_count=5,
                                              metadata={"target": "button#book"}),
}

DROP = object()


def wire(example: str = "tool_call", /, **changes: Any) -> dict[str, Any]:
    """The JSON object of the example event of that type, with fields changed (DROP removes)."""
    obj = json.loads(encode(EXAMPLES[example]))
    for name, value in changes.items():
        if value is DROP:
            obj.pop(name, None)
        else:
            obj[name] = value
    return obj


def raw(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def issue_fields(issues: list[str]) -> list[str]:
    return [issue.split(": ", 1)[0] for issue in issues]


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_type_round_trips_through_json_unchanged(event_type: str) -> None:
    event = EXAMPLES[event_type]
    sent = encode(event)

    received, issues = validate_event(sent)

    assert issues == []
    assert type(received) is type(event)
    assert received == event
    assert encode(received) == sent
    assert json.loads(sent)["event_type"] == event_type


REJECTIONS = [
    # (what is wrong, event type, changes, field the issue must name)
    ("event_id missing", "tool_call", {"event_id": DROP}, "event_id"),
    ("trace_id missing", "tool_call", {"trace_id": DROP}, "trace_id"),
    ("session_id missing", "widget_click", {"session_id": DROP}, "session_id"),
    ("timestamp missing", "track", {"timestamp": DROP}, "timestamp"),
    ("source missing", "identify", {"source": DROP}, "source"),
    ("event_type missing", "tool_call", {"event_type": DROP}, "event_type"),
    ("trace_id null", "tool_call", {"trace_id": None}, "trace_id"),
    ("event_id not a UUID", "tool_call", {"event_id": "evt_12345"}, "event_id"),
    ("event_id one digit short", "tool_call",
     {"event_id": "0195f3c2-8a4b-7c1d-9e2f-3a4b5c6d7e8"}, "event_id"),
    ("event_id with a non-hex digit", "tool_call",
     {"event_id": "0195f3c2-8a4b-7c1d-9e2f-3a4b5c6d7e8g"}, "event_id"),
    ("event_id a number", "tool_call", {"event_id": 12345}, "event_id"),
    ("timestamp without Z", "tool_call", {"timestamp": "2025-06-01T12:00:00.123"}, "timestamp"),
    ("timestamp with an offset", "tool_call",
     {"timestamp": "2025-06-01T12:00:00+00:00"}, "timestamp"),
    ("timestamp in month 13", "tool_call", {"timestamp": "2025-13-01T12:00:00Z"}, "timestamp"),
    ("timestamp on February 30", "tool_call", {"timestamp": "2025-02-30T12:00:00Z"}, "timestamp"),
    ("timestamp as epoch millis", "tool_call", {"timestamp": 1748779200123}, "timestamp"),
    ("timestamp not a date", "tool_call", {"timestamp": "yesterdayZ"}, "timestamp"),
    ("timestamp finer than nanoseconds", "tool_call",
     {"timestamp": "2025-06-01T12:00:00.0000000001Z"}, "timestamp"),
    ("unknown event_type", "tool_call", {"event_type": "tool_called"}, "event_type"),
    ("event_type not a string", "tool_call", {"event_type": ["tool_call"]}, "event_type"),
    ("source not server or widget", "track", {"source": "client"}, "source"),
    ("status not success or error", "tool_call", {"status": "ok"}, "status"),
    ("status on a resource", "resource_access", {"status": "failed"}, "status"),
    ("unknown error_category", "tool_call", {"error_category": "network"}, "error_category"),
    ("is_retry 2", "tool_call", {"is_retry": 2}, "is_retry"),
    ("is_retry as a string", "tool_call", {"is_retry": "1"}, "is_retry"),
    ("device_touch 2", "widget_render", {"device_touch": 2}, "device_touch"),
    ("country_code of 3 letters", "tool_call", {"country_code": "DEU"}, "country_code"),
    ("country_code with a digit", "tool_call", {"country_code": "D1"}, "country_code"),
    ("currency of 2 letters", "conversion", {"conversion_currency": "EU"}, "conversion_currency"),
    ("currency of 4 letters", "conversion", {"conversion_currency": "EURO"},
     "conversion_currency"),
    ("currency with a symbol", "conversion", {"conversion_currency": "U$D"},
     "conversion_currency"),
    ("scroll_depth_pct over 100", "widget_scroll", {"scroll_depth_pct": 100.5},
     "scroll_depth_pct"),
    ("scroll_depth_pct negative", "widget_scroll", {"scroll_depth_pct": -1}, "scroll_depth_pct"),
    ("latency_ms as a string", "tool_call", {"latency_ms": "12"}, "latency_ms"),
    ("tokens_in as a string", "sampling_call", {"tokens_in": "350"}, "tokens_in"),
    ("viewport_width as a string", "widget_render", {"viewport_width": "390"},
     "viewport_width"),
    ("conversion_value as a string", "conversion", {"conversion_value": "129.99"},
     "conversion_value"),
    ("tokens_out negative", "tool_call", {"tokens_out": -1}, "tokens_out"),
    ("step_sequence negative", "step", {"step_sequence": -1}, "step_sequence"),
    ("step_sequence fractional", "step", {"step_sequence": 1.5}, "step_sequence"),
    ("device_pixel_ratio zero", "widget_render", {"device_pixel_ratio": 0}, "device_pixel_ratio"),
    ("device_pixel_ratio beyond a screen's", "widget_render", {"device_pixel_ratio": 1e39},
     "device_pixel_ratio"),
    ("event_name of 257 chars", "track", {"event_name": "e" * 257}, "event_name"),
    ("user_id of 257 chars", "identify", {"user_id": "u" * 257}, "user_id"),
    ("trace_id empty", "tool_call", {"trace_id": ""}, "trace_id"),
    ("trace_id of 129 chars", "tool_call", {"trace_id": "t" * 129}, "trace_id"),
    ("session_id empty", "widget_click", {"session_id": ""}, "session_id"),
    ("session_id of 129 chars", "widget_click", {"session_id": "s" * 129}, "session_id"),
    ("tool_name empty", "tool_discovery", {"tool_name": ""}, "tool_name"),
    ("tool_name of 257 chars", "tool_discovery", {"tool_name": "t" * 257}, "tool_name"),
    ("platform of 65 chars", "track", {"platform": "p" * 65}, "platform"),
    ("metadata not an object", "track", {"metadata": "nonstop"}, "metadata"),
    ("input_keys holding a number", "tool_call", {"input_keys": ["origin", 2]}, "input_keys"),
]


@pytest.mark.parametrize(("event_type", "changes", "field"),
                         [case[1:] for case in REJECTIONS], ids=[case[0] for case in REJECTIONS])
def test_an_invalid_field_rejects_the_event_with_one_issue_naming_that_field(
        event_type: str, changes: dict[str, Any], field: str) -> None:
    event, issues = validate_event(raw(wire(event_type, **changes)))

    assert event is None
    assert issue_fields(issues) == [field], issues


def test_the_timestamp_issue_says_what_a_valid_timestamp_looks_like() -> None:
    _, issues = validate_obj(wire(timestamp="2025-06-01T12:00:00+02:00"))

    assert issues == ["timestamp: must be ISO-8601 UTC ending in Z (e.g. 2025-01-31T12:00:00.000Z)"]


def test_a_number_sent_as_a_string_is_reported_as_a_type_error_of_that_field() -> None:
    _, issues = validate_obj(wire(latency_ms="12"))

    assert issues == ["latency_ms: expected `float | null`, got `str`"]


def test_every_problem_of_an_event_is_reported_at_once() -> None:
    obj = wire(event_id="not-a-uuid", timestamp="2025-06-01 12:00", latency_ms="12",
               is_retry=7, trace_id=DROP)

    event, issues = validate_obj(obj)

    assert event is None
    assert sorted(issue_fields(issues)) == [
        "event_id", "is_retry", "latency_ms", "timestamp", "trace_id"]


# The ingest's window on 2026-06-01 at noon with a 90-day retention.
WINDOW = TimestampWindow.around(datetime(2026, 6, 1, 12, tzinfo=timezone.utc),
                                timedelta(days=90), timedelta(hours=24),
                                too_old="older than the retention", too_new="ahead of the clock")


@pytest.mark.parametrize(("timestamp", "issues"), [
    ("2026-03-03T12:00:00.000Z", []),
    ("2026-03-03T11:59:59.999Z", ["timestamp: older than the retention"]),
    ("2026-06-02T12:00:00.999Z", []),
    ("2026-06-02T12:00:01Z", ["timestamp: ahead of the clock"]),
    ("1970-01-01T00:00:00Z", ["timestamp: older than the retention"]),
])
def test_a_window_accepts_its_edges_to_the_second_and_refuses_what_lies_beyond(
        timestamp: str, issues: list[str]) -> None:
    event, found = validate_event(raw(wire(timestamp=timestamp)), WINDOW)

    assert found == issues
    assert (event is None) == bool(issues)


def test_a_window_reaching_back_past_the_year_1_refuses_nothing_old() -> None:
    forever = TimestampWindow.around(datetime(2026, 6, 1, tzinfo=timezone.utc),
                                     timedelta(days=1_000_000), timedelta(hours=24),
                                     too_old="older than the retention", too_new="ahead")

    assert validate_event(raw(wire(timestamp="0001-01-01T00:00:00Z")), forever)[1] == []


def test_a_timestamp_outside_the_window_is_reported_with_the_other_issues() -> None:
    _, issues = validate_event(raw(wire(timestamp="2027-01-01T00:00:00Z", status="ok")), WINDOW)

    assert issues == ["status: invalid enum value 'ok'", "timestamp: ahead of the clock"]


@pytest.mark.parametrize("timestamp", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z"])
def test_without_a_window_any_well_formed_timestamp_is_valid(timestamp: str) -> None:
    # The SDK validates with no window: the retention that bounds it is the server's.
    event, issues = validate_obj(wire(timestamp=timestamp))

    assert issues == [] and event is not None


def test_an_unknown_event_type_still_gets_its_common_fields_checked() -> None:
    _, issues = validate_obj(wire(event_type="page_view", event_id="42", source="browser"))

    assert sorted(issue_fields(issues)) == ["event_id", "event_type", "source"]


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'"tool_call"', b"null", b"42"])
def test_a_body_that_is_not_a_json_object_is_rejected_as_a_whole(body: bytes) -> None:
    event, issues = validate_event(body)

    assert event is None
    assert issue_fields(issues) == ["event"]


def test_a_deeply_nested_event_is_rejected_rather_than_crashing_validation() -> None:
    nested = raw(wire("track", metadata={"a": "x"})).replace(
        b'"x"', b"[" * 5_000 + b"]" * 5_000)

    event, issues = validate_event(nested)

    assert event is None
    assert issues == ["event: nested too deeply"]


def test_an_object_that_cannot_be_json_encoded_is_rejected_as_a_whole() -> None:
    event, issues = validate_obj(wire(metadata={"handler": object()}))

    assert event is None
    assert issue_fields(issues) == ["event"]


def test_a_duplicated_key_whose_first_value_is_invalid_is_still_rejected() -> None:
    body = raw(wire()).replace(b'"latency_ms":183.25', b'"latency_ms":"slow","latency_ms":183.25')

    event, issues = validate_event(body)

    assert event is None
    assert issues and "latency_ms" in issues[0]


@pytest.mark.parametrize(("sent", "stored"), [(True, 1), (False, 0), (1, 1), (0, 0)])
def test_booleans_are_accepted_for_the_0_1_fields_and_stored_as_1_or_0(
        sent: Any, stored: int) -> None:
    retry, _ = validate_obj(wire(is_retry=sent))
    touch, _ = validate_obj(wire("widget_render", device_touch=sent))

    assert retry.is_retry == stored and type(retry.is_retry) is int
    assert touch.device_touch == stored and type(touch.device_touch) is int
    assert json.loads(encode(retry))["is_retry"] == stored
    assert ToolCallEvent(**SERVER, is_retry=sent).is_retry == stored


@pytest.mark.parametrize(("event_type", "field"), [
    ("tool_call", "latency_ms"), ("connection", "connection_duration_ms"),
    ("conversion", "conversion_value"), ("widget_render", "device_pixel_ratio"),
    ("widget_scroll", "scroll_depth_pct"), ("widget_performance", "load_time_ms"),
    ("widget_visibility", "visible_duration_ms"),
])
def test_integers_are_accepted_for_float_fields(event_type: str, field: str) -> None:
    event, issues = validate_obj(wire(event_type, **{field: 3}))

    assert issues == []
    assert getattr(event, field) == 3.0 and isinstance(getattr(event, field), float)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_optional_fields_may_be_null_or_omitted(event_type: str) -> None:
    example = json.loads(encode(EXAMPLES[event_type]))
    required = {"event_type", "event_id", "trace_id", "session_id", "timestamp", "source"}
    optional = [field.name for field in msgspec.structs.fields(type(EXAMPLES[event_type]))
                if field.name not in required]
    minimal = {name: value for name, value in example.items() if name in required}
    all_null = {**minimal, **dict.fromkeys(optional)}

    from_minimal, minimal_issues = validate_obj(minimal)
    from_nulls, null_issues = validate_obj(all_null)

    assert minimal_issues == [] and null_issues == []
    assert from_minimal == from_nulls
    assert json.loads(encode(from_nulls)) == minimal


def test_unknown_fields_and_client_sent_tenant_fields_are_dropped() -> None:
    obj = wire(workspace_id="11111111-1111-1111-1111-111111111111",
               project_id="22222222-2222-2222-2222-222222222222",
               ingested_at="2020-01-01T00:00:00Z", favourite_colour="teal")

    event, issues = validate_obj(obj)

    assert issues == []
    assert event == EXAMPLES["tool_call"]
    sent_on = json.loads(encode(event))
    assert not {"workspace_id", "project_id", "ingested_at", "favourite_colour"} & set(sent_on)


def test_ids_need_no_prefix_and_uuids_of_any_version_and_case_are_accepted() -> None:
    event, issues = validate_obj(wire(
        event_id="6BA7B810-9DAD-11D1-80B4-00C04FD430C8", trace_id="t", session_id="abc"))

    assert issues == []
    assert event.event_id == "6BA7B810-9DAD-11D1-80B4-00C04FD430C8"


def test_a_long_tool_description_is_accepted_for_the_ingest_to_truncate() -> None:
    event, issues = validate_obj(wire("tool_discovery", description="d" * 5_000))

    assert issues == [] and len(event.description) == 5_000


def test_a_tools_list_discovery_event_needs_no_tool_name() -> None:
    event, issues = validate_obj(wire("tool_discovery", event_name="tools/list", tool_name=DROP,
                                      metadata={"listed_tools": ["search_flights"]}))

    assert issues == [] and event.tool_name is None


def padded_track_event(size: int) -> bytes:
    """A valid track event of exactly `size` bytes of compact JSON."""
    body = raw(wire("track", metadata={"pad": ""}))
    padded = raw(wire("track", metadata={"pad": "x" * (size - len(body))}))
    assert len(padded) == size
    return padded


def test_an_event_of_exactly_the_size_limit_is_accepted() -> None:
    event, issues = validate_event(padded_track_event(MAX_EVENT_BYTES))

    assert issues == [] and isinstance(event, TrackEvent)


def test_an_event_one_byte_over_the_size_limit_is_rejected() -> None:
    event, issues = validate_event(padded_track_event(MAX_EVENT_BYTES + 1))

    assert event is None
    assert issues == ["event: 51201 bytes, over the limit of 51200"]


def test_the_size_limit_counts_the_bytes_as_received_including_whitespace() -> None:
    body = padded_track_event(MAX_EVENT_BYTES - 10)

    event, issues = validate_event(body.replace(b"{", b"{" + b" " * 11, 1))

    assert event is None and issue_fields(issues) == ["event"]


def test_an_oversized_event_also_gets_its_other_problems_reported() -> None:
    obj = json.loads(padded_track_event(MAX_EVENT_BYTES + 100))
    obj["event_id"] = "nope"

    _, issues = validate_obj(obj)

    assert sorted(issue_fields(issues)) == ["event", "event_id"]


def test_decode_returns_the_event_or_raises_with_every_issue() -> None:
    assert decode(encode(EXAMPLES["identify"])) == EXAMPLES["identify"]

    with pytest.raises(ValueError, match="event_id: .*timestamp: "):
        decode(raw(wire(event_id="x", timestamp="now")))


def test_a_batch_the_sdk_encodes_reaches_the_server_as_raw_events_that_validate() -> None:
    events = list(EXAMPLES.values())
    body = encode(Envelope(events=events, sdk_version="0.1.0", sent_at=format_timestamp()))

    batch = msgspec.json.decode(body, type=RawEnvelope)

    assert batch.sdk_version == "0.1.0"
    assert [validate_event(item) for item in batch.events] == [(event, []) for event in events]


def test_the_json_schema_lists_every_event_type() -> None:
    event_schema = json_schema()
    envelope_schema = json_schema("envelope")

    assert set(event_schema["discriminator"]["mapping"]) == set(EVENT_TYPES)
    assert len(EVENT_TYPES) == 24
    envelope = envelope_schema["$defs"]["Envelope"]
    assert envelope["required"] == ["events"]
    assert envelope["properties"]["events"]["minItems"] == 1
    assert envelope["properties"]["events"]["maxItems"] == MAX_EVENTS_PER_BATCH
    assert set(envelope_schema["$defs"]) >= {type(e).__name__ for e in EXAMPLES.values()}


def test_format_timestamp_gives_utc_milliseconds_with_z_that_validation_accepts() -> None:
    berlin = timezone(timedelta(hours=2))

    stamp = format_timestamp(datetime(2025, 6, 1, 14, 0, 0, 123_456, tzinfo=berlin))

    assert stamp == "2025-06-01T12:00:00.123Z"
    assert validate_obj(wire(timestamp=format_timestamp()))[1] == []


def test_building_an_event_in_code_with_a_non_utc_timestamp_fails_at_once() -> None:
    with pytest.raises(ValueError, match="timestamp"):
        TrackEvent(**{**SERVER, "timestamp": "2025-06-01T14:00:00+02:00"}, event_name="x")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(event_type=st.sampled_from(EVENT_TYPES), data=st.data())
def test_any_json_gets_either_an_event_or_at_least_one_issue_and_never_an_exception(
        event_type: str, data: st.DataObject) -> None:
    obj = wire(event_type)
    for name in data.draw(st.lists(st.sampled_from(sorted(obj)), max_size=4)):
        obj[name] = data.draw(json_values)

    event, issues = validate_event(raw(obj))

    assert (event is None) == bool(issues)
    assert all(": " in issue for issue in issues)
    if event is not None:
        assert validate_event(encode(event)) == (event, [])
