"""`GET /openapi.json`: the OpenAPI 3.1 description of the ingest API (SPEC section 1).

Generated, not written by hand, wherever the code already holds the contract: the event and batch
schemas are the msgspec structs the SDK encodes and the ingest decodes (`yavio_sdk.events`), and
every error response names its `YAVIO-NNNN` codes with the status and message of the one error
table (`yavio_sdk.errors`). What remains here is the list of routes, which codes each one answers
with, and the shapes of the success bodies, which `tests/ingest/test_openapi_fuzz.py` fuzzes the
real server against, so the document cannot drift from what the server does.
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections import defaultdict
from typing import Any

import msgspec
from aiohttp import web

from yavio_ingest.auth import WIDGET_TOKEN_LIFETIME_S
from yavio_ingest.export import COLUMNS, DEFAULT_LIMIT, MAX_LIMIT
from yavio_ingest.funnels import (
    DEFAULT_WINDOW_S,
    DROPPED_SAMPLES,
    MAX_STEPS,
    MAX_WINDOW_S,
    MIN_STEPS,
)
from yavio_ingest.ingestion import MAX_AHEAD_HOURS
from yavio_ingest.live import HEARTBEAT_S, MAX_STREAMS_PER_PROJECT, POLL_RECENT_S
from yavio_ingest.paths import DEFAULT_TRANSITIONS, END, MAX_TRANSITIONS, START
from yavio_ingest.query import DEFAULT_ROWS, MAX_ROWS, MAX_SQL_CHARS, TIMEOUT_S
from yavio_ingest.writer import STALLED_AFTER_S
from yavio_sdk.errors import error_code
from yavio_sdk.events import (
    EVENT_TYPES,
    MAX_BODY_BYTES,
    MAX_EVENTS_PER_BATCH,
    MAX_ID_CHARS,
    json_schema,
)

_SCHEMAS = "#/components/schemas/"
_MSGSPEC_DEFS = "#/$defs/"

# The codes each operation can answer with; the status of each comes from the error table.
# YAVIO-2054 (monthly quota) is in the contract for ingest even where no plan sets a quota.
_EVENTS_CODES = ("YAVIO-2000", "YAVIO-2001", "YAVIO-2004", "YAVIO-2006", "YAVIO-2050",
                 "YAVIO-2052", "YAVIO-2053", "YAVIO-2054", "YAVIO-2100", "YAVIO-2109",
                 "YAVIO-2110", "YAVIO-2111", "YAVIO-2112", "YAVIO-2113", "YAVIO-2114",
                 "YAVIO-2402", "YAVIO-5001")
_WIDGET_TOKEN_CODES = ("YAVIO-2000", "YAVIO-2001", "YAVIO-2004", "YAVIO-2006", "YAVIO-2052",
                       "YAVIO-2109", "YAVIO-2111", "YAVIO-2114", "YAVIO-2300", "YAVIO-2301",
                       "YAVIO-2302", "YAVIO-5001")
_STATS_CODES = ("YAVIO-3000",)
# Statuses whose answers tell the client when to come back (SPEC 1: whole seconds).
_RETRY_AFTER_STATUSES = (429, 503)


async def openapi_document(request: web.Request) -> web.Response:
    """The OpenAPI document; public, like `/health`, so clients and fuzzers can find the API."""
    return web.Response(body=_encoded_document(), content_type="application/json")


@functools.cache
def _encoded_document() -> bytes:
    # Built on the first request, not at import (the server may never be asked), and only once:
    # building takes ~70 ms (measured), mostly msgspec's schemas of the event union, and the
    # document only changes with the code.
    return msgspec.json.encode(build_document())


def build_document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document, as a fresh dict."""
    schemas = _event_schemas()
    schemas.update(_response_schemas())
    schemas.update(_management_schemas())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Yavio ingest API",
            "version": importlib.metadata.version("yavio"),
            "description": (
                "Batch ingestion of MCP server and widget analytics events, and widget tokens. "
                "Every response carries `x-request-id`. Request bodies may be gzip-compressed "
                "(`Content-Encoding: gzip`); `Content-Type` is not enforced, so a `sendBeacon` "
                "body sent as `text/plain` is read as JSON. Every path answers a CORS preflight "
                "(`OPTIONS`) with 204."),
        },
        "paths": {
            "/v1/events": {"post": _post_events()},
            "/v1/widget-tokens": {"post": _post_widget_tokens()},
            "/health": {"get": _get_health()},
            "/v1/stats": {"get": _get_stats()},
            "/openapi.json": {"get": _get_openapi()},
            **_management_paths(),
            "/v1/projects/{project}/overview": {"get": _get_overview()},
            "/v1/projects/{project}/errors": {"get": _get_errors()},
            "/v1/projects/{project}/intents": {"get": _get_intents()},
            "/v1/projects/{project}/events": {"get": _export_events()},
            "/v1/projects/{project}/traces": {"get": _list_traces()},
            "/v1/projects/{project}/traces/{trace}": {"get": _get_trace()},
            "/v1/projects/{project}/sessions": {"get": _list_sessions()},
            "/v1/projects/{project}/users": {"get": _get_users()},
            "/v1/projects/{project}/users/{user}": {"get": _get_user()},
            "/v1/projects/{project}/live": {"get": _get_live()},
            "/v1/projects/{project}/tools": {"get": _list_tools()},
            "/v1/projects/{project}/tools/{tool}": {"get": _get_tool()},
            "/v1/projects/{project}/funnel": {"get": _get_funnel()},
            "/v1/projects/{project}/paths": {"get": _get_paths()},
            "/v1/projects/{project}/query": {"post": _run_query()},
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": _SECURITY_SCHEMES,
            "parameters": {"RequestId": _REQUEST_ID_PARAMETER},
            "headers": {"RequestId": _REQUEST_ID_HEADER, "RetryAfter": _RETRY_AFTER_HEADER},
        },
    }


