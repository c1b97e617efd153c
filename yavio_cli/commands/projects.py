"""`yavio projects`: the projects of a workspace, each with its own API keys and events."""

from __future__ import annotations

from typing import Annotated

import typer

from yavio_cli import scope
from yavio_cli.connection import Connection
from yavio_cli.terminal import (
    HomeOption,
    JsonOption,
    fail,
    print_json,
    print_table,
    say,
    show_time,
)

app = typer.Typer(help="A workspace's projects: create, list, delete.", no_args_is_help=True)

SlugOption = Annotated[str | None, typer.Option(
    "--slug", help="1-48 of a-z 0-9 - [default: derived from the name].", show_default=False)]
YesOption = Annotated[bool, typer.Option("--yes", help="Confirm the deletion.")]


@app.command()
def create(name: Annotated[str, typer.Argument(help="The project's name.", show_default=False)],
           slug: SlugOption = None, workspace: scope.WorkspaceOption = None,
           home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Create a project in a workspace.

    Example: `yavio projects create "Checkout bot" --slug checkout`
    """
    connection = Connection.for_home(home)
    with connection.open() as client:
        target = scope.workspace(client, connection, workspace)
        created = client.create_project(target["id"], name, slug)
    if as_json:
        print_json(created)
        return
    say(f"Created project {created['slug']} in workspace {target['slug']}. "
        f"Give it an API key: `yavio keys create --project {created['slug']}`")


@app.command(name="list")
def list_projects(workspace: scope.WorkspaceOption = None, home: HomeOption = None,
                  as_json: JsonOption = False) -> None:
    """List a workspace's projects.

    Example: `yavio projects list --workspace acme`
    """
    connection = Connection.for_home(home)
    with connection.open() as client:
        target = scope.workspace(client, connection, workspace)
        projects = client.projects(target["id"])
    if as_json:
        print_json({"projects": projects})
        return
    print_table(("slug", "name", "created (UTC)", "id"),
                ([p["slug"], p.get("name") or "-", show_time(p.get("createdAt"), zone=False),
                  p["id"]]
                 for p in projects),
                empty=f"No projects in workspace {target['slug']}; "
                      "create one with `yavio projects create NAME`.")


@app.command()
def delete(project: Annotated[str, typer.Argument(
               metavar="SLUG_OR_ID", help="The project to delete.", show_default=False)],
           yes: YesOption = False, workspace: scope.WorkspaceOption = None,
           home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Delete a project: this erases the project and all its events, for good. Needs --yes,
    and the owner role.

    Example: `yavio projects delete checkout --yes`
    """
    if not yes:
        raise fail(f"Deleting project {project} erases all its events; add --yes to confirm.")
    connection = Connection.for_home(home)
    with connection.open() as client:
        target = scope.project(client, connection, workspace, project)
        client.delete_project(target["id"])
    if as_json:
        print_json({"deleted": target})
        return
    say(f"Deleted project {target['slug']} and its events.")
