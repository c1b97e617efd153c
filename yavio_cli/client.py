"""The one HTTP client of the Yavio server API, used by every CLI command and the TUI."""

from __future__ import annotations

from typing import Any

import httpx


class ServerUnavailable(RuntimeError):
    """The server did not answer at all (not running, wrong port, network down)."""


class ApiError(RuntimeError):
    """The server answered with an error status; `status` and `body` say which."""

    def __init__(self, status: int, body: Any):
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class YavioClient:
    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 5.0):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> YavioClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def health(self) -> dict[str, Any]:
        """`/health` as sent: `status` is "ok" or "degraded", with each store "up" or "down"."""
        return self._get("/health", allow={503})

    def stats(self) -> dict[str, Any]:
        return self._get("/v1/stats")

    def _get(self, path: str, allow: set[int] = frozenset()) -> dict[str, Any]:
        try:
            response = self._http.get(path)
        except httpx.TransportError as error:
            raise ServerUnavailable(str(error)) from error
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if response.status_code >= 400 and response.status_code not in allow:
            raise ApiError(response.status_code, body)
        return body
