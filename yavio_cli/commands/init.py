"""`yavio init`: set up the MCP server in the current folder to send events.

It creates an API key for a project and writes it with the server's address to
`.yaviorc.json`, where the SDK looks (so `with_yavio(server)` needs no options); keeps that file
out of git; and asks the server whether it accepts the key, so the user learns now, not after
deploying, whether events will arrive.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from yavio_cli import scope
from yavio_cli.client import ApiError, ServerUnavailable, YavioClient
from yavio_cli.connection import Connection
from yavio_cli.home import read_json, write_private_json
from yavio_cli.terminal import HomeOption, JsonOption, fail, print_json, say
from yavio_sdk.config import RC_FILENAME

# Lines of a .gitignore that already keep the file out of git.
_IGNORING = {RC_FILENAME, f"/{RC_FILENAME}", f"**/{RC_FILENAME}"}
# What the SDK would read before the file: set in this shell, they hide what init writes.
_OVERRIDING = ("YAVIO_API_KEY", "YAVIO_ENDPOINT")


def init(
    project: scope.ProjectOption = None, workspace: scope.WorkspaceOption = None,
    name: Annotated[str | None, typer.Option(
        "--name", help="A label for the new key [default: this folder's name].",
        show_default=False)] = None,
    force: Annotated[bool, typer.Option(
        "--force", help=f"Replace the key and endpoint of an existing {RC_FILENAME} (its other "
                        "settings are kept).")] = False,
    home: HomeOption = None, as_json: JsonOption = False,
) -> None:
    """Set up the MCP server in the current folder to send events to a project.

    Creates an API key, writes it with the server's address to `.yaviorc.json` (readable by you
    only; added to `.gitignore`), then checks that the server accepts it. The SDK reads that
    file, so `with_yavio(server)` needs no options.

    Example: `yavio init --project checkout`
    """
    folder = Path.cwd()
    rc_file = folder / RC_FILENAME
    if rc_file.exists() and not force:
        raise fail(f"{rc_file} exists already; run `yavio init --force` to give it a new key.")
    kept, old_key = _existing_settings(rc_file)
    connection = Connection.for_home(home)
    with connection.open() as client:
        target = scope.project(client, connection, workspace, project)
        created = client.create_key(target["id"], name or folder.name or None)
    write_private_json(rc_file, {**kept, "apiKey": created["key"], "endpoint": connection.url})
    gitignore = _ignore(folder / ".gitignore")
    health, accepted, problem = _probe(connection.url, created["key"])
    if as_json:
        print_json({"file": str(rc_file), "endpoint": connection.url,
                    "project": {"id": target["id"], "slug": target["slug"]},
                    "key": {k: created.get(k) for k in ("id", "name", "prefix", "createdAt")},
                    "gitignore": gitignore, "server": health, "keyAccepted": accepted,
                    "eventsWillArrive": problem is None})
    else:
        _report(rc_file, connection.url, target, created, gitignore, old_key)
    if problem:
        raise fail(problem)
    if not as_json:
        say(f"✓ {connection.url} accepts the key: events from this folder's MCP server will "
            f"arrive in project {target['slug']}.")
        if health == "degraded":
            say("  (The server reports a store down; it keeps events and writes them later.)")
        say("Next: wrap your server with `with_yavio(server)`; it reads the file by itself.")


def _existing_settings(rc_file: Path) -> tuple[dict[str, Any], str | None]:
    """The settings of the file `--force` replaces, without its key and endpoint, and the old
    key (to say which one may now be revoked). An unreadable file gives nothing to keep."""
    try:
        existing = read_json(rc_file)
    except (OSError, ValueError):
        existing = None
    if not isinstance(existing, dict):
        return {}, None
    old_key = existing.get("apiKey") or existing.get("api_key")
    kept = {k: v for k, v in existing.items() if k not in ("apiKey", "api_key", "endpoint")}
    return kept, old_key if isinstance(old_key, str) else None


def _ignore(gitignore: Path) -> str:
    """Keep the key out of git: `created` the .gitignore, `added` a line, or it was `present`."""
    try:
        text = gitignore.read_text(encoding="utf-8")
    except FileNotFoundError:
        gitignore.write_text(f"{RC_FILENAME}\n", encoding="utf-8")
        return "created"
    if any(line.strip() in _IGNORING for line in text.splitlines()):
        return "present"
    separator = "" if not text or text.endswith("\n") else "\n"
    with gitignore.open("a", encoding="utf-8") as handle:
        handle.write(f"{separator}{RC_FILENAME}\n")
    return "added"


def _probe(url: str, api_key: str) -> tuple[str, bool | None, str | None]:
    """`(health, key accepted, problem)`: the server's `/health` status ("ok", "degraded" or
    "down"), whether the ingest accepts the key, and the one line to end with when events
    would not arrive. Minting a widget token is the cheapest request that checks a key and
    writes no event."""
    with YavioClient(url) as client:
        try:
            health = str(client.health().get("status") or "ok")
        except ServerUnavailable:
            return "down", None, (f"Nothing answers at {url} now; events will arrive once the "
                                  "server runs (`yavio up` for the local stack).")
        except ApiError as error:
            return "down", None, f"{url} failed its health check: {error.message}"
        try:
            client.widget_token(api_key, "tr_init", "ses_init")
        except ServerUnavailable:
            return health, None, f"{url} stopped answering; run `yavio init --force` again."
        except ApiError as error:
            if error.status in (401, 403):
                return health, False, (f"{url} refused the new key ({error.message}); events "
                                       "will not arrive. Check the server's logs.")
            return health, None, (f"{url} could not check the key ({error.message}); run "
                                  "`yavio init --force` once the server is healthy.")
    return health, True, None


def _report(rc_file: Path, url: str, target: dict[str, Any], created: dict[str, Any],
            gitignore: str, old_key: str | None) -> None:
    label = f'"{created["name"]}" ' if created.get("name") else ""
    say(f"Created API key {label}({created['prefix']}…) in project {target['slug']}.")
    say(f"Wrote {rc_file.name} with it and the endpoint {url} (readable by you only).")
    say({"created": f"Created .gitignore with {RC_FILENAME}.",
         "added": f"Added {RC_FILENAME} to .gitignore.",
         "present": f".gitignore already keeps {RC_FILENAME} out of git."}[gitignore])
    if old_key:
        say(f"The key it held before ({old_key[:12]}…) still works; if nothing else uses it, "
            "revoke it with `yavio keys revoke`.")
    for variable in _OVERRIDING:
        if os.environ.get(variable):
            say(f"Note: {variable} is set in this shell, and the SDK prefers it to the file.")
