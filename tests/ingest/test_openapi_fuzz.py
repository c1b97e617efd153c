"""`GET /openapi.json` describes every route the server serves (the ingest, read and management
APIs), and the real server keeps to it under fuzzing.

The fuzzer is schemathesis, reading the document the server serves: it generates requests that
follow the document and requests that break it, sends them with a real API key and access token
to a real server (real Postgres and chdb), and checks every answer against the document. A 5xx,
an undocumented status, or a body or header that contradicts the document fails the test.
"""

from __future__ import annotations

import asyncio
import gzip
import re
import time
import zlib
from functools import partial
from typing import Any

import httpx
import jsonschema_rs
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.ingest.conftest import IngestServer
from yavio_sdk.events import format_timestamp, json_schema

# aiohttp answers HEAD for every GET route by itself; HEAD is GET without a body (RFC 9110), so
# the document describes the GET only.
_IMPLICIT_METHODS = {"HEAD"}

# (path, method, generation mode, examples): 1,020 requests in all. On 2 cores, generating an event
# batch takes ~70 ms (measured), sending it ~5 ms, a whole widget-token request ~10 ms: this split
# keeps the test under a minute. Negative cases break the document on purpose (wrong types,
# missing fields, bad credentials, unknown encodings); the answer must still be documented.
_PLAN = [
    ("/v1/events", "POST", GenerationMode.POSITIVE, 320),
    ("/v1/events", "POST", GenerationMode.NEGATIVE, 160),
    ("/v1/widget-tokens", "POST", GenerationMode.POSITIVE, 300),
    ("/v1/widget-tokens", "POST", GenerationMode.NEGATIVE, 150),
    ("/v1/stats", "GET", GenerationMode.POSITIVE, 30),
    ("/health", "GET", GenerationMode.POSITIVE, 30),
    ("/openapi.json", "GET", GenerationMode.POSITIVE, 30),
]
# Every other documented route (the read and management APIs, 36 operations): this many
# requests that follow the document and this many that break it, 504 in all. They add ~10 s to
# the test on 2 cores (measured: 38 s before, 48 s after).
_OTHER_ROUTE_EXAMPLES = {GenerationMode.POSITIVE: 10, GenerationMode.NEGATIVE: 4}
_MIN_REQUESTS = 1_400

_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
           response_headers_conformance, response_schema_conformance]

# The document lets a request say `Content-Encoding: gzip` (or deflate); schemathesis picks the
# header but sends the body as is. Compressing it here, as a real client does, keeps those requests
# on the path they document instead of all ending as "corrupt body" 400s.
_COMPRESSORS = {"gzip": gzip.compress, "deflate": zlib.compress}

# The SDK's timestamp pattern admits impossible instants (month 72, hour 88), which the server
# rightly rejects; left alone, nearly every generated batch would stop at validation.
_TIMESTAMP_SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z")


