"""The ingestion contract (SPEC section 1), one test per row, as a client sees it.

Every test talks HTTP to a real server on a loopback port (real embedded Postgres, real chdb) and
asserts the status, the `YAVIO-*` code and the body shape; what lands in storage is read back from
ClickHouse or the spool.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import logging
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import httpx
import jwt
import pytest

from tests.conftest import TEST_SECRET, PostgresServer
from tests.ingest.conftest import (
    IngestServer,
    ingest_settings,
    make_event,
    start_ingest_server,
)
from yavio_ingest.app import SETTINGS
from yavio_ingest.credentials import credential_hash, display_prefix
from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_ingest.store.postgres import PostgresStore

MAX_BODY_BYTES = 512_000
MAX_EVENT_BYTES = 51_200
SUFFIX = "... [truncated]"
ORIGIN = "https://widget.example.org"


# --- fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def postgres_store(postgres_server: PostgresServer) -> Iterator[PostgresStore]:
    """One database for the module. Each test still gets its own server, spool, limiters, key
    cache, workspace, project and key; a database per test would cost a third of a second each."""
    store = PostgresStore(postgres_server.new_database(), TEST_SECRET)
    store.migrate()
    yield store
    store.close()


@pytest.fixture
async def server_with_its_own_database(postgres_server: PostgresServer,
                                       clickhouse_store: ClickHouseStore,
                                       tmp_path: Path) -> AsyncIterator[IngestServer]:
    """A server whose Postgres a test may take down without harming the others."""
    store = PostgresStore(postgres_server.new_database(), TEST_SECRET)
    store.migrate()
    server, test_server = await start_ingest_server(store, clickhouse_store,
                                                    ingest_settings(tmp_path))
    yield server
    await test_server.close()
    store.close()


# --- helpers ---------------------------------------------------------------------------------

def tuned(**overrides: Any) -> pytest.MarkDecorator:
    """Run the test against a server with these settings."""
    return pytest.mark.parametrize("settings_overrides", [overrides], ids=["tuned"])


def compact(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def batch(*events: dict[str, Any], **envelope: Any) -> bytes:
    return compact({"events": list(events), **envelope})


async def post(server: IngestServer, body: bytes, headers: dict[str, str] | None = None, *,
               path: str = "/v1/events", params: dict[str, str] | None = None
               ) -> httpx.Response:
    """POST raw bytes; `headers` replace the API key header entirely when given."""
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(f"{server.url}{path}", content=body, params=params,
                                 headers=server.headers() if headers is None else headers)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def retry_after(response: httpx.Response) -> int:
    value = response.headers.get("Retry-After", "")
    assert re.fullmatch(r"[1-9][0-9]*", value), f"Retry-After must be whole seconds: {value!r}"
    return int(value)


def assert_error(response: httpx.Response, status: int, code: str,
                 extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """The error envelope `{error: {code, message, status, requestId}}` plus `extra` keys."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", *extra}, body
    error = body["error"]
    assert set(error) == {"code", "message", "status", "requestId"}, error
    assert error["code"] == code and error["status"] == status, error
    assert isinstance(error["message"], str) and error["message"]
    assert error["requestId"] == response.headers["x-request-id"]
    if status in (429, 503):
        retry_after(response)
    return body


def assert_issues(issues: list[str], *fields: str) -> None:
    """Issues read `"<field>: <message>"`, one per named field."""
    assert all(re.fullmatch(r"[a-z_]+: .+", issue) for issue in issues), issues
    assert sorted(issue.split(":", 1)[0] for issue in issues) == sorted(fields), issues


async def stored_row(server: IngestServer, event_id: str, *columns: str) -> dict[str, Any]:
    """`columns` of one event once the writer has put it into ClickHouse."""
    query = (f"SELECT {', '.join(columns)} FROM events "
             "WHERE project_id = {p:UUID} AND event_id = {e:UUID}")
    parameters = {"p": server.project_id, "e": event_id}
    deadline = time.monotonic() + 10
    while True:
        rows = await asyncio.get_running_loop().run_in_executor(
            None, server.clickhouse.query, query, parameters)
        if rows:
            return dict(zip(columns, rows[0]))
        assert time.monotonic() < deadline, f"event {event_id} never reached ClickHouse"
        await asyncio.sleep(0.05)


async def assert_only_these_stored(server: IngestServer, count: int) -> None:
    """Exactly `count` events of the project in ClickHouse. A marker batch sent now is written
    after anything spooled earlier, so once it is there nothing else can still arrive."""
    marker = make_event()
    assert (await server.send([marker])).status_code == 200
    await stored_row(server, marker["event_id"], "event_id")
    assert server.stored() == count + 1


def claims(server: IngestServer, **changes: Any) -> dict[str, Any]:
    """Widget token claims for the server's project; a change to None drops the claim."""
    now = int(time.time())
    values = {"pid": server.project_id, "wid": server.workspace_id, "tid": "tr_test",
              "sid": "ses_test", "iat": now, "exp": now + 900, **changes}
    return {name: value for name, value in values.items() if value is not None}


def jwt_secret(server: IngestServer) -> str:
    return server.app[SETTINGS].jwt_secret


def tampered(token: str) -> str:
    """`token` with its payload rewritten to another project, the signature kept."""
    header, payload, signature = token.split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged["pid"] = str(uuid.uuid4())
    payload = base64.urlsafe_b64encode(compact(forged)).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


# --- authentication --------------------------------------------------------------------------

async def test_a_batch_without_any_credential_is_refused_with_2000(
        ingest_server: IngestServer) -> None:
    response = await post(ingest_server, batch(make_event()), headers={})
    assert_error(response, 401, "YAVIO-2000")
    assert ingest_server.ingest.spool.end.offset == 0


