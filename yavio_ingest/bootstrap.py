"""First-run setup of a fresh install: an owner, a workspace, a "default" project and a token.

Running it again never duplicates anything: it finds the existing owner, workspace and project and
only mints a new access token (for when the saved one was lost).
"""

from __future__ import annotations

from typing import Any

from yavio_ingest.store.postgres import PostgresStore


def bootstrap_owner(store: PostgresStore, email: str, name: str) -> dict[str, Any]:
    """Ensure an owner with a workspace and a default project; return a new token and their ids."""
    owner = store.users.first_owner()
    if owner is None:
        owner = store.users.create(email, name)
    workspaces = store.workspaces.for_user(owner.id)
    workspace = workspaces[0] if workspaces else store.workspaces.create(
        "Default", "default", owner.id)
    projects = store.projects.in_workspace(workspace.id)
    project = next((p for p in projects if p.slug == "default"), None) or \
        store.projects.create(workspace.id, "Default", "default")
    token, _ = store.access_tokens.create(owner.id, "yavio up")
    return {
        "token": token,
        "user": {"id": str(owner.id), "email": owner.email},
        "workspace": {"id": str(workspace.id), "slug": workspace.slug},
        "project": {"id": str(project.id), "slug": project.slug},
    }
