"""`POST /v1/events` and `POST /v1/widget-tokens` (SPEC section 1).

The order of `POST /v1/events`: auth (header) → raw size (after gunzip, streamed) → decode →
auth from `?token=` or the body (widget JWTs only) → envelope checks → widget session check →
rate limit (by event count) → per-event validation → compat lifting → PII redaction → truncation →
enrich → dedup → spool append → respond. An acknowledged event is on disk before the response.

Validation refuses, event by event (YAVIO-2115 in its issue), a timestamp more than 24 h ahead of
the server's clock or older than the retention: events spread over the years would each open a
monthly partition in ClickHouse, and every partition slows every later insert, merge and erase.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
from aiohttp import web

from yavio_ingest.auth import Authenticator, AuthError, Credential, looks_like_api_key
from yavio_ingest.client_ip import Networks, client_ip
from yavio_ingest.compat import lift_widget_fields
from yavio_ingest.dedup import RecentIds
from yavio_ingest.fanout import Fanout
from yavio_ingest.quota import Quotas
from yavio_ingest.ratelimit import RateLimiter
from yavio_ingest.responses import REQUEST_ID, Reject, json_reply
from yavio_ingest.spool import Spool
from yavio_ingest.store.clickhouse import event_line, line_prefix
from yavio_ingest.writer import Writer
from yavio_sdk.events import (
    MAX_BODY_BYTES,
    MAX_EVENTS_PER_BATCH,
    RawEnvelope,
    TimestampWindow,
    format_timestamp,
    validate_event,
)
from yavio_sdk.pii import redact, redact_text
from yavio_sdk.truncation import SMALLEST_LIMIT, truncate_event

# Free-text payloads, where PII turns up. Ids, names and enums are left alone: redacting a UUID or a
# tool name would only cost time. `user_id` is the developer's explicit choice of identifier.
_REDACTED_FIELDS = ("metadata", "input_values", "output_content", "user_traits",
                    "intent_signals")
_REDACTED_TEXT_FIELDS = ("error_message", "nav_from", "nav_to")
# Content-Encoding -> zlib window bits (0: not compressed).
_WBITS = {"": 0, "identity": 0, "gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_MAX_ID_CHARS = 128
# A sender's clock a day fast is broken. Clamping its events to now instead would stamp a retried
# event differently on each try, and a retry must stay the same event.
MAX_AHEAD_HOURS = 24
_TOO_NEW = (f"more than {MAX_AHEAD_HOURS} h ahead of the server's clock; check the sender's "
            "clock (YAVIO-2115)")


@dataclass
class Ingest:
    """Everything the ingestion endpoints share."""
    auth: Authenticator
    spool: Spool
    writer: Writer
    recent: RecentIds
    fanout: Fanout
    project_limits: RateLimiter
    failed_auth_limits: RateLimiter
    widget_limits: RateLimiter
    trusted_proxies: Networks
    quotas: Quotas
    body_timeout_s: float
    # Built once a second: building it takes 7 µs (measured), 2% of a one-event request.
    _window: tuple[int, TimestampWindow | None] = dataclasses.field(
        default=(-1, None), init=False)

    def timestamp_window(self) -> TimestampWindow:
        """The timestamps accepted now, to the second. Its far end is the store's retention:
        ClickHouse's TTL would delete an older event at once, after it had opened a partition."""
        now = time.time()
        second, window = self._window
        if window is None or int(now) != second:
            days = self.writer.store.retention_days
            window = TimestampWindow.around(
                datetime.fromtimestamp(now, timezone.utc), timedelta(days=days),
                timedelta(hours=MAX_AHEAD_HOURS), too_new=_TOO_NEW,
                too_old=f"older than the server's retention of {days} days, so it would never "
                        "be kept; check the sender's clock (YAVIO-2115)")
            self._window = (int(now), window)
        return window


INGEST = web.AppKey("ingest", Ingest)

log = logging.getLogger("yavio.ingest")


class _SessionOnly(msgspec.Struct):
    session_id: Any = None


_session_decoder = msgspec.json.Decoder(_SessionOnly)
_envelope_decoder = msgspec.json.Decoder(RawEnvelope)
_body_decoder = msgspec.json.Decoder()


async def post_events(request: web.Request) -> web.Response:
    ingest = request.app[INGEST]
    try:
        return await _ingest(request, ingest)
    except Reject as reject:
        return reject.reply(request)


