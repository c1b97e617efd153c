"""A tool_call event's fields follow the SPEC's rules: error categories, input shape, token
estimates, binary placeholders, ChatGPT's end-user fields and retries."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import urllib.error
from dataclasses import dataclass
from datetime import date
from typing import Any, get_args

import anyio
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from yavio_sdk.events import ToolCallEvent, format_timestamp, validate_obj
from yavio_sdk.ids import new_event_id, new_session_id, new_trace_id
from yavio_sdk.session_state import SessionStore
from yavio_sdk.tool_calls import (
    ErrorCategory,
    binary_placeholder,
    content_text,
    describe_content,
    error_category,
    estimate_tokens,
    input_shape,
    is_retry,
    openai_meta_fields,
)


def tool_call_event(**fields: Any) -> ToolCallEvent:
    return ToolCallEvent(event_id=new_event_id(), trace_id=new_trace_id(),
                         session_id=new_session_id(), timestamp=format_timestamp(),
                         source="server", event_name="book_room", **fields)


# -- error_category: realistic failures ----------------------------------------------------------

def http_error(status: int, url: str = "https://api.hotels.example/rooms") -> httpx.HTTPStatusError:
    request = httpx.Request("GET", url)
    response = httpx.Response(status, request=request)
    try:
        response.raise_for_status()
    except httpx.HTTPStatusError as error:
        return error
    raise AssertionError("not an error status")


def raised(make) -> BaseException:
    """The exception a real call raises, with its real message and chain."""
    try:
        make()
    except BaseException as error:  # whatever it raises, cancellation included
        return error
    raise AssertionError("did not raise")


def pydantic_error() -> BaseException:
    pydantic = pytest.importorskip("pydantic")

    class Booking(pydantic.BaseModel):
        nights: int

    return raised(lambda: Booking(nights="three"))


def asyncio_wait_for_timeout() -> BaseException:
    async def slow() -> None:
        await asyncio.sleep(1)

    return raised(lambda: asyncio.run(asyncio.wait_for(slow(), 0.001)))


def anyio_fail_after_timeout() -> BaseException:
    async def slow() -> None:
        with anyio.fail_after(0.001):
            await anyio.sleep(1)

    return raised(lambda: anyio.run(slow))


def cancellation_seen_by_the_handler(by_deadline: bool) -> BaseException:
    """What a wrapped handler sees when the scope around it is cancelled."""
    seen: list[BaseException] = []

    async def handler() -> None:
        try:
            await anyio.sleep(1)
        except BaseException as error:
            seen.append(error)
            raise

    async def main() -> None:
        if by_deadline:
            with anyio.move_on_after(0.001):
                await handler()
        else:
            async with anyio.create_task_group() as group:
                group.start_soon(handler)
                await anyio.sleep(0.001)
                group.cancel_scope.cancel()

    anyio.run(main)
    return seen[0]


class ErrorData:
    """Shaped like the MCP SDK's `ErrorData` (the mcp package is not a dependency here)."""

    def __init__(self, code: int, message: str) -> None:
        self.code, self.message = code, message


