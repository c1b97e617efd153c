"""The event contract: what the SDK and the widget send and what the ingest accepts (SPEC 1-2).

Every event type is a msgspec Struct in one tagged union on `event_type`, so the SDK encodes with
the same types the server decodes with. The wire format is the original TypeScript Yavio's: unknown
fields are dropped, integers are accepted for float fields, booleans for the 0/1 fields, and absent
optional fields may be omitted or `null`.

Validation sits on the ingest hot path (50,000 events/s on 2 cores), so a valid event costs one
typed msgspec decode; only an event that fails it pays for a second pass that names every problem.

The ingest calls `validate_event` on each item of a `RawEnvelope`, with the `TimestampWindow` it
accepts; the SDK builds event structs with `format_timestamp` and sends them with `encode`;
`json_schema` documents the wire format.
"""

from __future__ import annotations

import functools
import time
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal, NamedTuple, Union, get_args

import msgspec

# Rejection limits (SPEC 1, "Field limits"): an event over one of these is rejected.
MAX_EVENT_BYTES = 51_200
MAX_NAME_CHARS = 256  # event_name, user_id
MAX_ID_CHARS = 128  # trace_id, session_id
MAX_TOOL_NAME_CHARS = 256
MAX_PLATFORM_CHARS = 64

# Truncation limits (SPEC 1): an oversized value is cut, with a warning, and the event kept.
MAX_PAYLOAD_BYTES = 10_240  # metadata, input_values, output_content
MAX_TRAITS_BYTES = 5_120  # user_traits, input_keys, input_types
MAX_INTENT_BYTES = 2_048  # intent_signals
MAX_ERROR_MESSAGE_BYTES = 2_048
MAX_DESCRIPTION_CHARS = 2_048  # tool_discovery description

# Batch limits (SPEC 1, envelope).
MAX_EVENTS_PER_BATCH = 1_000
MAX_BODY_BYTES = 512_000

# Counters are UInt32 columns in ClickHouse: a larger value would fail the whole insert block, so it
# is rejected here, with the event that carries it, instead.
_UINT32_MAX = 4_294_967_295

_TIMESTAMP_ISSUE = "must be ISO-8601 UTC ending in Z (e.g. 2025-01-31T12:00:00.000Z)"

# Exact lengths next to the patterns because Python's `$` also matches before a trailing newline.
_Uuid = Annotated[str, msgspec.Meta(
    min_length=36, max_length=36,
    pattern="^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
    description="UUID of any version, the dedup key.")]
_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_CHARS)]
_Name = Annotated[str, msgspec.Meta(max_length=MAX_NAME_CHARS)]
# The shape is checked by the pattern, the calendar (no month 13) by BaseEvent.__post_init__.
# At most nanoseconds: ClickHouse cannot parse a longer fraction, and one such event would stall
# the whole block it is inserted with.
_Timestamp = Annotated[str, msgspec.Meta(
    pattern="^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
            "T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?Z$",
    description="ISO-8601 UTC date-time ending in Z.")]
_Platform = Annotated[str, msgspec.Meta(max_length=MAX_PLATFORM_CHARS)]
_Count = Annotated[int, msgspec.Meta(ge=0, le=_UINT32_MAX)]
_Millis = Annotated[float, msgspec.Meta(ge=0)]
# The original SDK and widget send booleans here; __post_init__ stores them as 1/0.
_Flag = Union[Literal[0, 1], bool]
_Status = Literal["success", "error"]
_ErrorCategory = Literal["auth", "validation", "timeout", "rate_limit", "server", "unknown"]
_CountryCode = Annotated[str, msgspec.Meta(
    min_length=2, max_length=2, pattern="^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2.")]
_Currency = Annotated[str, msgspec.Meta(
    min_length=3, max_length=3, pattern="^[A-Za-z]{3}$", description="ISO 4217.")]
