"""The SDK's sender: batching, gzip envelopes, retries, 401 and 4xx handling, request limits,
fork safety, through `httpx.MockTransport` (a fake ingest, named `FakeIngest`) and end to end
through the real ingest server with real Postgres and chdb."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import os
import secrets
import select
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ingest.conftest import (  # noqa: F401  (fixtures, found by pytest in this module)
    IngestServer,
    ingest_server,
    settings_overrides,
)
from yavio_sdk import __version__
from yavio_sdk.events import (
    MAX_BODY_BYTES,
    MAX_EVENTS_PER_BATCH,
    Envelope,
    ToolCallEvent,
    encode,
    format_timestamp,
)
from yavio_sdk.sender import DeferredEvent, EventSender, FlushResult

API_KEY = "yav_" + "ab" * 32
ENDPOINT = "https://ingest.example.test"


def tool_call(**fields: Any) -> ToolCallEvent:
    return ToolCallEvent(event_id=str(uuid.uuid4()), trace_id="tr_test", session_id="ses_test",
                         timestamp=format_timestamp(), source="server",
                         **{"event_name": "search_rooms", "latency_ms": 12.5,
                            "status": "success", **fields})


Answer = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class FakeIngest:
    """A fake ingest behind `httpx.MockTransport`: records every request and answers from a
    script (a response, an exception to raise, or a function of the request), then with 200."""

    def __init__(self, *script: Answer) -> None:
        self.script = list(script)
        self.requests: list[httpx.Request] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
            answer = self.script.pop(0) if self.script else None
        if answer is None:
            return httpx.Response(200, json={"accepted": len(envelope(request).events),
                                             "rejected": 0, "requestId": "req"})
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer

    @property
    def batches(self) -> list[list[str]]:
        """The event ids of each request, in order."""
        with self._lock:
            requests = list(self.requests)
        return [[e.event_id for e in envelope(r).events] for r in requests]


def envelope(request: httpx.Request) -> Envelope:
    return msgspec.json.decode(gzip.decompress(request.content), type=Envelope)


def error(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers,
                          json={"error": {"code": code, "message": "m", "status": status}})


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def yavio_records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "yavio" and r.levelno == level]


@pytest.fixture
def make_sender() -> Iterator[Callable[..., EventSender]]:
    """Senders on a `FakeIngest`; a long interval unless a test asks, so only size and flush()
    trigger requests. Closed after the test."""
    senders: list[EventSender] = []

    def make(ingest: FakeIngest, **options: Any) -> EventSender:
        options.setdefault("flush_interval", 60.0)
        sender = EventSender(API_KEY, ENDPOINT, transport=httpx.MockTransport(ingest), **options)
        senders.append(sender)
        return sender

    yield make
    for sender in senders:
        sender.close(timeout=2)


# -- batching and the request -----------------------------------------------------------------


def test_events_wait_until_a_hundred_then_go_in_one_gzip_request_with_the_api_key(
        make_sender: Callable[..., EventSender]) -> None:
    ingest = FakeIngest()
    sender = make_sender(ingest)
    events = [tool_call() for _ in range(100)]
    for event in events[:99]:
        sender.enqueue(event)
    time.sleep(0.2)
    assert ingest.requests == [], "99 events are not a batch yet"

    sender.enqueue(events[99])
    assert wait_until(lambda: len(ingest.requests) == 1)
    request = ingest.requests[0]
    assert request.method == "POST" and str(request.url) == f"{ENDPOINT}/v1/events"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["Content-Encoding"] == "gzip"
    sent = envelope(request)
    assert sent.events == events
    assert sent.sdk_version == __version__
    assert datetime.fromisoformat(sent.sent_at)
    time.sleep(0.1)
    assert len(ingest.requests) == 1


def test_a_few_events_are_sent_when_the_flush_interval_elapses(
        make_sender: Callable[..., EventSender]) -> None:
    ingest = FakeIngest()
    sender = make_sender(ingest, flush_interval=0.1)
    events = [tool_call() for _ in range(3)]
    for event in events:
        sender.enqueue(event)
    assert wait_until(lambda: len(ingest.requests) == 1, timeout=2)
    assert ingest.batches == [[e.event_id for e in events]]


def test_flush_sends_what_is_queued_and_says_how_many_were_sent_and_dropped(
        make_sender: Callable[..., EventSender]) -> None:
    ingest = FakeIngest()
    sender = make_sender(ingest)
    for _ in range(5):
        sender.enqueue(tool_call())
    assert sender.flush(timeout=5) == FlushResult(sent=5, dropped=0, pending=0)
    assert len(ingest.requests) == 1
    assert sender.flush(timeout=5) == FlushResult(0, 0, 0), "counts are since the last flush"


class Later(DeferredEvent):
    """A deferred event that notes which thread built it; `fails` makes building raise."""

    __slots__ = ("event", "built_on", "fails")

    def __init__(self, event: ToolCallEvent | None, fails: bool = False) -> None:
        self.event = event
        self.built_on: str | None = None
        self.fails = fails

    def build(self) -> ToolCallEvent | None:
        self.built_on = threading.current_thread().name
        if self.fails:
            raise ValueError("cannot build")
        return self.event


def test_a_deferred_event_is_built_on_the_sender_thread_and_sent_in_queue_order(
        make_sender: Callable[..., EventSender]) -> None:
    ingest = FakeIngest()
    sender = make_sender(ingest)
    first, later, last = tool_call(), Later(tool_call()), tool_call()
    for item in (first, later, last):
        sender.enqueue(item)
    assert later.built_on is None, "nothing is built on the caller's thread"
    assert sender.flush(timeout=5) == FlushResult(sent=3, dropped=0, pending=0)
    assert later.built_on == "yavio-sender"
    assert ingest.batches == [[first.event_id, later.event.event_id, last.event_id]]


def test_a_deferred_event_that_fails_to_build_is_dropped_and_the_rest_sent(
        make_sender: Callable[..., EventSender], caplog: pytest.LogCaptureFixture) -> None:
    ingest = FakeIngest()
    sender = make_sender(ingest)
    good = tool_call()
    sender.enqueue(Later(tool_call(), fails=True))
    sender.enqueue(Later(None))  # builds to nothing: neither sent nor dropped
    sender.enqueue(good)
    with caplog.at_level(logging.WARNING, logger="yavio"):
        assert sender.flush(timeout=5) == FlushResult(sent=1, dropped=1, pending=0)
    assert ingest.batches == [[good.event_id]]
    assert "cannot build" in caplog.text


def test_the_sender_starts_one_named_daemon_thread_on_the_first_event_and_close_stops_it(
        make_sender: Callable[..., EventSender]) -> None:
    before = set(threading.enumerate())
    sender = make_sender(FakeIngest())
    assert set(threading.enumerate()) == before, "no thread until there is something to send"
    for _ in range(250):
        sender.enqueue(tool_call())
    started = [t for t in threading.enumerate() if t not in before]
    assert [(t.name, t.daemon) for t in started] == [("yavio-sender", True)]

    assert sender.close(timeout=5) == FlushResult(sent=250, dropped=0, pending=0)
    assert not started[0].is_alive()
    assert sender.enqueue(tool_call()) is False
    assert sender.flush(timeout=1).dropped == 1


# -- a full queue ------------------------------------------------------------------------------


def test_a_full_queue_drops_the_oldest_events_counts_them_and_warns_once(
        make_sender: Callable[..., EventSender], caplog: pytest.LogCaptureFixture) -> None:
    entered, release = threading.Event(), threading.Event()

    def stuck(request: httpx.Request) -> httpx.Response:
        entered.set()
        release.wait(10)
        return httpx.Response(200)

    ingest = FakeIngest(stuck)
    sender = make_sender(ingest, batch_size=5, max_queue_size=10)
    first = [tool_call() for _ in range(5)]
    for event in first:
        sender.enqueue(event)
    assert entered.wait(5), "the first batch is in flight, and stuck"

    later = [tool_call() for _ in range(30)]
    for event in later:
        assert sender.enqueue(event) is True
        assert sender.queued <= 10
    assert sender.queued == 10
    warnings = yavio_records(caplog, logging.WARNING)
    assert len(warnings) == 1 and "dropped" in warnings[0].getMessage()

    release.set()
    assert sender.flush(timeout=5) == FlushResult(sent=15, dropped=20, pending=0)
    delivered = [i for batch in ingest.batches for i in batch]
    assert delivered == [e.event_id for e in first + later[-10:]], "the newest 10 survived"


# -- retries -----------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", [
    error(500, "YAVIO-5000"),
    error(503, "YAVIO-2402"),
    httpx.Response(408),
    httpx.ConnectError("connection refused"),
    httpx.ReadTimeout("timed out"),
], ids=["500", "503", "408", "connect error", "read timeout"])
def test_a_failed_request_is_retried_after_a_second_and_the_batch_delivered(
        make_sender: Callable[..., EventSender], failure: Answer) -> None:
    sleeps: list[float] = []
    ingest = FakeIngest(failure)
    sender = make_sender(ingest, sleep=sleeps.append)
    for _ in range(3):
        sender.enqueue(tool_call())
    assert sender.flush(timeout=5) == FlushResult(sent=3, dropped=0, pending=0)
    assert len(ingest.requests) == 2 and ingest.batches[0] == ingest.batches[1]
    assert len(sleeps) == 1 and 1.0 <= sleeps[0] <= 1.25


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_sets_how_long_the_sender_waits(
        make_sender: Callable[..., EventSender], status: int) -> None:
    sleeps: list[float] = []
    ingest = FakeIngest(error(status, "YAVIO-2050", {"Retry-After": "3"}),
                        error(status, "YAVIO-2050", {"Retry-After": "1"}))
    sender = make_sender(ingest, sleep=sleeps.append)
    sender.enqueue(tool_call())
    assert sender.flush(timeout=5).sent == 1
    assert sleeps == [3.0, 1.0]
    assert len(ingest.requests) == 3


def test_retry_after_makes_the_sender_really_wait_that_long(
        make_sender: Callable[..., EventSender]) -> None:
    ingest = FakeIngest(error(429, "YAVIO-2050", {"Retry-After": "1"}))
    sender = make_sender(ingest, batch_size=1)
    sender.enqueue(tool_call())
    assert wait_until(lambda: len(ingest.requests) == 1)
    started = time.monotonic()
    assert wait_until(lambda: len(ingest.requests) == 2, timeout=5)
    assert 0.9 <= time.monotonic() - started < 3


def test_backoff_doubles_from_one_to_sixteen_seconds_then_the_batch_is_dropped_and_the_next_sent(
        make_sender: Callable[..., EventSender], caplog: pytest.LogCaptureFixture) -> None:
    sleeps: list[float] = []
    ingest = FakeIngest(*[error(502, "YAVIO-5000")] * 6)
    sender = make_sender(ingest, sleep=sleeps.append)
    for _ in range(4):
        sender.enqueue(tool_call())
    assert sender.flush(timeout=5) == FlushResult(sent=0, dropped=4, pending=0)
    assert len(ingest.requests) == 6, "one attempt and five retries"
    assert len(sleeps) == 5
    assert all(base <= s <= base * 1.25 for s, base in zip(sleeps, [1, 2, 4, 8, 16]))
    assert any("after 5 retries" in r.getMessage() for r in yavio_records(caplog, logging.WARNING))

    sender.enqueue(tool_call())
    assert sender.flush(timeout=5) == FlushResult(sent=1, dropped=0, pending=0)


def test_flush_returns_at_its_timeout_while_the_ingest_is_down(
        make_sender: Callable[..., EventSender]) -> None:
    ingest = FakeIngest(*[error(503, "YAVIO-2402")] * 10)
    sender = make_sender(ingest)
    for _ in range(7):
        sender.enqueue(tool_call())
    started = time.monotonic()
    result = sender.flush(timeout=0.3)
    assert time.monotonic() - started < 1
    assert result == FlushResult(sent=0, dropped=0, pending=7)


# -- refusals ----------------------------------------------------------------------------------


def test_a_401_stops_delivery_for_good_with_one_error_log(
        make_sender: Callable[..., EventSender], caplog: pytest.LogCaptureFixture) -> None:
    sleeps: list[float] = []
    ingest = FakeIngest(*[error(401, "YAVIO-2001")] * 5)
    sender = make_sender(ingest, sleep=sleeps.append, batch_size=10)
    for _ in range(10):
        sender.enqueue(tool_call())
    assert wait_until(lambda: sender.stopped)
    for _ in range(500):
        assert sender.enqueue(tool_call()) is False
    assert sender.flush(timeout=2) == FlushResult(sent=0, dropped=510, pending=0)

    assert len(ingest.requests) == 1 and sleeps == []
    errors = yavio_records(caplog, logging.ERROR)
    assert len(errors) == 1
    assert "YAVIO-2001" in errors[0].getMessage() and API_KEY not in errors[0].getMessage()


@pytest.mark.parametrize("status, code", [(400, "YAVIO-2100"), (413, "YAVIO-2111"),
                                          (415, "YAVIO-2114")])
def test_a_refused_batch_is_dropped_with_a_warning_and_the_next_goes_through(
        make_sender: Callable[..., EventSender], caplog: pytest.LogCaptureFixture,
        status: int, code: str) -> None:
    sleeps: list[float] = []
    ingest = FakeIngest(error(status, code))
    sender = make_sender(ingest, sleep=sleeps.append)
    for _ in range(2):
        sender.enqueue(tool_call())
    assert sender.flush(timeout=5) == FlushResult(sent=0, dropped=2, pending=0)
    warnings = yavio_records(caplog, logging.WARNING)
    assert len(warnings) == 1 and code in warnings[0].getMessage()

    nxt = tool_call()
    sender.enqueue(nxt)
    assert sender.flush(timeout=5) == FlushResult(sent=1, dropped=0, pending=0)
    assert ingest.batches[-1] == [nxt.event_id] and len(ingest.requests) == 2 and sleeps == []


def test_a_207_counts_as_delivered_and_is_not_retried(
        make_sender: Callable[..., EventSender], caplog: pytest.LogCaptureFixture) -> None:
    ingest = FakeIngest(httpx.Response(207, json={
        "accepted": 2, "rejected": 1, "errors": [{"index": 1, "issues": ["event_id: bad"]}]}))
    sender = make_sender(ingest)
    for _ in range(3):
        sender.enqueue(tool_call())
    caplog.set_level(logging.DEBUG, logger="yavio")
    assert sender.flush(timeout=5) == FlushResult(sent=3, dropped=0, pending=0)
    assert len(ingest.requests) == 1
    assert not yavio_records(caplog, logging.WARNING)
    assert any("rejected 1 of 3" in r.getMessage() for r in yavio_records(caplog, logging.DEBUG))


# -- request limits ----------------------------------------------------------------------------


def test_a_request_holds_at_most_1000_events(make_sender: Callable[..., EventSender]) -> None:
    ingest = FakeIngest()
    sender = make_sender(ingest, batch_size=5000)
    events = [tool_call() for _ in range(2500)]
    for event in events:
        sender.enqueue(event)
    assert sender.flush(timeout=10) == FlushResult(sent=2500, dropped=0, pending=0)
    assert [len(b) for b in ingest.batches] == [1000, 1000, 500]
    assert [i for b in ingest.batches for i in b] == [e.event_id for e in events]


def test_a_batch_over_512000_bytes_is_split_into_requests_under_the_limit(
        make_sender: Callable[..., EventSender]) -> None:
    ingest = FakeIngest()
    sender = make_sender(ingest)
    events = [tool_call(metadata={"notes": "x" * 9_000}) for _ in range(100)]
    for event in events:
        sender.enqueue(event)
    assert sender.flush(timeout=10) == FlushResult(sent=100, dropped=0, pending=0)
    assert len(ingest.requests) == 2
    assert all(len(gzip.decompress(r.content)) <= MAX_BODY_BYTES for r in ingest.requests)
    assert [i for b in ingest.batches for i in b] == [e.event_id for e in events]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sizes=st.integers(1, 1_200).flatmap(lambda n: st.lists(
    st.sampled_from([0, 10, 600, 5_000, 40_000, 49_000]), min_size=n, max_size=n)))
def test_every_request_is_within_the_limits_and_every_event_is_sent_once_in_order(
        sizes: list[int]) -> None:
    ingest = FakeIngest()
    sender = EventSender(API_KEY, ENDPOINT, transport=httpx.MockTransport(ingest),
                         batch_size=1000, flush_interval=60)
    try:
        events = [tool_call(metadata={"pad": "y" * size}) for size in sizes]
        for event in events:
            sender.enqueue(event)
        assert sender.flush(timeout=20) == FlushResult(len(events), 0, 0)
    finally:
        sender.close()
    for request in ingest.requests:
        raw = gzip.decompress(request.content)
        assert len(raw) <= MAX_BODY_BYTES
        assert 1 <= len(json.loads(raw)["events"]) <= MAX_EVENTS_PER_BATCH
    assert [i for b in ingest.batches for i in b] == [e.event_id for e in events]


def test_a_body_of_exactly_512000_bytes_goes_in_one_request_and_one_byte_more_in_two(
        make_sender: Callable[..., EventSender]) -> None:
    def events_filling(extra: int) -> list[ToolCallEvent]:
        events = [tool_call(metadata={"pad": "p" * 40_000}) for _ in range(12)]
        envelope_bytes = len(encode(Envelope(events=events, sdk_version=__version__,
                                             sent_at=format_timestamp())))
        events[-1].metadata["pad"] += "p" * (MAX_BODY_BYTES - envelope_bytes + extra)
        return events

    for extra, requests in [(0, 1), (1, 2)]:
        ingest = FakeIngest()
        sender = make_sender(ingest)
        events = events_filling(extra)
        for event in events:
            sender.enqueue(event)
        assert sender.flush(timeout=5) == FlushResult(sent=12, dropped=0, pending=0)
        sizes = [len(gzip.decompress(r.content)) for r in ingest.requests]
        assert len(sizes) == requests and max(sizes) <= MAX_BODY_BYTES
        assert extra or sizes == [MAX_BODY_BYTES]


def test_an_event_too_big_for_any_request_is_dropped_and_the_rest_sent(
        make_sender: Callable[..., EventSender], caplog: pytest.LogCaptureFixture) -> None:
    ingest = FakeIngest()
    sender = make_sender(ingest)
    small = tool_call()
    sender.enqueue(tool_call(metadata={"blob": "z" * MAX_BODY_BYTES}))
    sender.enqueue(small)
    assert sender.flush(timeout=5) == FlushResult(sent=1, dropped=1, pending=0)
    assert ingest.batches == [[small.event_id]]
    assert len(yavio_records(caplog, logging.WARNING)) == 1


# -- never crash, never print ------------------------------------------------------------------


def test_enqueue_never_raises_on_garbage_and_the_good_events_still_go_out(
        make_sender: Callable[..., EventSender]) -> None:
    ingest = FakeIngest()
    sender = make_sender(ingest)
    garbage: list[Any] = [None, 42, "tool_call", {"event_type": "tool_call"}, object(), b"\x00",
                          [tool_call()], ToolCallEvent]
    for item in garbage:
        assert sender.enqueue(item) is False
    unencodable = tool_call(metadata={"handle": object()})
    assert sender.enqueue(unencodable) is True
    good = tool_call()
    sender.enqueue(good)
    assert sender.flush(timeout=5) == FlushResult(sent=1, dropped=len(garbage) + 1, pending=0)
    assert ingest.batches == [[good.event_id]]


@pytest.mark.parametrize("exception", [ZeroDivisionError("boom"), RuntimeError("boom"),
                                       KeyError("boom"), MemoryError(), RecursionError()])
def test_a_transport_raising_anything_is_retried_and_never_reaches_the_host(
        make_sender: Callable[..., EventSender], exception: Exception) -> None:
    sleeps: list[float] = []
    ingest = FakeIngest(exception, exception)
    sender = make_sender(ingest, sleep=sleeps.append)
    for _ in range(3):
        sender.enqueue(tool_call())
    assert sender.flush(timeout=5) == FlushResult(sent=3, dropped=0, pending=0)
    assert len(ingest.requests) == 3 and len(sleeps) == 2


def test_an_unexpected_error_inside_the_worker_is_logged_and_delivery_goes_on(
        make_sender: Callable[..., EventSender], caplog: pytest.LogCaptureFixture) -> None:
    def broken_sleep(seconds: float) -> None:
        raise RuntimeError("a bug in the worker")

    ingest = FakeIngest(error(500, "YAVIO-5000"))
    sender = make_sender(ingest, sleep=broken_sleep)
    sender.enqueue(tool_call())
    assert sender.flush(timeout=5) == FlushResult(sent=0, dropped=1, pending=0)
    assert any(r.exc_info for r in yavio_records(caplog, logging.ERROR))

    good = tool_call()
    sender.enqueue(good)
    assert sender.flush(timeout=5) == FlushResult(sent=1, dropped=0, pending=0)
    assert ingest.batches[-1] == [good.event_id]


def test_nothing_is_written_to_stdout_through_success_failures_and_a_401(
        make_sender: Callable[..., EventSender], capfd: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="yavio")
    ingest = FakeIngest(httpx.Response(200), error(500, "YAVIO-5000"), httpx.ConnectError("down"),
                        RuntimeError("odd"), error(400, "YAVIO-2100"),
                        httpx.Response(207, json={"accepted": 0, "rejected": 1}),
                        error(401, "YAVIO-2001"))
    sender = make_sender(ingest, sleep=lambda s: None, batch_size=2, max_queue_size=5)
    for _ in range(40):
        sender.enqueue(tool_call())
        sender.enqueue(tool_call(metadata={"x": object()}))
        sender.enqueue(None)  # type: ignore[arg-type]
        sender.flush(timeout=2)
    sender.close()
    assert sender.stopped
    assert len(ingest.requests) == 7
    assert capfd.readouterr().out == ""


# -- fork safety -------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_sends_through_its_own_worker_and_the_parent_keeps_working(
        make_sender: Callable[..., EventSender]) -> None:
    ingest = FakeIngest()
    sender = make_sender(ingest)
    queued_in_parent = tool_call()
    before = set(threading.enumerate())
    sender.enqueue(queued_in_parent)  # starts the parent's worker; waits for a flush
    [parent_thread] = [t for t in threading.enumerate() if t not in before]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never return into pytest
        try:
            os.close(read_end)
            child_event = tool_call()
            accepted = sender.enqueue(child_event)
            result = sender.flush(timeout=5)
            report = {"accepted": accepted, "result": list(result),
                      "batches": ingest.batches, "child_event": child_event.event_id,
                      "threads": [t.name for t in threading.enumerate()]}
            os.write(write_end, json.dumps(report).encode())
        finally:
            os._exit(0)

    os.close(write_end)
    chunks = []
    while True:
        ready, _, _ = select.select([read_end], [], [], 10)
        if not ready:
            os.kill(pid, 9)
            pytest.fail("the child hung")
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    report = json.loads(b"".join(chunks))

    assert report["accepted"] is True
    assert report["result"] == [1, 0, 0]
    assert report["batches"] == [[report["child_event"]]], \
        "the child sends its own event, not a copy of the parent's queue"
    assert report["threads"].count("yavio-sender") == 1

    assert parent_thread.is_alive()
    after_fork = tool_call()
    sender.enqueue(after_fork)
    assert sender.flush(timeout=5) == FlushResult(sent=2, dropped=0, pending=0)
    assert ingest.batches == [[queued_in_parent.event_id, after_fork.event_id]]


# -- end to end, through the real ingest -------------------------------------------------------


class CountingTransport(httpx.HTTPTransport):
    """The real HTTP transport, counting the requests it carries."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return super().handle_request(request)


