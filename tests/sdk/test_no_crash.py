"""Analytics never crashes or slows the host (as posthog-python's test_no_crash): with the ingest
unreachable, slow or failing, `enqueue` stays fast, never raises, and memory stays bounded by the
queue size; and interpreter exit never hangs on the sender."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.sdk.test_sender import tool_call
from yavio_sdk.sender import EventSender

API_KEY = "yav_" + "cd" * 32
REPO = Path(__file__).resolve().parents[2]
ENQUEUES = 10_000


class FakeIngestServer:
    """A fake ingest on a loopback port, standing in for a sick one: `slow` answers 200 only
    after 5 s (or when released), `failing` answers 500 at once, `ok` answers 200 at once."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.release = threading.Event()
        self.requests = 0
        self.bodies: list[bytes] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fake.requests += 1
                fake.bodies.append(body)
                if fake.mode == "slow":
                    fake.release.wait(5)
                status = 500 if fake.mode == "failing" else 200
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                except OSError:
                    pass  # the client gave up waiting (a timeout, or its process exited)

            def log_message(self, format: str, *args: object) -> None:
                pass  # BaseHTTPRequestHandler writes to stderr otherwise

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_ingest(request: pytest.FixtureRequest) -> Iterator[FakeIngestServer]:
    server = FakeIngestServer(request.param)
    yield server
    server.stop()


def enqueue_many(sender: EventSender, count: int) -> float:
    """Seconds `count` enqueues took."""
    events = [tool_call() for _ in range(count)]
    started = time.perf_counter()
    for event in events:
        sender.enqueue(event)
    return time.perf_counter() - started


@pytest.mark.parametrize("fake_ingest", ["slow"], indirect=True)
def test_a_slow_ingest_never_slows_enqueue_and_the_queue_stays_bounded(
        fake_ingest: FakeIngestServer) -> None:
    sender = EventSender(API_KEY, fake_ingest.url, max_queue_size=1_000, flush_interval=60)
    try:
        first = [tool_call() for _ in range(100)]
        for event in first:
            sender.enqueue(event)
        deadline = time.monotonic() + 5
        while fake_ingest.requests == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert fake_ingest.requests == 1, "the first batch is waiting on the slow ingest"

        elapsed = enqueue_many(sender, ENQUEUES)
        print(f"\nenqueue while the ingest is slow: {elapsed / ENQUEUES * 1e6:.2f} µs per call")
        assert elapsed < 0.5
        assert sender.queued == 1_000
        assert tuple(sender.flush(timeout=0)) == (0, ENQUEUES - 1_000, 1_100)
    finally:
        fake_ingest.release.set()
        sender.close(timeout=5)


@pytest.mark.parametrize("fake_ingest", ["failing"], indirect=True)
def test_an_ingest_answering_500_never_slows_enqueue_and_the_queue_stays_bounded(
        fake_ingest: FakeIngestServer) -> None:
    sender = EventSender(API_KEY, fake_ingest.url, max_queue_size=1_000, flush_interval=60)
    try:
        elapsed = enqueue_many(sender, ENQUEUES)
        print(f"\nenqueue while the ingest fails: {elapsed / ENQUEUES * 1e6:.2f} µs per call")
        assert elapsed < 0.5
        assert sender.queued <= 1_000
        deadline = time.monotonic() + 5
        while fake_ingest.requests == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert fake_ingest.requests >= 1
        result = sender.flush(timeout=0)
        assert result.sent == 0
        assert result.dropped >= ENQUEUES - 1_100
        assert result.dropped + result.pending == ENQUEUES, "every event is accounted for"
    finally:
        sender.close(timeout=1)


def test_an_unreachable_ingest_never_slows_enqueue_and_the_queue_stays_bounded() -> None:
    closed_port = free_port()
    sender = EventSender(API_KEY, f"http://127.0.0.1:{closed_port}", max_queue_size=1_000,
                         flush_interval=0.05)
    try:
        elapsed = enqueue_many(sender, ENQUEUES)
        print(f"\nenqueue while the ingest is unreachable: {elapsed / ENQUEUES * 1e6:.2f} µs "
              "per call")
        assert elapsed < 0.5
        assert sender.queued <= 1_000
        time.sleep(0.2)  # a few connection attempts fail meanwhile
        elapsed = enqueue_many(sender, ENQUEUES)
        assert elapsed < 0.5
        assert sender.queued <= 1_000
        result = sender.flush(timeout=0)
        assert result.sent == 0
        assert result.dropped + result.pending == 2 * ENQUEUES
    finally:
        sender.close(timeout=1)


# -- interpreter exit (a real exit needs its own interpreter) -----------------------------------

EXIT_SCRIPT = textwrap.dedent("""
    import sys, uuid
    from yavio_sdk.events import ToolCallEvent, format_timestamp
    from yavio_sdk.sender import EventSender

    sender = EventSender("yav_" + "ef" * 32, sys.argv[1], flush_interval=60)
    for _ in range(5):
        sender.enqueue(ToolCallEvent(event_id=str(uuid.uuid4()), trace_id="tr_exit",
                                     session_id="ses_exit", timestamp=format_timestamp(),
                                     source="server"))
    # no flush, no close: the atexit hook has to deliver them
""")


def run_until_exit(url: str) -> tuple[subprocess.CompletedProcess[bytes], float]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, url], cwd=REPO,
                          capture_output=True, timeout=30)
    return done, time.monotonic() - started


@pytest.mark.parametrize("fake_ingest", ["ok"], indirect=True)
def test_events_still_queued_at_exit_are_sent_by_the_exit_flush(
        fake_ingest: FakeIngestServer) -> None:
    done, _ = run_until_exit(fake_ingest.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b""
    assert fake_ingest.requests == 1


@pytest.mark.parametrize("fake_ingest", ["slow"], indirect=True)
def test_a_hanging_ingest_delays_exit_by_at_most_two_seconds(
        fake_ingest: FakeIngestServer) -> None:
    done, elapsed = run_until_exit(fake_ingest.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b""
    assert fake_ingest.requests == 1, "the exit flush tried"
    assert elapsed < 2 + 3, "the 2 s cap, plus a generous allowance for interpreter start"
