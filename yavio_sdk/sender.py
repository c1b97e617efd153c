"""The SDK's batching sender: the tool-call path hands it events, a daemon thread delivers them.

`EventSender.enqueue` is the only thing the host's request path ever calls: a lock, a deque append
and a few checks (about a microsecond), never I/O, never an exception. Everything else happens on
one daemon thread named `yavio-sender` (the shape of sentry-python's `worker.py` and
posthog-python's `consumer.py`), SPEC 4 "Transport":

- a bounded queue (10,000): when full the oldest event is dropped and counted, with a warning at
  most once per `warning_interval` seconds;
- a request when `batch_size` (100) events wait, every `flush_interval` (10 s, with jitter), on
  `flush()` and on `close()`; each request holds at most 1,000 events and 512,000 raw bytes;
- `POST {endpoint}/v1/events`, `Authorization: Bearer <api key>`, a gzip-compressed `Envelope`;
- retries on network errors, 5xx, 408 and 429 after `Retry-After` or 1, 2, 4, 8, 16 s (jittered),
  at most 5 times; a 401 stops delivery for good with one error log; any other 4xx drops the batch
  with a warning; a 207 is success;
- an `atexit` flush capped at 2 s for every sender, and fork safety: a child process that enqueues
  (or flushes) gets an empty queue and its own worker, since the parent still sends its own copies.

It never writes to stdout (a stdio MCP server owns it) and logs only to the `yavio` logger.
"""

from __future__ import annotations

import atexit
import collections
import gzip
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple

import httpx
import msgspec

from yavio_sdk.events import (
    MAX_BODY_BYTES,
    MAX_EVENTS_PER_BATCH,
    BaseEvent,
    Envelope,
    encode,
    format_timestamp,
)

logger = logging.getLogger("yavio")

THREAD_NAME = "yavio-sender"
EXIT_FLUSH_SECONDS = 2.0
"""The most interpreter exit waits for all senders together."""

_RETRY_STATUSES = frozenset({408, 429})
# A server may ask for any Retry-After; waiting longer than this would only turn the queue over.
_MAX_RETRY_AFTER = 60.0
# Events built between two GIL releases: about 0.3 ms of holding it (a host request may wait
# that long), without paying for a thread switch per event.
_BUILDS_BETWEEN_YIELDS = 10
# After an unexpected error in the worker loop, a pause so a persistent fault cannot spin a core.
_ERROR_PAUSE = 1.0


class DeferredEvent:
    """An event whose building the caller leaves to the sender thread: the call path stores
    what it saw, `build` (on the sender thread, in queue order) turns it into the event. For
    the work that is pure CPU (redaction, content description, token estimates), so that it
    never runs on the host's request path."""

    __slots__ = ()

    def build(self) -> BaseEvent | None:
        """The event, or None to send nothing. May raise: the event is then dropped, logged."""
        raise NotImplementedError


class FlushResult(NamedTuple):
    """What became of the events since the previous `flush()` or `close()` call."""

    sent: int
    """Events the ingest acknowledged (200, or 207: the rejected ones are logged at debug)."""
    dropped: int
    """Events given up: queue overflow, refused or undeliverable batches, unencodable events,
    and events enqueued after delivery stopped."""
    pending: int
    """Events still queued or in flight when the call returned; 0 means all were dealt with."""