_ToolName = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TOOL_NAME_CHARS)]
_Percent = Annotated[float, msgspec.Meta(ge=0, le=100)]
# A screen's ratio is under 10 and browser zoom multiplies it by at most 5; the bound keeps the
# value inside its Float32 column, where 1e39 would become inf.
_PixelRatio = Annotated[float, msgspec.Meta(gt=0, le=100)]
_JsonObject = dict[str, Any]

# Plainer words than msgspec's for fields whose rule is a pattern (it would quote the regex) or a
# set of values that includes the booleans.
_FIELD_ISSUES = {
    "event_id": "must be a UUID (8-4-4-4-12 hex digits)",
    "timestamp": _TIMESTAMP_ISSUE,
    "country_code": "must be 2 letters (ISO 3166-1 alpha-2)",
    "conversion_currency": "must be 3 letters (ISO 4217)",
    "is_retry": "must be 0 or 1 (or a boolean)",
    "device_touch": "must be 0 or 1 (or a boolean)",
}


def _is_utc_timestamp(value: str) -> bool:
    if not value.endswith("Z"):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


class TimestampWindow(NamedTuple):
    """The timestamps a receiver accepts, for `validate_event`, to the second, with the issue
    it reports for a timestamp before or after them. Only the ingest has one: how far back it
    keeps events is the server's retention, which the SDK does not know.

    `oldest` and `newest` are the first 19 characters of a wire timestamp
    (`YYYY-MM-DDTHH:MM:SS`): every valid timestamp starts with exactly those, and they sort as
    the times do, so the check is two string comparisons, not a second parse on the hot path.
    """

    oldest: str
    newest: str
    too_old: str
    too_new: str

    @classmethod
    def around(cls, now: datetime, back: timedelta, ahead: timedelta, *, too_old: str,
               too_new: str) -> TimestampWindow:
        """From `now - back` to `now + ahead`."""
        try:
            oldest = format_timestamp(now - back)[:19]
        except OverflowError:  # back past the year 1 (a retention meant as "forever")
            oldest = ""
        return cls(oldest, format_timestamp(now + ahead)[:19], too_old, too_new)

    def issue(self, timestamp: str) -> str | None:
        """Why a valid `timestamp` is outside the window, or None when it is inside."""
        second = timestamp[:19]
        if second < self.oldest:
            return self.too_old
        if second > self.newest:
            return self.too_new
        return None


class BaseEvent(msgspec.Struct, tag_field="event_type", kw_only=True, omit_defaults=True):
    """The fields every event has. Never sent itself: each event type below subclasses it.

    Construction checks the timestamp and stores booleans given for the 0/1 fields as 1/0, but
    like any msgspec Struct it checks no other types: `validate_obj` checks an event built in code.
    """

    event_id: _Uuid
    trace_id: _Id
    session_id: _Id
    timestamp: _Timestamp
    source: Literal["server", "widget"]
    event_name: _Name | None = None
    metadata: _JsonObject | None = None
    user_id: _Name | None = None
    platform: _Platform | None = None
    sdk_version: str | None = None

    def __post_init__(self) -> None:
        if not _is_utc_timestamp(self.timestamp):
            raise ValueError(f"timestamp: {_TIMESTAMP_ISSUE}")


class ToolCallEvent(BaseEvent, tag="tool_call"):
    """One tools/call handled by the server."""

    latency_ms: _Millis | None = None
    status: _Status | None = None
    error_category: _ErrorCategory | None = None
    error_message: str | None = None
    is_retry: _Flag | None = None
    input_keys: list[str] | None = None
    input_types: dict[str, str] | None = None
    input_values: _JsonObject | None = None
    output_content: Any = None
    intent_signals: _JsonObject | None = None
    tokens_in: _Count | None = None
    tokens_out: _Count | None = None
    country_code: _CountryCode | None = None
    locale: str | None = None
    end_user_agent: str | None = None
    subject_id: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.is_retry is not None:
            self.is_retry = int(self.is_retry)


class ConnectionEvent(BaseEvent, tag="connection"):
    """A client connected (`metadata.phase = "open"`) or disconnected (`"close"`)."""

    protocol_version: str | None = None
    client_name: str | None = None
    client_version: str | None = None
    connection_duration_ms: _Millis | None = None


