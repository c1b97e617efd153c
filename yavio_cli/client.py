"""The one HTTP client of the Yavio server API, used by every CLI command and the TUI.

Every method returns the server's JSON as plain dicts and lists (shapes in docs/management-api.md)
and raises `ServerUnavailable` when nothing answers, `ApiError` on a status of 400 or more.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any
from urllib.parse import quote, urlencode

import httpx

ERASE_TIMEOUT_S = 300.0


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
                 allow: set[int] = frozenset(), headers: dict[str, str] | None = None,
                 timeout: Any = httpx.USE_CLIENT_DEFAULT) -> Any:
        try:
            response = self._http.request(method, path, json=body, headers=headers,
                                          timeout=timeout)
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
        self._erase(f"/v1/workspaces/{_segment(workspace_id)}")

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
        self._erase(f"/v1/projects/{_segment(project_id)}")

    def _erase(self, path: str) -> None:
        """DELETE a workspace or project: the server erases its events from every table
        before answering, seconds on a large or unmerged store, so the answer may take longer
        than the client's usual timeout."""
        self._request("DELETE", path, timeout=httpx.Timeout(self._http.timeout.connect,
                                                           read=ERASE_TIMEOUT_S))

    # -- API keys ----------------------------------------------------------------------------

    def trace(self, project_id: str, trace_id: str) -> dict[str, Any]:
        return self.get(f"/v1/projects/{_segment(project_id)}/traces/{_segment(trace_id)}")

    def traces(self, project_id: str, *, session: str | None = None, user: str | None = None,
               tool: str | None = None, status: str | None = None, limit: int | None = None,
               **range_: Any) -> dict[str, Any]:
        """`{traces: [{traceId, sessionId, tool, status, latencyMs, userId, platform,
        startedAt, events}]}`: the latest tool-call traces over a range (`_range_query`),
        newest first, narrowed by the filters given (`limit` ≤ 200)."""
        query = _with_filters(_range_query(**range_), session=session, user=user, tool=tool,
                              status=status, limit=limit)
        return self.get(f"/v1/projects/{_segment(project_id)}/traces{query}")

    def intents(self, project_id: str, **range_: Any) -> dict[str, Any]:
        """Why agents call each tool over a range (`_range_query`): coverage per tool and the
        latest intents."""
        return self.get(f"/v1/projects/{_segment(project_id)}/intents{_range_query(**range_)}")

    def overview(self, project_id: str, **range_: Any) -> dict[str, Any]:
        """`{range, kpis, platforms, topTools, series}` over a range (`_range_query`)."""
        return self.get(f"/v1/projects/{_segment(project_id)}/overview{_range_query(**range_)}")

    def errors(self, project_id: str, **range_: Any) -> dict[str, Any]:
        """`{range, invocations, errors, errorRate, previous, byCategory, byTool, series,
        recent}` over a range (`_range_query`); `series` has each bucket's calls, failures and
        rate."""
        return self.get(f"/v1/projects/{_segment(project_id)}/errors{_range_query(**range_)}")

    def query(self, project_id: str, sql: str, max_rows: int | None = None) -> dict[str, Any]:
        """`{columns: [{name, type}], rows, truncated, elapsedMs}`: one read-only SELECT over
        the project's `events` and `tool_registry`; ApiError 400 saying why one is refused."""
        # The server stops a query at 5 s; reading its answer may take longer than the
        # client's default timeout, which would look like a server that is down.
        return self._request("POST", f"/v1/projects/{_segment(project_id)}/query",
                             body=_without_none(sql=sql, maxRows=max_rows),
                             timeout=httpx.Timeout(self._http.timeout.connect, read=30.0))

    def tools(self, project_id: str, **range_: Any) -> dict[str, Any]:
        """`{tools: [...], neverCalled: [{name, description}]}` over a range (`_range_query`)."""
        return self.get(f"/v1/projects/{_segment(project_id)}/tools{_range_query(**range_)}")

    def tool(self, project_id: str, name: str, **range_: Any) -> dict[str, Any]:
        """One tool's detail over a range (`_range_query`); ApiError 404 for a tool the
        project neither registered nor ever called."""
        return self.get(f"/v1/projects/{_segment(project_id)}/tools/{_segment(name)}"
                        f"{_range_query(**range_)}")

    def sessions(self, project_id: str, *, user: str | None = None, limit: int | None = None,
                 **range_: Any) -> dict[str, Any]:
        """`{range, kpis, series, sessions}` over a range (`_range_query`), only the sessions
        of `user` when given, at most `limit` (≤ 200) listed."""
        query = _with_filters(_range_query(**range_), user=user, limit=limit)
        return self.get(f"/v1/projects/{_segment(project_id)}/sessions{query}")

    def users(self, project_id: str, **range_: Any) -> dict[str, Any]:
        """`{range, activeUsers, series, newVsReturning, retention, anonymousSessions, users}`
        over a range (`_range_query`)."""
        return self.get(f"/v1/projects/{_segment(project_id)}/users{_range_query(**range_)}")

    def user(self, project_id: str, user_id: str, *, limit: int | None = None,
             **range_: Any) -> dict[str, Any]:
        """One user's timeline over a range (`_range_query`); ApiError 404 for a user the
        project has no event of."""
        query = _with_filters(_range_query(**range_), limit=limit)
        return self.get(f"/v1/projects/{_segment(project_id)}/users/{_segment(user_id)}{query}")

    def funnel(self, project_id: str, steps: Sequence[str], *, by: str | None = None,
               window: int | None = None, split: str | None = None,
               **range_: Any) -> dict[str, Any]:
        """`{by, window, steps, overallConversion}` (and `byPlatform` with
        `split="platform"`): how many traces, or sessions with `by="session"`, went through
        `steps` in order (2 to 8, each `type` or `type:name`) within `window` seconds, over a
        range (`_range_query`); ApiError 400 for a step of another form."""
        query = _with_filters(_range_query(**range_), by=by, window=window, split=split)
        steps_query = urlencode([("step", step) for step in steps])
        return self.get(f"/v1/projects/{_segment(project_id)}/funnel"
                        f"{query}{'&' if query else '?'}{steps_query}")

    def paths(self, project_id: str, *, limit: int | None = None,
              **range_: Any) -> dict[str, Any]:
        """`{sessions, transitions, paths: [{from, to, count, share}]}`: the most frequent
        tool → tool transitions within a session over a range (`_range_query`), with
        "(start)" and "(end)" for a session's ends, at most `limit` (≤ 100) of them."""
        query = _with_filters(_range_query(**range_), limit=limit)
        return self.get(f"/v1/projects/{_segment(project_id)}/paths{query}")

    def events_page(self, project_id: str, *, types: Sequence[str] = (),
                    after: str | None = None, limit: int | None = None,
                    **range_: Any) -> dict[str, Any]:
        """`{events, next, total}`: one page of the range's raw events (`_range_query`), oldest
        first, of `types` (all when empty); pass `next` back as `after` for the following
        page, until it is None. `total`, the range's event count, comes with the first page
        only. Up to 60 s per page: a page of 10,000 events over a large range takes longer
        than a view."""
        query = _with_filters(_range_query(**range_), type=",".join(types) or None,
                              after=after, limit=limit)
        return self._request("GET", f"/v1/projects/{_segment(project_id)}/events{query}",
                             timeout=httpx.Timeout(self._http.timeout.connect, read=60.0))

    @contextmanager
    def live(self, project_id: str, types: Sequence[str] = (),
             ) -> Iterator[Iterator[tuple[str, Any]]]:
        """The project's live stream for the block. Entering returns once the server has
        subscribed (or raises, like every method); iterating yields `(event, data)` until the
        server ends the stream: an event type and the event as stored, or `("dropped",
        {"dropped": n})` when n events were lost because this reader fell behind. No read
        timeout: a quiet project sends nothing but comments for a long time."""
        query = f"?{urlencode({'type': ','.join(types)})}" if types else ""
        timeout = httpx.Timeout(self._http.timeout.connect, read=None)
        try:
            with self._http.stream("GET", f"/v1/projects/{_segment(project_id)}/live{query}",
                                   timeout=timeout) as response:
                if response.status_code >= 400:
                    response.read()
                    try:
                        body: Any = response.json()
                    except ValueError:
                        body = response.text
                    raise ApiError(response.status_code, body)
                yield _server_sent_events(response.iter_lines())
        except httpx.TransportError as error:
            raise ServerUnavailable(str(error)) from error

    @asynccontextmanager
    async def live_async(self, project_id: str, types: Sequence[str] = (),
                         ) -> AsyncIterator[AsyncIterator[tuple[str, Any]]]:
        """`live` for an asyncio program (the dashboard): the same messages, read without a
        thread, so cancelling the task that reads them ends the stream at once."""
        query = f"?{urlencode({'type': ','.join(types)})}" if types else ""
        timeout = httpx.Timeout(self._http.timeout.connect, read=None)
        try:
            async with httpx.AsyncClient(base_url=self._http.base_url,
                                         headers=self._http.headers, timeout=timeout) as http, \
                    http.stream("GET", f"/v1/projects/{_segment(project_id)}/live{query}",
                                ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    try:
                        body: Any = response.json()
                    except ValueError:
                        body = response.text
                    raise ApiError(response.status_code, body)
                yield _server_sent_events_async(response.aiter_lines())
        except httpx.TransportError as error:
            raise ServerUnavailable(str(error)) from error

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


def _range_query(start: str | None = None, end: str | None = None,
                 platforms: tuple[str, ...] | list[str] = ()) -> str:
    """The query string of a read view's range: `start`/`end` as ISO-8601 (the server's
    defaults, the last 7 days, when left out) and the platforms to keep."""
    fields = [("from", start), ("to", end), *(("platform", name) for name in platforms)]
    query = urlencode([(key, value) for key, value in fields if value])
    return f"?{query}" if query else ""


def _with_filters(query: str, **filters: Any) -> str:
    """A `_range_query` with a view's own filters added, those given (not None)."""
    extra = urlencode(_without_none(**filters))
    if not extra:
        return query
    return f"{query}&{extra}" if query else f"?{extra}"


class _EventStreamParser:
    """Lines of a `text/event-stream` in, `(event, JSON data)` messages out; comments (the
    server's `: ping`) and ids are skipped."""

    def __init__(self) -> None:
        self.event, self.data = "message", []

    def feed(self, line: str) -> tuple[str, Any] | None:
        """The message `line` completes (the blank line ending one), else None."""
        if not line:
            message = (self.event, json.loads("\n".join(self.data))) if self.data else None
            self.event, self.data = "message", []
            return message
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            self.event = value
        elif field == "data":
            self.data.append(value)
        return None


def _server_sent_events(lines: Iterable[str]) -> Iterator[tuple[str, Any]]:
    parser = _EventStreamParser()
    for line in lines:
        message = parser.feed(line)
        if message is not None:
            yield message


async def _server_sent_events_async(lines: AsyncIterator[str],
                                    ) -> AsyncIterator[tuple[str, Any]]:
    parser = _EventStreamParser()
    async for line in lines:
        message = parser.feed(line)
        if message is not None:
            yield message


def _without_none(**fields: Any) -> dict[str, Any]:
    """A body with the optional fields the caller left out omitted, so the server's defaults
    apply (the contract marks them `name?`, `slug?`, `graceSeconds?`)."""
    return {key: value for key, value in fields.items() if value is not None}