class McpError(Exception):
    """Shaped like the MCP SDK's `McpError`: the JSON-RPC error on `.error`."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.error = ErrorData(code, message)


class RateLimitError(Exception):
    """Named like openai's and anthropic's, whose status would also say 429."""


class AuthenticationError(Exception):
    pass


class ValidationError(Exception):
    """Named like jsonschema's and marshmallow's."""


class ToolError(Exception):
    """FastMCP wraps handler errors in this, `from` the original."""


def wrapped(inner: BaseException) -> BaseException:
    def fail() -> None:
        raise ToolError(f"Error executing tool book_room: {inner}") from inner

    return raised(fail)


ERRORS = [
    # auth: 401/403, permission, unauthorized/forbidden
    ("auth", lambda: http_error(401)),
    ("auth", lambda: http_error(403)),
    ("auth", lambda: urllib.error.HTTPError("https://x.example", 403, "Forbidden", {}, None)),
    ("auth", lambda: PermissionError(13, "Permission denied", "/srv/bookings.db")),
    ("auth", lambda: PermissionError("user may not book for another account")),
    ("auth", lambda: AuthenticationError("Incorrect API key provided")),
    ("auth", lambda: RuntimeError("401 Unauthorized")),
    ("auth", lambda: Exception("Forbidden: token lacks the bookings:write scope")),
    ("auth", lambda: McpError(-32603, "Unauthorized: session expired")),
    # validation: validation/value/type errors, invalid params
    ("validation", pydantic_error),
    ("validation", lambda: ValueError("check-out must be after check-in")),
    ("validation", lambda: raised(lambda: int("three"))),
    ("validation", lambda: raised(lambda: json.loads("{not json"))),
    ("validation", lambda: TypeError("book_room() got an unexpected keyword argument 'date'")),
    ("validation", lambda: ValidationError("'2025-13-01' is not a 'date'")),
    ("validation", lambda: McpError(-32602, "Invalid arguments for tool book_room")),
    ("validation", lambda: http_error(422)),
    ("validation", lambda: Exception("Invalid params: 'nights' is required")),
    # timeout: timeouts, cancellation by deadline
    ("timeout", lambda: TimeoutError()),
    ("timeout", asyncio_wait_for_timeout),
    ("timeout", anyio_fail_after_timeout),
    ("timeout", lambda: cancellation_seen_by_the_handler(by_deadline=True)),
    ("timeout", lambda: httpx.ReadTimeout("The read operation timed out")),
    ("timeout", lambda: http_error(504)),
    ("timeout", lambda: McpError(408, "Timed out while waiting for response to ClientRequest")),
    ("timeout", lambda: RuntimeError("upstream PMS call timed out after 30s")),
    ("timeout", lambda: Exception("StatusCode.DEADLINE_EXCEEDED")),
    # rate_limit: 429, "rate limit", quota
    ("rate_limit", lambda: http_error(429)),
    ("rate_limit", lambda: RateLimitError()),
    ("rate_limit", lambda: RuntimeError("Rate limit reached for requests, retry in 20s")),
    ("rate_limit", lambda: Exception("You exceeded your current quota, check your plan")),
    ("rate_limit", lambda: ValueError("rate-limited by the booking API")),
    # server: anything else raised by the handler
    ("server", lambda: raised(lambda: {"rooms": []}["hotel_id"])),
    ("server", lambda: raised(lambda: 1 / 0)),
    ("server", lambda: httpx.ConnectError("[Errno 111] Connection refused")),
    ("server", lambda: http_error(500)),
    ("server", lambda: http_error(503)),
    ("server", lambda: RuntimeError("database is locked")),
    ("server", lambda: McpError(-32603, "Internal error")),
    # unknown: a cancellation with no deadline (the client gave up)
    ("unknown", lambda: cancellation_seen_by_the_handler(by_deadline=False)),
]


@pytest.mark.parametrize(("category", "make_error"), ERRORS)
def test_a_raised_error_gets_the_category_of_the_spec_table(
    category: ErrorCategory, make_error,
) -> None:
    assert error_category(make_error()) == category


def test_every_category_is_reachable_and_accepted_by_the_event_contract() -> None:
    assert {category for category, _ in ERRORS} == set(get_args(ErrorCategory))
    for category in get_args(ErrorCategory):
        event = tool_call_event(status="error", error_category=category)
        assert validate_obj(event) == (event, [])


@pytest.mark.parametrize(("category", "inner"), [
    ("rate_limit", lambda: http_error(429)),
    ("timeout", lambda: httpx.ReadTimeout("The read operation timed out")),
    ("validation", pydantic_error),
])
def test_a_framework_wrapped_error_is_categorised_by_its_cause(category, inner) -> None:
    assert error_category(wrapped(inner())) == category


def test_an_error_raised_while_handling_another_is_categorised_by_both() -> None:
    def fail() -> None:
        try:
            raise http_error(429)
        except httpx.HTTPStatusError:
            raise RuntimeError("could not reach the booking API")  # chained implicitly

    assert error_category(raised(fail)) == "rate_limit"


def test_a_task_group_error_is_categorised_by_its_first_member() -> None:
    group = ExceptionGroup("unhandled errors in a TaskGroup", [TimeoutError(), KeyError("x")])
    assert error_category(group) == "timeout"


def test_a_status_code_outranks_the_words_of_the_message() -> None:
    # A 401 from a URL that mentions rate limits is still an auth failure.
    assert error_category(http_error(401, "https://api.example/rate-limit/status")) == "auth"


def test_a_specific_error_class_outranks_the_words_of_its_message() -> None:
    assert error_category(TimeoutError("permission service did not answer")) == "timeout"


@pytest.mark.parametrize(("text", "category"), [
    ("Error: 429 Too Many Requests", "rate_limit"),
    ("Invalid arguments: 'check_in' is required", "validation"),
    ("Error: the availability service timed out", "timeout"),
    ("Permission denied for hotel 17", "auth"),
    ("Something went wrong, please try again", "unknown"),
    ("", "unknown"),
    (None, "unknown"),
])
def test_an_is_error_result_is_categorised_by_its_text_else_unknown(text, category) -> None:
    assert error_category(None, text) == category


def test_an_error_whose_message_cannot_be_read_is_still_categorised() -> None:
    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("broken __str__")

    assert error_category(Broken()) == "server"


def test_a_cause_cycle_does_not_hang() -> None:
    first, second = RuntimeError("a"), RuntimeError("b")
    first.__cause__, second.__cause__ = second, first
    assert error_category(first) == "server"


# -- input_shape ---------------------------------------------------------------------------------

def test_input_keys_and_types_use_json_schema_type_names_in_argument_order() -> None:
    arguments = {"city": "Paris", "nights": 3, "budget": 120.5, "breakfast": True,
                 "guests": [{"age": 31}], "filters": {"stars": 4}, "promo_code": None}
    keys, types = input_shape(arguments)
    assert keys == ["city", "nights", "budget", "breakfast", "guests", "filters", "promo_code"]
    assert types == {"city": "string", "nights": "integer", "budget": "number",
                     "breakfast": "boolean", "guests": "array", "filters": "object",
                     "promo_code": "null"}
    event = tool_call_event(input_keys=keys, input_types=types)
    assert validate_obj(event) == (event, [])


def test_input_types_match_the_types_pydantic_declares_in_a_tool_schema() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Search(pydantic.BaseModel):
        city: str
        nights: int
        budget: float
        breakfast: bool
        tags: list[str]
        filters: dict[str, int]

    declared = {name: spec["type"]
                for name, spec in Search.model_json_schema()["properties"].items()}
    arguments = {"city": "Oslo", "nights": 2, "budget": 99.0, "breakfast": False,
                 "tags": ["quiet"], "filters": {"stars": 3}}
    assert input_shape(arguments)[1] == declared


def test_values_that_are_not_plain_json_are_named_by_how_they_are_encoded() -> None:
    @dataclass
    class Guest:
        name: str

    _, types = input_shape({"day": date(2025, 1, 31), "guest": Guest("Ada"),
                            "ids": (1, 2), "raw": b"\x00"})
    assert types == {"day": "string", "guest": "object", "ids": "array", "raw": "string"}


@pytest.mark.parametrize("arguments", [None, [], "city=Paris"])
def test_arguments_that_are_not_an_object_have_no_keys(arguments: object) -> None:
    assert input_shape(arguments) == ([], {})


# -- estimate_tokens -----------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "tokens"), [
    ("", 0),
    ("abc", 1),
    ("abcd", 1),
    ("abcde", 2),
    ("日本語のテキスト", 2),  # characters, not UTF-8 bytes
    ({"city": "Paris"}, 4),  # {"city":"Paris"} is 16 characters of compact JSON
    ({}, 1),
    (None, 0),
])
def test_tokens_are_estimated_as_a_quarter_of_the_characters_rounded_up(value, tokens) -> None:
    assert estimate_tokens(value) == tokens


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12)


@given(st.dictionaries(st.text(), JSON_VALUES, max_size=6))
def test_the_estimate_of_arguments_is_a_quarter_of_their_compact_json(arguments) -> None:
    compact = json.dumps(arguments, separators=(",", ":"), ensure_ascii=False)
    assert estimate_tokens(arguments) == math.ceil(len(compact) / 4)


def test_estimating_something_unencodable_does_not_raise() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    assert estimate_tokens(cyclic) > 0
    assert estimate_tokens({(1, 2): "tuple key"}) > 0
    encoded = '{"when":"2025-01-31"}'
    assert estimate_tokens({"when": date(2025, 1, 31)}) == math.ceil(len(encoded) / 4)


# -- describe_content ----------------------------------------------------------------------------

PNG = bytes(range(256)) * 7 + b"\x89PNG"


def test_binary_content_becomes_a_placeholder_with_its_mime_type_and_byte_length() -> None:
    image = {"type": "image", "mimeType": "image/png", "data": base64.b64encode(PNG).decode()}
    audio = {"type": "audio", "mimeType": "audio/wav",
             "data": base64.b64encode(b"RIFF1234").decode()}
    assert describe_content([image, audio]) == [
        {"type": "image", "mimeType": "image/png", "data": f"[binary:image/png:{len(PNG)}]"},
        {"type": "audio", "mimeType": "audio/wav", "data": "[binary:audio/wav:8]"},
    ]


@given(st.binary(max_size=3_000), st.sampled_from(["std", "mime", "unpadded", "urlsafe"]))
def test_the_placeholder_length_is_the_decoded_size_in_any_base64_style(data: bytes, style) -> None:
    encoded = {
        "std": base64.b64encode(data).decode(),
        "mime": base64.encodebytes(data).decode(),  # line breaks every 76 characters
        "unpadded": base64.b64encode(data).decode().rstrip("="),
        "urlsafe": base64.urlsafe_b64encode(data).decode(),
    }[style]
    assert binary_placeholder("image/jpeg", encoded) == f"[binary:image/jpeg:{len(data)}]"
    assert binary_placeholder("image/jpeg", data) == f"[binary:image/jpeg:{len(data)}]"


def test_no_base64_payload_survives_in_the_captured_content() -> None:
    payload = base64.b64encode(PNG).decode()
    blocks = [
        {"type": "text", "text": "Here is the floor plan"},
        {"type": "image", "mimeType": "image/png", "data": payload},
        {"type": "resource", "resource": {"uri": "file:///plans/17.pdf",
                                          "mimeType": "application/pdf", "blob": payload}},
    ]
    described = describe_content(blocks)
    assert payload not in json.dumps(described)
    assert described[2] == {"type": "resource", "resource": {
        "uri": "file:///plans/17.pdf", "mimeType": "application/pdf",
        "blob": f"[binary:application/pdf:{len(PNG)}]"}}
    event = tool_call_event(output_content=described)
    assert validate_obj(event) == (event, [])


def test_text_and_links_keep_their_mcp_shape_without_meta_or_signed_urls() -> None:
    blocks = [
        {"type": "text", "text": "3 rooms found", "annotations": {"priority": 1},
         "_meta": {"yavio": {"token": "eyJ.secret"}}},
        {"type": "resource", "resource": {"uri": "ui://widget/rooms.html",
                                          "mimeType": "text/html+skybridge", "text": "<div/>"}},
        {"type": "resource_link", "uri": "https://cdn.example/r.pdf?X-Amz-Signature=abc",
         "name": "Receipt", "mimeType": "application/pdf"},
        {"type": "something_new", "payload": "?"},
    ]
    assert describe_content(blocks) == [
        {"type": "text", "text": "3 rooms found"},
        {"type": "resource", "resource": {"uri": "ui://widget/rooms.html",
                                          "mimeType": "text/html+skybridge", "text": "<div/>"}},
        {"type": "resource_link", "uri": "https://cdn.example/r.pdf", "name": "Receipt",
         "mimeType": "application/pdf"},
        {"type": "something_new"},
    ]


@dataclass
class ImageContent:
    """Shaped like the MCP SDK's model: attributes, camelCase `mimeType`."""

    data: str
    mimeType: str  # MCP spells it so
    type: str = "image"


