"""Response bodies shared by every endpoint: JSON replies and the error envelope (SPEC section 1)."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from yavio_sdk.errors import error_code

REQUEST_ID = web.RequestKey("request_id", str)

_json = msgspec.json.Encoder()


def json_reply(body: Any, status: int = 200,
               headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=_json.encode(body), status=status, headers=headers,
                        content_type="application/json")


def error_reply(request: web.Request, code: str, message: str | None = None, *,
                retry_after: int | None = None,
                extra: dict[str, Any] | None = None) -> web.Response:
    """`{error: {code, message, status, requestId}, ...extra}` with the code's status; 429 and
    503 carry `Retry-After` in whole seconds."""
    entry = error_code(code)
    body = {"error": {"code": entry.code, "message": message or entry.message,
                      "status": entry.status, "requestId": request[REQUEST_ID]},
            **(extra or {})}
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return json_reply(body, entry.status, headers)


class Reject(Exception):
    """Answer with `code` (and its status), with an optional message and extra body fields."""

    def __init__(self, code: str, message: str | None = None, *,
                 retry_after: int | None = None, extra: dict[str, Any] | None = None):
        super().__init__(code)
        self.code, self.message, self.retry_after, self.extra = code, message, retry_after, extra

    def reply(self, request: web.Request) -> web.Response:
        return error_reply(request, self.code, self.message, retry_after=self.retry_after,
                           extra=self.extra)
