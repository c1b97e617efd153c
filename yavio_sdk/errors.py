"""Every `YAVIO-NNNN` code, with its HTTP status and message, in one table.

Codes are stable and never reused. Ranges: 1xxx SDK, 2xxx ingest, 3xxx read and management API,
5xxx storage, 6xxx CLI, 7xxx configuration and infrastructure. The SDK, the server and the CLI all
look codes up here, so a code means the same thing wherever a user meets it.
"""

from __future__ import annotations

from typing import NamedTuple


class ErrorCode(NamedTuple):
    code: str
    status: int
    message: str


_TABLE = [
    # 2xxx: ingestion
    ErrorCode("YAVIO-2000", 401, "Missing credential: send 'Authorization: Bearer <key or token>'."),
    ErrorCode("YAVIO-2001", 401, "Unknown or revoked API key."),
    ErrorCode("YAVIO-2004", 401, "Invalid, expired or tampered widget token."),
    ErrorCode("YAVIO-2006", 401, "Malformed credential: expected 'Bearer yav_…' or a widget token."),
    ErrorCode("YAVIO-2050", 429, "Project event rate limit exceeded."),
    ErrorCode("YAVIO-2052", 429, "Too many failed authentication attempts from this address."),
    ErrorCode("YAVIO-2053", 429, "Widget token event rate limit exceeded."),
    ErrorCode("YAVIO-2054", 429, "Monthly event quota of the workspace plan exceeded."),
    ErrorCode("YAVIO-2100", 400, "Invalid batch."),
    ErrorCode("YAVIO-2109", 400, "Empty or unparsable request body."),
    ErrorCode("YAVIO-2110", 400, "The batch has no events."),
    ErrorCode("YAVIO-2111", 413, "Request body too large."),
    ErrorCode("YAVIO-2112", 400, "An event's session_id does not match the widget token's session."),
    ErrorCode("YAVIO-2113", 400, "Too many events in one batch."),
    ErrorCode("YAVIO-2114", 415, "Unsupported Content-Encoding."),
    # Reported per event, in the issues of a 207 or a 400 YAVIO-2100, never as the answer's code.
    ErrorCode("YAVIO-2115", 400, "Event timestamp older than the server's retention or too far "
                                 "ahead of its clock: check the sender's clock."),
    ErrorCode("YAVIO-2300", 400, "traceId must be 1 to 128 characters."),
    ErrorCode("YAVIO-2301", 400, "sessionId must be 1 to 128 characters."),
    ErrorCode("YAVIO-2302", 401, "Widget tokens can only be minted with an API key."),
    ErrorCode("YAVIO-2402", 503, "Ingestion is backed up; retry shortly."),
    ErrorCode("YAVIO-2404", 404, "No such endpoint; see /openapi.json."),
    ErrorCode("YAVIO-2405", 405, "Method not allowed on this endpoint."),
    # 3xxx: read and management API
    ErrorCode("YAVIO-3000", 401, "Missing or invalid access token."),
    ErrorCode("YAVIO-3003", 403, "Your role in this workspace does not allow this."),
    ErrorCode("YAVIO-3004", 404, "Not found."),
    ErrorCode("YAVIO-3009", 409, "That slug is already taken."),
    ErrorCode("YAVIO-3010", 400, "Invalid request body."),
    ErrorCode("YAVIO-3011", 400, "This invitation is unknown, already used or expired."),
    ErrorCode("YAVIO-3012", 409, "A workspace must keep at least one owner."),
    ErrorCode("YAVIO-3050", 429, "Too many live streams are open on this project; close one "
                                 "and retry."),
    ErrorCode("YAVIO-3060", 400, "The query went over a limit of the query endpoint (rows "
                                 "read, result rows or memory)."),
    ErrorCode("YAVIO-3061", 504, "The query ran longer than the query endpoint allows."),
    # 5xxx: storage
    ErrorCode("YAVIO-5001", 503, "A store is unavailable and this request needs it (a key "
                                 "or a quota not seen before the outage); retry shortly."),
]

CODES: dict[str, ErrorCode] = {entry.code: entry for entry in _TABLE}


def error_code(code: str) -> ErrorCode:
    """The table entry for `code`; an unknown code is a programming error and raises KeyError."""
    return CODES[code]