async def test_a_request_without_any_credential_is_refused_before_its_batch_is_checked(
        ingest_server: IngestServer) -> None:
    empty = await post(ingest_server, batch(), headers={})
    assert_error(empty, 401, "YAVIO-2000")
    too_many = await post(ingest_server, batch(*[make_event()] * 1001), headers={},
                          params={"token": ingest_server.api_key})
    assert_error(too_many, 401, "YAVIO-2006")


MALFORMED: dict[str, Callable[[IngestServer], dict[str, Any]]] = {
    "basic scheme": lambda s: {"headers": {"Authorization": "Basic x"}},
    "bearer without a token": lambda s: {"headers": {"Authorization": "Bearer"}},
    "bearer with an unknown prefix": lambda s: {"headers": bearer("sk_live_abc123")},
    "api key in the url": lambda s: {"headers": {}, "params": {"token": s.api_key}},
    "api key in the body": lambda s: {"headers": {}, "body": batch(make_event(),
                                                                   token=s.api_key)},
    "api key in the url beside a valid header": lambda s: {"params": {"token": s.api_key}},
}


async def test_a_malformed_credential_or_an_api_key_outside_the_header_is_refused_with_2006(
        ingest_server: IngestServer) -> None:
    for case, shape in MALFORMED.items():
        request = shape(ingest_server)
        response = await post(ingest_server, request.pop("body", batch(make_event())), **request)
        assert response.status_code == 401, case
        assert_error(response, 401, "YAVIO-2006")


async def test_an_unknown_api_key_is_refused_with_2001(ingest_server: IngestServer) -> None:
    response = await post(ingest_server, batch(make_event()),
                          bearer("yav_" + secrets.token_hex(32)))
    assert_error(response, 401, "YAVIO-2001")


@tuned(key_cache_ttl_s=0)
async def test_a_revoked_api_key_is_refused_with_2001(ingest_server: IngestServer) -> None:
    raw, key = ingest_server.postgres.api_keys.create(uuid.UUID(ingest_server.project_id), "old")
    assert (await post(ingest_server, batch(make_event()), bearer(raw))).status_code == 200
    ingest_server.postgres.api_keys.revoke(key.id)
    assert_error(await post(ingest_server, batch(make_event()), bearer(raw)), 401, "YAVIO-2001")
    assert (await ingest_server.send([make_event()])).status_code == 200, "other keys still work"


@tuned(key_cache_ttl_s=0)
async def test_a_key_revoked_in_the_future_still_works_during_rotation_grace(
        ingest_server: IngestServer) -> None:
    raw, key = ingest_server.postgres.api_keys.create(uuid.UUID(ingest_server.project_id), "old")
    in_an_hour = datetime.fromtimestamp(time.time() + 3600, timezone.utc)
    ingest_server.postgres.api_keys.revoke(key.id, at=in_an_hour)
    response = await post(ingest_server, batch(make_event()), bearer(raw))
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1


@pytest.mark.parametrize(("settings_overrides", "later"),
                         [({}, 401), ({"key_cache_ttl_s": 0}, 200)], ids=["default ttl", "no cache"])
async def test_an_unknown_key_stays_unknown_for_the_cache_ttl(
        ingest_server: IngestServer, later: int) -> None:
    raw = "yav_" + secrets.token_hex(32)
    assert_error(await post(ingest_server, batch(make_event()), bearer(raw)), 401, "YAVIO-2001")
    with ingest_server.postgres.pool.connection() as conn:
        conn.execute("INSERT INTO api_keys (project_id, name, key_hash, key_prefix) "
                     "VALUES (%s, 'late', %s, %s)",
                     (ingest_server.project_id, credential_hash(raw, TEST_SECRET),
                      display_prefix(raw)))
    response = await post(ingest_server, batch(make_event()), bearer(raw))
    assert response.status_code == later, response.text


BAD_TOKENS: dict[str, Callable[[IngestServer, str], str]] = {
    "expired": lambda s, real: jwt.encode(
        claims(s, iat=int(time.time()) - 1000, exp=int(time.time()) - 100), jwt_secret(s),
        algorithm="HS256"),
    "tampered": lambda s, real: tampered(real),
    "signed with another secret": lambda s, real: jwt.encode(
        claims(s), "another-secret-" + "y" * 32, algorithm="HS256"),
    "unsigned (alg none)": lambda s, real: jwt.encode(claims(s), None, algorithm="none"),
    "another algorithm (HS384)": lambda s, real: jwt.encode(claims(s), jwt_secret(s),
                                                            algorithm="HS384"),
    "missing its session claim": lambda s, real: jwt.encode(claims(s, sid=None), jwt_secret(s),
                                                            algorithm="HS256"),
    "not a jwt": lambda s, real: "eyJnot-a-token",
}


@tuned(failed_auth_burst=100)  # 14 failures here: 401s, not yet the per-address 429
async def test_a_bad_expired_or_tampered_widget_token_is_refused_with_2004(
        ingest_server: IngestServer) -> None:
    real = await ingest_server.widget_token()
    for case, forge in BAD_TOKENS.items():
        token = forge(ingest_server, real)
        in_header = await post(ingest_server, batch(make_event()), bearer(token))
        in_url = await post(ingest_server, batch(make_event()), {"Content-Type": "text/plain"},
                            params={"token": token})
        assert (in_header.status_code, in_url.status_code) == (401, 401), case
        assert_error(in_header, 401, "YAVIO-2004")
        assert_error(in_url, 401, "YAVIO-2004")


async def test_a_token_signed_with_the_servers_secret_is_accepted_before_it_expires(
        ingest_server: IngestServer) -> None:
    token = jwt.encode(claims(ingest_server, exp=int(time.time()) + 60), jwt_secret(ingest_server),
                       algorithm="HS256")
    response = await post(ingest_server, batch(make_event()), bearer(token))
    assert response.status_code == 200, response.text


