"""The `window.__YAVIO__` script injected into widget HTML (`yavio_sdk.widget_injection`)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from yavio_sdk.widget_injection import inject_config, is_html

CONFIG = {"token": "wt_abc", "endpoint": "http://127.0.0.1:3001", "traceId": "tr_1",
          "sessionId": "ses_1", "stepSequence": 0}
SCRIPT_START = "<script>window.__YAVIO__ = "


def injected_config(html: str) -> Any:
    """The JSON object the injected script assigns (the parser's view of it)."""
    match = re.search(r"<script>window\.__YAVIO__ = (.*?);</script>", html, re.DOTALL)
    assert match is not None, html
    return json.loads(match.group(1))


def test_the_script_goes_right_after_the_head_tag() -> None:
    html = "<!doctype html><html><head><script src='app.js'></script></head><body></body></html>"

    out = inject_config(html, CONFIG)

    assert out.startswith("<!doctype html><html><head>" + SCRIPT_START)
    assert out.endswith("</script><script src='app.js'></script></head><body></body></html>")
    assert out.index(SCRIPT_START) < out.index("app.js")
    assert injected_config(out) == CONFIG


def test_an_upper_case_head_tag_with_attributes_is_found() -> None:
    html = '<html><HEAD lang="en" data-x="1"><title>Rooms</title></HEAD><body></body></html>'

    out = inject_config(html, CONFIG)

    assert out.startswith('<html><HEAD lang="en" data-x="1">' + SCRIPT_START)
    assert out.endswith("</script><title>Rooms</title></HEAD><body></body></html>")


def test_a_header_element_is_not_taken_for_the_head() -> None:
    html = "<body><header>Top</header></body>"

    out = inject_config(html, CONFIG)

    assert out.startswith(SCRIPT_START)
    assert out.endswith("</script>" + html)


def test_html_without_a_head_gets_the_script_at_the_very_start() -> None:
    html = "<div id='root'></div><script src='app.js'></script>"

    out = inject_config(html, CONFIG)

    assert out.startswith(SCRIPT_START)
    assert out.endswith("</script>" + html)
    assert injected_config(out) == CONFIG


def test_a_value_cannot_close_the_script_element() -> None:
    hostile = "</script><script>alert(1)</script>"
    config = {**CONFIG, "token": hostile}

    out = inject_config("<head></head>", config)

    assert out.count("</script>") == 1
    assert out.lower().count("</script") == 1
    assert out.endswith("</script></head>")
    assert injected_config(out)["token"] == hostile


def test_an_html_comment_opener_in_a_value_cannot_change_how_the_script_is_parsed() -> None:
    config = {**CONFIG, "token": "<!--<script>"}

    out = inject_config("<head></head>", config)

    assert "<!--" not in out
    assert injected_config(out)["token"] == "<!--<script>"


@pytest.mark.parametrize("mime_type", [
    "text/html", "text/html+skybridge", "text/html;profile=mcp-app", "TEXT/HTML",
])
def test_html_mime_types_are_html(mime_type: str) -> None:
    assert is_html(mime_type)


@pytest.mark.parametrize("mime_type", ["application/json", "text/plain", None, "", 42])
def test_other_mime_types_are_not_html(mime_type: Any) -> None:
    assert not is_html(mime_type)
