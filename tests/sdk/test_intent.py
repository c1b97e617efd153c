"""Intent capture: the `context` argument advertised on `tools/list`, taken out of `tools/call`
arguments, and turned into a call's `intent_signals` (`yavio_sdk.intent`)."""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any

import pytest

from yavio_sdk.intent import (
    CONTEXT_DESCRIPTION,
    advertised_schema,
    intent_signals,
    take_context,
)


def booking_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"city": {"type": "string"}, "nights": {"type": "integer"}},
        "required": ["city"],
    }


# -- advertised_schema ----------------------------------------------------------------------------

def test_a_plain_object_schema_is_listed_with_a_required_context_string() -> None:
    listed = advertised_schema(booking_schema())

    assert listed is not None
    assert listed["properties"]["context"] == {"type": "string",
                                               "description": CONTEXT_DESCRIPTION}
    assert listed["properties"]["city"] == {"type": "string"}
    assert listed["properties"]["nights"] == {"type": "integer"}
    assert listed["required"] == ["city", "context"]
    assert listed["type"] == "object"


def test_a_schema_without_required_gets_context_as_its_only_required_argument() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}

    listed = advertised_schema(schema)

    assert listed is not None
    assert listed["required"] == ["context"]


def test_context_is_optional_when_required_is_off() -> None:
    listed = advertised_schema(booking_schema(), required=False)

    assert listed is not None
    assert "context" in listed["properties"]
    assert listed["required"] == ["city"]


def test_context_is_not_made_required_on_a_schema_that_had_no_required_list() -> None:
    listed = advertised_schema({"type": "object", "properties": {"city": {"type": "string"}}},
                               required=False)

    assert listed is not None
    assert "required" not in listed


def test_the_registered_schema_is_left_unchanged() -> None:
    schema = booking_schema()
    properties = schema["properties"]
    required = schema["required"]
    before = copy.deepcopy(schema)

    listed = advertised_schema(schema)

    assert schema == before
    assert schema["properties"] is properties and "context" not in properties
    assert required == ["city"]
    assert listed is not schema
    assert listed["properties"] is not properties


@pytest.mark.parametrize("union", ["oneOf", "anyOf", "allOf"])
def test_a_schema_with_a_union_is_listed_unchanged(union: str) -> None:
    schema = booking_schema()
    schema[union] = [{"required": ["city"]}, {"required": ["nights"]}]

    assert advertised_schema(schema) is None


@pytest.mark.parametrize("schema", [
    {"type": "object"},
    {"type": "object", "properties": {}},
    {"type": "object", "properties": None},
], ids=["no properties", "empty properties", "null properties"])
def test_a_schema_with_no_named_properties_is_listed_unchanged(schema: dict[str, Any]) -> None:
    assert advertised_schema(schema) is None


def test_a_tool_with_its_own_context_argument_is_listed_unchanged() -> None:
    schema = {"type": "object", "properties": {"context": {"type": "object"}}}

    assert advertised_schema(schema) is None


@pytest.mark.parametrize("schema", [
    {"type": "array", "items": {"type": "string"}},
    {"properties": {"city": {"type": "string"}}},
    None,
    "object",
    ["city"],
], ids=["array", "no type", "none", "string", "list"])
def test_a_schema_that_is_not_an_object_is_listed_unchanged(schema: Any) -> None:
    assert advertised_schema(schema) is None


# -- take_context ---------------------------------------------------------------------------------

def test_context_is_taken_out_of_the_arguments_of_a_tool_that_can_take_it() -> None:
    arguments = {"city": "Paris", "context": "Plan a weekend away"}

    rest, context = take_context(arguments, booking_schema())

    assert rest == {"city": "Paris"}
    assert context == "Plan a weekend away"
    assert arguments == {"city": "Paris", "context": "Plan a weekend away"}


def test_a_tool_with_its_own_context_argument_keeps_it() -> None:
    schema = {"type": "object", "properties": {"context": {"type": "string"}}}
    arguments = {"context": "the tool's own value"}

    rest, context = take_context(arguments, schema)

    assert rest is arguments
    assert context is None