@tuned(failed_auth_burst=3, failed_auth_rate=0.05)
async def test_failed_authentications_from_one_address_get_2052_past_the_burst(
        ingest_server: IngestServer) -> None:
    failures = [bearer("yav_" + "0" * 64), {"Authorization": "Basic x"}, bearer("eyJnope")]
    for headers in failures:
        assert (await post(ingest_server, batch(make_event()), headers)).status_code == 401
    refused = await post(ingest_server, batch(make_event()), bearer("yav_" + "0" * 64))
    assert_error(refused, 429, "YAVIO-2052")
    assert retry_after(refused) <= 20
    minting = await post(ingest_server, b"{}", {}, path="/v1/widget-tokens")
    assert_error(minting, 429, "YAVIO-2052")

    valid = await ingest_server.send([make_event()])
    assert valid.status_code == 200, "a valid key from the same address is never throttled"


@tuned(failed_auth_burst=2, failed_auth_rate=0.01, trusted_proxies="127.0.0.1")
async def test_behind_a_trusted_proxy_the_rightmost_forwarded_hop_is_the_client(
        ingest_server: IngestServer) -> None:
    async def fail(forwarded_for: str) -> httpx.Response:
        return await post(ingest_server, batch(make_event()),
                          {"Authorization": "Basic x", "X-Forwarded-For": forwarded_for})

    assert (await fail("198.51.100.1, 203.0.113.7")).status_code == 401
    assert (await fail("198.51.100.2, 203.0.113.7")).status_code == 401
    # The left hops are whatever the client wrote: changing them does not escape the bucket.
    assert_error(await fail("198.51.100.3, 203.0.113.7"), 429, "YAVIO-2052")
    assert_error(await fail("203.0.113.8"), 401, "YAVIO-2006")


@tuned(failed_auth_burst=2, failed_auth_rate=0.01)
async def test_without_a_trusted_proxy_a_forwarded_for_header_is_ignored(
        ingest_server: IngestServer) -> None:
    for index, hop in enumerate(("203.0.113.1", "203.0.113.2", "203.0.113.3")):
        response = await post(ingest_server, batch(make_event()),
                              {"Authorization": "Basic x", "X-Forwarded-For": hop})
        assert response.status_code == (401 if index < 2 else 429), response.text


# --- processing order ------------------------------------------------------------------------

async def test_the_header_is_checked_before_the_size_and_the_size_before_decoding(
        ingest_server: IngestServer) -> None:
    oversized = b"[" * (MAX_BODY_BYTES + 1)  # not JSON either
    assert_error(await post(ingest_server, oversized, {"Authorization": "Basic x"}),
                 401, "YAVIO-2006")
    assert_error(await post(ingest_server, oversized), 413, "YAVIO-2111")


async def test_the_envelope_is_checked_before_the_widget_session(
        ingest_server: IngestServer) -> None:
    token = await ingest_server.widget_token(session_id="ses_test")
    foreign = [make_event("widget_click", session_id="ses_other") for _ in range(1001)]
    assert_error(await post(ingest_server, batch(), bearer(token)), 400, "YAVIO-2110")
    assert_error(await post(ingest_server, batch(*foreign), bearer(token)), 400, "YAVIO-2113")


@tuned(widget_rate=0.01, widget_burst=1)
async def test_the_widget_session_is_checked_before_the_widget_bucket(
        ingest_server: IngestServer) -> None:
    token = await ingest_server.widget_token(session_id="ses_test")
    assert (await post(ingest_server, batch(make_event("widget_click")), bearer(token))
            ).status_code == 200
    foreign = batch(make_event("widget_click", session_id="ses_other"))
    assert_error(await post(ingest_server, foreign, bearer(token)), 400, "YAVIO-2112",
                 extra=("errors",))
    own = batch(make_event("widget_click"))
    assert_error(await post(ingest_server, own, bearer(token)), 429, "YAVIO-2053")


@tuned(project_rate=0.01, project_burst=3)
async def test_the_project_bucket_is_taken_by_event_count_before_events_are_validated(
        ingest_server: IngestServer) -> None:
    invalid = batch(*[make_event(status="maybe") for _ in range(3)])
    assert_error(await post(ingest_server, invalid), 400, "YAVIO-2100",
                 extra=("errors", "accepted", "rejected"))
    assert_error(await post(ingest_server, batch(make_event())), 429, "YAVIO-2050")


# --- the envelope ----------------------------------------------------------------------------

UNPARSABLE = {
    "empty": (b"", {}),
    "whitespace": (b"  \n ", {}),
    "invalid json": (b'{"events": [', {}),
    "corrupt gzip": (b"\x1f\x8b\x08\x00not really gzip", {"Content-Encoding": "gzip"}),
}


async def test_an_empty_or_unparsable_body_is_refused_with_2109(
        ingest_server: IngestServer) -> None:
    for case, (body, headers) in UNPARSABLE.items():
        response = await post(ingest_server, body, {**ingest_server.headers(), **headers})
        assert response.status_code == 400, case
        assert_error(response, 400, "YAVIO-2109")


async def test_a_body_that_is_not_an_envelope_is_refused_with_2100_at_index_minus_one(
        ingest_server: IngestServer) -> None:
    for body in (b"[]", b'"events"', b"{}", b'{"events": {}}', b'{"events": null}',
                 b'{"batch": []}'):
        response = await post(ingest_server, body)
        answer = assert_error(response, 400, "YAVIO-2100",
                              extra=("errors", "accepted", "rejected"))
        assert answer["accepted"] == 0
        [error] = answer["errors"]
        assert error["index"] == -1
        assert len(error["issues"]) == 1 and re.fullmatch(r"[a-z_]+: .+", error["issues"][0])