@pytest.fixture
async def document(ingest_server: IngestServer) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{ingest_server.url}/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    schemathesis.openapi.from_dict(document).validate()
    # The OpenAPI meta-schema leaves Schema Objects alone; each must be valid JSON Schema 2020-12.
    for name, schema in document["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name


def test_the_document_lists_every_route_the_server_serves(
        ingest_server: IngestServer, document: dict[str, Any]) -> None:
    served = {(route.method, route.resource.canonical)
              for route in ingest_server.app.router.routes()
              if route.method not in _IMPLICIT_METHODS}
    documented = {(method.upper(), path) for path, item in document["paths"].items()
                  for method in item}
    assert documented == served


def test_the_event_schemas_are_the_sdks_own_and_every_reference_resolves(
        document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    sdk = json_schema("event")
    assert schemas["ToolCallEvent"] == sdk["$defs"]["ToolCallEvent"]
    assert set(sdk["$defs"]) < set(schemas)
    assert schemas["Event"]["discriminator"]["mapping"]["tool_call"] == (
        "#/components/schemas/ToolCallEvent")
    body = document["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/Envelope"}
    for reference in _references(document):
        assert reference.startswith("#/components/"), reference
        _, _, kind, name = reference.split("/")
        assert name in document["components"][kind], reference


def test_every_error_response_documents_the_envelope_and_retry_after(
        document: dict[str, Any]) -> None:
    events = document["paths"]["/v1/events"]["post"]["responses"]
    assert set(events) == {"200", "207", "400", "401", "413", "415", "429", "503"}
    for status in ("400", "401", "413", "415", "429", "503"):
        schema = events[status]["content"]["application/json"]["schema"]
        assert schema["allOf"][0] == {"$ref": "#/components/schemas/Error"}
    assert "Retry-After" in events["429"]["headers"] and "Retry-After" in events["503"]["headers"]
    assert "Retry-After" not in events["400"]["headers"]
    batch_error = document["components"]["schemas"]["Error"]["properties"]
    assert {"error", "errors", "accepted", "rejected"} <= set(batch_error)


async def test_fuzzed_requests_never_get_a_server_error_or_an_undocumented_answer(
        ingest_server: IngestServer) -> None:
    owner = ingest_server.postgres.users.first_owner()
    access_token, _ = ingest_server.postgres.access_tokens.create(owner.id, "fuzz")
    config = schemathesis.Config.from_dict({"auth": {"openapi": {
        "ApiKey": {"bearer": ingest_server.api_key},
        "AccessToken": {"bearer": access_token},
    }}})
    # The requests are blocking and the server runs on this event loop: fuzz from a thread.
    tenant = {"workspace": ingest_server.workspace_id, "project": ingest_server.project_id}
    sent = await asyncio.to_thread(_fuzz, f"{ingest_server.url}/openapi.json", config, tenant)
    assert sent >= _MIN_REQUESTS

    # Every acknowledged event reaches ClickHouse: nothing the validator let through is refused
    # by the store (which would leave the writer retrying it forever).
    ingest = ingest_server.ingest
    deadline = time.monotonic() + 10
    while ingest.spool.pending_bytes and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert ingest.writer.failing_since is None
    assert ingest.spool.pending_bytes == 0
    assert ingest_server.stored() > 0


class CompressingSession(requests.Session):
    """Sends the body compressed when the request's Content-Encoding names gzip or deflate."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        compress = _COMPRESSORS.get(request.headers.get("Content-Encoding", ""))
        if compress is not None and request.body is not None:
            body = request.body.encode() if isinstance(request.body, str) else request.body
            request.body = compress(body)
            request.headers["Content-Length"] = str(len(request.body))
        return super().send(request, **kwargs)


def _fuzz(url: str, config: schemathesis.Config, tenant: dict[str, str]) -> int:
    """Send the planned requests, then some to every other documented route, and check each
    answer; returns how many were sent."""
    schema = schemathesis.openapi.from_url(url, config=config)
    schema.hook("map_body")(_possible_timestamps)
    schema.hook("flatmap_path_parameters")(partial(_sometimes_the_real_tenant, tenant))
    planned = {(path, method) for path, method, _, _ in _PLAN}
    others = [(path, method.upper(), mode, examples)
              for path, item in schema.raw_schema["paths"].items() for method in item
              if (path, method.upper()) not in planned
              for mode, examples in _OTHER_ROUTE_EXAMPLES.items()]
    sent = 0
    with CompressingSession() as session:
        for path, method, mode, examples in _PLAN + others:
            # Derandomized: the same requests on every run, so a failure in CI reproduces.
            @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                      phases=[Phase.generate, Phase.shrink],
                      suppress_health_check=list(HealthCheck))
            @given(case=schema[path][method].as_strategy(generation_mode=mode))
            def send(case: schemathesis.Case) -> None:
                nonlocal sent
                response = case.call(session=session)
                sent += 1
                case.validate_response(response, checks=_CHECKS)

            send()
    return sent


def _sometimes_the_real_tenant(tenant: dict[str, str], context: schemathesis.HookContext,
                               parameters: dict[str, Any] | None
                               ) -> st.SearchStrategy[dict[str, Any] | None]:
    """A made-up workspace or project id only ever reaches the 404; half the reads name the
    fixture's own instead, so their answers (and their schemas) are checked too. Not for writes
    (a DELETE would remove what the rest depends on) nor the live stream (it never ends)."""
    operation = context.operation
    named = {name: value for name, value in tenant.items() if name in (parameters or {})}
    if not named or operation.method.upper() != "GET" or operation.path.endswith("/live"):
        return st.just(parameters)
    return st.sampled_from([parameters, {**parameters, **named}])


def _possible_timestamps(context: schemathesis.HookContext, body: Any) -> Any:
    """Give every event whose timestamp has the right shape the current time, so the fuzzer gets
    past validation (a shape naming no real instant is refused) to redaction, truncation and
    storage, and its events land in this month's partition as real traffic does. Spread over
    random years, each would open a partition of its own in the store the whole test session
    shares, and every later erase there pays per part (30 s and more after this test)."""
    events = body.get("events") if isinstance(body, dict) else None
    for event in events if isinstance(events, list) else ():
        timestamp = event.get("timestamp") if isinstance(event, dict) else None
        if isinstance(timestamp, str) and _TIMESTAMP_SHAPE.fullmatch(timestamp):
            event["timestamp"] = format_timestamp()
    return body


def _references(node: Any) -> list[str]:
    """Every `$ref` and discriminator mapping target in a document."""
    if isinstance(node, list):
        return [ref for item in node for ref in _references(item)]
    if not isinstance(node, dict):
        return []
    found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
    discriminator = node.get("discriminator")
    if isinstance(discriminator, dict):
        found += list(discriminator.get("mapping", {}).values())
    return found + [ref for value in node.values() for ref in _references(value)]
