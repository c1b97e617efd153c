"""Intent capture (SPEC 4, "Intent capture"): why did the agent call this tool?

When it is on, `tools/list` advertises one extra string argument, `context`, on every tool whose
input schema can take it, asking the agent for the user's goal in a sentence; on `tools/call`
the integration takes `context` out of the arguments before the framework validates them, so the
handler never sees it, and the call's `tool_call` event carries it as `intent_signals`.

A schema can take the argument when it is a plain object with named properties, has no `context`
of its own (the tool's own argument wins, and is left alone on calls too) and no
`oneOf`/`anyOf`/`allOf` (adding a property to a union could make valid calls invalid). The
listed schema is a copy: the registered one, which the framework validates against, is never
modified.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from yavio_sdk.events import MAX_INTENT_BYTES
from yavio_sdk.pii import redact_text
from yavio_sdk.truncation import within_limit

__all__ = [
    "CONTEXT_ARGUMENT",
    "CONTEXT_DESCRIPTION",
    "IntentFallback",
    "advertised_schema",
    "intent_signals",
    "take_context",
]

logger = logging.getLogger("yavio")

CONTEXT_ARGUMENT = "context"
CONTEXT_DESCRIPTION = (
    "In one short sentence, what is the user trying to achieve with this call? "
    "(Used for product analytics; never shown to the tool.)")
MAX_INTENT_CHARS = 500

IntentFallback = Callable[[str, Mapping[str, Any]], "str | None"]
"""`intent_fallback(tool_name, arguments)`: an intent guessed for a call made without `context`."""

_UNIONS = ("oneOf", "anyOf", "allOf")


def _can_take_context(schema: Any) -> bool:
    if not isinstance(schema, Mapping) or schema.get("type") != "object":
        return False
    properties = schema.get("properties")
    if not isinstance(properties, Mapping) or not properties:
        return False
    return CONTEXT_ARGUMENT not in properties and not any(key in schema for key in _UNIONS)


def advertised_schema(schema: Any, *, required: bool = True) -> dict[str, Any] | None:
    """A copy of `schema` with the `context` argument added, or None when the schema cannot
    take it (then list the tool unchanged)."""
    if not _can_take_context(schema):
        return None
    listed = dict(schema)
    listed["properties"] = {
        **schema["properties"],
        CONTEXT_ARGUMENT: {"type": "string", "description": CONTEXT_DESCRIPTION},
    }
    if required:
        existing = schema.get("required")
        listed["required"] = [*(existing if isinstance(existing, list) else ()), CONTEXT_ARGUMENT]
    return listed


def take_context(
    arguments: Mapping[str, Any] | None, registered_schema: Any,
) -> tuple[Mapping[str, Any] | None, Any]:
    """`(arguments without context, the context value)` for a call of a tool whose registered
    schema is `registered_schema`. Arguments of a tool that has its own `context` (or cannot take
    one) are returned as they are, with None."""
    if not arguments or CONTEXT_ARGUMENT not in arguments or not _can_take_context(
            registered_schema):
        return arguments, None
    rest = {key: value for key, value in arguments.items() if key != CONTEXT_ARGUMENT}
    return rest, arguments[CONTEXT_ARGUMENT]


def intent_signals(
    context: Any,
    tool_name: str,
    arguments: Mapping[str, Any] | None,
    fallback: IntentFallback | None = None,
) -> dict[str, Any] | None:
    """The `intent_signals` of a call: `{intent, source: "context_parameter"}` from the agent's
    `context`, else `{intent, source: "inferred"}` from `fallback`, else None. The intent is
    trimmed, PII-redacted, then cut to 500 characters."""
    source = "context_parameter"
    text = context.strip() if isinstance(context, str) else None
    if not text and fallback is not None:
        source = "inferred"
        try:
            guessed = fallback(tool_name, dict(arguments or {}))
        except Exception:
            logger.warning("yavio: intent_fallback raised; the call has no intent",
                           exc_info=True)
            guessed = None
        text = guessed.strip() if isinstance(guessed, str) else None
    if not text:
        return None
    signals = {"intent": redact_text(text)[:MAX_INTENT_CHARS], "source": source}
    kept, _ = within_limit(signals, MAX_INTENT_BYTES)
    return kept