async def test_an_empty_batch_is_refused_with_2110(ingest_server: IngestServer) -> None:
    assert_error(await post(ingest_server, batch()), 400, "YAVIO-2110")


async def test_a_batch_of_1001_events_is_refused_with_2113_and_nothing_is_spooled(
        ingest_server: IngestServer) -> None:
    response = await post(ingest_server, batch(*[make_event() for _ in range(1001)]))
    assert_error(response, 400, "YAVIO-2113")
    assert ingest_server.ingest.spool.end.offset == 0


async def test_a_batch_of_exactly_1000_events_is_accepted(ingest_server: IngestServer) -> None:
    response = await post(ingest_server, batch(*[make_event() for _ in range(1000)]))
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1000


def padded(size: int) -> bytes:
    """A valid one-event batch of exactly `size` bytes (JSON allows trailing whitespace)."""
    body = batch(make_event())
    return body + b" " * (size - len(body))


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
async def test_a_body_of_512000_bytes_is_accepted_and_one_byte_more_is_refused_with_413(
        ingest_server: IngestServer, encoding: str) -> None:
    encode = gzip.compress if encoding == "gzip" else bytes
    headers = {**ingest_server.headers(), "Content-Encoding": encoding}
    at_limit = await post(ingest_server, encode(padded(MAX_BODY_BYTES)), headers)
    assert at_limit.status_code == 200, at_limit.text
    over = await post(ingest_server, encode(padded(MAX_BODY_BYTES + 1)), headers)
    assert_error(over, 413, "YAVIO-2111")


async def test_a_large_plain_body_is_refused_with_413(ingest_server: IngestServer) -> None:
    assert_error(await post(ingest_server, padded(3_000_000)), 413, "YAVIO-2111")


async def test_a_gzip_bomb_is_refused_with_413(ingest_server: IngestServer) -> None:
    bomb = gzip.compress(padded(20_000_000), compresslevel=9)
    assert len(bomb) < MAX_BODY_BYTES // 5, "small on the wire"
    response = await post(ingest_server, bomb,
                          {**ingest_server.headers(), "Content-Encoding": "gzip"})
    assert_error(response, 413, "YAVIO-2111")


async def test_an_unknown_content_encoding_is_refused_with_415(
        ingest_server: IngestServer) -> None:
    for encoding in ("br", "zstd", "compress"):
        response = await post(ingest_server, batch(make_event()),
                              {**ingest_server.headers(), "Content-Encoding": encoding})
        assert_error(response, 415, "YAVIO-2114")


async def test_a_text_plain_body_is_accepted(ingest_server: IngestServer) -> None:
    response = await post(ingest_server, batch(make_event()),
                          {**ingest_server.headers(), "Content-Type": "text/plain;charset=UTF-8"})
    assert response.status_code == 200, response.text


async def test_the_envelope_may_carry_sdk_version_and_sent_at(ingest_server: IngestServer) -> None:
    response = await post(ingest_server, batch(make_event(), sdk_version="0.1.4",
                                               sent_at="2026-01-31T12:00:00.000Z"))
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1


# --- outcomes --------------------------------------------------------------------------------

async def test_a_fully_valid_batch_answers_200_with_counts_and_the_request_id(
        ingest_server: IngestServer) -> None:
    response = await post(ingest_server, batch(make_event(), make_event("track", event_name="x")))
    assert response.status_code == 200
    assert response.json() == {"accepted": 2, "rejected": 0,
                               "requestId": response.headers["x-request-id"]}


async def test_a_partly_valid_batch_answers_207_indexing_the_original_array(
        ingest_server: IngestServer) -> None:
    events = [make_event(event_id="not-a-uuid"), make_event(), make_event(),
              make_event(latency_ms="fast", status="maybe"), make_event()]
    response = await post(ingest_server, batch(*events))
    assert response.status_code == 207, response.text
    body = response.json()
    assert set(body) == {"accepted", "rejected", "errors", "requestId"}
    assert (body["accepted"], body["rejected"]) == (3, 2)
    assert [error["index"] for error in body["errors"]] == [0, 3]
    assert_issues(body["errors"][0]["issues"], "event_id")
    assert_issues(body["errors"][1]["issues"], "latency_ms", "status")
    await assert_only_these_stored(ingest_server, 3)


async def test_a_batch_with_no_valid_event_answers_400_with_2100(
        ingest_server: IngestServer) -> None:
    events = [make_event(timestamp="2026-01-31 12:00:00"), make_event("nonsense")]
    response = await post(ingest_server, batch(*events))
    body = assert_error(response, 400, "YAVIO-2100", extra=("errors", "accepted", "rejected"))
    assert (body["accepted"], body["rejected"]) == (0, 2)
    assert [error["index"] for error in body["errors"]] == [0, 1]
    assert_issues(body["errors"][0]["issues"], "timestamp")
    assert_issues(body["errors"][1]["issues"], "event_type")


async def test_warnings_and_errors_index_the_original_array(ingest_server: IngestServer) -> None:
    events = [make_event(status="maybe"), make_event(),
              make_event(metadata={"blob": "x" * 11_000})]
    response = await post(ingest_server, batch(*events))
    assert response.status_code == 207, response.text
    body = response.json()
    assert [error["index"] for error in body["errors"]] == [0]
    [warning] = body["warnings"]
    assert set(warning) == {"index", "field", "warning"}
    assert (warning["index"], warning["field"]) == (2, "metadata")


def object_of(size: int) -> dict[str, str]:
    return {"k": "x" * (size - len('{"k":""}'))}


def list_of(size: int) -> list[str]:
    return ["x" * (size - len('[""]'))]


JSON_LIMITS = [("tool_call", "metadata", 10_240, object_of),
               ("tool_call", "input_values", 10_240, object_of),
               ("tool_call", "output_content", 10_240, object_of),
               ("identify", "user_traits", 5_120, object_of),
               ("tool_call", "input_keys", 5_120, list_of),
               ("tool_call", "input_types", 5_120, object_of),
               ("tool_call", "intent_signals", 2_048, object_of)]