class EventSender:
    """Delivers SDK events to `POST {endpoint}/v1/events` without ever blocking or failing the host.

    The HTTP seam: pass `transport` (e.g. `httpx.MockTransport`) or a whole `client`; otherwise the
    sender builds its own `httpx.Client` on the worker thread. A forked child rebuilds a client it
    built itself, but keeps reusing an injected one (whose pool the child shares with its parent).

    `batch_size` events trigger a request (at most 1,000: the ingest's limit); `flush_interval`
    seconds (±10%) send whatever waits; `max_queue_size` bounds memory; a failed request is retried
    `max_retries` times after `Retry-After` (at most 60 s) or `backoff` seconds doubling each time
    (plus up to 25% jitter); `warning_interval` spaces the queue-full warnings.

    `sleep` is how the worker waits between retries (tests inject one to observe the delays); by
    default it waits on the sender's close event, so `close()` cuts a retry wait short.
    """

    def __init__(
        self,
        api_key: str,
        endpoint: str,
        *,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        max_queue_size: int = 10_000,
        batch_size: int = 100,
        flush_interval: float = 10.0,
        max_retries: int = 5,
        backoff: float = 1.0,
        request_timeout: float = 10.0,
        warning_interval: float = 10.0,
        sdk_version: str | None = None,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        if sdk_version is None:
            from yavio_sdk import (
                __version__ as sdk_version,  # here: the package imports us
            )
        self._url = endpoint.rstrip("/") + "/v1/events"
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "User-Agent": f"yavio-python/{sdk_version}",
        }
        self._sdk_version = sdk_version
        self._injected_client = client
        self._transport = transport
        self._request_timeout = request_timeout
        self._max_queue_size = max(1, max_queue_size)
        self._batch_size = min(max(1, batch_size), MAX_EVENTS_PER_BATCH)
        self._flush_interval = flush_interval
        self._max_retries = max(0, max_retries)
        self._backoff = backoff
        self._warning_interval = warning_interval
        self._sleep = sleep
        # Bytes of an envelope around zero events; each event adds its length and a comma.
        self._envelope_overhead = len(encode(Envelope(
            events=[], sdk_version=sdk_version, sent_at=format_timestamp())))
        self._stopped = False  # the API key was refused: for good, forks included
        self._auth_error_logged = False
        self._closed = False
        # A size flush is due at `batch_size` events, or at a full queue if that is smaller.
        self._flush_at = min(self._batch_size, self._max_queue_size)
        self._reset_state(os.getpid())
        _live_senders.add(self)

    def _reset_state(self, pid: int) -> None:
        """Fresh queue, locks and counters, and no thread: at construction and in a forked child.

        Locks are replaced rather than released because a fork may copy one held by a parent
        thread that does not exist in the child."""
        self._pid = pid
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._queue: collections.deque[BaseEvent] = collections.deque()
        self._wake = threading.Event()
        self._closing = threading.Event()
        if self._closed:
            self._closing.set()
        self._flush_cond = threading.Condition(threading.Lock())
        self._flush_requested = 0
        self._flush_done = 0
        self._thread: threading.Thread | None = None
        self._client: httpx.Client | None = None
        self._in_flight = 0
        self._sent = 0
        self._dropped = 0
        self._reported_sent = 0
        self._reported_dropped = 0
        self._overflow_unreported = 0
        self._next_overflow_warning = 0.0

    # -- the host side ---------------------------------------------------------------------------

    def enqueue(self, event: BaseEvent | DeferredEvent) -> bool:
        """Queue `event` for delivery; True if it was queued. Never blocks, never raises.

        When the queue is full the oldest event makes room and is counted as dropped. After a
        401 or `close()` events are dropped at once (counted, not logged)."""
        try:
            if self._stopped or self._closed:
                with self._lock:
                    self._dropped += 1
                return False
            if self._pid != os.getpid():
                self._reset_state(os.getpid())
            if not isinstance(event, (BaseEvent, DeferredEvent)):
                logger.debug("yavio: ignored a %s handed to the sender", type(event).__name__)
                with self._lock:
                    self._dropped += 1
                return False
            overflow = False
            with self._lock:
                queue = self._queue
                if len(queue) >= self._max_queue_size:
                    queue.popleft()
                    self._dropped += 1
                    self._overflow_unreported += 1
                    overflow = True
                queue.append(event)
                waiting = len(queue)
            if self._thread is None:
                self._start_worker()
            if waiting >= self._flush_at and not self._wake.is_set():
                self._wake.set()
                thread = self._thread
                if thread is not None and not thread.is_alive():
                    self._start_worker()
            if overflow:
                self._warn_overflow()
            return True
        except Exception:  # analytics must never break a tool call
            logger.debug("yavio: enqueue failed", exc_info=True)
            return False

    def flush(self, timeout: float = 5.0) -> FlushResult:
        """Send everything queued now and wait up to `timeout` seconds for the outcome.

        Returns what was sent and dropped since the previous flush; `pending` > 0 means the
        timeout struck first (e.g. the ingest is down and a batch is waiting to be retried)."""
        try:
            if self._pid != os.getpid():
                self._reset_state(os.getpid())
            if not (self._stopped or self._closed) and self._pending() and timeout > 0:
                thread = self._start_worker()
                if thread is not None:
                    with self._flush_cond:
                        self._flush_requested += 1
                        generation = self._flush_requested
                    self._wake.set()
                    with self._flush_cond:
                        self._flush_cond.wait_for(
                            lambda: self._flush_done >= generation or self._stopped
                            or not thread.is_alive(), timeout)
            return self._report()
        except Exception:
            logger.debug("yavio: flush failed", exc_info=True)
            return FlushResult(0, 0, self.queued)

    def close(self, timeout: float = 2.0) -> FlushResult:
        """Send what is queued (one attempt per batch, no retry waits), stop the worker, and
        return what became of the events. Later `enqueue` calls drop their event. Idempotent."""
        try:
            if self._pid != os.getpid():
                self._reset_state(os.getpid())
            self._closed = True
            self._closing.set()
            self._wake.set()
            thread = self._thread
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout)
            if thread is None or not thread.is_alive():
                if self._client is not None and self._client is not self._injected_client:
                    self._client.close()
                self._client = None
            return self._report()
        except Exception:
            logger.debug("yavio: close failed", exc_info=True)
            return FlushResult(0, 0, self.queued)

    @property
    def queued(self) -> int:
        """Events waiting in the queue (not counting a batch in flight); at most the queue size."""
        return len(self._queue)

    @property
    def stopped(self) -> bool:
        """True once the ingest refused the API key (401): nothing more will be sent."""
        return self._stopped

    # -- bookkeeping -----------------------------------------------------------------------------

    def _pending(self) -> int:
        with self._lock:
            return len(self._queue) + self._in_flight

    def _report(self) -> FlushResult:
        with self._lock:
            result = FlushResult(self._sent - self._reported_sent,
                                 self._dropped - self._reported_dropped,
                                 len(self._queue) + self._in_flight)
            self._reported_sent, self._reported_dropped = self._sent, self._dropped
        return result

    def _settle(self, *, sent: int = 0, dropped: int = 0, skipped: int = 0) -> None:
        """`skipped`: deferred events that built to nothing (neither sent nor dropped)."""
        with self._lock:
            self._sent += sent
            self._dropped += dropped
            self._in_flight -= sent + dropped + skipped

    def _warn_overflow(self) -> None:
        now = time.monotonic()
        if now < self._next_overflow_warning:
            return
        with self._lock:
            self._next_overflow_warning = now + self._warning_interval
            count, self._overflow_unreported = self._overflow_unreported, 0
        logger.warning("yavio: event queue full (%d events); dropped the %d oldest since the last "
                       "warning: the ingest is unreachable or slower than the events arrive",
                       self._max_queue_size, count)

    def _start_worker(self) -> threading.Thread | None:
        """The running worker thread, started if need be; None if no thread can start (e.g. at
        interpreter shutdown), in which case events wait in the queue."""
        with self._start_lock:
            thread = self._thread
            if thread is not None and thread.is_alive() and self._pid == os.getpid():
                return thread
            thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
            try:
                thread.start()
            except RuntimeError:
                logger.debug("yavio: cannot start the sender thread", exc_info=True)
                return None
            self._thread = thread
            _register_exit_flush()
            return thread

    # -- the worker thread -----------------------------------------------------------------------

    def _run(self) -> None:
        deadline = time.monotonic() + self._jittered_interval()
        while not self._stopped:
            requested = 0
            try:
                self._wake.wait(max(0.0, deadline - time.monotonic()))
                self._wake.clear()
                with self._flush_cond:
                    requested = self._flush_requested
                closing = self._closing.is_set()
                if closing or requested > self._flush_done or time.monotonic() >= deadline:
                    self._send_queued(everything=True)
                    deadline = time.monotonic() + self._jittered_interval()
                    if closing:
                        return
                else:
                    requested = 0
                    self._send_queued(everything=False)
            except BaseException:  # whatever happens, the thread lives on: it is the only sender
                logger.exception("yavio: unexpected error in the sender; it carries on")
                with self._lock:
                    self._dropped += self._in_flight
                    self._in_flight = 0
                self._closing.wait(_ERROR_PAUSE)
            finally:
                if requested or self._stopped or self._closing.is_set():
                    with self._flush_cond:
                        self._flush_done = max(self._flush_done, requested)
                        self._flush_cond.notify_all()

    def _jittered_interval(self) -> float:
        return self._flush_interval * random.uniform(0.9, 1.1)

    def _send_queued(self, *, everything: bool) -> None:
        """Send full batches, or with `everything` all that is queued now (not what arrives
        meanwhile, so a steady stream of events cannot keep a flush from finishing)."""
        remaining = len(self._queue) if everything else -1
        while not self._stopped and remaining != 0:
            with self._lock:
                waiting = len(self._queue)
                if everything:
                    take = min(waiting, remaining, self._batch_size)
                else:
                    take = min(waiting, self._batch_size) if waiting >= self._flush_at else 0
                if take == 0:
                    return
                batch = [self._queue.popleft() for _ in range(take)]
                self._in_flight += take
            if everything:
                remaining -= take
            self._deliver(batch)

    def _deliver(self, batch: list[BaseEvent]) -> None:
        for chunk in self._chunks(batch):
            if self._stopped:
                self._settle(dropped=len(chunk))
                continue
            # Raw events are copied into the body as they are: each was encoded once, in _chunks.
            envelope = Envelope(events=chunk,  # type: ignore[arg-type]
                                sdk_version=self._sdk_version, sent_at=format_timestamp())
            body = encode(envelope)
            self._post(gzip.compress(body, compresslevel=1), len(chunk))

    def _chunks(self, batch: list[BaseEvent]) -> Iterator[list[msgspec.Raw]]:
        """The batch's events, encoded once, in runs that fit one request's limits. An event that
        cannot be encoded, or that could never fit a request, is dropped with a warning."""
        chunk: list[msgspec.Raw] = []
        size = self._envelope_overhead
        for index, event in enumerate(batch, 1):
            if index % _BUILDS_BETWEEN_YIELDS == 0:
                # Let the host's threads in: building events holds the GIL, and a request
                # waiting for it would otherwise wait for a whole batch (milliseconds).
                time.sleep(0)
            try:
                if isinstance(event, DeferredEvent):
                    event = event.build()
                    if event is None:
                        self._settle(skipped=1)
                        continue
                raw = encode(event)
            except Exception as error:
                logger.warning("yavio: dropped a %s that cannot be encoded: %s",
                               type(event).__name__, error)
                self._settle(dropped=1)
                continue
            if self._envelope_overhead + len(raw) > MAX_BODY_BYTES:
                logger.warning("yavio: dropped a %s of %d bytes, over the %d bytes of a request",
                               type(event).__name__, len(raw), MAX_BODY_BYTES)
                self._settle(dropped=1)
                continue
            extra = len(raw) + (1 if chunk else 0)  # the comma
            if chunk and (size + extra > MAX_BODY_BYTES or len(chunk) >= MAX_EVENTS_PER_BATCH):
                yield chunk
                chunk, size, extra = [], self._envelope_overhead, len(raw)
            chunk.append(msgspec.Raw(raw))
            size += extra
        if chunk:
            yield chunk

    def _http(self) -> httpx.Client:
        if self._injected_client is not None:
            return self._injected_client
        if self._client is None:
            timeout = httpx.Timeout(self._request_timeout, connect=min(5.0, self._request_timeout))
            self._client = httpx.Client(transport=self._transport, timeout=timeout)
        return self._client

    def _post(self, body: bytes, count: int) -> None:
        """One request with its retries; settles the `count` events either way."""
        for attempt in range(self._max_retries + 1):
            delay: float | None = None
            try:
                response = self._http().post(self._url, content=body, headers=self._headers)
            except Exception as error:  # network errors, and whatever a transport may raise
                problem = f"{type(error).__name__}: {error}"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    if status == 207:
                        logger.debug("yavio: the ingest rejected %s of %d events: %s",
                                     _json_field(response, "rejected"), count,
                                     _json_field(response, "errors"))
                    self._settle(sent=count)
                    return
                if status == 401:
                    self._stop_for_good(response, count)
                    return
                if status not in _RETRY_STATUSES and status < 500:
                    logger.warning("yavio: the ingest refused a batch of %d events (%s); dropped",
                                   count, _describe(response))
                    self._settle(dropped=count)
                    return
                problem = _describe(response)
                delay = _retry_after(response)
            if attempt == self._max_retries:
                logger.warning("yavio: dropped a batch of %d events after %d retries (%s)",
                               count, self._max_retries, problem)
                break
            if self._closing.is_set():
                logger.warning("yavio: dropped a batch of %d events at shutdown (%s)",
                               count, problem)
                break
            if delay is None:
                delay = self._backoff * 2 ** attempt * random.uniform(1.0, 1.25)
            logger.debug("yavio: retrying a batch of %d events in %.1f s (%s)",
                         count, delay, problem)
            if self._sleep is not None:
                self._sleep(delay)
            else:
                self._closing.wait(delay)
        self._settle(dropped=count)

    def _stop_for_good(self, response: httpx.Response, count: int) -> None:
        with self._lock:
            self._stopped = True
            lost = count + len(self._queue)
            self._dropped += lost
            self._in_flight -= count
            self._queue.clear()
        if not self._auth_error_logged:
            self._auth_error_logged = True
            logger.error("yavio: the ingest refused the API key (%s); analytics delivery is "
                         "stopped for this process and %d events were dropped. Check "
                         "YAVIO_API_KEY.", _describe(response), lost)


