"""Oversized payload fields are cut, not rejected (SPEC section 1, "Field limits").

Shared by the ingest (every event) and the SDK (explicit events), so both cut the same way.

A JSON payload over its limit becomes `{"_truncated": true, "_original_size": N}`; an error
message is cut to its limit with a `... [truncated]` suffix; a tool description is cut to its
length. Each cut is reported as a warning. Runs after PII redaction, so a cut never leaves half an
email behind.
"""

from __future__ import annotations

from typing import Any

import msgspec

from yavio_sdk.events import (
    MAX_DESCRIPTION_CHARS,
    MAX_ERROR_MESSAGE_BYTES,
    MAX_INTENT_BYTES,
    MAX_PAYLOAD_BYTES,
    MAX_TRAITS_BYTES,
)

_JSON_LIMITS = {
    "metadata": MAX_PAYLOAD_BYTES,
    "input_values": MAX_PAYLOAD_BYTES,
    "output_content": MAX_PAYLOAD_BYTES,
    "user_traits": MAX_TRAITS_BYTES,
    "input_keys": MAX_TRAITS_BYTES,
    "input_types": MAX_TRAITS_BYTES,
    "intent_signals": MAX_INTENT_BYTES,
}
# No field can exceed the smallest limit unless the event is at least that large.
SMALLEST_LIMIT = min(min(_JSON_LIMITS.values()), MAX_ERROR_MESSAGE_BYTES)
_SUFFIX = "... [truncated]"
_encode = msgspec.json.Encoder().encode


def within_limit(value: Any, limit: int) -> tuple[Any, int]:
    """`value` if its compact JSON fits in `limit` bytes, else the truncation marker; and the
    size of that JSON."""
    size = len(_encode(value))
    if size <= limit:
        return value, size
    return {"_truncated": True, "_original_size": size}, size


def truncate_event(event: Any) -> list[tuple[str, str]]:
    """Cut `event`'s oversized fields in place; returns (field, warning) for each cut."""
    warnings: list[tuple[str, str]] = []
    for field, limit in _JSON_LIMITS.items():
        value = getattr(event, field, None)
        if value is None:
            continue
        kept, size = within_limit(value, limit)
        if kept is not value:
            setattr(event, field, kept)
            warnings.append((field, f"{size} bytes of JSON over the {limit}-byte limit: replaced "
                                    "by a truncation marker"))
    message = getattr(event, "error_message", None)
    if message is not None:
        encoded = message.encode()
        if len(encoded) > MAX_ERROR_MESSAGE_BYTES:
            keep = encoded[:MAX_ERROR_MESSAGE_BYTES - len(_SUFFIX)].decode(errors="ignore")
            event.error_message = keep + _SUFFIX
            warnings.append(("error_message", f"{len(encoded)} bytes over the "
                                              f"{MAX_ERROR_MESSAGE_BYTES}-byte limit: cut"))
    description = getattr(event, "description", None)
    if description is not None and len(description) > MAX_DESCRIPTION_CHARS:
        event.description = description[:MAX_DESCRIPTION_CHARS]
        warnings.append(("description", f"{len(description)} characters over the "
                                        f"{MAX_DESCRIPTION_CHARS}-character limit: cut"))
    return warnings