async def test_a_payload_over_its_limit_is_stored_as_a_truncation_marker_with_a_warning(
        ingest_server: IngestServer) -> None:
    events = []  # per field: one event at the limit, one a byte over
    for event_type, field, limit, value_of in JSON_LIMITS:
        assert len(compact(value_of(limit))) == limit
        events += [make_event(event_type, **{field: value_of(limit)}),
                   make_event(event_type, **{field: value_of(limit + 1)})]
    response = await post(ingest_server, batch(*events))
    assert response.status_code == 200, response.text
    assert [(w["index"], w["field"]) for w in response.json()["warnings"]] == [
        (2 * n + 1, field) for n, (_, field, _, _) in enumerate(JSON_LIMITS)]
    for n, (_, field, limit, value_of) in enumerate(JSON_LIMITS):
        kept = await stored_row(ingest_server, events[2 * n]["event_id"], field)
        cut = await stored_row(ingest_server, events[2 * n + 1]["event_id"], field)
        assert json.loads(kept[field]) == value_of(limit), field
        assert json.loads(cut[field]) == {"_truncated": True, "_original_size": limit + 1}, field


async def test_an_error_message_over_2048_bytes_is_cut_with_a_suffix_and_a_warning(
        ingest_server: IngestServer) -> None:
    events = [make_event(status="error", error_message="e" * 2048),
              make_event(status="error", error_message="e" * 2049),
              make_event(status="error", error_message="é" * 1100)]  # 2 bytes each
    response = await post(ingest_server, batch(*events))
    assert response.status_code == 200, response.text
    assert [(w["index"], w["field"]) for w in response.json()["warnings"]] == [
        (1, "error_message"), (2, "error_message")]
    messages = [(await stored_row(ingest_server, e["event_id"], "error_message"))["error_message"]
                for e in events]
    assert messages[0] == "e" * 2048
    assert messages[1] == "e" * (2048 - len(SUFFIX)) + SUFFIX
    assert messages[2] == "é" * 1016 + SUFFIX, "cut on a character boundary"


async def test_an_email_across_the_cut_is_redacted_never_half_left(
        ingest_server: IngestServer) -> None:
    message = "x" * 2020 + " jane.doe@example.com " + "y" * 100  # the cut falls inside the email
    event = make_event(status="error", error_message=message)
    response = await post(ingest_server, batch(event))
    assert response.status_code == 200, response.text
    stored = (await stored_row(ingest_server, event["event_id"], "error_message"))["error_message"]
    assert stored.endswith(SUFFIX) and len(stored.encode()) <= 2048
    assert stored.startswith("x" * 2020 + " [EMAIL_")
    assert "jane" not in stored and "@" not in stored


async def test_a_tool_description_over_2048_characters_is_truncated_with_a_warning(
        ingest_server: IngestServer) -> None:
    events = [make_event("tool_discovery", tool_name="search", description="d" * 2048),
              make_event("tool_discovery", tool_name="book", description="ü" * 2049)]
    response = await post(ingest_server, batch(*events))
    assert response.status_code == 200, response.text
    assert [(w["index"], w["field"]) for w in response.json()["warnings"]] == [(1, "description")]
    kept = await stored_row(ingest_server, events[0]["event_id"], "description")
    cut = await stored_row(ingest_server, events[1]["event_id"], "description")
    assert kept["description"] == "d" * 2048
    assert cut["description"] == "ü" * 2048


# --- field limits that reject ----------------------------------------------------------------

def event_of_size(size: int) -> dict[str, Any]:
    """A valid event whose JSON is exactly `size` bytes, padded with a field the ingest drops."""
    event = make_event(padding="")
    event["padding"] = "p" * (size - len(compact(event)))
    assert len(compact(event)) == size
    return event


async def test_an_event_over_51200_bytes_as_received_is_rejected(
        ingest_server: IngestServer) -> None:
    response = await post(ingest_server, batch(event_of_size(MAX_EVENT_BYTES),
                                               event_of_size(MAX_EVENT_BYTES + 1)))
    assert response.status_code == 207, response.text
    [error] = response.json()["errors"]
    assert error["index"] == 1
    assert_issues(error["issues"], "event")


async def test_an_id_or_name_over_its_length_limit_is_rejected(
        ingest_server: IngestServer) -> None:
    limits = [("event_name", 256), ("user_id", 256), ("trace_id", 128), ("session_id", 128)]
    events = []  # per field: one event at the limit, one a character over
    for field, limit in limits:
        events += [make_event(**{field: "a" * limit}), make_event(**{field: "a" * (limit + 1)})]
    response = await post(ingest_server, batch(*events))
    assert response.status_code == 207, response.text
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (4, 4)
    assert [error["index"] for error in body["errors"]] == [1, 3, 5, 7]
    for error, (field, _) in zip(body["errors"], limits):
        assert_issues(error["issues"], field)


async def test_ids_are_any_non_empty_string(ingest_server: IngestServer) -> None:
    events = [make_event(trace_id="t", session_id="chat:42/🙂"), make_event(trace_id="")]
    response = await post(ingest_server, batch(*events))
    assert response.status_code == 207, response.text
    [error] = response.json()["errors"]
    assert error["index"] == 1
    assert_issues(error["issues"], "trace_id")


# --- fields ----------------------------------------------------------------------------------

async def test_unknown_fields_are_dropped(ingest_server: IngestServer) -> None:
    event = make_event(favourite_colour="blue", metadata={"kept": "yes"})
    response = await post(ingest_server, batch(event))
    assert response.status_code == 200, response.text
    spooled = b"".join(p.read_bytes() for p in ingest_server.spool_dir.glob("*.spool"))
    assert event["event_id"].encode() in spooled and b'"kept"' in spooled
    assert b"favourite_colour" not in spooled