async def test_250_events_reach_clickhouse_through_the_real_ingest_in_three_requests(
        ingest_server: IngestServer) -> None:
    transport = CountingTransport()
    sender = EventSender(ingest_server.api_key, ingest_server.url, transport=transport,
                         flush_interval=60)
    try:
        for _ in range(250):
            assert sender.enqueue(tool_call())
        # flush blocks, and the server runs on this test's event loop
        result = await asyncio.to_thread(sender.flush, 10)
    finally:
        await asyncio.to_thread(sender.close)
    assert result == FlushResult(sent=250, dropped=0, pending=0)
    assert transport.requests == 3
    assert await ingest_server.wait_stored(250) == 250


@pytest.mark.parametrize("key", ["unknown", "revoked"])
async def test_a_key_the_ingest_does_not_know_gets_a_401_and_delivery_stops(
        ingest_server: IngestServer, caplog: pytest.LogCaptureFixture, key: str) -> None:
    if key == "unknown":
        raw = "yav_" + secrets.token_hex(32)
    else:
        raw, record = ingest_server.postgres.api_keys.create(
            uuid.UUID(ingest_server.project_id), "old")
        ingest_server.postgres.api_keys.revoke(record.id)
    transport = CountingTransport()
    sender = EventSender(raw, ingest_server.url, transport=transport, flush_interval=60)
    try:
        for _ in range(5):
            sender.enqueue(tool_call())
        first = await asyncio.to_thread(sender.flush, 10)
        for _ in range(150):
            sender.enqueue(tool_call())
        second = await asyncio.to_thread(sender.flush, 10)
    finally:
        await asyncio.to_thread(sender.close)
    assert sender.stopped
    assert first == FlushResult(sent=0, dropped=5, pending=0)
    assert second == FlushResult(sent=0, dropped=150, pending=0)
    assert transport.requests == 1
    errors = yavio_records(caplog, logging.ERROR)
    assert len(errors) == 1 and "YAVIO-2001" in errors[0].getMessage()
    assert ingest_server.stored() == 0
