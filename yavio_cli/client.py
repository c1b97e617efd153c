"""The one HTTP client of the Yavio server API, used by every CLI command and the TUI.

Every method returns the server's JSON as plain dicts and lists (shapes in docs/management-api.md)
and raises `ServerUnavailable` when nothing answers, `ApiError` on a status of 400 or more.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx


class ServerUnavailable(RuntimeError):
    """The server did not answer at all (not running, wrong port, network down)."""


class ApiError(RuntimeError):
    """The server answered with an error status; `status` and `body` say which."""

    def __init__(self, status: int, body: Any):
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body

    @property
    def code(self) -> str | None:
        """The `YAVIO-xxxx` code of the error envelope, if the body is one."""
        error = self.body.get("error") if isinstance(self.body, dict) else None
        return error.get("code") if isinstance(error, dict) else None

    @property
    def message(self) -> str:
        """The envelope's message on one line, else the start of whatever the server sent."""
        error = self.body.get("error") if isinstance(self.body, dict) else None
        if isinstance(error, dict) and error.get("message"):
            text = str(error["message"])
        else:
            text = f"HTTP {self.status}" + (f": {self.body}" if self.body else "")
        return " ".join(text.split())[:300]


class PLAN_DEFAULT:  # a sentinel, passed as a value (the class itself)
    """`set_plan(quota=PLAN_DEFAULT)`: send no quota, so the plan's own applies. Distinct from
    None, which the API reads as unlimited."""


def _segment(value: str) -> str:
    # Ids and slugs come from the user's command line: never let one add a path segment.
    return quote(str(value), safe="")


