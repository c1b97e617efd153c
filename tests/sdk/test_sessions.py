"""Which session a request belongs to: the Mcp-Session-Id header, then ChatGPT's session, then the
connection, then the client's identity with an idle timeout (`yavio_sdk.sessions`)."""

from __future__ import annotations

import time

from yavio_sdk.ids import session_id_from_key
from yavio_sdk.sessions import SessionResolver


class Connection:
    """Stands in for a transport's session-long connection object (weak-referenceable)."""


# -- keys from the request ------------------------------------------------------------------------

def test_the_mcp_session_id_header_gives_the_hash_of_its_value() -> None:
    resolver = SessionResolver()

    assert resolver.resolve(mcp_session_id="abc-123") == session_id_from_key("abc-123")


def test_the_mcp_session_id_header_wins_over_every_other_key() -> None:
    resolver = SessionResolver()

    session_id = resolver.resolve(mcp_session_id="abc-123", openai_session="chat-9",
                                  client_identity="claude/1.0 ua")

    assert session_id == session_id_from_key("abc-123")


def test_the_same_header_gives_the_same_id_in_another_resolver_as_in_another_replica() -> None:
    assert SessionResolver().resolve(mcp_session_id="abc-123") == \
        SessionResolver().resolve(mcp_session_id="abc-123")


def test_chatgpts_session_is_used_when_there_is_no_header() -> None:
    resolver = SessionResolver()

    session_id = resolver.resolve(openai_session="chat-9", client_identity="openai/1.0 ua")

    assert session_id == session_id_from_key("chat-9")


def test_an_empty_header_is_no_header() -> None:
    resolver = SessionResolver()

    assert resolver.resolve(mcp_session_id="", openai_session="chat-9") == \
        session_id_from_key("chat-9")


# -- connections ----------------------------------------------------------------------------------

def test_every_request_on_one_connection_gets_the_same_id() -> None:
    resolver = SessionResolver()
    connection = Connection()

    first = resolver.resolve(connection=connection, client_identity="claude/1.0 ua")
    second = resolver.resolve(connection=connection, client_identity="claude/1.0 ua")

    assert first == second


def test_a_connection_keeps_its_id_when_a_later_request_on_it_carries_a_header() -> None:
    resolver = SessionResolver()
    connection = Connection()

    first = resolver.resolve(connection=connection)
    later = resolver.resolve(connection=connection, mcp_session_id="abc-123",
                             openai_session="chat-9")

    assert later == first
    assert later != session_id_from_key("abc-123")


def test_a_connection_whose_first_request_has_a_header_takes_the_headers_id() -> None:
    resolver = SessionResolver()
    connection = Connection()

    first = resolver.resolve(connection=connection, mcp_session_id="abc-123")
    later = resolver.resolve(connection=connection)

    assert first == later == session_id_from_key("abc-123")


def test_two_connections_get_two_ids_even_from_the_same_client() -> None:
    resolver = SessionResolver()

    one = resolver.resolve(connection=Connection(), client_identity="claude/1.0 ua")
    other = resolver.resolve(connection=Connection(), client_identity="claude/1.0 ua")

    assert one != other


def test_a_connection_that_cannot_be_weakly_referenced_still_gets_an_id() -> None:
    resolver = SessionResolver()

    session_id = resolver.resolve(connection=12345)  # hashable, but not weak-referenceable

    assert isinstance(session_id, str) and session_id


def test_a_plain_object_as_connection_still_gets_an_id() -> None:
    resolver = SessionResolver()

    session_id = resolver.resolve(connection=object(), mcp_session_id="abc-123")

    assert session_id == session_id_from_key("abc-123")


# -- client identity ------------------------------------------------------------------------------

def test_requests_from_the_same_client_identity_share_a_session() -> None:
    resolver = SessionResolver()

    first = resolver.resolve(client_identity="claude/1.0 Mozilla")
    second = resolver.resolve(client_identity="claude/1.0 Mozilla")

    assert first == second


def test_requests_from_different_client_identities_get_different_sessions() -> None:
    resolver = SessionResolver()

    claude = resolver.resolve(client_identity="claude/1.0 Mozilla")
    cursor = resolver.resolve(client_identity="cursor/2.0 Electron")

    assert claude != cursor


def test_requests_with_no_key_at_all_share_one_session() -> None:
    resolver = SessionResolver()

    assert resolver.resolve() == resolver.resolve()


def test_a_client_idle_longer_than_the_idle_time_starts_a_new_session() -> None:
    resolver = SessionResolver(idle_seconds=0.05)

    first = resolver.resolve(client_identity="claude/1.0 Mozilla")
    time.sleep(0.1)
    after_idle = resolver.resolve(client_identity="claude/1.0 Mozilla")

    assert after_idle != first
    assert resolver.resolve(client_identity="claude/1.0 Mozilla") == after_idle


def test_each_request_keeps_a_client_session_alive_for_another_idle_time() -> None:
    resolver = SessionResolver(idle_seconds=0.3)

    first = resolver.resolve(client_identity="claude/1.0 Mozilla")
    time.sleep(0.18)
    second = resolver.resolve(client_identity="claude/1.0 Mozilla")
    time.sleep(0.18)  # 0.36 s after the first request, 0.18 s after the latest
    third = resolver.resolve(client_identity="claude/1.0 Mozilla")

    assert first == second == third