def _event_schemas() -> dict[str, Any]:
    """`Event`, `Envelope` and one schema per event type, from the msgspec structs.

    msgspec emits self-contained JSON Schemas with their own `$defs`; OpenAPI keeps shared
    definitions in `components/schemas`, so the definitions move there and every reference
    (`$ref`s and the discriminator's mapping) is rewritten to point at them.
    """
    event, envelope = json_schema("event"), json_schema("envelope")
    schemas: dict[str, Any] = {}
    for definitions in (event.pop("$defs"), envelope.pop("$defs")):
        for name, schema in definitions.items():
            # Both documents are generated from the same structs, so a shared name is the same
            # schema; anything else would make one of the two refer to the wrong definition.
            if schemas.setdefault(name, schema) != schema:
                raise ValueError(f"msgspec emitted two different schemas named {name}")
    schemas["Event"] = event
    # The envelope document is only a `$ref` to its own definition, which is now in `schemas`.
    return _rewrite_refs(schemas)


def _rewrite_refs(node: Any) -> Any:
    if isinstance(node, dict):
        rewritten = {key: _rewrite_refs(value) for key, value in node.items()}
        if isinstance(node.get("$ref"), str):
            rewritten["$ref"] = _component_ref(node["$ref"])
        mapping = node.get("discriminator", {}).get("mapping")
        if mapping:
            rewritten["discriminator"]["mapping"] = {
                tag: _component_ref(ref) for tag, ref in mapping.items()}
        return rewritten
    if isinstance(node, list):
        return [_rewrite_refs(item) for item in node]
    return node


def _component_ref(ref: str) -> str:
    if not ref.startswith(_MSGSPEC_DEFS):
        raise ValueError(f"unexpected reference {ref} in a msgspec schema")
    return _SCHEMAS + ref.removeprefix(_MSGSPEC_DEFS)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _SCHEMAS + name}


def _response_schemas() -> dict[str, Any]:
    count = {"type": "integer", "minimum": 0}
    return {
        "Error": {
            "description": "The error envelope of every failed request. A rejected batch (400) "
                           "adds `errors`, `accepted` and `rejected`; envelope-level problems "
                           "are reported at `index` -1.",
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message", "status", "requestId"],
                    "properties": {
                        "code": {"type": "string", "pattern": "^YAVIO-[0-9]{4}$"},
                        "message": {"type": "string"},
                        "status": {"type": "integer"},
                        "requestId": {"type": "string"},
                    },
                },
                "errors": {"type": "array", "items": _ref("EventIssues")},
                "accepted": count,
                "rejected": count,
            },
        },
        "EventIssues": {
            "description": "Why the event at `index` of the batch was rejected; each issue is "
                           "`<field>: <message>`.",
            "type": "object",
            "required": ["index", "issues"],
            "properties": {"index": {"type": "integer", "minimum": -1},
                           "issues": {"type": "array", "items": {"type": "string"}}},
        },
        "EventWarning": {
            "description": "A change made to an accepted event, e.g. a truncated field.",
            "type": "object",
            "required": ["index", "field", "warning"],
            "properties": {"index": count, "field": {"type": "string"},
                           "warning": {"type": "string"}},
        },
        "IngestResult": {
            "type": "object",
            "required": ["accepted", "rejected", "requestId"],
            "properties": {
                "accepted": count,
                "rejected": count,
                "errors": {"type": "array", "items": _ref("EventIssues")},
                "warnings": {"type": "array", "items": _ref("EventWarning")},
                "requestId": {"type": "string"},
            },
        },
        "WidgetTokenRequest": {
            "type": "object",
            "required": ["traceId", "sessionId"],
            "properties": {
                "traceId": {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS},
                "sessionId": {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS},
            },
        },
        "WidgetToken": {
            "type": "object",
            "required": ["token", "expiresAt"],
            "properties": {
                "token": {"type": "string",
                          "description": f"HS256 JWT, valid for {WIDGET_TOKEN_LIFETIME_S} s."},
                "expiresAt": {"type": "string", "description": "ISO-8601 UTC, ending in Z."},
            },
        },
        "Health": {
            "type": "object",
            "required": ["status", "postgres", "clickhouse"],
            "properties": {
                "status": {"enum": ["ok", "degraded"]},
                "postgres": {"enum": ["up", "down"]},
                "clickhouse": {"enum": ["up", "down"]},
            },
        },
        "Stats": {
            "type": "object",
            "required": ["events", "workspaces"],
            "properties": {"events": count, "workspaces": count},
        },
    }


