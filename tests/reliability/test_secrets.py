"""Secrets (docs/RELIABILITY.md): on a real `yavio up` stack with a little traffic, no secret in
any process's argv, in any log or in what Postgres is asked to compare; secret files 0600 in
folders no one else can list; widget JWTs verified in constant time with `alg` pinned.

Where secrets are compared: API keys, access tokens and invitations are never compared in Python;
the server looks up HMAC-SHA256(value, server secret) in Postgres (`credentials.py`), so a
comparison's timing can only tell an attacker about an HMAC they cannot steer without the server
secret. The test proves that half with Postgres's own statement log: the HMAC reaches it, the
raw value never does. Widget JWTs are the one secret checked in Python, by PyJWT's HS256
verifier, which must go through `hmac.compare_digest`: spied on during a real request below.
Postgres passwords are checked by Postgres (SCRAM).
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import stat
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.cli.test_stack import yavio
from tests.conftest import free_port
from tests.ingest.conftest import (  # noqa: F401  (fixtures, found by pytest in this module)
    IngestServer,
    ingest_server,
    make_event,
    settings_overrides,
)
from yavio_cli.local_postgres import SUPERUSER
from yavio_ingest.credentials import credential_hash


@contextmanager
def running_stack(home: Path) -> Iterator[SimpleNamespace]:
    """`yavio up` on free ports (failed-auth bucket widened: this test fails auth on purpose
    more often than the default burst allows), `yavio down` after, whatever happens."""
    pg_port = free_port()
    started = yavio(home, "up", "--port", str(free_port()), "--pg-port", str(pg_port), "--json",
                    env={"YAVIO_FAILED_AUTH_BURST": "1000"})
    assert started.returncode == 0, started.stderr
    try:
        credentials = json.loads((home / "credentials.json").read_text())
        yield SimpleNamespace(url=json.loads(started.stdout)["server"]["url"], pg_port=pg_port,
                              secrets=json.loads((home / "secrets.json").read_text()),
                              token=credentials["token"], project=credentials["project"]["id"])
    finally:
        stopped = yavio(home, "down")
        assert stopped.returncode == 0, stopped.stderr


def log_every_statement(stack: SimpleNamespace) -> None:
    """Make Postgres log each statement with its parameters: what it is asked to compare."""
    with psycopg.connect(host="127.0.0.1", port=stack.pg_port, user=SUPERUSER,
                         password=stack.secrets["postgres_superuser_password"],
                         dbname="postgres", autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET log_statement = 'all'")
        conn.execute("SELECT pg_reload_conf()")


def error_code(response: httpx.Response) -> str | None:
    """The YAVIO code of an error answer; None for any other answer (an accepted forgery)."""
    return response.json().get("error", {}).get("code")


def forged_tokens(real: str, jwt_secret: str) -> dict[str, str]:
    """Tokens a server with `alg` pinned to HS256 and its own secret must refuse, built from the
    claims of a real widget token so that only the signature or its algorithm is wrong."""
    claims = jwt.decode(real, options={"verify_signature": False})
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    embedded_key = jwt.algorithms.RSAAlgorithm.to_jwk(attacker.public_key(), as_dict=True)
    now = int(time.time())
    return {
        "alg none": jwt.encode(claims, None, algorithm="none"),
        "HS512": jwt.encode(claims, jwt_secret, algorithm="HS512"),
        "HS384": jwt.encode(claims, jwt_secret, algorithm="HS384"),
        "RS256 with its own key in the header": jwt.encode(
            claims, attacker, algorithm="RS256", headers={"jwk": embedded_key}),
        "HS256 with another secret": jwt.encode(claims, "another-" + jwt_secret,
                                                algorithm="HS256"),
        "expired": jwt.encode({**claims, "iat": now - 1000, "exp": now - 100}, jwt_secret,
                              algorithm="HS256"),
    }


def drive_traffic(stack: SimpleNamespace, http: httpx.Client) -> dict[str, str]:
    """A key and an access token created, events sent with the key and with a widget token
    (header, and `?token=` as `sendBeacon` sends it), a read with the new access token, an API
    key wrongly put in a URL. Returns the secrets it handled."""
    owner = {"Authorization": f"Bearer {stack.token}"}
    created = http.post(f"/v1/projects/{stack.project}/keys", json={"name": "ci"}, headers=owner)
    assert created.status_code == 201, created.text
    api_key = created.json()["key"]
    minted_token = http.post("/v1/tokens", json={"name": "reader"}, headers=owner)
    assert minted_token.status_code == 201, minted_token.text
    access_token = minted_token.json()["token"]

    sent = http.post("/v1/events", json={"events": [make_event() for _ in range(3)]},
                     headers={"Authorization": f"Bearer {api_key}"})
    assert sent.status_code == 200, sent.text
    minted = http.post("/v1/widget-tokens", json={"traceId": "tr_w", "sessionId": "ses_w"},
                       headers={"Authorization": f"Bearer {api_key}"})
    assert minted.status_code == 200, minted.text
    widget_token = minted.json()["token"]
    widget_event = make_event("widget_click", trace_id="tr_w", session_id="ses_w")
    in_header = http.post("/v1/events", json={"events": [widget_event]},
                          headers={"Authorization": f"Bearer {widget_token}"})
    as_beacon = http.post("/v1/events", params={"token": widget_token},
                          content=json.dumps({"events": [{**widget_event,
                                                          "event_id": str(uuid.uuid4())}]}),
                          headers={"Content-Type": "text/plain"})
    assert (in_header.status_code, as_beacon.status_code) == (200, 200), as_beacon.text
    key_in_url = http.post("/v1/events", params={"token": api_key},
                           json={"events": [make_event()]})
    assert (key_in_url.status_code, error_code(key_in_url)) == (401, "YAVIO-2006")

    reader = {"Authorization": f"Bearer {access_token}"}
    deadline = time.monotonic() + 30
    while True:
        read = http.get(f"/v1/projects/{stack.project}/events", headers=reader)
        assert read.status_code == 200, read.text
        if len(read.json()["events"]) >= 5 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(read.json()["events"]) == 5
    return {"api key": api_key, "access token": access_token, "widget token": widget_token}


def command_lines() -> dict[int, str]:
    """Every process's argv, as /proc shows it to any local user."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ") \
                    .decode(errors="replace")
            except OSError:
                continue  # exited meanwhile
    return found


