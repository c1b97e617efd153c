"""`yavio tokens`: your personal access tokens (`yat_…`), what scripts and the CLI read and
manage with. A raw token is printed only by `create`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from yavio_cli import durations, lookup
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

app = typer.Typer(help="Your access tokens (`yat_…`): create, list, revoke.",
                  no_args_is_help=True)


@app.command()
def create(name: Annotated[str | None, typer.Option(
               "--name", help="A label to recognise the token by.", show_default=False)] = None,
           expires: Annotated[int | None, typer.Option(
               "--expires", metavar="DAYS", parser=durations.whole_days,
               help="Lifetime in whole days, like 30d or 12w [default: never].",
               show_default=False)] = None,
           home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Create an access token for yourself and print it, once.

    Example: `yavio tokens create --name ci --expires 30d`
    """
    connection = Connection.for_home(home)
    with connection.open() as client:
        created = client.create_token(name, expires)
    if as_json:
        print_json(created)
        return
    until = f", valid until {show_time(created['expiresAt'])}" if created.get("expiresAt") else ""
    say(f"Created access token {_label(created)}{until}:")
    say(created["token"])
    say("Copy it now: it will not be shown again.")


@app.command(name="list")
def list_tokens(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """List your access tokens (their first characters only), revoked ones included.

    Example: `yavio tokens list`
    """
    connection = Connection.for_home(home)
    with connection.open() as client:
        tokens = client.tokens()
    if as_json:
        print_json({"tokens": tokens})
        return
    print_table(
        ("prefix", "name", "status", "created (UTC)", "last used (UTC)"),
        ([f"{t['prefix']}…", t.get("name") or "-",
          credential_state(t.get("revokedAt"), t.get("expiresAt")),
          show_time(t.get("createdAt"), zone=False), show_time(t.get("lastUsedAt"), zone=False)]
         for t in tokens),
        empty="You have no access tokens; create one with `yavio tokens create`.")


@app.command()
def revoke(token: Annotated[str, typer.Argument(
               metavar="TOKEN_ID_OR_PREFIX", help="The token's id or the start of the token, "
               "as `yavio tokens list` shows it.", show_default=False)],
           home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Revoke one of your access tokens; it is refused from the next request on.

    Example: `yavio tokens revoke yat_0a1b2c3d`
    """
    connection = Connection.for_home(home)
    with connection.open() as client:
        found = lookup.find(client.tokens(), token, fields=("id",), prefix_field="prefix",
                            noun="token", listing="yavio tokens list",
                            prefer=lambda t: credential_state(t.get("revokedAt")) != "revoked")
        revoked = client.revoke_token(found["id"])
    if as_json:
        print_json(revoked)
        return
    say(f"Revoked access token {_label(revoked)}.")
    if connection.token and connection.token.startswith(revoked["prefix"]):
        say(f"It was the token this CLI uses ({connection.credentials_file}); "
            "the CLI needs a new one before it can manage anything again.")


def _label(token: dict[str, Any]) -> str:
    name = f'"{token["name"]}" ' if token.get("name") else ""
    return f"{name}({token['prefix']}…)"