def test_a_tool_whose_schema_cannot_take_context_keeps_a_context_argument() -> None:
    schema = {**booking_schema(), "anyOf": [{"required": ["city"]}]}
    arguments = {"city": "Paris", "context": "whatever"}

    rest, context = take_context(arguments, schema)

    assert rest is arguments
    assert context is None


def test_arguments_without_context_come_back_as_the_same_object() -> None:
    arguments = {"city": "Paris"}

    rest, context = take_context(arguments, booking_schema())

    assert rest is arguments
    assert context is None


@pytest.mark.parametrize("arguments", [None, {}], ids=["none", "empty"])
def test_no_arguments_come_back_as_they_are(arguments: Mapping[str, Any] | None) -> None:
    rest, context = take_context(arguments, booking_schema())

    assert rest is arguments
    assert context is None


# -- intent_signals -------------------------------------------------------------------------------

def test_the_agents_context_becomes_a_trimmed_intent_from_the_context_parameter() -> None:
    signals = intent_signals("   Find a hotel in Paris for two nights \n", "book_room", {})

    assert signals == {"intent": "Find a hotel in Paris for two nights",
                       "source": "context_parameter"}


def test_an_email_in_the_context_is_redacted() -> None:
    signals = intent_signals("Send the booking to bob@example.com", "book_room", {})

    assert signals == {"intent": "Send the booking to [EMAIL_REDACTED]",
                       "source": "context_parameter"}


def test_a_long_context_is_cut_to_500_characters() -> None:
    signals = intent_signals("a" * 2_000, "book_room", {})

    assert signals is not None
    assert signals["intent"] == "a" * 500


def test_the_fallback_guesses_an_intent_when_there_is_no_context() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    def fallback(tool_name: str, arguments: Mapping[str, Any]) -> str:
        seen.append((tool_name, dict(arguments)))
        return f"  book a room in {arguments['city']}  "

    signals = intent_signals(None, "book_room", {"city": "Paris"}, fallback)

    assert signals == {"intent": "book a room in Paris", "source": "inferred"}
    assert seen == [("book_room", {"city": "Paris"})]


def test_the_fallback_is_used_for_a_blank_context() -> None:
    signals = intent_signals("   ", "book_room", None, lambda name, args: "guessed")

    assert signals == {"intent": "guessed", "source": "inferred"}


def test_the_fallback_is_not_asked_when_the_agent_gave_context() -> None:
    def fallback(tool_name: str, arguments: Mapping[str, Any]) -> str:
        raise AssertionError("must not be called")

    signals = intent_signals("Plan a trip", "book_room", {}, fallback)

    assert signals == {"intent": "Plan a trip", "source": "context_parameter"}


def test_the_fallbacks_intent_is_redacted_too() -> None:
    signals = intent_signals(None, "email_user", {},
                             lambda name, args: "write to alice@example.org")

    assert signals == {"intent": "write to [EMAIL_REDACTED]", "source": "inferred"}


@pytest.mark.parametrize("context", [None, "", "   \t\n", 42, {"goal": "x"}],
                         ids=["none", "empty", "blank", "number", "dict"])
def test_no_usable_context_and_no_fallback_gives_no_intent(context: Any) -> None:
    assert intent_signals(context, "book_room", {"city": "Paris"}) is None


def test_a_fallback_that_returns_nothing_gives_no_intent() -> None:
    assert intent_signals(None, "book_room", {}, lambda name, args: None) is None
    assert intent_signals(None, "book_room", {}, lambda name, args: "  ") is None


def test_a_fallback_that_raises_gives_no_intent_and_logs_a_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    def fallback(tool_name: str, arguments: Mapping[str, Any]) -> str:
        raise RuntimeError("fallback broke")

    with caplog.at_level(logging.WARNING, logger="yavio"):
        signals = intent_signals(None, "book_room", {"city": "Paris"}, fallback)

    assert signals is None
    warnings = [record for record in caplog.records
                if record.name == "yavio" and record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "intent_fallback" in warnings[0].getMessage()