def test_content_given_as_sdk_objects_a_single_block_or_a_string_is_described() -> None:
    image = ImageContent(data=base64.b64encode(b"GIF89a").decode(), mimeType="image/gif")
    assert describe_content([image]) == [
        {"type": "image", "mimeType": "image/gif", "data": "[binary:image/gif:6]"}]
    assert describe_content(image) == describe_content([image])
    assert describe_content("plain text") == [{"type": "text", "text": "plain text"}]
    assert describe_content(None) == []


def test_binary_without_a_mime_type_is_labelled_octet_stream() -> None:
    assert describe_content([{"type": "image", "data": "AAAA"}]) == [
        {"type": "image", "data": "[binary:application/octet-stream:3]"}]


def test_the_text_a_model_reads_is_the_text_blocks_and_text_resources() -> None:
    blocks = [{"type": "text", "text": "Room 12 booked"},
              {"type": "image", "mimeType": "image/png", "data": "AAAA"},
              {"type": "resource", "resource": {"uri": "x://r", "text": "Receipt #9"}}]
    assert content_text(blocks) == "Room 12 booked\nReceipt #9"
    assert estimate_tokens(content_text(blocks)) == math.ceil(len("Room 12 booked\nReceipt #9") / 4)


# -- ChatGPT's request _meta ---------------------------------------------------------------------