def _json_field(response: httpx.Response, name: str) -> Any:
    try:
        return response.json().get(name)
    except Exception:
        return None


def _describe(response: httpx.Response) -> str:
    """`503 YAVIO-2402: Ingestion is backed up; retry shortly.`, or the status and reason."""
    error = _json_field(response, "error")
    if isinstance(error, dict) and error.get("code"):
        return f"{response.status_code} {error['code']}: {error.get('message', '')}"[:300]
    return f"{response.status_code} {response.reason_phrase}"


def _retry_after(response: httpx.Response) -> float | None:
    """The server's `Retry-After` in seconds (whole seconds or an HTTP date), capped."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)


# -- interpreter exit ----------------------------------------------------------------------------

_live_senders: weakref.WeakSet[EventSender] = weakref.WeakSet()
_exit_flush_registered = False
_exit_flush_lock = threading.Lock()


def _register_exit_flush() -> None:
    global _exit_flush_registered
    with _exit_flush_lock:
        if not _exit_flush_registered:
            atexit.register(_flush_at_exit)
            _exit_flush_registered = True


def flush_all(timeout: float = 5.0) -> FlushResult:
    """Flush every live sender within `timeout` seconds in all; their results added up."""
    deadline = time.monotonic() + timeout
    sent = dropped = pending = 0
    for sender in list(_live_senders):
        result = sender.flush(max(0.0, deadline - time.monotonic()))
        sent, dropped, pending = sent + result.sent, dropped + result.dropped, \
            pending + result.pending
    return FlushResult(sent, dropped, pending)


def _flush_at_exit() -> None:
    """Give every sender's queue one last chance, EXIT_FLUSH_SECONDS for all of them together."""
    deadline = time.monotonic() + EXIT_FLUSH_SECONDS
    for sender in list(_live_senders):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            sender.flush(remaining)
        except Exception:
            pass
