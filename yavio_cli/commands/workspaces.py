"""`yavio workspaces`: the workspaces the user belongs to, with their role and plan."""

from __future__ import annotations

from typing import Annotated

import typer

from yavio_cli import lookup
from yavio_cli.commands.projects import SlugOption, YesOption
from yavio_cli.connection import Connection
from yavio_cli.terminal import (
    HomeOption,
    JsonOption,
    fail,
    print_json,
    print_table,
    say,
)

app = typer.Typer(help="Your workspaces: create, list, delete.", no_args_is_help=True)


@app.command()
def create(name: Annotated[str, typer.Argument(help="The workspace's name.", show_default=False)],
           slug: SlugOption = None, home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Create a workspace; you become its owner.

    Example: `yavio workspaces create Acme --slug acme`
    """
    connection = Connection.for_home(home)
    with connection.open() as client:
        created = client.create_workspace(name, slug)
    if as_json:
        print_json(created)
        return
    say(f"Created workspace {created['slug']}; you are its owner. Add a project: "
        f"`yavio projects create NAME --workspace {created['slug']}`")


@app.command(name="list")
def list_workspaces(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """List the workspaces you belong to, with your role in each.

    Example: `yavio workspaces list --json`
    """
    connection = Connection.for_home(home)
    with connection.open() as client:
        workspaces = client.workspaces()
    if as_json:
        print_json({"workspaces": workspaces})
        return
    default_id = (connection.default_workspace or {}).get("id")
    print_table(
        ("slug", "name", "role", "plan", "events/month", "id"),
        # The default is the one commands act on without --workspace.
        ([w["slug"], (w.get("name") or "-") + (" (default)" if w["id"] == default_id else ""),
          w.get("role") or "-", w.get("plan") or "-", _quota(w.get("monthlyEventQuota")), w["id"]]
         for w in workspaces),
        empty="You belong to no workspace; create one with `yavio workspaces create NAME`.")


@app.command()
def delete(workspace: Annotated[str, typer.Argument(
               metavar="SLUG_OR_ID", help="The workspace to delete.", show_default=False)],
           yes: YesOption = False,
           home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Delete a workspace: this erases all its projects and their events, for good. Needs
    --yes, and the owner role.

    Example: `yavio workspaces delete acme --yes`
    """
    if not yes:
        raise fail(f"Deleting workspace {workspace} erases all its projects and events; "
                   "add --yes to confirm.")
    connection = Connection.for_home(home)
    with connection.open() as client:
        target = lookup.find(client.workspaces(), workspace, fields=("id", "slug"),
                             noun="workspace", listing="yavio workspaces list")
        client.delete_workspace(target["id"])
    if as_json:
        print_json({"deleted": target})
        return
    say(f"Deleted workspace {target['slug']} with its projects and events.")


def _quota(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"
