"""Ids have the SPEC's formats, are unique, and a session key names the same session everywhere."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid

import pytest

from yavio_sdk.events import ToolCallEvent, format_timestamp, validate_obj
from yavio_sdk.ids import (
    derive_session_id,
    new_event_id,
    new_session_id,
    new_trace_id,
    session_id_from_key,
)

TRACE = re.compile(r"tr_[A-Za-z0-9_-]{21}")
SESSION = re.compile(r"ses_[A-Za-z0-9_-]{21}")

# Computed outside Python: printf '%s' KEY | openssl dgst -sha256 -binary | base64 | tr '+/' '-_'
# (the original TypeScript SDK's derivation), so a session keeps its id across both SDKs.
KNOWN_SESSIONS = {
    "abc": "ses_ungWv48Bz-pBQUDeXa4iI",
    "1868a90c-2c0f-4c55-9b5a-1f6e3c1d2b7a": "ses_rW1dGcloNdMjnmVPCWGnT",
    "sessão-ü": "ses_sKUi0idAIKEIhPzb_4EPj",
}


def test_event_ids_are_random_uuids_the_ingest_accepts() -> None:
    event_id = new_event_id()
    assert uuid.UUID(event_id).version == 4
    event = ToolCallEvent(event_id=event_id, trace_id=new_trace_id(),
                          session_id=new_session_id(), timestamp=format_timestamp(),
                          source="server", event_name="search_rooms")
    assert validate_obj(event) == (event, [])


def test_trace_and_session_ids_have_a_prefix_and_21_url_safe_characters() -> None:
    assert TRACE.fullmatch(new_trace_id())
    assert SESSION.fullmatch(new_session_id())
    assert SESSION.fullmatch(session_id_from_key("any key"))


@pytest.mark.parametrize("make", [new_event_id, new_trace_id, new_session_id])
def test_new_ids_do_not_repeat(make) -> None:
    assert len({make() for _ in range(5_000)}) == 5_000


@pytest.mark.parametrize(("key", "session_id"), KNOWN_SESSIONS.items())
def test_a_session_key_gives_the_same_id_as_the_typescript_sdk(key: str, session_id: str) -> None:
    assert session_id_from_key(key) == session_id


def test_a_session_key_gives_the_same_id_in_another_process() -> None:
    # Another interpreter with another hash seed stands for another replica.
    code = "from yavio_sdk.ids import session_id_from_key as f; print(f('mcp-session-42'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": "12345"})
    assert other.stdout.strip() == session_id_from_key("mcp-session-42")


def test_different_session_keys_give_different_ids() -> None:
    keys = [f"mcp-session-{n}" for n in range(5_000)]
    assert len({session_id_from_key(key) for key in keys}) == len(keys)


@pytest.mark.parametrize(("keys", "key_used"), [
    ({"mcp_session_id": "m", "openai_session": "o", "transport_id": "t"}, "m"),
    ({"openai_session": "o", "transport_id": "t"}, "o"),
    ({"transport_id": "t"}, "t"),
    ({"mcp_session_id": "", "openai_session": "o"}, "o"),
    ({"mcp_session_id": None, "openai_session": 42, "transport_id": "t"}, "t"),
])
def test_the_session_comes_from_mcp_session_id_then_openai_session_then_transport(
    keys: dict, key_used: str,
) -> None:
    assert derive_session_id(**keys) == session_id_from_key(key_used)


def test_a_request_without_any_session_key_gets_a_new_random_session() -> None:
    first, second = derive_session_id(), derive_session_id(None, "", None)
    assert SESSION.fullmatch(first) and SESSION.fullmatch(second)
    assert first != second
