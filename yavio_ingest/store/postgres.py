"""The Postgres store: tenants and credentials, over psycopg 3 and a connection pool.

Migrations are numbered SQL files applied under an advisory lock, so several ingest replicas starting
at once apply each migration exactly once. Repositories are small classes, one per table family,
sharing the pool.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row
from psycopg_pool import ConnectionPool

from yavio_ingest.credentials import (
    credential_hash,
    display_prefix,
    new_access_token,
    new_api_key,
)
from yavio_ingest.store.migrations import load_migrations

# Any constant works; it only has to be the same for every replica of this project.
_MIGRATION_LOCK_ID = 0x7961_7669_6F00

ROLES = ("owner", "admin", "member", "viewer")


@dataclass(frozen=True)
class User:
    id: uuid.UUID
    email: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class Workspace:
    id: uuid.UUID
    name: str
    slug: str
    plan: str
    monthly_event_quota: int | None
    created_at: datetime


@dataclass(frozen=True)
class Project:
    id: uuid.UUID
    workspace_id: uuid.UUID
    name: str
    slug: str
    created_at: datetime


@dataclass(frozen=True)
class ApiKey:
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    key_prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class KeyOwner:
    """What a valid API key grants: the project (and its workspace) it writes into."""
    key_id: uuid.UUID
    project_id: uuid.UUID
    workspace_id: uuid.UUID


@dataclass(frozen=True)
class AccessToken:
    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    token_prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class PostgresStore:
    """The pool, the migrations and the repositories."""

    def __init__(self, url: str, secret: str, *, min_size: int = 1, max_size: int = 8):
        self.pool = ConnectionPool(url, min_size=min_size, max_size=max_size, open=True,
                                   kwargs={"autocommit": True})
        self.users = Users(self.pool)
        self.workspaces = Workspaces(self.pool)
        self.projects = Projects(self.pool)
        self.api_keys = ApiKeys(self.pool, secret)
        self.access_tokens = AccessTokens(self.pool, secret)

    def close(self) -> None:
        self.pool.close()

    def ping(self) -> bool:
        try:
            with self.pool.connection(timeout=2) as conn:
                return conn.execute("SELECT 1").fetchone() == (1,)
        except Exception:
            return False

    def migrate(self) -> list[str]:
        """Apply the migrations not yet recorded; returns the names applied. Safe to run again."""
        applied: list[str] = []
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_ID,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for migration in load_migrations("postgres"):
                if migration.version in done:
                    continue
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                             (migration.version, migration.name))
                applied.append(f"{migration.version:04d}_{migration.name}")
        return applied

    def applied_migrations(self) -> list[int]:
        with self.pool.connection() as conn:
            return [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]


class Users:
    def __init__(self, pool: ConnectionPool):
        self.pool = pool

    def create(self, email: str, name: str = "") -> User:
        with self.pool.connection() as conn, conn.cursor(row_factory=class_row(User)) as cur:
            return cur.execute(
                "INSERT INTO users (email, name) VALUES (%s, %s) RETURNING *",
                (email, name)).fetchone()

    def count(self) -> int:
        with self.pool.connection() as conn:
            return conn.execute("SELECT count(*) FROM users").fetchone()[0]

    def first_owner(self) -> User | None:
        """The earliest user who owns a workspace: the one `yavio up` bootstrapped."""
        with self.pool.connection() as conn, conn.cursor(row_factory=class_row(User)) as cur:
            return cur.execute(
                "SELECT u.* FROM users u JOIN workspace_members m ON m.user_id = u.id "
                "WHERE m.role = 'owner' ORDER BY u.created_at LIMIT 1").fetchone()


class Workspaces:
    def __init__(self, pool: ConnectionPool):
        self.pool = pool

    def create(self, name: str, slug: str, owner_id: uuid.UUID) -> Workspace:
        """A workspace with `owner_id` as its owner, in one transaction."""
        with self.pool.connection() as conn, conn.transaction(), \
                conn.cursor(row_factory=class_row(Workspace)) as cur:
            workspace = cur.execute(
                "INSERT INTO workspaces (name, slug) VALUES (%s, %s) RETURNING *",
                (name, slug)).fetchone()
            cur.execute(
                "INSERT INTO workspace_members (workspace_id, user_id, role) "
                "VALUES (%s, %s, 'owner')", (workspace.id, owner_id))
            return workspace

    def for_user(self, user_id: uuid.UUID) -> list[Workspace]:
        with self.pool.connection() as conn, conn.cursor(row_factory=class_row(Workspace)) as cur:
            return cur.execute(
                "SELECT w.* FROM workspaces w JOIN workspace_members m ON m.workspace_id = w.id "
                "WHERE m.user_id = %s ORDER BY w.created_at", (user_id,)).fetchall()

    def role_of(self, workspace_id: uuid.UUID, user_id: uuid.UUID) -> str | None:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT role FROM workspace_members WHERE workspace_id = %s AND user_id = %s",
                (workspace_id, user_id)).fetchone()
        return row[0] if row else None


class Projects:
    def __init__(self, pool: ConnectionPool):
        self.pool = pool

    def create(self, workspace_id: uuid.UUID, name: str, slug: str) -> Project:
        with self.pool.connection() as conn, conn.cursor(row_factory=class_row(Project)) as cur:
            return cur.execute(
                "INSERT INTO projects (workspace_id, name, slug) VALUES (%s, %s, %s) RETURNING *",
                (workspace_id, name, slug)).fetchone()

    def in_workspace(self, workspace_id: uuid.UUID) -> list[Project]:
        with self.pool.connection() as conn, conn.cursor(row_factory=class_row(Project)) as cur:
            return cur.execute(
                "SELECT * FROM projects WHERE workspace_id = %s ORDER BY created_at",
                (workspace_id,)).fetchall()


class ApiKeys:
    def __init__(self, pool: ConnectionPool, secret: str):
        self.pool = pool
        self.secret = secret

    def create(self, project_id: uuid.UUID, name: str = "") -> tuple[str, ApiKey]:
        """A new key for `project_id`: the raw key (shown once) and its stored record."""
        raw = new_api_key()
        with self.pool.connection() as conn, conn.cursor(row_factory=class_row(ApiKey)) as cur:
            record = cur.execute(
                "INSERT INTO api_keys (project_id, name, key_hash, key_prefix) "
                "VALUES (%s, %s, %s, %s) RETURNING id, project_id, name, key_prefix, created_at, "
                "last_used_at, revoked_at",
                (project_id, name, credential_hash(raw, self.secret), display_prefix(raw)),
            ).fetchone()
        return raw, record

    def owner_of(self, raw: str) -> KeyOwner | None:
        """The project a raw key writes into, or None if unknown or revoked."""
        return self.owner_of_hash(credential_hash(raw, self.secret))

    def owner_of_hash(self, key_hash: str) -> KeyOwner | None:
        """Like `owner_of`, for a key already hashed. A key whose `revoked_at` lies in the future
        is in its rotation grace period and still valid."""
        with self.pool.connection() as conn, conn.cursor(row_factory=class_row(KeyOwner)) as cur:
            return cur.execute(
                "SELECT k.id AS key_id, k.project_id, p.workspace_id FROM api_keys k "
                "JOIN projects p ON p.id = k.project_id "
                "WHERE k.key_hash = %s AND (k.revoked_at IS NULL OR k.revoked_at > now())",
                (key_hash,)).fetchone()

    def touch(self, key_id: uuid.UUID | str) -> None:
        """Record that the key was just used."""
        with self.pool.connection() as conn:
            conn.execute("UPDATE api_keys SET last_used_at = now() WHERE id = %s", (key_id,))

    def get(self, key_id: uuid.UUID | str) -> ApiKey | None:
        with self.pool.connection() as conn, conn.cursor(row_factory=class_row(ApiKey)) as cur:
            return cur.execute(
                "SELECT id, project_id, name, key_prefix, created_at, last_used_at, revoked_at "
                "FROM api_keys WHERE id = %s", (key_id,)).fetchone()

    def revoke(self, key_id: uuid.UUID, at: datetime | None = None) -> None:
        """Revoke now, or at `at` (a future time keeps the key valid until then)."""
        with self.pool.connection() as conn:
            conn.execute("UPDATE api_keys SET revoked_at = coalesce(%s, now()) WHERE id = %s",
                         (at, key_id))


class AccessTokens:
    def __init__(self, pool: ConnectionPool, secret: str):
        self.pool = pool
        self.secret = secret

    def create(self, user_id: uuid.UUID, name: str = "",
               expires_at: datetime | None = None) -> tuple[str, AccessToken]:
        """A new token for `user_id`: the raw token (shown once) and its stored record."""
        raw = new_access_token()
        with self.pool.connection() as conn, \
                conn.cursor(row_factory=class_row(AccessToken)) as cur:
            record = cur.execute(
                "INSERT INTO access_tokens (user_id, name, token_hash, token_prefix, expires_at) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING id, user_id, name, token_prefix, "
                "created_at, expires_at, last_used_at, revoked_at",
                (user_id, name, credential_hash(raw, self.secret), display_prefix(raw),
                 expires_at),
            ).fetchone()
        return raw, record

    def user_of(self, raw: str) -> User | None:
        """The user a raw token belongs to, unless it is unknown, revoked or expired."""
        with self.pool.connection() as conn, conn.cursor(row_factory=class_row(User)) as cur:
            return cur.execute(
                "SELECT u.* FROM access_tokens t JOIN users u ON u.id = t.user_id "
                "WHERE t.token_hash = %s AND t.revoked_at IS NULL "
                "AND (t.expires_at IS NULL OR t.expires_at > now())",
                (credential_hash(raw, self.secret),)).fetchone()