def parent_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def files_under(root: Path) -> Iterator[Path]:
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                yield path


@pytest.mark.stack
def test_no_secret_leaks_into_argv_logs_or_readable_files_and_forged_jwts_are_refused(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    with running_stack(home) as stack, httpx.Client(base_url=stack.url, timeout=30) as http:
        log_every_statement(stack)
        handled = drive_traffic(stack, http)
        secrets = {**{name: value for name, value in stack.secrets.items()
                      if name != "database_url"},  # holds the app password, checked on its own
                   "owner's access token": stack.token, **handled}

        # No process on the machine has a secret on its command line, while the stack runs
        # (the server, Postgres and each of its backends, the test itself).
        processes = command_lines()
        server = json.loads((home / "state.json").read_text())["server"]["pid"]
        postmaster = int((home / "postgres" / "postmaster.pid").read_text().split()[0])
        backends = [pid for pid in processes if parent_of(pid) == postmaster]
        assert {server, postmaster} <= processes.keys() and backends, "the stack was scanned"
        for name, secret in secrets.items():
            holders = [pid for pid, argv in processes.items() if secret in argv]
            assert holders == [], f"the {name} is in the argv of {holders}"

        # `alg` pinned to HS256 with the server's secret: every forgery is refused with a code at
        # ingest; no widget token, not even a valid one, opens a read or management endpoint.
        forged = forged_tokens(handled["widget token"], stack.secrets["jwt_secret"])
        event = make_event("widget_click", trace_id="tr_w", session_id="ses_w")
        for case, token in forged.items():
            bearer = {"Authorization": f"Bearer {token}"}
            refused = http.post("/v1/events", json={"events": [event]}, headers=bearer)
            assert (refused.status_code, error_code(refused)) == (401, "YAVIO-2004"), case
        for case, token in {**forged, "valid widget token": handled["widget token"]}.items():
            bearer = {"Authorization": f"Bearer {token}"}
            for path in (f"/v1/projects/{stack.project}/overview",
                         f"/v1/projects/{stack.project}/events", "/v1/stats"):
                refused = http.get(path, headers=bearer)
                assert (refused.status_code, error_code(refused)) == (401, "YAVIO-3000"), \
                    (case, path)
            for method, path in (("GET", f"/v1/projects/{stack.project}/keys"),
                                 ("POST", f"/v1/projects/{stack.project}/keys"),
                                 ("POST", "/v1/tokens"), ("GET", "/v1/workspaces")):
                refused = http.request(method, path, headers=bearer, json={})
                assert (refused.status_code, error_code(refused)) == (401, "YAVIO-3000"), \
                    (case, method, path)

    # After `yavio down`, with every log complete: no secret in any of them, though Postgres
    # logged every statement it ran; what it compared keys and tokens with was their HMAC.
    logs = {path.name: path.read_text(errors="replace") for path in (home / "logs").iterdir()}
    assert {"server.log", "postgres.log"} <= logs.keys()
    for name, secret in secrets.items():
        for log_name, text in logs.items():
            assert secret not in text, f"the {name} is in {log_name}"
    for name in ("api key", "access token"):
        assert credential_hash(handled[name], stack.secrets["hmac_secret"]) in \
            logs["postgres.log"], f"Postgres did not look up the {name}'s HMAC"

    # Every file holding a secret is 0600, in folders that others cannot list or read.
    holders = set()
    for path in files_under(home):
        content = path.read_bytes()
        if any(secret.encode() in content for secret in secrets.values()):
            holders.add(path.relative_to(home))
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
            for folder in path.relative_to(home).parents:
                mode = stat.S_IMODE((home / folder).stat().st_mode)
                assert mode & 0o066 == 0, f"{home / folder} is {oct(mode)}"
    assert {Path("secrets.json"), Path("credentials.json")} <= holders


def signature_of(token: str) -> bytes:
    encoded = token.rsplit(".", 1)[1]
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))


async def test_widget_tokens_are_verified_with_a_constant_time_comparison(
        ingest_server: IngestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    token = await ingest_server.widget_token()
    compared: list[tuple[Any, Any]] = []
    constant_time = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return constant_time(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    accepted = await ingest_server.send([make_event()], token=token)
    assert accepted.status_code == 200, accepted.text
    assert any(signature_of(token) in pair for pair in compared), \
        "the token's signature was not compared with hmac.compare_digest"