_SECURITY_SCHEMES = {
    "ApiKey": {"type": "http", "scheme": "bearer", "bearerFormat": "yav_ + 64 hex digits",
               "description": "A project's API key, for server SDKs. Never accepted in the URL "
                              "or the body."},
    "WidgetToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                    "description": "A widget JWT from `POST /v1/widget-tokens`, scoped to one "
                                   "session."},
    "WidgetTokenQuery": {"type": "apiKey", "in": "query", "name": "token",
                         "description": "A widget JWT where headers cannot be set "
                                        "(`sendBeacon`); the envelope's `token` field works "
                                        "too. Only checked when there is no Authorization "
                                        "header."},
    "AccessToken": {"type": "http", "scheme": "bearer", "bearerFormat": "yat_…",
                    "description": "A user's access token, for the CLI."},
}

_REQUEST_ID_PARAMETER = {
    "name": "x-request-id", "in": "header", "required": False, "schema": {"type": "string"},
    "description": "Echoed in the response's `x-request-id`; one is generated when absent.",
}
_REQUEST_ID_HEADER = {"required": True, "schema": {"type": "string"},
                      "description": "The request's id, as sent or generated."}
_RETRY_AFTER_HEADER = {"required": True, "schema": {"type": "integer", "minimum": 1},
                       "description": "Whole seconds to wait before retrying."}
_CONTENT_ENCODING_PARAMETER = {
    "name": "Content-Encoding", "in": "header", "required": False,
    "schema": {"enum": ["gzip", "deflate", "identity"]},
    "description": f"The body's compression. A body over {MAX_BODY_BYTES} bytes (after "
                   "decompression) is refused with 413, any other encoding with 415.",
}


def _json_response(description: str, schema: dict[str, Any], *,
                   retry_after: bool = False) -> dict[str, Any]:
    headers = {"x-request-id": {"$ref": "#/components/headers/RequestId"}}
    if retry_after:
        headers["Retry-After"] = {"$ref": "#/components/headers/RetryAfter"}
    return {"description": description, "headers": headers,
            "content": {"application/json": {"schema": schema}}}


def _error_responses(codes: tuple[str, ...]) -> dict[str, Any]:
    """One response per status among `codes`, the `Error` envelope narrowed to those codes."""
    by_status: defaultdict[int, list[str]] = defaultdict(list)
    for code in codes:
        by_status[error_code(code).status].append(code)
    responses = {}
    for status, status_codes in sorted(by_status.items()):
        narrowed = {"properties": {"error": {"properties": {
            "code": {"enum": status_codes}, "status": {"const": status}}}}}
        description = "\n".join(f"- `{code}`: {error_code(code).message}"
                                for code in status_codes)
        responses[str(status)] = _json_response(
            description, {"allOf": [_ref("Error"), narrowed]},
            retry_after=status in _RETRY_AFTER_STATUSES)
    return responses


def _post_events() -> dict[str, Any]:
    return {
        "operationId": "ingestEvents",
        "summary": "Ingest a batch of events",
        "description": (
            f"1 to {MAX_EVENTS_PER_BATCH} events. Each event is validated on its own: valid "
            "ones are stored (PII redacted, oversized payloads truncated with a warning), "
            "invalid ones reported by their index in the batch. A `timestamp` more than "
            f"{MAX_AHEAD_HOURS} h ahead of the server's clock or older than its retention "
            "(`YAVIO_RETENTION_DAYS`, 90 days by default) is invalid, its issue naming "
            "`YAVIO-2115`. `workspace_id` and `project_id` come from the credential, never "
            "from the body."),
        "security": [{"ApiKey": []}, {"WidgetToken": []}, {"WidgetTokenQuery": []}],
        "parameters": [{"$ref": "#/components/parameters/RequestId"},
                       _CONTENT_ENCODING_PARAMETER],
        "requestBody": {"required": True,
                        "content": {"application/json": {"schema": _ref("Envelope")}}},
        "responses": {
            "200": _json_response("Every event was accepted.", {"allOf": [
                _ref("IngestResult"), {"properties": {"rejected": {"const": 0}}}]}),
            "207": _json_response("Some events were accepted, the others rejected.", {"allOf": [
                _ref("IngestResult"),
                {"required": ["errors"], "properties": {"rejected": {"minimum": 1}}}]}),
            **_error_responses(_EVENTS_CODES),
        },
    }


def _post_widget_tokens() -> dict[str, Any]:
    return {
        "operationId": "mintWidgetToken",
        "summary": "Mint a widget token for one trace and session",
        "security": [{"ApiKey": []}],
        "parameters": [{"$ref": "#/components/parameters/RequestId"},
                       _CONTENT_ENCODING_PARAMETER],
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": _ref("WidgetTokenRequest")}}},
        "responses": {
            "200": _json_response("The token and its expiry.", _ref("WidgetToken")),
            **_error_responses(_WIDGET_TOKEN_CODES),
        },
    }


def _get_health() -> dict[str, Any]:
    return {
        "operationId": "health",
        "summary": "Whether both stores answer",
        "description": (f"Never rate limited. ClickHouse counts as down too once the writer's "
                        f"inserts have failed for {STALLED_AFTER_S:g} s, even if it answers."),
        "security": [],
        "parameters": [{"$ref": "#/components/parameters/RequestId"}],
        "responses": {
            "200": _json_response("Postgres and ClickHouse are up.", _ref("Health")),
            "503": _json_response("Degraded: the body names the store that is down.",
                                  _ref("Health")),
        },
    }