class ResourceAccessEvent(BaseEvent, tag="resource_access"):
    """A resources/read or resources/list; `event_name` is the URI or URI template."""

    latency_ms: _Millis | None = None
    status: _Status | None = None


class PromptUsageEvent(BaseEvent, tag="prompt_usage"):
    """A prompts/get or prompts/list; `event_name` is the prompt name."""

    latency_ms: _Millis | None = None
    status: _Status | None = None


class SamplingCallEvent(BaseEvent, tag="sampling_call"):
    """A sampling request from the server to the client's model; `metadata.model` names it."""

    latency_ms: _Millis | None = None
    tokens_in: _Count | None = None
    tokens_out: _Count | None = None
    status: _Status | None = None


class ElicitationEvent(BaseEvent, tag="elicitation"):
    """A question the server asked the user; `metadata.action` is accept, decline or cancel."""

    latency_ms: _Millis | None = None


class WidgetResponseEvent(BaseEvent, tag="widget_response"):
    """A tool result that renders a widget; `event_name` is the tool name."""


class ToolDiscoveryEvent(BaseEvent, tag="tool_discovery"):
    """A registered tool (`tool_name` set), or one tools/list request (`event_name = "tools/list"`).

    A `description` over MAX_DESCRIPTION_CHARS is not rejected: the ingest truncates it.
    """

    tool_name: _ToolName | None = None
    description: str | None = None
    input_schema: _JsonObject | None = None


class StepEvent(BaseEvent, tag="step"):
    """An explicit funnel step; `step_sequence` orders the steps of a trace."""

    step_sequence: _Count | None = None


class TrackEvent(BaseEvent, tag="track"):
    """An explicit custom event; its properties are in `metadata`."""


class ConversionEvent(BaseEvent, tag="conversion"):
    """An explicit conversion with its value."""

    conversion_value: float | None = None
    conversion_currency: _Currency | None = None


class IdentifyEvent(BaseEvent, tag="identify"):
    """Ties the session to `user_id`, with the user's traits."""

    user_traits: _JsonObject | None = None


class WidgetEvent(BaseEvent):
    """The typed fields of the widget's auto-captured events; the rest is in `metadata`.

    Every widget event type carries all of them, so a field sent on an unexpected type is kept.
    """

    viewport_width: _Count | None = None
    viewport_height: _Count | None = None
    device_pixel_ratio: _PixelRatio | None = None
    device_touch: _Flag | None = None
    connection_type: str | None = None
    visible_duration_ms: _Millis | None = None
    click_count: _Count | None = None
    scroll_depth_pct: _Percent | None = None
    field_name: str | None = None
    nav_from: str | None = None
    nav_to: str | None = None
    load_time_ms: _Millis | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.device_touch is not None:
            self.device_touch = int(self.device_touch)


class WidgetRenderEvent(WidgetEvent, tag="widget_render"):
    """The widget rendered: viewport, pixel ratio, touch support, connection type."""


class WidgetErrorEvent(WidgetEvent, tag="widget_error"):
    """An uncaught error or unhandled rejection in the widget."""


class WidgetVisibilityEvent(WidgetEvent, tag="widget_visibility"):
    """The widget was on screen for `visible_duration_ms`."""


class WidgetClickEvent(WidgetEvent, tag="widget_click"):
    """A click in the widget."""


class WidgetScrollEvent(WidgetEvent, tag="widget_scroll"):
    """The deepest scroll so far, as `scroll_depth_pct`."""


class WidgetFormFieldEvent(WidgetEvent, tag="widget_form_field"):
    """Time spent in the form field `field_name` (never its value)."""


class WidgetFormSubmitEvent(WidgetEvent, tag="widget_form_submit"):
    """A form submission, with its validation error count in `metadata`."""


class WidgetLinkClickEvent(WidgetEvent, tag="widget_link_click"):
    """A link click, with the destination domain only."""


class WidgetNavigationEvent(WidgetEvent, tag="widget_navigation"):
    """A view change inside the widget, from `nav_from` to `nav_to`."""