CHATGPT_META = {
    "openai/userLocation": {"city": "Berlin", "region": "Berlin", "country": "DE",
                            "timezone": "Europe/Berlin", "latitude": "52.5", "longitude": "13.4"},
    "openai/locale": "de-DE",
    "openai/userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X)",
    "openai/subject": "v1/6aS1lE8zv2LmQq2Zx0",
    "openai/session": "sess_123",
}


def test_chatgpt_end_user_fields_are_read_from_meta_without_city_or_coordinates() -> None:
    fields = openai_meta_fields(CHATGPT_META)
    assert fields == {"country_code": "DE", "locale": "de-DE",
                      "end_user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X)",
                      "subject_id": "v1/6aS1lE8zv2LmQq2Zx0"}
    event = tool_call_event(**fields)
    assert validate_obj(event) == (event, [])


def test_geo_capture_off_drops_country_and_locale() -> None:
    assert set(openai_meta_fields(CHATGPT_META, geo=False)) == {"end_user_agent", "subject_id"}


def test_input_capture_off_drops_the_user_agent_and_subject() -> None:
    assert set(openai_meta_fields(CHATGPT_META, input_values=False)) == {"country_code", "locale"}


@pytest.mark.parametrize(("location", "country_code"), [
    ({"country": "us"}, "US"),
    ({"country": "USA"}, None),
    ({"country": 49}, None),
    ("DE", None),
    (None, None),
])
def test_only_a_two_letter_country_becomes_the_country_code(location, country_code) -> None:
    fields = openai_meta_fields({"openai/userLocation": location})
    assert fields.get("country_code") == country_code