def _get_stats() -> dict[str, Any]:
    return {
        "operationId": "stats",
        "summary": "Event counts over the caller's workspaces",
        "security": [{"AccessToken": []}],
        "parameters": [{"$ref": "#/components/parameters/RequestId"}],
        "responses": {
            "200": _json_response("The counts.", _ref("Stats")),
            **_error_responses(_STATS_CODES),
        },
    }


def _get_openapi() -> dict[str, Any]:
    return {
        "operationId": "openapi",
        "summary": "This document",
        "security": [],
        "parameters": [{"$ref": "#/components/parameters/RequestId"}],
        "responses": {"200": _json_response("OpenAPI 3.1.", {"type": "object"})},
    }


# -- the management API (docs/management-api.md) --------------------------------------------------

_AUTH = ("YAVIO-3000",)
_SCOPED = ("YAVIO-3000", "YAVIO-3003", "YAVIO-3004")  # in a workspace: role, and no-leak 404

# (method, path, operationId, summary, request body schema, success status, success schema,
#  error codes). A `{name}` in a path is a UUID.
_MANAGEMENT = (
    ("get", "/v1/me", "me", "The caller and their workspaces", None, 200, "Me", _AUTH),
    ("get", "/v1/workspaces", "listWorkspaces", "The caller's workspaces", None, 200,
     "WorkspaceList", _AUTH),
    ("post", "/v1/workspaces", "createWorkspace", "Create a workspace owned by the caller",
     "NameAndSlug", 201, "Workspace", (*_AUTH, "YAVIO-3009", "YAVIO-3010")),
    ("delete", "/v1/workspaces/{workspace}", "deleteWorkspace",
     "Delete a workspace and erase its events (owner)", None, 204, None, _SCOPED),
    ("get", "/v1/workspaces/{workspace}/projects", "listProjects", "A workspace's projects",
     None, 200, "ProjectList", _SCOPED),
    ("post", "/v1/workspaces/{workspace}/projects", "createProject", "Create a project (member)",
     "NameAndSlug", 201, "Project", (*_SCOPED, "YAVIO-3009", "YAVIO-3010")),
    ("delete", "/v1/projects/{project}", "deleteProject",
     "Delete a project and erase its events (owner)", None, 204, None, _SCOPED),
    ("get", "/v1/projects/{project}/keys", "listKeys", "A project's API keys (prefixes only)",
     None, 200, "ApiKeyList", _SCOPED),
    ("post", "/v1/projects/{project}/keys", "createKey",
     "Create an API key (member); the raw key is in this answer only", "KeyRequest", 201,
     "NewApiKey", (*_SCOPED, "YAVIO-3010")),
    ("delete", "/v1/projects/{project}/keys/{key}", "revokeKey", "Revoke an API key (member)",
     None, 200, "ApiKey", _SCOPED),
    ("post", "/v1/projects/{project}/keys/{key}/rotate", "rotateKey",
     "Replace an API key (member); the old one works for graceSeconds more", "RotateRequest",
     201, "RotatedApiKey", (*_SCOPED, "YAVIO-3010")),
    ("get", "/v1/workspaces/{workspace}/members", "listMembers", "A workspace's members", None,
     200, "MemberList", _SCOPED),
    ("patch", "/v1/workspaces/{workspace}/members/{user}", "setRole",
     "Change a member's role (admin; owners by an owner)", "RoleChange", 200, "RoleChanged",
     (*_SCOPED, "YAVIO-3010", "YAVIO-3012")),
    ("delete", "/v1/workspaces/{workspace}/members/{user}", "removeMember",
     "Remove a member (admin)", None, 204, None, (*_SCOPED, "YAVIO-3012")),
    ("post", "/v1/workspaces/{workspace}/invitations", "invite",
     "Invite someone by email (admin); the raw token is in this answer only",
     "InvitationRequest", 201, "NewInvitation", (*_SCOPED, "YAVIO-3010")),
    ("post", "/v1/invitations/accept", "acceptInvitation",
     "Accept an invitation, signed in or as the invited email (then with a new access token)",
     "AcceptRequest", 200, "AcceptedInvitation", ("YAVIO-3000", "YAVIO-3010", "YAVIO-3011")),
    ("get", "/v1/workspaces/{workspace}/usage", "usage",
     "Events per project this month (or ?month=YYYY-MM) and the plan's quota", None, 200,
     "Usage", (*_SCOPED, "YAVIO-3010")),
    ("patch", "/v1/workspaces/{workspace}/plan", "setPlan",
     "Change the plan and monthly event quota (owner)", "PlanChange", 200, "Workspace",
     (*_SCOPED, "YAVIO-3010")),
    ("get", "/v1/tokens", "listTokens", "The caller's access tokens", None, 200,
     "AccessTokenList", _AUTH),
    ("post", "/v1/tokens", "createToken",
     "Create an access token; the raw token is in this answer only", "TokenRequest", 201,
     "NewAccessToken", (*_AUTH, "YAVIO-3010")),
    ("delete", "/v1/tokens/{token}", "revokeToken", "Revoke one of the caller's access tokens",
     None, 200, "AccessToken", (*_AUTH, "YAVIO-3004")),
)