class YavioClient:
    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 5.0,
                 transport: httpx.BaseTransport | None = None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout,
                                  transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> YavioClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- verbs -------------------------------------------------------------------------------

    def get(self, path: str, *, allow: set[int] = frozenset()) -> Any:
        return self._request("GET", path, allow=allow)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._request("POST", path, body=body or {})

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        return self._request("PATCH", path, body=body)

    def delete(self, path: str) -> Any:
        """The answer's JSON, or None for a 204."""
        return self._request("DELETE", path)

    def _request(self, method: str, path: str, *, body: dict[str, Any] | None = None,
                 allow: set[int] = frozenset(), headers: dict[str, str] | None = None) -> Any:
        try:
            response = self._http.request(method, path, json=body, headers=headers)
        except httpx.TransportError as error:
            raise ServerUnavailable(str(error)) from error
        if response.status_code == 204 or not response.content:
            parsed: Any = None
        else:
            try:
                parsed = response.json()
            except ValueError:
                parsed = response.text
        if response.status_code >= 400 and response.status_code not in allow:
            raise ApiError(response.status_code, parsed)
        return parsed

    # -- stack -------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """`/health` as sent: `status` is "ok" or "degraded", with each store "up" or "down"."""
        return self.get("/health", allow={503})

    def stats(self) -> dict[str, Any]:
        return self.get("/v1/stats")

    def widget_token(self, api_key: str, trace_id: str, session_id: str) -> dict[str, Any]:
        """`{token, expiresAt}`, minted with an API key (not the client's access token): the
        ingest answers 200 only for a key it accepts, so this is how `yavio init` checks one."""
        return self._request("POST", "/v1/widget-tokens",
                             body={"traceId": trace_id, "sessionId": session_id},
                             headers={"Authorization": f"Bearer {api_key}"})

    # -- who am I, workspaces ----------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        """`{user: {id, email, name}, workspaces: [workspace]}`."""
        return self.get("/v1/me")

    def workspaces(self) -> list[dict[str, Any]]:
        return self.get("/v1/workspaces")["workspaces"]

    def create_workspace(self, name: str, slug: str | None = None) -> dict[str, Any]:
        return self.post("/v1/workspaces", _without_none(name=name, slug=slug))

    def delete_workspace(self, workspace_id: str) -> None:
        self.delete(f"/v1/workspaces/{_segment(workspace_id)}")

    # -- usage and plans ---------------------------------------------------------------------

    def usage(self, workspace_id: str, month: str | None = None) -> dict[str, Any]:
        """`{month, workspace: {...workspace, events}, projects: [{id, slug, name, events}]}`
        for `month` (`YYYY-MM`, default the current UTC month)."""
        query = f"?month={quote(month, safe='')}" if month else ""
        return self.get(f"/v1/workspaces/{_segment(workspace_id)}/usage{query}")

    def set_plan(self, workspace_id: str, plan: str,
                 quota: int | None | type[PLAN_DEFAULT] = PLAN_DEFAULT) -> dict[str, Any]:
        """The updated workspace. `quota` None means unlimited; left out, the plan's default."""
        body: dict[str, Any] = {"plan": plan}
        if quota is not PLAN_DEFAULT:
            body["monthlyEventQuota"] = quota
        return self.patch(f"/v1/workspaces/{_segment(workspace_id)}/plan", body)

    # -- projects ----------------------------------------------------------------------------

    def projects(self, workspace_id: str) -> list[dict[str, Any]]:
        return self.get(f"/v1/workspaces/{_segment(workspace_id)}/projects")["projects"]

    def create_project(self, workspace_id: str, name: str,
                       slug: str | None = None) -> dict[str, Any]:
        return self.post(f"/v1/workspaces/{_segment(workspace_id)}/projects",
                         _without_none(name=name, slug=slug))

    def delete_project(self, project_id: str) -> None:
        self.delete(f"/v1/projects/{_segment(project_id)}")

    # -- API keys ----------------------------------------------------------------------------

    def trace(self, project_id: str, trace_id: str) -> dict[str, Any]:
        return self.get(f"/v1/projects/{_segment(project_id)}/traces/{_segment(trace_id)}")

    def keys(self, project_id: str) -> list[dict[str, Any]]:
        return self.get(f"/v1/projects/{_segment(project_id)}/keys")["keys"]

    def create_key(self, project_id: str, name: str | None = None) -> dict[str, Any]:
        """The new key with its raw value in `key`: the only time the server sends it."""
        return self.post(f"/v1/projects/{_segment(project_id)}/keys", _without_none(name=name))

    def revoke_key(self, project_id: str, key_id: str) -> dict[str, Any]:
        return self.delete(f"/v1/projects/{_segment(project_id)}/keys/{_segment(key_id)}")

    def rotate_key(self, project_id: str, key_id: str,
                   grace_seconds: int | None = None) -> dict[str, Any]:
        """The new key (raw value in `key`) and, in `replaces`, the old one with its end time."""
        return self.post(f"/v1/projects/{_segment(project_id)}/keys/{_segment(key_id)}/rotate",
                         _without_none(graceSeconds=grace_seconds))

    # -- members and invitations -------------------------------------------------------------

    def members(self, workspace_id: str) -> list[dict[str, Any]]:
        return self.get(f"/v1/workspaces/{_segment(workspace_id)}/members")["members"]

    def set_role(self, workspace_id: str, user_id: str, role: str) -> dict[str, Any]:
        return self.patch(f"/v1/workspaces/{_segment(workspace_id)}/members/{_segment(user_id)}",
                          {"role": role})

    def remove_member(self, workspace_id: str, user_id: str) -> None:
        self.delete(f"/v1/workspaces/{_segment(workspace_id)}/members/{_segment(user_id)}")

    def invite(self, workspace_id: str, email: str, role: str) -> dict[str, Any]:
        """`{token, email, role, expiresAt}`: the raw invitation token, sent this once."""
        return self.post(f"/v1/workspaces/{_segment(workspace_id)}/invitations",
                         {"email": email, "role": role})

    def accept_invitation(self, token: str, name: str | None = None) -> dict[str, Any]:
        """`{workspace, role, user, accessToken?}`; a client without a token gets a new one."""
        return self.post("/v1/invitations/accept", _without_none(token=token, name=name))

    # -- access tokens -----------------------------------------------------------------------

    def tokens(self) -> list[dict[str, Any]]:
        return self.get("/v1/tokens")["tokens"]

    def create_token(self, name: str | None = None,
                     expires_in_days: int | None = None) -> dict[str, Any]:
        return self.post("/v1/tokens", _without_none(name=name, expiresInDays=expires_in_days))

    def revoke_token(self, token_id: str) -> dict[str, Any]:
        return self.delete(f"/v1/tokens/{_segment(token_id)}")


def _without_none(**fields: Any) -> dict[str, Any]:
    """A body with the optional fields the caller left out omitted, so the server's defaults
    apply (the contract marks them `name?`, `slug?`, `graceSeconds?`)."""
    return {key: value for key, value in fields.items() if value is not None}
