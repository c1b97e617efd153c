"""The Postgres store against a real embedded Postgres."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from tests.conftest import TEST_SECRET
from yavio_ingest.bootstrap import bootstrap_owner
from yavio_ingest.store.postgres import PostgresStore


def test_migrations_apply_twice_without_error(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, TEST_SECRET)
    try:
        first = store.migrate()
        second = store.migrate()
        assert first == ["0001_tenants", "0002_credentials"]
        assert second == []
        assert store.applied_migrations() == [1, 2]
    finally:
        store.close()


def test_the_application_role_is_not_a_superuser(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)


def test_api_keys_are_stored_only_as_hmac_and_shown_once(postgres_store: PostgresStore) -> None:
    owner = postgres_store.users.create("a@example.com")
    workspace = postgres_store.workspaces.create("A", "a", owner.id)
    project = postgres_store.projects.create(workspace.id, "P", "p")
    raw, record = postgres_store.api_keys.create(project.id, "ci")

    assert raw.startswith("yav_") and len(raw) == 68
    assert all(c in "0123456789abcdef" for c in raw[4:])
    assert record.key_prefix == raw[:12]
    with postgres_store.pool.connection() as conn:
        stored = conn.execute("SELECT key_hash FROM api_keys").fetchone()[0]
    assert raw not in stored and raw[4:] not in stored
    owner_of = postgres_store.api_keys.owner_of(raw)
    assert (owner_of.project_id, owner_of.workspace_id) == (project.id, workspace.id)


def test_a_key_hashed_under_another_server_secret_is_unknown(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, TEST_SECRET)
    other = PostgresStore(postgres_url, "another-secret-" + "y" * 32)
    try:
        store.migrate()
        owner = store.users.create("b@example.com")
        workspace = store.workspaces.create("B", "b", owner.id)
        project = store.projects.create(workspace.id, "P", "p")
        raw, _ = store.api_keys.create(project.id)
        assert other.api_keys.owner_of(raw) is None
    finally:
        store.close()
        other.close()


def test_revoked_key_is_refused_but_a_key_in_rotation_grace_still_works(
        postgres_store: PostgresStore) -> None:
    owner = postgres_store.users.create("c@example.com")
    workspace = postgres_store.workspaces.create("C", "c", owner.id)
    project = postgres_store.projects.create(workspace.id, "P", "p")
    revoked, revoked_record = postgres_store.api_keys.create(project.id)
    rotating, rotating_record = postgres_store.api_keys.create(project.id)

    postgres_store.api_keys.revoke(revoked_record.id)
    postgres_store.api_keys.revoke(rotating_record.id,
                                   at=datetime.now(timezone.utc) + timedelta(hours=1))

    assert postgres_store.api_keys.owner_of(revoked) is None
    assert postgres_store.api_keys.owner_of(rotating) is not None


def test_access_tokens_resolve_to_their_user_until_expired(postgres_store: PostgresStore) -> None:
    user = postgres_store.users.create("d@example.com")
    live, _ = postgres_store.access_tokens.create(user.id)
    expired, _ = postgres_store.access_tokens.create(
        user.id, expires_at=datetime.now(timezone.utc) - timedelta(seconds=1))

    assert live.startswith("yat_")
    assert postgres_store.access_tokens.user_of(live).id == user.id
    assert postgres_store.access_tokens.user_of(expired) is None
    assert postgres_store.access_tokens.user_of("yat_" + "0" * 64) is None


def test_project_slugs_are_unique_within_a_workspace_only(postgres_store: PostgresStore) -> None:
    owner = postgres_store.users.create("e@example.com")
    first = postgres_store.workspaces.create("E", "e", owner.id)
    second = postgres_store.workspaces.create("F", "f", owner.id)
    postgres_store.projects.create(first.id, "Shop", "shop")
    postgres_store.projects.create(second.id, "Shop", "shop")
    with pytest.raises(psycopg.errors.UniqueViolation):
        postgres_store.projects.create(first.id, "Shop again", "shop")


def test_workspace_creator_becomes_its_owner(postgres_store: PostgresStore) -> None:
    owner = postgres_store.users.create("g@example.com")
    workspace = postgres_store.workspaces.create("G", "g", owner.id)
    assert postgres_store.workspaces.role_of(workspace.id, owner.id) == "owner"
    assert [w.id for w in postgres_store.workspaces.for_user(owner.id)] == [workspace.id]


def test_bootstrap_creates_the_owner_once_and_mints_a_working_token_each_time(
        postgres_store: PostgresStore) -> None:
    first = bootstrap_owner(postgres_store, "owner@localhost", "Owner")
    second = bootstrap_owner(postgres_store, "owner@localhost", "Owner")

    assert first["project"]["slug"] == "default"
    assert (first["user"], first["workspace"], first["project"]) == \
        (second["user"], second["workspace"], second["project"])
    assert first["token"] != second["token"]
    for result in (first, second):
        assert str(postgres_store.access_tokens.user_of(result["token"]).id) == result["user"]["id"]
    assert postgres_store.users.count() == 1
