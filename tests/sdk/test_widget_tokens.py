"""Widget tokens: minted once per (trace, session) by `POST /v1/widget-tokens`, cached, and a
failed mint is a logged None that never shows the API key (`yavio_sdk.widget_tokens`)."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from yavio_sdk.widget_tokens import WidgetToken, WidgetTokens

API_KEY = "yav_" + "k" * 64
ENDPOINT = "http://ingest.test"


class FakeIngest:
    """A fake of the ingest's widget-token endpoint, served through `httpx.MockTransport`: it
    mints `wt_<n>` tokens (or answers as told) and keeps every request it got."""

    def __init__(self, status: int = 200, answer: Any = None) -> None:
        self.status = status
        self.answer = answer
        self.requests: list[httpx.Request] = []
        self.transport = httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.status != 200:
            return httpx.Response(self.status, json={"error": "boom"})
        if self.answer is not None:
            return httpx.Response(200, json=self.answer)
        return httpx.Response(200, json={"token": f"wt_{len(self.requests)}"})


def failing_transport(request: httpx.Request) -> httpx.Response:
    """A fake of an unreachable ingest: every request fails to connect."""
    raise httpx.ConnectError("connection refused", request=request)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records
            if record.name == "yavio" and record.levelno == logging.WARNING]


def test_a_token_is_minted_for_a_trace_and_session() -> None:
    ingest = FakeIngest()
    tokens = WidgetTokens(API_KEY, ENDPOINT, transport=ingest.transport)

    token = tokens.mint("tr_1", "ses_1")

    assert token == WidgetToken("wt_1", "tr_1", "ses_1")
    assert len(ingest.requests) == 1


def test_the_mint_request_carries_the_key_and_the_trace_and_session() -> None:
    ingest = FakeIngest()
    tokens = WidgetTokens(API_KEY, ENDPOINT + "/", transport=ingest.transport)

    tokens.mint("tr_1", "ses_1")

    request = ingest.requests[0]
    assert request.method == "POST"
    assert str(request.url) == "http://ingest.test/v1/widget-tokens"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert json.loads(request.content) == {"traceId": "tr_1", "sessionId": "ses_1"}


def test_the_same_trace_and_session_is_minted_once() -> None:
    ingest = FakeIngest()
    tokens = WidgetTokens(API_KEY, ENDPOINT, transport=ingest.transport)

    first = tokens.mint("tr_1", "ses_1")
    second = tokens.mint("tr_1", "ses_1")

    assert first == second
    assert len(ingest.requests) == 1


def test_another_trace_gets_its_own_request_and_token() -> None:
    ingest = FakeIngest()
    tokens = WidgetTokens(API_KEY, ENDPOINT, transport=ingest.transport)

    first = tokens.mint("tr_1", "ses_1")
    second = tokens.mint("tr_2", "ses_1")

    assert first is not None and second is not None
    assert first.token != second.token
    assert second.trace_id == "tr_2"
    assert len(ingest.requests) == 2
    assert json.loads(ingest.requests[1].content) == {"traceId": "tr_2", "sessionId": "ses_1"}


def test_a_server_error_gives_no_token_and_a_warning_without_the_key(
        caplog: pytest.LogCaptureFixture) -> None:
    ingest = FakeIngest(status=500)
    tokens = WidgetTokens(API_KEY, ENDPOINT, transport=ingest.transport)

    with caplog.at_level(logging.WARNING, logger="yavio"):
        token = tokens.mint("tr_1", "ses_1")

    assert token is None
    warnings = warnings_of(caplog)
    assert len(warnings) == 1 and "500" in warnings[0]
    assert API_KEY not in caplog.text
    assert tokens.mint("tr_1", "ses_1") is None and len(ingest.requests) == 2  # not cached


def test_a_failed_mint_is_tried_again_on_the_next_call() -> None:
    ingest = FakeIngest(status=500)
    tokens = WidgetTokens(API_KEY, ENDPOINT, transport=ingest.transport)

    tokens.mint("tr_1", "ses_1")
    ingest.status = 200
    token = tokens.mint("tr_1", "ses_1")

    assert token is not None
    assert len(ingest.requests) == 2


def test_an_unreachable_ingest_gives_no_token_and_a_warning_without_the_key(
        caplog: pytest.LogCaptureFixture) -> None:
    tokens = WidgetTokens(API_KEY, ENDPOINT,
                          transport=httpx.MockTransport(failing_transport))

    with caplog.at_level(logging.WARNING, logger="yavio"):
        token = tokens.mint("tr_1", "ses_1")

    assert token is None
    warnings = warnings_of(caplog)
    assert len(warnings) == 1 and "ConnectError" in warnings[0]
    assert API_KEY not in caplog.text


@pytest.mark.parametrize("answer", [{"ok": True}, {"token": ""}, {"token": 42}],
                         ids=["no token", "empty token", "number token"])
def test_an_answer_without_a_token_gives_no_token(
        answer: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    ingest = FakeIngest(answer=answer)
    tokens = WidgetTokens(API_KEY, ENDPOINT, transport=ingest.transport)

    with caplog.at_level(logging.WARNING, logger="yavio"):
        token = tokens.mint("tr_1", "ses_1")

    assert token is None
    assert len(warnings_of(caplog)) == 1
    assert API_KEY not in caplog.text


def test_an_answer_that_is_not_json_gives_no_token() -> None:
    def not_json(request: httpx.Request) -> httpx.Response:  # a fake ingest answering HTML
        return httpx.Response(200, text="<html>proxy</html>")

    tokens = WidgetTokens(API_KEY, ENDPOINT, transport=httpx.MockTransport(not_json))

    assert tokens.mint("tr_1", "ses_1") is None


async def test_a_token_can_be_minted_from_an_event_loop() -> None:
    ingest = FakeIngest()
    tokens = WidgetTokens(API_KEY, ENDPOINT, transport=ingest.transport)

    first = await tokens.mint_async("tr_1", "ses_1")
    again = await tokens.mint_async("tr_1", "ses_1")

    assert first == WidgetToken("wt_1", "tr_1", "ses_1")
    assert again == first
    assert len(ingest.requests) == 1


async def test_a_failed_mint_from_an_event_loop_gives_no_token() -> None:
    tokens = WidgetTokens(API_KEY, ENDPOINT,
                          transport=httpx.MockTransport(failing_transport))

    assert await tokens.mint_async("tr_1", "ses_1") is None


def test_the_repr_never_shows_the_api_key() -> None:
    tokens = WidgetTokens(API_KEY, ENDPOINT, transport=FakeIngest().transport)

    shown = repr(tokens)

    assert API_KEY not in shown
    assert "k" * 16 not in shown
    assert ENDPOINT in shown