async def _ingest(request: web.Request, ingest: Ingest) -> web.Response:
    header = request.headers.get("Authorization")
    credential = await _authenticate_header(request, ingest, header) if header else None
    if ingest.spool.over_budget:
        raise Reject("YAVIO-2402", retry_after=1)

    body = await _read_body(request)
    try:
        envelope = _envelope_decoder.decode(body)
    except (msgspec.DecodeError, RecursionError) as error:
        raise _envelope_error(body, error) from None
    # Before the envelope checks: a caller without a credential learns nothing about its batch.
    if credential is None:
        credential = _authenticate_query_or_body(request, ingest, envelope.token)
    elif _is_api_key(request.query.get("token")) or _is_api_key(envelope.token):
        # Refused even beside a valid header: a key in a URL or a body ends up in logs.
        raise _failed_auth(request, ingest, "YAVIO-2006")
    count = len(envelope.events)
    if count == 0:
        raise Reject("YAVIO-2110")
    if count > MAX_EVENTS_PER_BATCH:
        raise Reject("YAVIO-2113", f"{count} events in one batch; the limit is "
                                   f"{MAX_EVENTS_PER_BATCH}.")

    if credential.is_widget:
        _check_sessions(envelope.events, credential.session_id)
        bucket, limits, code = credential.token_id, ingest.widget_limits, "YAVIO-2053"
    else:
        bucket, limits, code = credential.project_id, ingest.project_limits, "YAVIO-2050"
    wait = limits.take(bucket, count)
    if wait:
        raise Reject(code, retry_after=wait)
    await ingest.quotas.check(credential.workspace_id, count)

    errors: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    lines: list[bytes] = []
    new_ids: set[str] = set()
    accepted = 0
    prefix = line_prefix(credential.workspace_id, credential.project_id, format_timestamp())
    window = ingest.timestamp_window()
    for index, raw in enumerate(envelope.events):
        event, issues = validate_event(raw, window)
        if event is None:
            errors.append({"index": index, "issues": issues})
            continue
        accepted += 1
        changed = _redact(event)
        lift_widget_fields(event)  # after redaction: lifted values come from redacted metadata
        if changed or len(raw) > SMALLEST_LIMIT:
            for field, warning in truncate_event(event):
                warnings.append({"index": index, "field": field, "warning": warning})
        event_id = event.event_id.lower()
        if event_id in ingest.recent or event_id in new_ids:
            continue  # a retry of an event already acknowledged: acknowledge again, store once
        new_ids.add(event_id)
        lines.append(event_line(event, prefix))

    if lines:
        try:
            ingest.spool.append(b"\n".join(lines), len(lines))
            await ingest.spool.sync()
        except OSError as error:  # disk full or failing: nothing is acknowledged
            log.error("spool append failed: %s", error)
            raise Reject("YAVIO-2402", retry_after=1) from None
        # Only now: an id remembered before its event is on disk would turn a retry into a loss.
        ingest.recent.update(new_ids)
        ingest.quotas.add(credential.workspace_id, len(lines))
        ingest.writer.appended(len(lines))
        ingest.fanout.publish(credential.project_id, lines)

    request_id = request[REQUEST_ID]
    if accepted == 0:
        raise Reject("YAVIO-2100", "No event in the batch was valid.",
                     extra={"errors": errors, "accepted": 0, "rejected": len(errors)})
    body_out: dict[str, Any] = {"accepted": accepted, "rejected": len(errors)}
    if errors:
        body_out["errors"] = errors
    if warnings:
        body_out["warnings"] = warnings
    body_out["requestId"] = request_id
    return json_reply(body_out, 207 if errors else 200)


async def post_widget_tokens(request: web.Request) -> web.Response:
    ingest = request.app[INGEST]
    try:
        header = request.headers.get("Authorization")
        if not header:
            raise _failed_auth(request, ingest, "YAVIO-2000")
        credential = await _authenticate_header(request, ingest, header)
        if credential.is_widget:
            raise Reject("YAVIO-2302")
        try:
            body = _body_decoder.decode(await _read_body(request))
        except (msgspec.DecodeError, RecursionError):
            raise Reject("YAVIO-2109") from None
        if not isinstance(body, dict):
            raise Reject("YAVIO-2300")
        trace_id, session_id = body.get("traceId"), body.get("sessionId")
        if not _valid_id(trace_id):
            raise Reject("YAVIO-2300")
        if not _valid_id(session_id):
            raise Reject("YAVIO-2301")
        token, expires = ingest.auth.mint_widget_token(credential, trace_id, session_id)
        return json_reply({"token": token, "expiresAt": format_timestamp(
            datetime.fromtimestamp(expires, timezone.utc))})
    except Reject as reject:
        return reject.reply(request)


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= _MAX_ID_CHARS


