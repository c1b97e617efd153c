"""Which workspace and project a command acts on: `--workspace` / `--project` (a slug or an id),
else the ones `yavio up` created, so `yavio keys create` works with no flags on a fresh stack."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import typer

from yavio_cli import lookup
from yavio_cli.client import YavioClient
from yavio_cli.connection import Connection
from yavio_cli.terminal import fail

WorkspaceOption = Annotated[str | None, typer.Option(
    "--workspace", "-w", metavar="SLUG_OR_ID",
    help="Workspace to act on [default: the one `yavio up` created].", show_default=False)]
ProjectOption = Annotated[str | None, typer.Option(
    "--project", "-p", metavar="SLUG_OR_ID",
    help="Project to act on [default: the one `yavio up` created].", show_default=False)]


def workspace(client: YavioClient, connection: Connection,
              chosen: str | None) -> dict[str, Any]:
    """The chosen workspace (at least `id` and `slug`); without a choice, the default one, else
    the caller's only workspace."""
    if chosen is None and connection.default_workspace:
        return connection.default_workspace
    workspaces = client.workspaces()
    if chosen is not None:
        return lookup.find(workspaces, chosen, fields=("id", "slug"), noun="workspace",
                           listing="yavio workspaces list")
    if len(workspaces) == 1:
        return workspaces[0]
    raise fail("Choose a workspace with --workspace SLUG (see `yavio workspaces list`).")


def project(client: YavioClient, connection: Connection, chosen_workspace: str | None,
            chosen: str | None) -> dict[str, Any]:
    """The chosen project (at least `id` and `slug`) in the chosen workspace; without a choice,
    the default project, else the workspace's `default` or only project."""
    parent = workspace(client, connection, chosen_workspace)
    default = connection.default_project
    if chosen is None and default and _same(parent, connection.default_workspace):
        return default
    projects = client.projects(parent["id"])
    listing = f"yavio projects list --workspace {parent['slug']}"
    if chosen is not None:
        if _is_id(chosen) and not any(p["id"] == chosen.lower() for p in projects):
            # A project id is unique across workspaces: let the server find it (or answer 404).
            return {"id": chosen, "slug": chosen}
        return lookup.find(projects, chosen, fields=("id", "slug"), noun="project",
                           listing=listing)
    if not projects:
        raise fail(f"Workspace {parent['slug']} has no project yet; create one with "
                   f"`yavio projects create NAME --workspace {parent['slug']}`.")
    fallback = [p for p in projects if p.get("slug") == "default"] or projects
    if len(fallback) == 1:
        return fallback[0]
    raise fail(f"Choose a project with --project SLUG (see `{listing}`).")


def _same(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    return bool(a and b and a.get("id") == b.get("id"))


def _is_id(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