async def test_the_credential_decides_the_tenant_whatever_the_client_sends(
        ingest_server: IngestServer) -> None:
    event = make_event(workspace_id=str(uuid.uuid4()), project_id=str(uuid.uuid4()),
                       ingested_at="2001-01-01T00:00:00.000Z")
    assert (await post(ingest_server, batch(event))).status_code == 200
    row = await stored_row(ingest_server, event["event_id"], "toString(workspace_id)",
                           "toString(project_id)", "toYear(ingested_at)")
    assert row["toString(workspace_id)"] == ingest_server.workspace_id
    assert row["toString(project_id)"] == ingest_server.project_id
    assert row["toYear(ingested_at)"] == datetime.now(timezone.utc).year


async def test_number_fields_take_integers_and_flags_take_booleans(
        ingest_server: IngestServer) -> None:
    retry = make_event(latency_ms=12, tokens_in=5, is_retry=True)
    first = make_event(is_retry=False)
    sale = make_event("conversion", event_name="booking", conversion_value=567,
                      conversion_currency="EUR")
    touch = make_event("widget_render", device_touch=True, device_pixel_ratio=2)
    response = await post(ingest_server, batch(retry, first, sale, touch))
    assert response.status_code == 200, response.text
    assert await stored_row(ingest_server, retry["event_id"], "latency_ms", "is_retry") == {
        "latency_ms": 12.0, "is_retry": 1}
    assert (await stored_row(ingest_server, first["event_id"], "is_retry"))["is_retry"] == 0
    assert (await stored_row(ingest_server, sale["event_id"], "conversion_value")
            )["conversion_value"] == 567.0
    assert await stored_row(ingest_server, touch["event_id"], "device_touch",
                            "device_pixel_ratio") == {"device_touch": 1, "device_pixel_ratio": 2.0}


async def test_absent_optional_fields_may_be_null(ingest_server: IngestServer) -> None:
    event = make_event(event_name=None, metadata=None, user_id=None, latency_ms=None, status=None,
                       is_retry=None, platform=None)
    response = await post(ingest_server, batch(event))
    assert response.status_code == 200, response.text


# --- widget tokens ---------------------------------------------------------------------------

async def test_an_api_key_mints_a_widget_token_for_its_project_valid_900_seconds(
        ingest_server: IngestServer) -> None:
    response = await post(ingest_server, compact({"traceId": "tr_9", "sessionId": "ses_9"}),
                          path="/v1/widget-tokens")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"token", "expiresAt"}
    assert jwt.get_unverified_header(body["token"])["alg"] == "HS256"
    token = jwt.decode(body["token"], jwt_secret(ingest_server), algorithms=["HS256"])
    assert set(token) == {"pid", "wid", "tid", "sid", "iat", "exp"}
    assert (token["pid"], token["wid"]) == (ingest_server.project_id, ingest_server.workspace_id)
    assert (token["tid"], token["sid"]) == ("tr_9", "ses_9")
    assert token["exp"] - token["iat"] == 900
    assert abs(token["iat"] - time.time()) < 10
    expires = datetime.fromisoformat(body["expiresAt"])
    assert body["expiresAt"].endswith("Z") and expires.timestamp() == token["exp"]


async def test_a_widget_token_cannot_mint_another_and_gets_2302(
        ingest_server: IngestServer) -> None:
    token = await ingest_server.widget_token()
    response = await post(ingest_server, compact({"traceId": "t", "sessionId": "s"}),
                          bearer(token), path="/v1/widget-tokens")
    assert_error(response, 401, "YAVIO-2302")


async def test_minting_without_a_credential_is_refused_with_2000(
        ingest_server: IngestServer) -> None:
    response = await post(ingest_server, compact({"traceId": "t", "sessionId": "s"}), {},
                          path="/v1/widget-tokens")
    assert_error(response, 401, "YAVIO-2000")


BAD_IDS = {"missing": None, "empty": "", "129 chars": "t" * 129, "a number": 42}


@pytest.mark.parametrize(("name", "code"), [("traceId", "YAVIO-2300"),
                                            ("sessionId", "YAVIO-2301")])
async def test_a_widget_token_request_with_a_missing_or_bad_id_is_refused(
        ingest_server: IngestServer, name: str, code: str) -> None:
    good = {"traceId": "t" * 128, "sessionId": "s" * 128}
    assert (await post(ingest_server, compact(good), path="/v1/widget-tokens")
            ).status_code == 200, "128 characters are fine"
    for case, bad in BAD_IDS.items():
        request = {key: value for key, value in {**good, name: bad}.items() if value is not None}
        response = await post(ingest_server, compact(request), path="/v1/widget-tokens")
        assert response.status_code == 400, case
        assert_error(response, 400, code)


async def test_events_sent_with_a_widget_token_land_in_the_keys_project(
        ingest_server: IngestServer) -> None:
    token = await ingest_server.widget_token()
    event = make_event("widget_click", session_id="ses_test")
    response = await post(ingest_server, batch(event, make_event("widget_render")), bearer(token))
    assert response.status_code == 200, response.text
    row = await stored_row(ingest_server, event["event_id"], "toString(workspace_id)", "source")
    assert row == {"toString(workspace_id)": ingest_server.workspace_id, "source": "widget"}
    assert await ingest_server.wait_stored(2) == 2


async def test_a_widget_token_may_cover_other_traces_of_its_session(
        ingest_server: IngestServer) -> None:
    token = await ingest_server.widget_token(trace_id="tr_first")
    response = await post(ingest_server, batch(make_event("widget_click", trace_id="tr_second")),
                          bearer(token))
    assert response.status_code == 200, response.text