def _management_paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for method, path, operation_id, summary, body, status, answer, codes in _MANAGEMENT:
        parameters: list[Any] = [{"$ref": "#/components/parameters/RequestId"}]
        parameters += [{"name": name, "in": "path", "required": True,
                        "schema": {"type": "string", "format": "uuid"}}
                       for name in _path_names(path)]
        success = ({"description": "Done.", "headers": {
            "x-request-id": {"$ref": "#/components/headers/RequestId"}}} if answer is None
            else _json_response("Done.", _ref(answer)))
        operation: dict[str, Any] = {
            "operationId": operation_id, "summary": summary,
            "security": [{"AccessToken": []}],
            "parameters": parameters,
            "responses": {str(status): success, **_error_responses(codes)},
        }
        if operation_id == "acceptInvitation":  # signed in, or as the invited email
            operation["security"] = [{"AccessToken": []}, {}]
        if body is not None:
            operation["requestBody"] = {
                "required": body in ("NameAndSlug", "RoleChange", "InvitationRequest",
                                     "AcceptRequest", "PlanChange"),
                "content": {"application/json": {"schema": _ref(body)}}}
        paths.setdefault(path, {})[method] = operation
    return paths


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _management_schemas() -> dict[str, Any]:
    text = {"type": "string"}
    time_or_null = {"type": ["string", "null"], "description": "ISO-8601 UTC, ending in Z."}
    uuid_ = {"type": "string", "format": "uuid"}
    role = {"enum": ["owner", "admin", "member", "viewer"]}
    count = {"type": "integer", "minimum": 0}

    def obj(required: list[str], **properties: Any) -> dict[str, Any]:
        return {"type": "object", "required": required, "properties": properties}

    def listing(field: str, item: str) -> dict[str, Any]:
        return obj([field], **{field: {"type": "array", "items": _ref(item)}})

    key = obj(["id", "projectId", "name", "prefix", "createdAt", "lastUsedAt", "revokedAt"],
              id=uuid_, projectId=uuid_, name=text, prefix=text, createdAt=text,
              lastUsedAt=time_or_null, revokedAt=time_or_null)
    token = obj(["id", "name", "prefix", "createdAt", "expiresAt", "lastUsedAt", "revokedAt"],
                id=uuid_, name=text, prefix=text, createdAt=text, expiresAt=time_or_null,
                lastUsedAt=time_or_null, revokedAt=time_or_null)
    return {
        "User": obj(["id", "email", "name"], id=uuid_, email=text, name=text),
        "Workspace": obj(["id", "name", "slug", "role", "plan", "monthlyEventQuota"],
                         id=uuid_, name=text, slug=text, role={"anyOf": [role, {"type": "null"}]},
                         plan=text,
                         monthlyEventQuota={"type": ["integer", "null"], "minimum": 0}),
        "WorkspaceList": listing("workspaces", "Workspace"),
        "Me": obj(["user", "workspaces"], user=_ref("User"),
                  workspaces={"type": "array", "items": _ref("Workspace")}),
        "Project": obj(["id", "workspaceId", "name", "slug", "createdAt"], id=uuid_,
                       workspaceId=uuid_, name=text, slug=text, createdAt=text),
        "ProjectList": listing("projects", "Project"),
        "NameAndSlug": obj(["name"], name={"type": "string", "minLength": 1, "maxLength": 256},
                           slug={"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,47}$"}),
        "ApiKey": key,
        "ApiKeyList": listing("keys", "ApiKey"),
        "NewApiKey": {"allOf": [_ref("ApiKey"), obj(["key"], key={
            "type": "string", "description": "The raw key (yav_…): shown only here."})]},
        "RotatedApiKey": {"allOf": [_ref("NewApiKey"), obj(["replaces"],
                                                           replaces=_ref("ApiKey"))]},
        "KeyRequest": obj([], name={"type": "string", "maxLength": 256}),
        "RotateRequest": obj([], graceSeconds={"type": "integer", "minimum": 0,
                                               "maximum": 30 * 86_400, "default": 86_400}),
        "Member": obj(["userId", "email", "name", "role"], userId=uuid_, email=text, name=text,
                      role=role),
        "MemberList": listing("members", "Member"),
        "RoleChange": obj(["role"], role=role),
        "RoleChanged": obj(["userId", "role"], userId=uuid_, role=role),
        "InvitationRequest": obj(["email"], email=text,
                                 role={"enum": ["admin", "member", "viewer"]}),
        "NewInvitation": obj(["token", "email", "role", "workspaceId", "expiresAt"],
                             token={"type": "string",
                                    "description": "yvi_…, shown only here; valid 7 days."},
                             email=text, role=role, workspaceId=uuid_, expiresAt=text),
        "AcceptRequest": obj(["token"], token=text, name={"type": "string", "maxLength": 256}),
        "AcceptedInvitation": obj(["workspace", "role", "user"], workspace=_ref("Workspace"),
                                  role=role, user=_ref("User"),
                                  accessToken={"type": "string",
                                               "description": "For a caller who was not "
                                                              "signed in: yat_…, shown once."}),
        "AccessToken": token,
        "AccessTokenList": listing("tokens", "AccessToken"),
        "NewAccessToken": {"allOf": [_ref("AccessToken"), obj(["token"], token={
            "type": "string", "description": "The raw token (yat_…): shown only here."})]},
        "Usage": obj(["month", "workspace", "projects"], month=text,
                     workspace={"allOf": [_ref("Workspace"), obj(["events"], events=count)]},
                     projects={"type": "array", "items": obj(
                         ["id", "slug", "name", "events"], id=uuid_, slug=text, name=text,
                         events=count)}),
        "PlanChange": obj([], plan={"enum": ["self-hosted", "community"]},
                          monthlyEventQuota={"type": ["integer", "null"], "minimum": 0}),
        "TokenRequest": obj([], name={"type": "string", "maxLength": 256},
                            expiresInDays={"type": "integer", "minimum": 1, "maximum": 3650}),
    }


