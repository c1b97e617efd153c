"""`yavio members`: who belongs to a workspace and with which role; inviting people in."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import typer

from yavio_cli import lookup, scope
from yavio_cli.client import YavioClient
from yavio_cli.connection import Connection
from yavio_cli.terminal import (
    HomeOption,
    JsonOption,
    print_json,
    print_table,
    say,
    show_time,
)

app = typer.Typer(help="A workspace's members: list, invite, change a role, remove.",
                  no_args_is_help=True)


class Role(str, Enum):
    """Highest first; docs/management-api.md says what each may do."""
    owner = "owner"
    admin = "admin"
    member = "member"
    viewer = "viewer"


UserArgument = Annotated[str, typer.Argument(
    metavar="USER_ID_OR_EMAIL", help="The member's user id or email.", show_default=False)]


@app.command(name="list")
def list_members(workspace: scope.WorkspaceOption = None, home: HomeOption = None,
                 as_json: JsonOption = False) -> None:
    """List a workspace's members and their roles.

    Example: `yavio members list --workspace acme`
    """
    connection = Connection.for_home(home)
    with connection.open() as client:
        target = scope.workspace(client, connection, workspace)
        members = client.members(target["id"])
    if as_json:
        print_json({"members": members})
        return
    print_table(("email", "name", "role", "user id"),
                ([m["email"], m.get("name") or "-", m["role"], m["userId"]] for m in members),
                empty=f"Workspace {target['slug']} has no members.")


@app.command()
def invite(email: Annotated[str, typer.Argument(help="Who to invite.", show_default=False)],
           role: Annotated[Role, typer.Option("--role", help="Their role once they accept.")]
           = Role.member,
           workspace: scope.WorkspaceOption = None, home: HomeOption = None,
           as_json: JsonOption = False) -> None:
    """Invite someone to a workspace: prints an invitation token (valid 7 days), once, for them
    to accept with `yavio invitations accept`. Needs the admin role.

    Example: `yavio members invite ana@example.com --role viewer`
    """
    connection = Connection.for_home(home)
    with connection.open() as client:
        target = scope.workspace(client, connection, workspace)
        invitation = client.invite(target["id"], email, role.value)
    if as_json:
        print_json(invitation)
        return
    say(f"Invited {invitation['email']} to workspace {target['slug']} as {invitation['role']}, "
        f"until {show_time(invitation.get('expiresAt'))}. Send them this token "
        "(it will not be shown again):")
    say(invitation["token"])
    say(f"They join with: yavio invitations accept {invitation['token']}")


@app.command(name="role")
def change_role(user: UserArgument,
                role: Annotated[Role, typer.Argument(help="The new role.", show_default=False)],
                workspace: scope.WorkspaceOption = None, home: HomeOption = None,
                as_json: JsonOption = False) -> None:
    """Change a member's role. Needs the admin role.

    Example: `yavio members role ana@example.com admin`
    """
    connection = Connection.for_home(home)
    with connection.open() as client:
        target = scope.workspace(client, connection, workspace)
        member = _find(client, target, user)
        changed = client.set_role(target["id"], member["userId"], role.value)
    if as_json:
        print_json(changed)
        return
    say(f"{changed.get('email') or member['email']} is now {changed.get('role', role.value)} "
        f"in workspace {target['slug']}.")


@app.command()
def remove(user: UserArgument, workspace: scope.WorkspaceOption = None,
           home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Remove a member from a workspace; their access ends at once. Needs the admin role.

    Example: `yavio members remove ana@example.com`
    """
    connection = Connection.for_home(home)
    with connection.open() as client:
        target = scope.workspace(client, connection, workspace)
        member = _find(client, target, user)
        client.remove_member(target["id"], member["userId"])
    if as_json:
        print_json({"removed": member})
        return
    say(f"Removed {member['email']} from workspace {target['slug']}.")


def _find(client: YavioClient, workspace: dict[str, Any], typed: str) -> dict[str, Any]:
    return lookup.find(client.members(workspace["id"]), typed, fields=("userId", "email"),
                       noun="member", listing=f"yavio members list --workspace "
                                              f"{workspace['slug']}")
