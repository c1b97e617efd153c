"""What of an HTTP request the SDK may record (SPEC 4, "Request metadata").

Only an allowlist of headers passes, and URLs lose everything that can carry a credential: the
query, the fragment and any `user:password@`. Whatever is not on the list (`authorization`,
`cookie`, `x-api-key`, `x-forwarded-for`, ...) never leaves the host, so a header added by a new
proxy is private until someone decides otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["ALLOWED_HEADERS", "allowed_headers", "strip_url"]

ALLOWED_HEADERS = frozenset({
    "user-agent",
    "accept-language",
    "x-anthropic-client",
    "mcp-protocol-version",
    "traceparent",
})


def allowed_headers(
    headers: Mapping[Any, Any] | Iterable[tuple[Any, Any]] | None,
) -> dict[str, str]:
    """The allowlisted headers of a request, names lower-cased.

    Takes any mapping (a dict, httpx/Starlette `Headers`) or the `(name, value)` pairs of an ASGI
    scope; names and values may be `str` or `bytes`. A header sent twice is joined with ", ", as
    HTTP folds it.
    """
    if not headers:
        return {}
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    kept: dict[str, str] = {}
    for name, value in pairs:
        name = _text(name).lower()
        if name not in ALLOWED_HEADERS:
            continue
        value = _text(value)
        kept[name] = f"{kept[name]}, {value}" if name in kept else value
    return kept


def _text(value: Any) -> str:
    # ASGI gives latin-1 bytes (RFC 9110 allows only visible ASCII plus obs-text).
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")
    return str(value)


def strip_url(url: str) -> str:
    """`url` without its query, fragment and `user:password@`: signed URLs and tokens stay home.

    A string that does not parse as a URL is cut at its first `?` or `#`.
    """
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, host, parts.path, "", ""))
    except ValueError:  # e.g. an unclosed IPv6 bracket
        for mark in "?#":
            url = url.partition(mark)[0]
        return url