# -- the read API ----------------------------------------------------------------------------

_RANGE_PARAMETERS = [
    {"name": "from", "in": "query", "required": False,
     "schema": {"type": "string", "format": "date-time"},
     "description": "Start, ISO-8601 (UTC without an offset); default: 7 days before `to`."},
    {"name": "to", "in": "query", "required": False,
     "schema": {"type": "string", "format": "date-time"},
     "description": "End (exclusive); default: now. At most three years after `from`."},
    {"name": "platform", "in": "query", "required": False, "explode": True,
     "schema": {"type": "array", "items": {"type": "string"}},
     "description": "Only these platforms (repeat, or comma-separate)."},
]


def _limit_parameter(maximum: int, default: int, items: str) -> dict[str, Any]:
    """The `limit` query parameter of a list."""
    return {"name": "limit", "in": "query", "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": maximum, "default": default},
            "description": f"At most this many {items} ({maximum:,} at most)."}


def _project_view(operation_id: str, summary: str, required: list[str],
                  arrays: tuple[str, ...], extra: list[dict[str, Any]] | None = None,
                  ) -> dict[str, Any]:
    """A read operation on one project (the `project` path parameter), over a time range
    unless `extra` replaces the range parameters."""
    return {
        "operationId": operation_id,
        "summary": summary,
        "security": [{"AccessToken": []}],
        "parameters": [{"$ref": "#/components/parameters/RequestId"},
                       {"name": "project", "in": "path", "required": True,
                        "schema": {"type": "string", "format": "uuid"}},
                       *(_RANGE_PARAMETERS if extra is None else extra)],
        "responses": {
            "200": _json_response("The view.", {
                "type": "object", "required": required,
                "properties": {name: {"type": "array", "items": {"type": "object"}}
                               for name in arrays}}),
            **_error_responses(("YAVIO-3000", "YAVIO-3003", "YAVIO-3004", "YAVIO-3010")),
        },
    }


def _get_overview() -> dict[str, Any]:
    return _project_view(
        "overview", "A project's KPIs (with the previous period's), platform mix, top tools "
        "and invocations per bucket (hour up to 2 days, day up to 60, week up to 184, else "
        "month; zero-filled)",
        ["range", "kpis", "platforms", "topTools", "series"],
        ("platforms", "topTools", "series"))


def _get_errors() -> dict[str, Any]:
    return _project_view(
        "errors", "A project's failed tool calls: totals, by category and by tool, per bucket "
        "(zero-filled) and the latest 20 with their trace",
        ["invocations", "errors", "errorRate", "byCategory", "byTool", "series", "recent"],
        ("byCategory", "byTool", "series", "recent"))


def _get_intents() -> dict[str, Any]:
    return _project_view(
        "intents", "Why agents call the tools: calls with an intent and the coverage per tool, "
        "and the latest 20 intents with their trace",
        ["invocations", "withIntent", "coverage", "byTool", "latest"], ("byTool", "latest"))


def _export_events() -> dict[str, Any]:
    parameters = [
        *_RANGE_PARAMETERS,
        {"name": "type", "in": "query", "required": False, "explode": True,
         "schema": {"type": "array", "items": {"enum": list(EVENT_TYPES)}},
         "description": "Only these event types (repeat, or comma-separate); default: all."},
        {"name": "after", "in": "query", "required": False, "schema": {"type": "string"},
         "description": "The previous page's `next` cursor; leave out for the first page."},
        _limit_parameter(MAX_LIMIT, DEFAULT_LIMIT, "events")]
    operation = _project_view(
        "exportEvents", "The raw events of a range, deduplicated, oldest first, a page at a "
        "time: follow `next` until it is null",
        ["events", "next", "total"], ("events",), parameters)
    operation["description"] = (
        "Each event has every column of the `events` table but `workspace_id`, under its "
        "snake_case wire name: JSON payloads as JSON, absent optional fields as null, "
        "timestamps as ISO-8601 UTC. Pages are ordered by (timestamp, event_id) and the cursor "
        "is the last event's, so no event is skipped or repeated at a page boundary. Send the "
        "same range with every page.")
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    schema["properties"].update(
        events={"type": "array", "items": {"type": "object", "required": list(COLUMNS)}},
        next={"type": ["string", "null"],
              "description": "The cursor of the following page; null on the last page."},
        total={"type": ["integer", "null"], "minimum": 0,
               "description": "The range's event count, on the first page only."})
    return operation


def _list_traces() -> dict[str, Any]:
    filters = [{"name": name, "in": "query", "required": False, "schema": schema,
                "description": description} for name, schema, description in (
        ("session", {"type": "string"}, "Only this session's traces."),
        ("user", {"type": "string"}, "Only traces with an event of this user."),
        ("tool", {"type": "string"}, "Only calls of this tool."),
        ("status", {"enum": ["success", "error"]}, "Only calls that succeeded, or failed."))]
    return _project_view("listTraces", "The latest tool-call traces of a range, newest first",
                         ["traces"], ("traces",),
                         [*_RANGE_PARAMETERS, *filters, _limit_parameter(200, 50, "traces")])


