"""The rules that fill a `tool_call` event (SPEC 4, `tool_call`), free of any MCP dependency.

The integrations gather what a call gave them (the arguments, the raised exception or the
`isError` result, the content blocks, the request `_meta`, the session's preceding event) and
these functions turn it into event fields:

    error_category(error, result_text)    error_category
    input_shape(arguments)                input_keys, input_types
    estimate_tokens(value)                tokens_in (arguments), tokens_out (content_text(content))
    describe_content(content)             output_content
    openai_meta_fields(meta, ...)         country_code, locale, end_user_agent, subject_id
    is_retry(preceding, tool_name)        is_retry

None of them raises on odd input: a tool may return or raise anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

import msgspec

from yavio_sdk.request_meta import strip_url

if TYPE_CHECKING:
    from yavio_sdk.session_state import PrecedingEvent

__all__ = [
    "ErrorCategory",
    "binary_placeholder",
    "content_text",
    "describe_content",
    "error_category",
    "estimate_tokens",
    "field",
    "input_shape",
    "is_retry",
    "json_type",
    "openai_meta_fields",
]

ErrorCategory = Literal["auth", "validation", "timeout", "rate_limit", "server", "unknown"]


# -- error_category ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Rule:
    category: ErrorCategory
    codes: frozenset[int] = frozenset()  # HTTP statuses and JSON-RPC error codes on the exception
    types: tuple[type[BaseException], ...] = ()
    names: re.Pattern[str] | None = None  # class names anywhere in the MRO: libraries not imported
    words: re.Pattern[str] | None = None  # in the messages and in an isError result's text
    broad_types: tuple[type[BaseException], ...] = ()  # raised for many reasons: weakest signal


def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text, re.IGNORECASE)


# The one table of error categories. `error_category` reads it by signal, strongest first: every
# row's `codes`, then every row's `types`/`names`, then `words`, then `broad_types`; within a
# signal, the first row that matches wins. So `httpx.HTTPStatusError` for a 429 is rate_limit by
# its status whatever its text says, and `ValueError("rate limit exceeded")` is rate_limit by its
# words before ValueError makes it validation.
_RULES: Final = (
    _Rule(
        "rate_limit",
        codes=frozenset({429}),
        names=_pattern(r"ratelimit|toomanyrequests|throttl|quota"),
        words=_pattern(r"\b429\b|rate[\s_-]?limit|too many requests|quota|throttl"),
    ),
    _Rule(
        "auth",
        codes=frozenset({401, 403, 407}),
        types=(PermissionError,),
        names=_pattern(r"auth(entication|orization)?(error|exception|failed)|unauthori[sz]ed"
                       r"|unauthenticated|notauthenticated|forbidden|permission|accessdenied"),
        words=_pattern(r"\b40[13]\b|unauthori[sz]ed|unauthenticated|not authenticated"
                       r"|authentication|forbidden|permission|access denied"
                       r"|invalid (api[\s_-]?key|token|credentials)|token (has )?expired"),
    ),
    _Rule(
        "timeout",
        # 408 is also what the MCP SDK's McpError carries for a request that timed out.
        codes=frozenset({408, 504}),
        types=(TimeoutError,),  # also asyncio's, concurrent.futures' and socket's since 3.11
        names=_pattern(r"time[d_]?out|deadline"),
        # anyio cancels a scope past its deadline with "...; reason: deadline exceeded".
        words=_pattern(r"\btimed?[\s_-]?out|timeout|deadline"),
    ),
    _Rule(
        "validation",
        codes=frozenset({400, 422, -32602}),  # -32602: JSON-RPC invalid params
        names=_pattern(r"validation|invalid_?(params?|arguments?|input)|badrequest"),
        words=_pattern(r"validation|invalid (param|argument|input)|missing required"
                       r"|\bis required\b|must be"),
        broad_types=(ValueError, TypeError),
    ),
    _Rule(
        "server",
        codes=frozenset(range(500, 600)) - {504},
    ),
)

# Enough of a message to hold its signal words; the rest only costs regex time.
_MESSAGE_CHARS = 2_048
_CHAIN_LIMIT = 8


def error_category(error: BaseException | None, result_text: str | None = None) -> ErrorCategory:
    """The `error_category` of a failed call, by the rules of `_RULES`.

    `error` is what the handler raised (None when it returned `isError: true`); its explicit
    causes (`raise ... from`), implicit contexts and an exception group's first member are read
    too, since frameworks wrap handler errors (FastMCP's `ToolError`). `result_text` is the text
    of an `isError` result.

    When nothing matches: "server" for anything the handler raised; "unknown" for an `isError`
    result whose text names no category, and for a cancellation with no deadline in its message
    (the client cancelled or the server is stopping: neither is the handler's failure).
    """
    chain = _chain(error)
    codes: set[int] = set()
    for link in chain:
        codes.update(_codes(link))
    names = " ".join(cls.__name__ for link in chain for cls in type(link).__mro__)
    text = " ".join([*(_message(link) for link in chain), (result_text or "")[:_MESSAGE_CHARS]])

    for rule in _RULES:
        if rule.codes & codes:
            return rule.category
    for rule in _RULES:
        if (rule.types and any(isinstance(link, rule.types) for link in chain)) or (
                rule.names and rule.names.search(names)):
            return rule.category
    for rule in _RULES:
        if rule.words and rule.words.search(text):
            return rule.category
    for rule in _RULES:
        if rule.broad_types and any(isinstance(link, rule.broad_types) for link in chain):
            return rule.category
    if not chain or _is_cancellation(chain[0]):
        return "unknown"
    return "server"


def _chain(error: BaseException | None) -> list[BaseException]:
    chain: list[BaseException] = []
    seen: set[int] = set()
    while error is not None and id(error) not in seen and len(chain) < _CHAIN_LIMIT:
        seen.add(id(error))
        chain.append(error)
        if isinstance(error, BaseExceptionGroup) and error.exceptions:
            error = error.exceptions[0]
        elif error.__cause__ is not None:
            error = error.__cause__
        elif not error.__suppress_context__:
            error = error.__context__
        else:
            error = None
    return chain


def _attribute(holder: Any, name: str) -> Any:
    try:
        return getattr(holder, name, None)
    except Exception:  # a property may raise, e.g. httpx's `request` when it is unset
        return None


def _codes(error: BaseException) -> Iterable[int]:
    # httpx/requests put the status on `response`, the MCP SDK's McpError its code on `error`.
    for holder in (error, _attribute(error, "response"), _attribute(error, "error")):
        if holder is None:
            continue
        for name in ("status_code", "status", "code", "http_status"):
            value = _attribute(holder, name)
            if isinstance(value, int) and not isinstance(value, bool):
                yield int(value)


def _message(error: BaseException) -> str:
    try:
        return str(error)[:_MESSAGE_CHARS]
    except Exception:
        return ""


def _is_cancellation(error: BaseException) -> bool:
    # By name, so the SDK need not import asyncio: asyncio's and concurrent.futures'
    # CancelledError, trio's Cancelled.
    return any(cls.__name__ in ("CancelledError", "Cancelled") for cls in type(error).__mro__)


# -- input_shape ---------------------------------------------------------------------------------

# msgspec's encoding of a value starts with a byte that names its JSON type.
_TYPE_BY_FIRST_BYTE = {ord('"'): "string", ord("{"): "object", ord("["): "array",
                       ord("t"): "boolean", ord("f"): "boolean", ord("n"): "null"}


def json_type(value: Any) -> str:
    """The JSON Schema type name of a value: string, integer, number, boolean, object, array, null.

    Integers are "integer" and floats "number", as JSON Schema and pydantic's tool schemas name
    them, so a type can be compared with the tool's declared input schema. A value that is not
    plain JSON (arguments decoded from JSON never are) is named by how the SDK encodes it: a
    datetime is a string, a dataclass an object, anything msgspec cannot encode its `str()`.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    encoded = _compact_json(value)
    if not encoded:
        return "object"
    return _TYPE_BY_FIRST_BYTE.get(encoded[0], "number")


def _compact_json(value: Any) -> bytes | None:
    try:
        return msgspec.json.encode(value, enc_hook=str)
    except Exception:  # e.g. a key that is not a string, or a cycle
        return None


def input_shape(arguments: Any) -> tuple[list[str], dict[str, str]]:
    """`(input_keys, input_types)` of a call's arguments: their top-level names, in order, and
    each name's `json_type`. Arguments that are not a mapping (none given) have no shape."""
    if not isinstance(arguments, Mapping):
        return [], {}
    types = {str(key): json_type(value) for key, value in arguments.items()}
    return list(types), types


# -- tokens --------------------------------------------------------------------------------------

def estimate_tokens(value: Any) -> int:
    """An estimate of the tokens a model spends on `value`: ceil(characters / 4).

    Characters of a string itself (a result's text), or of the compact JSON of anything else (the
    arguments). Four characters per token is the common rule of thumb for English with GPT-style
    tokenizers; no tokenizer is run, so treat the number as an order of magnitude. None is 0.
    """
    if value is None:
        return 0
    if isinstance(value, str):
        chars = len(value)
    else:
        encoded = _compact_json(value)
        chars = len(repr(value)) if encoded is None else len(encoded.decode("utf-8"))
    return -(-chars // 4)


# -- content -------------------------------------------------------------------------------------

_BINARY_TYPES = frozenset({"image", "audio"})
_DEFAULT_MIME = "application/octet-stream"


def binary_placeholder(mime_type: str | None, data: str | bytes | None) -> str:
    """`[binary:<mime>:<len>]` for binary content: its MIME type and its decoded size in bytes.

    `data` is MCP's base64 text (its size is computed, not decoded) or raw bytes.
    """
    return f"[binary:{mime_type or _DEFAULT_MIME}:{_decoded_size(data)}]"


def _decoded_size(data: str | bytes | None) -> int:
    if data is None:
        return 0
    if isinstance(data, (bytes, bytearray, memoryview)):
        return len(data)
    # Line breaks are allowed in base64 (MIME style); padding may be missing.
    data = str(data).rstrip("=\r\n ")
    chars = len(data) - data.count("\n") - data.count("\r") - data.count(" ")
    return chars * 3 // 4


def field(item: Any, name: str) -> Any:
    """`name` (a wire name such as `mimeType`) of a wire dict, or of an MCP SDK model: mcp 1.x
    models use the wire names, mcp 2.x models their snake_case (`mime_type`)."""
    if isinstance(item, Mapping):
        return item.get(name)
    if name.islower():
        return _attribute(item, name)
    # snake_case first: fastmcp makes the camelCase names of mcp 2.x models warn.
    value = _attribute(item, _snake(name))
    return _attribute(item, name) if value is None else value


def _snake(name: str) -> str:
    return "".join(f"_{char.lower()}" if char.isupper() else char for char in name)


def _blocks(content: Any) -> Iterable[Any]:
    if content is None:
        return ()
    if isinstance(content, (str, Mapping)) or field(content, "type") is not None:
        return (content,)
    try:
        return iter(content)
    except TypeError:
        return (content,)


def _without_none(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def _uri(value: Any) -> str | None:
    return None if value is None else strip_url(str(value))


def _describe_block(block: Any) -> Any:
    if isinstance(block, str):
        return {"type": "text", "text": block}
    kind = field(block, "type")
    mime = field(block, "mimeType")
    if kind == "text":
        return {"type": "text", "text": field(block, "text")}
    if kind in _BINARY_TYPES:
        return _without_none(type=kind, mimeType=mime,
                             data=binary_placeholder(mime, field(block, "data")))
    if kind == "resource":
        resource = field(block, "resource")
        mime = field(resource, "mimeType")
        blob = field(resource, "blob")
        described = _without_none(uri=_uri(field(resource, "uri")), mimeType=mime)
        if blob is not None:
            described["blob"] = binary_placeholder(mime, blob)
        else:
            described["text"] = field(resource, "text")
        return {"type": "resource", "resource": described}
    if kind == "resource_link":
        return _without_none(type=kind, uri=_uri(field(block, "uri")),
                             name=field(block, "name"), mimeType=mime)
    return {"type": str(kind) if kind else "unknown"}


def describe_content(content: Any) -> list[Any]:
    """MCP content blocks as capture-safe JSON values, e.g. for `output_content`.

    Takes a list of blocks (dicts or the MCP SDK's models), one block, or a plain string. Each
    block keeps its MCP shape (`type`, `text`, `mimeType`, `resource`, `uri`, `name`) so a reader
    sees what the client saw; binary payloads (`data` of image/audio, `blob` of a resource) become
    `[binary:<mime>:<len>]`, URIs lose query, fragment and credentials (signed URLs), and
    `_meta`/`annotations` are dropped. A block of an unknown type keeps its type only.
    """
    return [_describe_block(block) for block in _blocks(content)]


def content_text(content: Any) -> str:
    """The text of content blocks (text blocks and embedded text resources), one per line: what a
    model reads, for `tokens_out` and for the `error_category` of an `isError` result."""
    texts = []
    for block in _blocks(content):
        if isinstance(block, str):
            texts.append(block)
            continue
        kind = field(block, "type")
        text = field(block, "text") if kind == "text" else (
            field(field(block, "resource"), "text") if kind == "resource" else None)
        if isinstance(text, str):
            texts.append(text)
    return "\n".join(texts)


# -- ChatGPT request _meta -----------------------------------------------------------------------

# A client sets these freely; an oversized one would push the whole event over the 51,200-byte
# limit and get it rejected, so each is cut here.
_META_CHARS = 512
_COUNTRY = re.compile(r"[A-Za-z]{2}")


def _meta_text(meta: Mapping[str, Any], key: str) -> str | None:
    value = meta.get(key)
    return value[:_META_CHARS] if isinstance(value, str) and value else None


def openai_meta_fields(
    meta: Mapping[str, Any] | None, *, geo: bool = True, input_values: bool = True,
) -> dict[str, str]:
    """The end-user fields ChatGPT sends in a request's `_meta`, as `tool_call` fields.

    `country_code` (`openai/userLocation.country`, upper-cased, only if two letters) and `locale`
    (`openai/locale`) are location, captured when `geo` is on. `end_user_agent`
    (`openai/userAgent`) and `subject_id` (`openai/subject`, ChatGPT's anonymous user id) describe
    the person behind the call, captured when `input_values` is on. City, region and coordinates
    are never read. Missing or malformed fields are left out.
    """
    if not isinstance(meta, Mapping):
        return {}
    fields: dict[str, str] = {}
    if geo:
        location = meta.get("openai/userLocation")
        country = location.get("country") if isinstance(location, Mapping) else None
        if isinstance(country, str) and _COUNTRY.fullmatch(country):
            fields["country_code"] = country.upper()
        locale = _meta_text(meta, "openai/locale")
        if locale:
            fields["locale"] = locale
    if input_values:
        user_agent = _meta_text(meta, "openai/userAgent")
        if user_agent:
            fields["end_user_agent"] = user_agent
        subject = _meta_text(meta, "openai/subject")
        if subject:
            fields["subject_id"] = subject
    return fields


# -- is_retry ------------------------------------------------------------------------------------

def is_retry(preceding: PrecedingEvent | tuple[str, str | None] | None, tool_name: str) -> int:
    """1 when the session's preceding event (`SessionStore.record_event`'s answer) was a
    `tool_call` of the same tool, else 0. Any other event in between (a step, another tool) means
    the agent moved on, so the call is not a retry."""
    if preceding is None:
        return 0
    event_type, name = preceding
    return int(event_type == "tool_call" and name == tool_name)