class WidgetFocusEvent(WidgetEvent, tag="widget_focus"):
    """The widget gained or lost focus."""


class WidgetPerformanceEvent(WidgetEvent, tag="widget_performance"):
    """Load timings: `load_time_ms`, the rest (first paint, time to interactive) in `metadata`."""


class WidgetRageClickEvent(WidgetEvent, tag="widget_rage_click"):
    """Three or more quick clicks on one element; `click_count` says how many."""


Event = Union[
    ToolCallEvent, ConnectionEvent, ResourceAccessEvent, PromptUsageEvent, SamplingCallEvent,
    ElicitationEvent, WidgetResponseEvent, ToolDiscoveryEvent, StepEvent, TrackEvent,
    ConversionEvent, IdentifyEvent, WidgetRenderEvent, WidgetErrorEvent, WidgetVisibilityEvent,
    WidgetClickEvent, WidgetScrollEvent, WidgetFormFieldEvent, WidgetFormSubmitEvent,
    WidgetLinkClickEvent, WidgetNavigationEvent, WidgetFocusEvent, WidgetPerformanceEvent,
    WidgetRageClickEvent,
]
"""Any one event; decode into it and the `event_type` tag picks the struct."""

_CLASSES: dict[str, type[BaseEvent]] = {cls.__struct_config__.tag: cls for cls in get_args(Event)}
EVENT_TYPES: tuple[str, ...] = tuple(_CLASSES)
"""Every `event_type`, in the order of the SPEC's table."""