def _list_sessions() -> dict[str, Any]:
    filters = [
        {"name": "user", "in": "query", "required": False, "schema": {"type": "string"},
         "description": "Only the sessions with an event of this user."},
        _limit_parameter(200, 50, "sessions in the list")]
    return _project_view(
        "listSessions", "Sessions: count, identified and anonymous, average duration and tool "
        "calls (with the previous period's), sessions started per bucket (zero-filled) and "
        "the latest sessions with their figures, newest first",
        ["range", "kpis", "series", "sessions"], ("series", "sessions"),
        [*_RANGE_PARAMETERS, *filters])


def _get_users() -> dict[str, Any]:
    return _project_view(
        "users", "Identified users: DAU/WAU/MAU at the range's end and per day, new vs "
        "returning per bucket, retention cohorts (by day up to 60 days, else by week; 8 "
        "periods at most), anonymous sessions and the 50 most active users",
        ["range", "activeUsers", "series", "newVsReturning", "retention", "anonymousSessions",
         "users"], ("series", "newVsReturning", "users"))


def _get_user() -> dict[str, Any]:
    parameters = [
        {"name": "user", "in": "path", "required": True,
         "schema": {"type": "string", "minLength": 1},
         "description": "The user's id (`user_id`), percent-encoded."},
        *_RANGE_PARAMETERS,
        _limit_parameter(500, 100, "events (and 200 sessions) in the lists")]
    return _project_view(
        "userTimeline", "One user's sessions and events in the range, newest first, with "
        "totals; 404 for a user the project has no event of",
        ["userId", "firstSeen", "lastSeen", "totals", "sessions", "events"],
        ("sessions", "events"), parameters)


def _list_tools() -> dict[str, Any]:
    return _project_view(
        "listTools", "Per tool called in the range: calls, errors, success and error rates, "
        "p50/p95 latency and the last call, most called first; and the registered tools "
        "without a call in the range (and platforms)", ["tools", "neverCalled"],
        ("tools", "neverCalled"))


def _get_tool() -> dict[str, Any]:
    name = {"name": "tool", "in": "path", "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": 256},
            "description": "The tool's name, percent-encoded."}
    return _project_view(
        "toolDetail", "One tool: description, input schema, calls, errors, p50/p95/p99 "
        "latency, a latency histogram, figures per bucket (zero-filled), error categories and "
        "the latest 20 calls with their trace's custom events; 404 for a tool the project "
        "neither registered nor ever called",
        ["name", "description", "inputSchema", "invocations", "errors", "errorRate",
         "latencyHistogram", "series", "errorCategories", "recent"],
        ("latencyHistogram", "series", "errorCategories", "recent"),
        [name, *_RANGE_PARAMETERS])


def _get_funnel() -> dict[str, Any]:
    parameters = [
        *_RANGE_PARAMETERS,
        {"name": "step", "in": "query", "required": True, "explode": True,
         "schema": {"type": "array", "minItems": MIN_STEPS, "maxItems": MAX_STEPS,
                    "items": {"type": "string",
                              "pattern": f"^({'|'.join(EVENT_TYPES)})(:.+)?$"}},
         "description": f"The steps in order, {MIN_STEPS} to {MAX_STEPS} (repeat): `type` "
                        "(any event of that event type) or `type:name`, e.g. "
                        "`tool_call:search_rooms`, `step:room_selected`, `widget_response`, "
                        "`conversion:booking_completed`."},
        {"name": "by", "in": "query", "required": False,
         "schema": {"enum": ["trace", "session"], "default": "trace"},
         "description": "Who goes through the funnel: a trace (one tool call and its events) "
                        "or a session."},
        {"name": "window", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 1, "maximum": MAX_WINDOW_S,
                    "default": DEFAULT_WINDOW_S},
         "description": "Seconds from the first step within which every later step must "
                        "happen (30 days at most)."},
        {"name": "split", "in": "query", "required": False, "schema": {"enum": ["platform"]},
         "description": "Also count the entries of each step per platform (`byPlatform`)."}]
    operation = _project_view(
        "funnel", "How many traces (or sessions) went through the steps in order within the "
        "window: entries, conversion and drop-off per step, with examples of those that "
        "dropped", ["by", "window", "steps", "overallConversion"], ("steps", "byPlatform"),
        parameters)
    operation["description"] = (
        "Steps follow the flow order of a trace, not raw timestamps: a tool call counts from "
        "its start (timestamp minus latency), and within one millisecond the tool call comes "
        "first, then the server's events, the widget response, the widget's events (steps by "
        "step_sequence) and conversions. One event fills one step only. Each step has "
        "`spec`, `entered`, `conversionFromStart`, `conversionFromPrevious`, `droppedHere` "
        f"(entered the previous step, not this one) and `droppedSamples` (up to "
        f"{DROPPED_SAMPLES} of those ids).")
    return operation