async def test_a_widget_batch_with_another_session_is_refused_whole_with_2112(
        ingest_server: IngestServer) -> None:
    token = await ingest_server.widget_token(session_id="ses_test")
    events = [make_event("widget_click"), make_event("widget_click"),
              make_event("widget_click", session_id="ses_other")]
    response = await post(ingest_server, batch(*events), bearer(token))
    body = assert_error(response, 400, "YAVIO-2112", extra=("errors",))
    assert [error["index"] for error in body["errors"]] == [2]
    assert ingest_server.ingest.spool.end.offset == 0
    await assert_only_these_stored(ingest_server, 0)


async def test_a_beacon_may_carry_its_widget_token_in_the_url_as_text_plain(
        ingest_server: IngestServer) -> None:
    token = await ingest_server.widget_token()
    response = await post(ingest_server, batch(make_event("widget_visibility")),
                          {"Content-Type": "text/plain;charset=UTF-8"}, params={"token": token})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1


async def test_a_beacon_may_carry_its_widget_token_in_the_body(
        ingest_server: IngestServer) -> None:
    token = await ingest_server.widget_token()
    response = await post(ingest_server, batch(make_event("widget_visibility"), token=token),
                          {"Content-Type": "text/plain"})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1


async def test_a_widget_token_in_the_url_is_never_logged(
        ingest_server: IngestServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="yavio")
    token = await ingest_server.widget_token()
    for sent in (token, tampered(token)):
        await post(ingest_server, batch(make_event("widget_click")), {}, params={"token": sent})
    await ingest_server.wait_stored(1)
    signature = token.rsplit(".", 1)[1]
    assert not [r for r in caplog.records if signature in r.getMessage()]


# --- compatibility with the original widget --------------------------------------------------

async def test_widget_data_in_metadata_fills_the_typed_columns_and_metadata_stays_as_sent(
        ingest_server: IngestServer) -> None:
    cases = [
        ("widget_render", {"viewport_width": 1280, "viewport_height": 720,
                           "device_pixel_ratio": 2, "touch_support": True,
                           "connection_type": "4g"},
         {"viewport_width": 1280, "viewport_height": 720, "device_pixel_ratio": 2.0,
          "device_touch": 1, "connection_type": "4g"}),
        ("widget_navigation", {"from_view": "list", "to_view": "detail"},
         {"nav_from": "list", "nav_to": "detail"}),
        ("widget_scroll", {"scroll_depth_pct": 40}, {"scroll_depth_pct": 40.0}),
        ("widget_rage_click", {"click_count": 4}, {"click_count": 4}),
        ("widget_form_field", {"field_name": "guests"}, {"field_name": "guests"}),
        ("widget_visibility", {"visible_duration_ms": 1500}, {"visible_duration_ms": 1500.0}),
        ("widget_performance", {"load_time_ms": 320.5}, {"load_time_ms": 320.5}),
    ]
    events = [make_event(event_type, metadata=metadata) for event_type, metadata, _ in cases]
    response = await post(ingest_server, batch(*events))
    assert response.status_code == 200, response.text
    for event, (_, metadata, columns) in zip(events, cases):
        row = await stored_row(ingest_server, event["event_id"], "metadata", *columns)
        assert json.loads(row.pop("metadata")) == metadata
        assert row == columns, event["event_type"]


async def test_an_invalid_metadata_value_is_not_lifted_and_the_event_is_still_accepted(
        ingest_server: IngestServer) -> None:
    metadata = {"scroll_depth_pct": 150, "viewport_width": -5, "device_pixel_ratio": 0,
                "touch_support": "yes", "click_count": "many"}
    event = make_event("widget_scroll", metadata=metadata)
    response = await post(ingest_server, batch(event))
    assert response.status_code == 200, response.text
    row = await stored_row(ingest_server, event["event_id"], "metadata", "scroll_depth_pct",
                           "viewport_width", "device_pixel_ratio", "device_touch", "click_count")
    assert json.loads(row.pop("metadata")) == metadata
    assert set(row.values()) == {None}, row


async def test_a_typed_field_sent_by_the_client_wins_over_metadata(
        ingest_server: IngestServer) -> None:
    event = make_event("widget_render", viewport_width=800, metadata={"viewport_width": 1280})
    assert (await post(ingest_server, batch(event))).status_code == 200
    assert (await stored_row(ingest_server, event["event_id"], "viewport_width")
            )["viewport_width"] == 800


async def test_metadata_is_not_lifted_for_events_other_than_widget_ones(
        ingest_server: IngestServer) -> None:
    event = make_event("track", event_name="resized",
                       metadata={"viewport_width": 1280, "from_view": "list"})
    assert (await post(ingest_server, batch(event))).status_code == 200
    row = await stored_row(ingest_server, event["event_id"], "viewport_width", "nav_from")
    assert row == {"viewport_width": None, "nav_from": ""}


# --- rate limits and backpressure ------------------------------------------------------------

@tuned(project_rate=0.1, project_burst=10)
async def test_the_project_bucket_is_consumed_by_event_count_and_answers_2050(
        ingest_server: IngestServer) -> None:
    sent: dict[int, list[dict[str, Any]]] = {}

    async def send(count: int) -> httpx.Response:
        events = [make_event() for _ in range(count)]
        response = await post(ingest_server, batch(*events))
        sent.setdefault(response.status_code, []).extend(events)
        return response

    assert (await send(6)).status_code == 200
    refused = await send(5)  # 4 tokens left: the whole batch waits
    assert_error(refused, 429, "YAVIO-2050")
    assert 1 <= retry_after(refused) <= 10
    assert (await send(4)).status_code == 200, "the refusal took nothing"
    assert_error(await send(1), 429, "YAVIO-2050")
    spooled = b"".join(p.read_bytes() for p in ingest_server.spool_dir.glob("*.spool"))
    assert all(e["event_id"].encode() in spooled for e in sent[200])
    assert not any(e["event_id"].encode() in spooled for e in sent[429])


