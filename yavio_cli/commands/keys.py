"""`yavio keys`: a project's API keys (`yav_…`), what MCP servers send events with.

A raw key is printed only by `create` and `rotate`, the one time the server sends it; lists
show its first characters.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from yavio_cli import durations, lookup, scope
from yavio_cli.connection import Connection
from yavio_cli.terminal import (
    HomeOption,
    JsonOption,
    credential_state,
    print_json,
    print_table,
    say,
    show_time,
)

app = typer.Typer(help="A project's API keys (`yav_…`): create, list, revoke, rotate.",
                  no_args_is_help=True)

KeyArgument = Annotated[str, typer.Argument(
    metavar="KEY_ID_OR_PREFIX", help="The key's id or the start of the key, as `yavio keys list` "
    "shows it.", show_default=False)]
NameOption = Annotated[str | None, typer.Option(
    "--name", help="A label to recognise the key by, e.g. where it is used.", show_default=False)]


@app.command()
def create(name: NameOption = None, project: scope.ProjectOption = None,
           workspace: scope.WorkspaceOption = None, home: HomeOption = None,
           as_json: JsonOption = False) -> None:
    """Create an API key for a project and print it, once.

    Example: `yavio keys create --name production`
    """
    connection = Connection.for_home(home)
    with connection.open() as client:
        target = scope.project(client, connection, workspace, project)
        created = client.create_key(target["id"], name)
    if as_json:
        print_json(created)
        return
    say(f"Created API key {_label(created)} in project {target['slug']}:")
    say(created["key"])
    say("Copy it now: it will not be shown again.")


@app.command(name="list")
def list_keys(project: scope.ProjectOption = None, workspace: scope.WorkspaceOption = None,
              home: HomeOption = None, as_json: JsonOption = False) -> None:
    """List a project's API keys (their first characters only), revoked ones included.

    Example: `yavio keys list --project checkout`
    """
    connection = Connection.for_home(home)
    with connection.open() as client:
        target = scope.project(client, connection, workspace, project)
        keys = client.keys(target["id"])
    if as_json:
        print_json({"keys": keys})
        return
    print_table(
        ("prefix", "name", "status", "created (UTC)", "last used (UTC)"),
        ([f"{key['prefix']}…", key.get("name") or "-", credential_state(key.get("revokedAt")),
          show_time(key.get("createdAt"), zone=False),
          show_time(key.get("lastUsedAt"), zone=False)]
         for key in keys),
        empty=f"No API keys in project {target['slug']}; create one with `yavio keys create`.")


@app.command()
def revoke(key: KeyArgument, project: scope.ProjectOption = None,
           workspace: scope.WorkspaceOption = None, home: HomeOption = None,
           as_json: JsonOption = False) -> None:
    """Revoke an API key now: the ingest refuses it within a minute (its key cache).

    Example: `yavio keys revoke yav_0a1b2c3d`
    """
    connection = Connection.for_home(home)
    with connection.open() as client:
        target = scope.project(client, connection, workspace, project)
        found = _find(client.keys(target["id"]), key)
        revoked = client.revoke_key(target["id"], found["id"])
    if as_json:
        print_json(revoked)
        return
    say(f"Revoked API key {_label(revoked)} of project {target['slug']}; "
        "events sent with it are refused within a minute.")


@app.command()
def rotate(key: KeyArgument,
           grace: Annotated[int, typer.Option(
               "--grace", metavar="DURATION", parser=durations.grace_seconds,
               help="How long the old key keeps working: 30m, 24h, 7d, 3600s; 0 ends it now.")
           ] = "24h",  # type: ignore[assignment]  # parsed by durations.grace_seconds
           project: scope.ProjectOption = None, workspace: scope.WorkspaceOption = None,
           home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Replace an API key with a new one; the old key keeps working for the grace period, so
    servers can switch without losing events.

    Example: `yavio keys rotate yav_0a1b2c3d --grace 7d`
    """
    connection = Connection.for_home(home)
    with connection.open() as client:
        target = scope.project(client, connection, workspace, project)
        found = _find(client.keys(target["id"]), key)
        rotated = client.rotate_key(target["id"], found["id"], grace)
    if as_json:
        print_json(rotated)
        return
    old = rotated.get("replaces") or found
    say(f"New API key {_label(rotated)} in project {target['slug']}:")
    say(rotated["key"])
    say("Copy it now: it will not be shown again.")
    if credential_state(old.get("revokedAt")) == "revoked":
        say(f"The old key {_label(old)} stopped working now.")
    else:
        say(f"The old key {_label(old)} keeps working until {show_time(old.get('revokedAt'))}; "
            "switch your servers to the new one before then.")


def _find(keys: list[dict[str, Any]], typed: str) -> dict[str, Any]:
    return lookup.find(keys, typed, fields=("id",), prefix_field="prefix", noun="key",
                       listing="yavio keys list", prefer=_working)


def _working(key: dict[str, Any]) -> bool:
    return credential_state(key.get("revokedAt")) != "revoked"


def _label(key: dict[str, Any]) -> str:
    name = f'"{key["name"]}" ' if key.get("name") else ""
    return f"{name}({key['prefix']}…)"