def _get_paths() -> dict[str, Any]:
    limit = _limit_parameter(MAX_TRANSITIONS, DEFAULT_TRANSITIONS, "transitions")
    operation = _project_view(
        "paths", "The most frequent tool → tool transitions within a session, with the "
        f"session's start and end as `{START}` and `{END}`, most frequent first",
        ["sessions", "transitions", "paths"], ("paths",), [*_RANGE_PARAMETERS, limit])
    operation["description"] = (
        "Each session's tool calls in the range, ordered by when they started; every two "
        "consecutive calls are one transition. Each path is `{from, to, count, share}`, "
        "`share` of all `transitions`; `sessions` counts the sessions with a tool call.")
    return operation


def _get_trace() -> dict[str, Any]:
    return {
        "operationId": "trace",
        "summary": "One trace's server and widget events in flow order (the tool call, the "
                   "server's events, the widget response, the widget's events, conversions; "
                   "steps by step_sequence within a millisecond)",
        "security": [{"AccessToken": []}],
        "parameters": [{"$ref": "#/components/parameters/RequestId"},
                       {"name": "project", "in": "path", "required": True,
                        "schema": {"type": "string", "format": "uuid"}},
                       {"name": "trace", "in": "path", "required": True,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 128}}],
        "responses": {
            "200": _json_response("The trace.", {
                "type": "object", "required": ["traceId", "sessionId", "events"],
                "properties": {"traceId": {"type": "string"}, "sessionId": {"type": "string"},
                               "userId": {"type": ["string", "null"]},
                               "platform": {"type": ["string", "null"]},
                               "events": {"type": "array", "items": {"type": "object"}}}}),
            **_error_responses(("YAVIO-3000", "YAVIO-3003", "YAVIO-3004")),
        },
    }


def _get_live() -> dict[str, Any]:
    return {
        "operationId": "live",
        "summary": "A project's events as the ingest accepts them (Server-Sent Events)",
        "description": (
            "A `text/event-stream` that stays open. `: connected` opens it; then one message "
            "per event: `id:` its event_id, `event:` its event_type, `data:` the event as "
            "stored (snake_case fields as sent, with `project_id` and `ingested_at`, empty "
            "columns left out, no `workspace_id`). `: ping` after every "
            f"{HEARTBEAT_S:.0f} s of silence; `event: dropped` with `data: {{\"dropped\": N}}` "
            "when a reader too slow to keep up lost N events. Events from the moment of "
            "subscription on; across replicas, polled from ClickHouse, only events whose "
            f"timestamp is within the last {POLL_RECENT_S // 60} minutes. At most "
            f"{MAX_STREAMS_PER_PROJECT} streams per project on one server."),
        "security": [{"AccessToken": []}],
        "parameters": [{"$ref": "#/components/parameters/RequestId"},
                       {"name": "project", "in": "path", "required": True,
                        "schema": {"type": "string", "format": "uuid"}},
                       {"name": "type", "in": "query", "required": False, "explode": True,
                        "schema": {"type": "array", "items": {"enum": list(EVENT_TYPES)}},
                        "description": "Only these event types (repeat, or comma-separate)."}],
        "responses": {
            "200": {"description": "The stream, until the client or the server closes it.",
                    "headers": {"x-request-id": {"$ref": "#/components/headers/RequestId"}},
                    "content": {"text/event-stream": {"schema": {"type": "string"}}}},
            **_error_responses(("YAVIO-3000", "YAVIO-3004", "YAVIO-3010", "YAVIO-3050")),
        },
    }


def _run_query() -> dict[str, Any]:
    column = {"type": "object", "required": ["name", "type"],
              "properties": {"name": {"type": "string"},
                             "type": {"type": "string", "description": "A ClickHouse type."}}}
    return {
        "operationId": "runQuery",
        "summary": "Run one read-only SELECT over the project's own events",
        "description": (
            "`events` (deduplicated) and `tool_registry` (the latest registration of each "
            "tool) hold only this project's rows, in every subquery, JOIN, UNION and CTE; no "
            "other table, no table function, no SETTINGS, FORMAT or INTO OUTFILE. Limits: "
            f"{TIMEOUT_S} s, 50 M rows read, 1 GB of memory. Values are ClickHouse's JSON: "
            "times ISO-8601 UTC, NaN and infinities null."),
        "security": [{"AccessToken": []}],
        "parameters": [{"$ref": "#/components/parameters/RequestId"},
                       {"name": "project", "in": "path", "required": True,
                        "schema": {"type": "string", "format": "uuid"}}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["sql"],
            "properties": {
                "sql": {"type": "string", "minLength": 1, "maxLength": MAX_SQL_CHARS,
                        "description": "One SELECT; e.g. `SELECT event_name, count() FROM "
                                       "events GROUP BY event_name`."},
                "maxRows": {"type": "integer", "minimum": 1, "maximum": MAX_ROWS,
                            "default": DEFAULT_ROWS}}}}}},
        "responses": {
            "200": _json_response("The rows, at most maxRows.", {
                "type": "object", "required": ["columns", "rows", "truncated", "elapsedMs"],
                "properties": {
                    "columns": {"type": "array", "items": column},
                    "rows": {"type": "array", "items": {"type": "array"}},
                    "truncated": {"type": "boolean",
                                  "description": "More rows than maxRows: the rest left out."},
                    "elapsedMs": {"type": "number", "minimum": 0}}}),
            **_error_responses(("YAVIO-3000", "YAVIO-3003", "YAVIO-3004", "YAVIO-3010",
                                "YAVIO-3060", "YAVIO-3061")),
        },
    }
