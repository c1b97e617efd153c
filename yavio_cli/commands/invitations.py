"""`yavio invitations`: joining a workspace with the token a member's invitation printed."""

from __future__ import annotations

from typing import Annotated

import typer

from yavio_cli.connection import Connection
from yavio_cli.terminal import HomeOption, JsonOption, print_json, say

app = typer.Typer(help="Invitations to a workspace: accept one.", no_args_is_help=True)


@app.command()
def accept(token: Annotated[str, typer.Argument(
               metavar="TOKEN", help="The invitation token (`yvi_…`).", show_default=False)],
           name: Annotated[str | None, typer.Option(
               "--name", help="Your name, if the invitation creates your account.",
               show_default=False)] = None,
           home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Accept an invitation as the person it was sent to: joins the workspace and prints a new
    access token for that account, once.

    Example: `yavio invitations accept yvi_0a1b2c… --name "Ana Lima"`
    """
    # Sent without the saved token: that one is the stack owner's, and the invitation is for
    # its email's account, which the server finds or creates.
    connection = Connection.for_home(home)
    with connection.open(anonymous=True) as client:
        accepted = client.accept_invitation(token, name)
    if as_json:
        print_json(accepted)
        return
    workspace, user = accepted.get("workspace") or {}, accepted.get("user") or {}
    say(f"{user.get('email', 'You')} joined workspace {workspace.get('slug', '?')} as "
        f"{accepted.get('role')}.")
    access = accepted.get("accessToken")
    if isinstance(access, dict):  # the contract leaves open whether it is the token or a record
        access = access.get("token")
    if access:
        say("Access token for this account (it will not be shown again):")
        say(access)
