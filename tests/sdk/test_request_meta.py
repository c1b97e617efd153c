"""Request metadata keeps only allowlisted headers, and URLs lose whatever can hold a secret."""

from __future__ import annotations

import httpx
import pytest

from yavio_sdk.request_meta import ALLOWED_HEADERS, allowed_headers, strip_url

BROWSER_REQUEST = {
    "User-Agent": "openai-mcp/1.0.0",
    "Accept-Language": "de-DE,de;q=0.9",
    "X-Anthropic-Client": "claude-ai",
    "MCP-Protocol-Version": "2025-06-18",
    "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "Authorization": "Bearer yav_live_abcdefghijklmnop",
    "Cookie": "session=abc",
    "X-Api-Key": "sk-secret",
    "X-Forwarded-For": "203.0.113.7",
    "X-Real-IP": "203.0.113.7",
    "Forwarded": "for=203.0.113.7",
    "CF-Connecting-IP": "203.0.113.7",
    "Proxy-Authorization": "Basic dXNlcjpwYXNz",
    "Mcp-Session-Id": "1868a90c",
}


def test_only_the_five_allowlisted_headers_pass_with_lower_case_names() -> None:
    assert allowed_headers(BROWSER_REQUEST) == {
        "user-agent": "openai-mcp/1.0.0",
        "accept-language": "de-DE,de;q=0.9",
        "x-anthropic-client": "claude-ai",
        "mcp-protocol-version": "2025-06-18",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    }
    assert set(allowed_headers(BROWSER_REQUEST)) == ALLOWED_HEADERS


@pytest.mark.parametrize("name", ["authorization", "cookie", "x-api-key", "x-forwarded-for",
                                  "x-real-ip", "forwarded", "cf-connecting-ip",
                                  "proxy-authorization", "set-cookie"])
def test_credentials_and_client_addresses_never_pass(name: str) -> None:
    assert allowed_headers({name: "secret", name.upper(): "secret"}) == {}


def test_httpx_headers_and_asgi_raw_header_pairs_are_accepted() -> None:
    headers = httpx.Headers({"User-Agent": "Cursor/1.2.4", "Authorization": "Bearer x"})
    assert allowed_headers(headers) == {"user-agent": "Cursor/1.2.4"}
    scope_headers = [(b"user-agent", b"Zed/0.190.5"), (b"cookie", b"a=b")]
    assert allowed_headers(scope_headers) == {"user-agent": "Zed/0.190.5"}


def test_a_header_sent_twice_is_folded_as_http_does() -> None:
    pairs = [(b"accept-language", b"fr"), (b"Accept-Language", b"en;q=0.5")]
    assert allowed_headers(pairs) == {"accept-language": "fr, en;q=0.5"}


@pytest.mark.parametrize("headers", [None, {}, []])
def test_no_headers_give_no_metadata(headers: object) -> None:
    assert allowed_headers(headers) == {}  # type: ignore[arg-type]


@pytest.mark.parametrize(("url", "stripped"), [
    ("https://mcp.example.com/mcp?token=abc#frag", "https://mcp.example.com/mcp"),
    ("https://user:hunter2@mcp.example.com:8443/mcp/", "https://mcp.example.com:8443/mcp/"),
    ("https://bucket.s3.amazonaws.com/a.png?X-Amz-Signature=deadbeef",
     "https://bucket.s3.amazonaws.com/a.png"),
    ("/mcp?api_key=yav_x", "/mcp"),
    ("ui://widget/booking.html", "ui://widget/booking.html"),
    ("http://[::1/mcp?key=1", "http://[::1/mcp"),
])
def test_urls_lose_query_fragment_and_credentials(url: str, stripped: str) -> None:
    assert strip_url(url) == stripped