@tuned(widget_rate=0.1, widget_burst=5)
async def test_the_widget_token_bucket_answers_2053(ingest_server: IngestServer) -> None:
    token = await ingest_server.widget_token(session_id="ses_test")
    widget_batch = batch(*[make_event("widget_click") for _ in range(5)])
    assert (await post(ingest_server, widget_batch, bearer(token))).status_code == 200
    refused = await post(ingest_server, batch(make_event("widget_click")), bearer(token))
    assert_error(refused, 429, "YAVIO-2053")

    other = await ingest_server.widget_token(session_id="ses_other")
    response = await post(ingest_server, batch(make_event("widget_click", session_id="ses_other")),
                          bearer(other))
    assert response.status_code == 200, "each token has its own bucket"
    assert (await ingest_server.send([make_event()])).status_code == 200, "and so has the key"


@tuned(spool_budget_bytes=1)
async def test_a_full_spool_answers_503_with_retry_after_1(ingest_server: IngestServer) -> None:
    await ingest_server.ingest.writer.stop()  # nothing drains the spool
    assert (await ingest_server.send([make_event()])).status_code == 200
    response = await ingest_server.send([make_event()])
    assert_error(response, 503, "YAVIO-2402")
    assert response.headers["Retry-After"] == "1"


# --- CORS, request ids, health ---------------------------------------------------------------

async def test_a_preflight_reflects_the_origin(ingest_server: IngestServer) -> None:
    for path in ("/v1/events", "/v1/widget-tokens", "/health", "/v1/anything"):
        async with httpx.AsyncClient() as client:
            response = await client.options(f"{ingest_server.url}{path}", headers={
                "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type"})
        assert response.status_code == 204, path
        assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
        allowed = {h.strip().lower() for h in
                   response.headers["Access-Control-Allow-Headers"].split(",")}
        assert allowed == {"content-type", "authorization"}
        methods = {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")}
        assert methods == {"GET", "POST", "OPTIONS"}
        assert response.headers["Access-Control-Max-Age"] == "86400"
        assert response.headers["x-request-id"]


async def test_answers_to_a_browser_origin_carry_allow_origin_success_or_error(
        ingest_server: IngestServer) -> None:
    accepted = await post(ingest_server, batch(make_event()),
                          {**ingest_server.headers(), "Origin": ORIGIN})
    refused = await post(ingest_server, batch(make_event()), {"Origin": ORIGIN})
    assert (accepted.status_code, refused.status_code) == (200, 401)
    for response in (accepted, refused):
        assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


# aiohttp deprecates returning its HTTP exceptions (404, 405) from a middleware: raise them.
@pytest.mark.filterwarnings("error:returning HTTPException:DeprecationWarning")
async def test_every_response_carries_a_request_id(ingest_server: IngestServer) -> None:
    async with httpx.AsyncClient() as client:
        responses = [
            await client.post(f"{ingest_server.url}/v1/events", headers=ingest_server.headers(),
                              content=batch(make_event())),
            await client.post(f"{ingest_server.url}/v1/events", content=batch(make_event())),
            await client.post(f"{ingest_server.url}/v1/events", headers=ingest_server.headers(),
                              content=padded(MAX_BODY_BYTES + 1)),
            await client.get(f"{ingest_server.url}/v1/nowhere"),
            await client.get(f"{ingest_server.url}/v1/events"),
            await client.options(f"{ingest_server.url}/v1/events"),
            await client.get(f"{ingest_server.url}/health"),
        ]
    assert [r.status_code for r in responses] == [200, 401, 413, 404, 405, 204, 200]
    ids = [r.headers.get("x-request-id") for r in responses]
    assert all(ids) and len(set(ids)) == len(ids), ids
    assert responses[0].json()["requestId"] == ids[0]
    assert_error(responses[1], 401, "YAVIO-2000")
    assert_error(responses[2], 413, "YAVIO-2111")
    assert_error(responses[3], 404, "YAVIO-2404")
    assert_error(responses[4], 405, "YAVIO-2405")
    assert "POST" in responses[4].headers["Allow"]


@tuned(failed_auth_burst=1, project_burst=1)  # the tightest limits: health draws on none
async def test_health_is_ok_with_both_stores_up_and_never_rate_limited(
        ingest_server: IngestServer) -> None:
    async with httpx.AsyncClient() as client:
        responses = await asyncio.gather(*[client.get(f"{ingest_server.url}/health")
                                           for _ in range(100)])
    assert {r.status_code for r in responses} == {200}
    assert responses[0].json() == {"status": "ok", "postgres": "up", "clickhouse": "up"}


async def test_health_is_degraded_naming_postgres_when_it_is_down(
        server_with_its_own_database: IngestServer) -> None:
    server = server_with_its_own_database
    server.postgres.pool.close()  # Postgres is gone for this server, and only for it
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{server.url}/health")
    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "postgres": "down", "clickhouse": "up"}


async def test_an_email_in_lifted_widget_metadata_is_redacted_in_the_typed_column_too(
        ingest_server: IngestServer) -> None:
    event = make_event("widget_navigation", metadata={"from_view": "inbox/jane@example.com",
                                                      "to_view": "checkout"},
                       nav_from=None)
    assert (await ingest_server.send([event])).status_code == 200
    await ingest_server.wait_stored(1)
    nav_from, metadata = ingest_server.clickhouse.query(
        "SELECT nav_from, metadata FROM events WHERE event_id = {e:UUID}",
        {"e": event["event_id"]})[0]
    assert nav_from == "inbox/[EMAIL_REDACTED]"
    assert "jane@example.com" not in metadata