async def _authenticate_header(request: web.Request, ingest: Ingest, header: str) -> Credential:
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _failed_auth(request, ingest, "YAVIO-2006")
    try:
        if looks_like_api_key(token):
            return await ingest.auth.api_key(token)
        if token.startswith("eyJ"):
            return ingest.auth.widget_token(token)
    except AuthError as error:
        raise _failed_auth(request, ingest, error.code) from None
    raise _failed_auth(request, ingest, "YAVIO-2006")


def _authenticate_query_or_body(request: web.Request, ingest: Ingest,
                                body_token: str | None) -> Credential:
    """A widget JWT from `?token=` or the body (sendBeacon cannot set headers). API keys are
    refused there: a key in a URL ends up in logs and browser history."""
    token = request.query.get("token") or body_token
    if not token:
        raise _failed_auth(request, ingest, "YAVIO-2000")
    if not token.startswith("eyJ"):
        raise _failed_auth(request, ingest, "YAVIO-2006")
    try:
        return ingest.auth.widget_token(token)
    except AuthError as error:
        raise _failed_auth(request, ingest, error.code) from None


def _is_api_key(token: str | None) -> bool:
    return token is not None and looks_like_api_key(token)


def _failed_auth(request: web.Request, ingest: Ingest, code: str) -> Reject:
    """Failed authentications count against the client's address; past its burst they get 429."""
    wait = ingest.failed_auth_limits.take(client_ip(request, ingest.trusted_proxies))
    if wait:
        return Reject("YAVIO-2052", retry_after=wait)
    return Reject(code)


def _check_sessions(events: list[msgspec.Raw], session_id: str | None) -> None:
    for index, raw in enumerate(events):
        try:
            sent = _session_decoder.decode(raw).session_id
        except (msgspec.DecodeError, RecursionError):
            sent = None
        if sent != session_id:
            raise Reject("YAVIO-2112", extra={"errors": [{"index": index, "issues": [
                "session_id: does not match the widget token's session"]}]})


def _redact(event: Any) -> bool:
    """Redact the free-text fields in place; True if anything was replaced."""
    changed = False
    for field in _REDACTED_FIELDS:
        value = getattr(event, field, None)
        if value is not None:
            cleaned = redact(value)
            if cleaned is not value:
                setattr(event, field, cleaned)
                changed = True
    for field in _REDACTED_TEXT_FIELDS:
        text = getattr(event, field, None)
        if text:
            cleaned = redact_text(text)
            if cleaned is not text:
                setattr(event, field, cleaned)
                changed = True
    return changed


async def _read_body(request: web.Request) -> bytes:
    """The body, gunzipped as it streams in and refused as soon as it passes MAX_BODY_BYTES, so a
    gzip bomb stops at the limit. (The app turns aiohttp's own decompression off: it would answer
    an unknown encoding with a bare 400 before this code could say 415.)"""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in _WBITS:
        raise Reject("YAVIO-2114", f"Content-Encoding {encoding!r} is not supported; send gzip "
                                   "or no encoding.")
    wbits = _WBITS[encoding]
    inflater = zlib.decompressobj(wbits) if wbits else None
    parts: list[bytes] = []
    size = 0
    timeout_s = request.app[INGEST].body_timeout_s
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.content.iter_chunked(64 * 1024):
                if inflater is not None:
                    try:
                        chunk = inflater.decompress(chunk, MAX_BODY_BYTES + 1 - size)
                    except zlib.error:
                        raise Reject("YAVIO-2109", "The compressed body is corrupt.") from None
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise Reject("YAVIO-2111", f"The body is over {MAX_BODY_BYTES} bytes.")
                parts.append(chunk)
    except TimeoutError:
        raise Reject("YAVIO-2109", f"The body did not arrive within {timeout_s:g} s.") from None
    body = b"".join(parts)
    # JSON is UTF-8 (RFC 8259). msgspec checks a string's bytes only when it builds the string,
    # which for a `Raw` event happens in validation, where a bad byte would escape as a 500.
    try:
        body.decode()
    except UnicodeDecodeError:
        raise Reject("YAVIO-2109", "The body is not valid UTF-8.") from None
    return body


def _envelope_error(body: bytes, error: Exception) -> Reject:
    if not body.strip():
        return Reject("YAVIO-2109", "The body is empty.")
    try:
        document = _body_decoder.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return Reject("YAVIO-2109", "The body is not valid JSON.")
    if not isinstance(document, dict):
        issue = "body: must be a JSON object with an events array"
    elif not isinstance(document.get("events"), list):
        issue = "events: must be an array of events"
    else:
        issue = f"envelope: {error}"
    return Reject("YAVIO-2100", issue, extra={"errors": [{"index": -1, "issues": [issue]}],
                                              "accepted": 0, "rejected": 0})