class Envelope(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One batch as the SDK and the widget send it to `POST /v1/events`."""

    events: Annotated[list[Event], msgspec.Meta(min_length=1, max_length=MAX_EVENTS_PER_BATCH)]
    sdk_version: str | None = None
    sent_at: str | None = None
    token: str | None = None  # widget JWT, only from sendBeacon, which cannot set headers


class RawEnvelope(msgspec.Struct, kw_only=True):
    """A batch as the ingest decodes it: each event kept as its raw bytes for `validate_event`.

    The event count is not constrained here because an empty batch and an oversized one answer
    with different error codes; the ingest checks it against MAX_EVENTS_PER_BATCH itself.
    """

    events: list[msgspec.Raw]
    sdk_version: str | None = None
    sent_at: str | None = None
    token: str | None = None


_decoder = msgspec.json.Decoder(Event)
_encoder = msgspec.json.Encoder()
_members_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])


# Built on first use: all of them take ~9 ms (measured), which every process importing the SDK
# would otherwise pay.
@functools.cache
def _field_checks(cls: type[BaseEvent]) -> list[tuple[str, msgspec.json.Decoder, bool]]:
    """(name, decoder, required) per field: the slow path decodes each field from its own bytes
    with the same type as the fast path, so both agree on what is valid."""
    return [(f.name, msgspec.json.Decoder(f.type), f.required) for f in msgspec.structs.fields(cls)]


def encode(event: BaseEvent | Envelope) -> bytes:
    """Compact JSON bytes of an event or a batch, without its absent optional fields."""
    return _encoder.encode(event)


def decode(raw: bytes) -> Event:
    """The event in `raw`; raises ValueError listing every issue when it is not a valid event."""
    event, issues = validate_event(raw)
    if event is None:
        raise ValueError("invalid event: " + "; ".join(issues))
    return event


def validate_event(raw: bytes | msgspec.Raw, window: TimestampWindow | None = None,
                   ) -> tuple[Event | None, list[str]]:
    """Validate one event's JSON bytes as received, e.g. an item of `RawEnvelope.events`; with a
    `window`, a timestamp outside it is an issue too.

    Returns `(event, [])` when valid, else `(None, issues)` with every problem found, each as
    `"<field>: <message>"` (`event` for the event as a whole, e.g. its size). Never raises.
    """
    if len(raw) <= MAX_EVENT_BYTES:
        try:
            event = _decoder.decode(raw)
        # msgspec raises RecursionError past ~1,000 levels of nesting, which fits in 51,200 bytes.
        except (msgspec.DecodeError, RecursionError) as error:
            first_failure = error
        else:
            issue = window.issue(event.timestamp) if window is not None else None
            if issue is None:
                return event, []
            return None, [f"timestamp: {issue}"]
    else:
        first_failure = None
    return None, _issues(raw, first_failure, window)


def validate_obj(obj: Any) -> tuple[Event | None, list[str]]:
    """`validate_event` for an already-decoded object (or an event Struct built in code).

    The size limit applies to its compact JSON encoding.
    """
    try:
        raw = _encoder.encode(obj)
    except (TypeError, ValueError, OverflowError, RecursionError) as error:
        return None, [f"event: not JSON-serializable ({error})"]
    return validate_event(raw)


def _issues(raw: bytes | msgspec.Raw, first_failure: Exception | None,
            window: TimestampWindow | None) -> list[str]:
    """Every issue of an event that failed the typed decode; the slow path."""
    issues = []
    if len(raw) > MAX_EVENT_BYTES:
        issues.append(f"event: {len(raw)} bytes, over the limit of {MAX_EVENT_BYTES}")
    try:
        members = _members_decoder.decode(raw)
    except msgspec.ValidationError:
        return issues + ["event: must be a JSON object"]
    except msgspec.DecodeError as error:
        return issues + [f"event: not valid JSON ({error})"]
    except RecursionError:
        return issues + ["event: nested too deeply"]

    cls: type[BaseEvent] = BaseEvent
    if "event_type" not in members:
        issues.append("event_type: required")
    else:
        try:
            cls = _CLASSES.get(msgspec.json.decode(members["event_type"], type=str), cls)
        except msgspec.ValidationError:
            pass
        if cls is BaseEvent:
            sent = bytes(members["event_type"])[:64].decode(errors="replace")
            issues.append(f"event_type: unknown event type {sent}")
    # For an unknown type the common fields are still checked, so every issue is reported at once.
    for name, decoder, required in _field_checks(cls):
        if name in members:
            issue = _field_issue(name, decoder, members[name], window)
            if issue:
                issues.append(f"{name}: {issue}")
        elif required:
            issues.append(f"{name}: required")

    if not issues and first_failure is not None:
        # A duplicated key: the typed decode rejected its first value, the members above keep
        # only the last one.
        issues.append(f"event: {first_failure}")
    return issues


def _field_issue(name: str, decoder: msgspec.json.Decoder, raw_value: msgspec.Raw,
                 window: TimestampWindow | None) -> str | None:
    try:
        value = decoder.decode(raw_value)
    except msgspec.ValidationError as error:
        if name in _FIELD_ISSUES:
            return _FIELD_ISSUES[name]
        # msgspec says `$` for the value itself; name the field instead.
        message = str(error).replace("`$", f"`{name}")
        return message[0].lower() + message[1:]
    if name == "timestamp":
        if not _is_utc_timestamp(value):
            return _TIMESTAMP_ISSUE
        if window is not None:
            return window.issue(value)
    return None


def json_schema(document: Literal["event", "envelope"] = "event") -> dict[str, Any]:
    """The JSON Schema of one event (a union discriminated by `event_type`) or of a batch."""
    return msgspec.json.schema(Event if document == "event" else Envelope)


def format_timestamp(when: datetime | None = None) -> str:
    """The wire form of `when` (default: now), e.g. 2025-01-31T12:00:00.000Z.

    UTC with milliseconds, because the store keeps DateTime64(3). A naive `when` is local time.
    """
    global _now_prefix
    if when is None:
        # Every event stamps now: format the second once, then only the milliseconds.
        now = time.time()
        second = int(now)
        cached_second, prefix = _now_prefix
        if second != cached_second:
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            _now_prefix = (second, prefix)
        return f"{prefix}.{int((now - second) * 1000):03d}Z"
    # isoformat is a third faster than strftime, and it pads years below 1000.
    return when.astimezone(timezone.utc).isoformat(timespec="milliseconds")[:23] + "Z"


_now_prefix: tuple[int, str] = (-1, "")
