"""`yavio login` and `yavio logout`: pointing the CLI at a Yavio server other than the local
stack, as the person whose access token it is.

The login is `login.json` in the home (0600): the server, the token, who it belongs to and the
default workspace and project. While it exists every command uses it (see `connection.py`);
the local stack needs none. The token is read from a hidden prompt, from stdin when piped, or
from `YAVIO_TOKEN`: never from the command line, where every user of the machine can read it
(`ps`, shell history).
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer

from yavio_cli import lookup
from yavio_cli.client import ApiError, ServerUnavailable, YavioClient
from yavio_cli.connection import login_file, resolve_home
from yavio_cli.home import read_json, write_private_json
from yavio_cli.terminal import HomeOption, JsonOption, fail, print_json, say


def _server_url(text: str) -> str:
    """Parser of `--server`: an http(s) base URL, without a trailing slash."""
    url = text.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise typer.BadParameter(f"{text!r} is not a URL; write it like https://yavio.example.com")
    return url


def login(
    server: Annotated[str, typer.Option(
        "--server", metavar="URL", parser=_server_url, show_default=False,
        help="The Yavio server's address, e.g. https://yavio.example.com.")],
    workspace: Annotated[str | None, typer.Option(
        "--workspace", "-w", metavar="SLUG_OR_ID", show_default=False,
        help="Default workspace for commands [default: your only one].")] = None,
    project: Annotated[str | None, typer.Option(
        "--project", "-p", metavar="SLUG_OR_ID", show_default=False,
        help="Default project [default: the workspace's `default` or only one].")] = None,
    home: HomeOption = None, as_json: JsonOption = False,
) -> None:
    """Log in to a Yavio server with your access token (`yat_…`): every command then uses that
    server instead of the local stack, until `yavio logout`.

    The token is asked for with hidden input, read from stdin when piped, or taken from
    `YAVIO_TOKEN`; it is never an argument, because other users can read a command line.

    Example: `yavio login --server https://yavio.example.com`

    Piped: `pass show yavio | yavio login --server https://yavio.example.com`
    """
    token = _read_token()
    with YavioClient(server, token) as client:
        try:
            me = client.me()
            if not (isinstance(me, dict) and isinstance(me.get("user"), dict)):
                raise fail(f"{server} does not look like a Yavio server; check the address.")
            defaults = _defaults(client, me, workspace, project)
        except ServerUnavailable:
            raise fail(f"Nothing answers at {server}; check the address.") from None
        except ApiError as error:
            raise fail(_refusal(server, error)) from None
    path = login_file(home)
    # The home holds secrets: create it private, as `yavio up` does.
    resolve_home(home).root.mkdir(parents=True, mode=0o700, exist_ok=True)
    user = {key: me["user"].get(key) for key in ("id", "email", "name")}
    write_private_json(path, {"server": server, "token": token, "user": user, **defaults})
    if as_json:
        print_json({"server": server, "user": user, **defaults, "file": str(path)})
        return
    say(f"Logged in to {server} as {user['email']}; saved in {path} (readable by you only).")
    chosen = defaults["workspace"]
    if chosen:
        project_part = f" and project {defaults['project']['slug']}" if defaults["project"] \
            else ""
        say(f"Commands now use this server, with workspace {chosen['slug']}{project_part} "
            "unless told otherwise; `yavio logout` returns to the local stack.")
    else:
        say("Commands now use that server; choose a workspace with --workspace SLUG "
            "(see `yavio workspaces list`). `yavio logout` returns to the local stack.")


def logout(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Forget the saved login: commands use the local stack again. The access token itself is
    not revoked.

    Example: `yavio logout`
    """
    path = login_file(home)
    try:
        saved = read_json(path)
    except ValueError:  # damaged: removing it is exactly what is wanted
        saved = {}
    if saved is None:
        if as_json:
            print_json({"loggedOut": False, "server": None})
        else:
            say("Not logged in; commands use the local stack.")
        return
    path.unlink(missing_ok=True)
    server = saved.get("server") if isinstance(saved, dict) else None
    if as_json:
        print_json({"loggedOut": True, "server": server})
        return
    say(f"Logged out of {server or 'the saved server'}: removed {path}. Commands use the local "
        "stack again. The access token still works until it is revoked on that server.")


def _read_token() -> str:
    """The access token from `YAVIO_TOKEN`, piped stdin, or a hidden prompt, in that order."""
    token = os.environ.get("YAVIO_TOKEN", "").strip()
    if not token:
        if sys.stdin is not None and not sys.stdin.isatty():
            token = sys.stdin.readline().strip()
        else:
            token = typer.prompt("Access token (yat_…)", hide_input=True).strip()
    if not token:
        raise fail("No access token given; paste one at the prompt, pipe it in, or set "
                   "YAVIO_TOKEN (create one on the server with `yavio tokens create`).")
    return token


def _defaults(client: YavioClient, me: dict[str, Any], workspace: str | None,
              project: str | None) -> dict[str, Any]:
    """`{workspace, project}` as `{id, slug}` or None: the chosen ones, else the user's only
    workspace and its `default` or only project, as `yavio up` would pick."""
    workspaces = me.get("workspaces") or []
    if workspace is not None:
        chosen = lookup.find(workspaces, workspace, fields=("id", "slug"), noun="workspace",
                             listing="yavio workspaces list")
    elif len(workspaces) == 1:
        chosen = workspaces[0]
    elif project is not None:
        raise fail("Name the project's workspace too: --workspace SLUG.")
    else:
        return {"workspace": None, "project": None}
    projects = client.projects(chosen["id"])
    if project is not None:
        found: dict[str, Any] | None = lookup.find(
            projects, project, fields=("id", "slug"), noun="project",
            listing=f"yavio projects list --workspace {chosen['slug']}")
    else:
        candidates = [p for p in projects if p.get("slug") == "default"] or projects
        found = candidates[0] if len(candidates) == 1 else None
    return {"workspace": _ref(chosen), "project": _ref(found) if found else None}


def _ref(item: dict[str, Any]) -> dict[str, Any]:
    return {"id": item["id"], "slug": item["slug"]}


def _refusal(server: str, error: ApiError) -> str:
    if error.status == 401:
        return (f"{server} refused the access token; check it, or create one there with "
                "`yavio tokens create`.")
    if error.status == 404 and not error.code:
        return f"{server} does not look like a Yavio server (no /v1/me); check the address."
    return error.message