def test_an_oversized_user_agent_is_cut_so_the_event_stays_under_the_size_limit() -> None:
    fields = openai_meta_fields({"openai/userAgent": "A" * 100_000})
    assert len(fields["end_user_agent"]) == 512


@pytest.mark.parametrize("meta", [None, {}, "openai/locale", {"openai/locale": 5}])
def test_missing_or_malformed_meta_gives_no_fields(meta) -> None:
    assert openai_meta_fields(meta) == {}


# -- is_retry ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("history", "tool", "retry"), [
    ([], "search_rooms", 0),
    ([("tool_call", "search_rooms")], "search_rooms", 1),
    ([("tool_call", "search_rooms")], "book_room", 0),
    ([("tool_call", "search_rooms"), ("step", "rooms_found")], "search_rooms", 0),
    ([("tool_call", "search_rooms"), ("tool_call", "book_room")], "search_rooms", 0),
    ([("track", "search_rooms")], "search_rooms", 0),
])
def test_a_call_is_a_retry_when_the_sessions_preceding_event_called_the_same_tool(
    history, tool, retry,
) -> None:
    sessions = SessionStore()
    for event_type, name in history:
        sessions.record_event("ses_a", event_type, name)
    assert is_retry(sessions.record_event("ses_a", "tool_call", tool), tool) == retry


def test_the_same_tool_called_in_another_session_is_not_a_retry() -> None:
    sessions = SessionStore()
    sessions.record_event("ses_a", "tool_call", "search_rooms")
    in_b = sessions.record_event("ses_b", "tool_call", "search_rooms")
    assert is_retry(in_b, "search_rooms") == 0
    again_in_a = sessions.record_event("ses_a", "tool_call", "search_rooms")
    assert is_retry(again_in_a, "search_rooms") == 1
