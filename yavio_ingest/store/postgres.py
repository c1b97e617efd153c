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
    new_invitation_token,
)
from yavio_ingest.store.migrations import load_migrations

# Any constant works; it only has to be the same for every replica of this project.
_MIGRATION_LOCK_ID = 0x7961_7669_6F00

ROLES = ("owner", "admin", "member", "viewer")
# The ingest asks for a key on the request path: with Postgres down it answers 503 after this
# long instead of holding the client for the pool's default 30 s.
LOOKUP_TIMEOUT_S = 2.0


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
class Member:
    user_id: uuid.UUID
    email: str
    name: str
    role: str


@dataclass(frozen=True)
class Invitation:
    id: uuid.UUID
    workspace_id: uuid.UUID
    email: str
    role: str
    expires_at: datetime
    accepted_at: datetime | None


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
        self.invitations = Invitations(self.pool, secret)

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

    def by_email(self, email: str) -> User | None:
        with self.pool.connection() as conn, conn.cursor(row_factory=class_row(User)) as cur:
            return cur.execute("SELECT * FROM users WHERE lower(email) = lower(%s)",
                               (email,)).fetchone()

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

    def get(self, workspace_id: uuid.UUID) -> Workspace | None:
        with self.pool.connection() as conn, conn.cursor(row_factory=class_row(Workspace)) as cur:
            return cur.execute("SELECT * FROM workspaces WHERE id = %s",
                               (workspace_id,)).fetchone()

    def set_plan(self, workspace_id: uuid.UUID, plan: str, quota: int | None) -> Workspace:
        with self.pool.connection() as conn, conn.cursor(row_factory=class_row(Workspace)) as cur:
            return cur.execute(
                "UPDATE workspaces SET plan = %s, monthly_event_quota = %s WHERE id = %s "
                "RETURNING *", (plan, quota, workspace_id)).fetchone()

    def delete(self, workspace_id: uuid.UUID) -> None:
        """The workspace and, by cascade, its members, invitations, projects and keys."""
        with self.pool.connection() as conn:
            conn.execute("DELETE FROM workspaces WHERE id = %s", (workspace_id,))

    def members(self, workspace_id: uuid.UUID) -> list[Member]:
        with self.pool.connection() as conn, conn.cursor(row_factory=class_row(Member)) as cur:
            return cur.execute(
                "SELECT u.id AS user_id, u.email, u.name, m.role FROM workspace_members m "
                "JOIN users u ON u.id = m.user_id WHERE m.workspace_id = %s "
                "ORDER BY m.created_at", (workspace_id,)).fetchall()

    def set_role(self, workspace_id: uuid.UUID, user_id: uuid.UUID, role: str) -> bool:
        """Change a member's role (adding the member if new); False if the user is unknown."""
        with self.pool.connection() as conn:
            return conn.execute(
                "INSERT INTO workspace_members (workspace_id, user_id, role) "
                "SELECT %s, id, %s FROM users WHERE id = %s "
                "ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = excluded.role",
                (workspace_id, role, user_id)).rowcount == 1

    def remove_member(self, workspace_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        with self.pool.connection() as conn:
            return conn.execute(
                "DELETE FROM workspace_members WHERE workspace_id = %s AND user_id = %s",
                (workspace_id, user_id)).rowcount == 1

    def owners(self, workspace_id: uuid.UUID) -> int:
        with self.pool.connection() as conn:
            return conn.execute(
                "SELECT count(*) FROM workspace_members WHERE workspace_id = %s "
                "AND role = 'owner'", (workspace_id,)).fetchone()[0]


class Projects:
    def __init__(self, pool: ConnectionPool):
        self.pool = pool

    def create(self, workspace_id: uuid.UUID, name: str, slug: str) -> Project:
        with self.pool.connection() as conn, conn.cursor(row_factory=class_row(Project)) as cur:
            return cur.execute(
                "INSERT INTO projects (workspace_id, name, slug) VALUES (%s, %s, %s) RETURNING *",
                (workspace_id, name, slug)).fetchone()

    def get(self, project_id: uuid.UUID) -> Project | None:
        with self.pool.connection() as conn, conn.cursor(row_factory=class_row(Project)) as cur:
            return cur.execute("SELECT * FROM projects WHERE id = %s", (project_id,)).fetchone()

    def delete(self, project_id: uuid.UUID) -> None:
        """The project and, by cascade, its keys."""
        with self.pool.connection() as conn:
            conn.execute("DELETE FROM projects WHERE id = %s", (project_id,))

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
        is in its rotation grace period and still valid. Raises psycopg.Error if Postgres does
        not answer within LOOKUP_TIMEOUT_S."""
        with self.pool.connection(timeout=LOOKUP_TIMEOUT_S) as conn, \
                conn.cursor(row_factory=class_row(KeyOwner)) as cur:
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

    def of_project(self, project_id: uuid.UUID) -> list[ApiKey]:
        with self.pool.connection() as conn, conn.cursor(row_factory=class_row(ApiKey)) as cur:
            return cur.execute(
                "SELECT id, project_id, name, key_prefix, created_at, last_used_at, revoked_at "
                "FROM api_keys WHERE project_id = %s ORDER BY created_at",
                (project_id,)).fetchall()

    def revoke(self, key_id: uuid.UUID, at: datetime | None = None) -> None:
        """Revoke now, or at `at` (a future time keeps the key valid until then)."""
        with self.pool.connection() as conn:
            conn.execute("UPDATE api_keys SET revoked_at = coalesce(%s, now()) WHERE id = %s",
                         (at, key_id))


class Invitations:
    def __init__(self, pool: ConnectionPool, secret: str):
        self.pool = pool
        self.secret = secret

    def create(self, workspace_id: uuid.UUID, email: str, role: str,
               invited_by: uuid.UUID) -> tuple[str, Invitation]:
        """A 7-day invitation: the raw token (shown once) and its stored record."""
        raw = new_invitation_token()
        with self.pool.connection() as conn, conn.cursor(row_factory=class_row(Invitation)) as cur:
            record = cur.execute(
                "INSERT INTO invitations (workspace_id, email, role, token_hash, invited_by) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING id, workspace_id, email, role, "
                "expires_at, accepted_at",
                (workspace_id, email, role, credential_hash(raw, self.secret), invited_by),
            ).fetchone()
        return raw, record

    def accept(self, raw: str, user: User) -> Invitation | None:
        """Make `user` a member with the invitation's role, once; None if the token is unknown,
        used or expired. A member keeps a higher role they already have."""
        with self.pool.connection() as conn, conn.transaction(), \
                conn.cursor(row_factory=class_row(Invitation)) as cur:
            invitation = cur.execute(
                "UPDATE invitations SET accepted_at = now() WHERE token_hash = %s "
                "AND accepted_at IS NULL AND expires_at > now() RETURNING id, workspace_id, "
                "email, role, expires_at, accepted_at",
                (credential_hash(raw, self.secret),)).fetchone()
            if invitation is None:
                return None
            cur.execute(
                "INSERT INTO workspace_members (workspace_id, user_id, role) VALUES (%s, %s, %s) "
                "ON CONFLICT (workspace_id, user_id) DO NOTHING",
                (invitation.workspace_id, user.id, invitation.role))
            return invitation

    def pending(self, raw: str) -> Invitation | None:
        """The invitation of a raw token if it can still be accepted."""
        with self.pool.connection() as conn, conn.cursor(row_factory=class_row(Invitation)) as cur:
            return cur.execute(
                "SELECT id, workspace_id, email, role, expires_at, accepted_at FROM invitations "
                "WHERE token_hash = %s AND accepted_at IS NULL AND expires_at > now()",
                (credential_hash(raw, self.secret),)).fetchone()


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

    def of_user(self, user_id: uuid.UUID) -> list[AccessToken]:
        with self.pool.connection() as conn, \
                conn.cursor(row_factory=class_row(AccessToken)) as cur:
            return cur.execute(
                "SELECT id, user_id, name, token_prefix, created_at, expires_at, last_used_at, "
                "revoked_at FROM access_tokens WHERE user_id = %s ORDER BY created_at",
                (user_id,)).fetchall()

    def revoke(self, user_id: uuid.UUID, token_id: uuid.UUID) -> AccessToken | None:
        """Revoke one of the user's tokens; None if the user has no such token."""
        with self.pool.connection() as conn, \
                conn.cursor(row_factory=class_row(AccessToken)) as cur:
            return cur.execute(
                "UPDATE access_tokens SET revoked_at = coalesce(revoked_at, now()) "
                "WHERE id = %s AND user_id = %s RETURNING id, user_id, name, token_prefix, "
                "created_at, expires_at, last_used_at, revoked_at",
                (token_id, user_id)).fetchone()

    def user_of(self, raw: str) -> User | None:
        """The user a raw token belongs to, unless it is unknown, revoked or expired."""
        with self.pool.connection() as conn, conn.cursor(row_factory=class_row(User)) as cur:
            return cur.execute(
                "SELECT u.* FROM access_tokens t JOIN users u ON u.id = t.user_id "
                "WHERE t.token_hash = %s AND t.revoked_at IS NULL "
                "AND (t.expires_at IS NULL OR t.expires_at > now())",
                (credential_hash(raw, self.secret),)).fetchone()
