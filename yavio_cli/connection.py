"""Which Yavio server a command talks to, as whom, and what it says when that fails.

A saved `yavio login` (`login.json` in the home: a server's address, an access token, default
workspace and project) comes first: once someone logs in to a remote server, every command
goes there. Without one it is the local stack: the address `yavio up` recorded in `state.json`
(so `--port` given to `up` is followed) and the owner's access token and default workspace and
project from `credentials.json`. The commands only use the `Connection` they are handed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yavio_cli.client import ApiError, ServerUnavailable, YavioClient
from yavio_cli.home import YavioHome, default_home, read_json
from yavio_cli.stack import DEFAULT_PORT
from yavio_cli.terminal import fail

NOT_RUNNING = "Yavio is not running. Start it with `yavio up`."
LOGIN_FILE = "login.json"


def resolve_home(home: Path | None) -> YavioHome:
    """The home a command reads: `--home`, else `$YAVIO_HOME`, else `~/.yavio`."""
    return YavioHome(home.expanduser().resolve() if home else default_home())


def login_file(home: Path | None) -> Path:
    """Where `yavio login` saves the server and token it chose (0600)."""
    return resolve_home(home).root / LOGIN_FILE


@dataclass(frozen=True)
class Connection:
    url: str
    token: str | None
    credentials_file: Path
    # `{id, slug}` of the workspace and project `yavio up` created (or `yavio login` chose):
    # what commands act on when no --workspace / --project is given.
    default_workspace: dict[str, Any] | None = None
    default_project: dict[str, Any] | None = None
    # True for a server chosen with `yavio login`: its errors point at login/logout, not `up`.
    logged_in: bool = False

    @classmethod
    def for_home(cls, home: Path | None) -> Connection:
        """What commands talk to from `home` (default `$YAVIO_HOME`, else `~/.yavio`): the
        server of a saved `yavio login`, else the stack `yavio up` runs from there."""
        return cls.saved_login(home) or cls.stack(home)

    @classmethod
    def saved_login(cls, home: Path | None) -> Connection | None:
        """The server and token `yavio login` saved in `home`, or None when there is none."""
        path = login_file(home)
        try:
            login = read_json(path)
        except (OSError, ValueError):
            login = False
        if login is None:
            return None
        if not (isinstance(login, dict) and login.get("server") and login.get("token")):
            raise fail(f"{path} is damaged; run `yavio logout`, then `yavio login` again.")
        return cls(url=str(login["server"]).rstrip("/"), token=login["token"],
                   credentials_file=path, default_workspace=login.get("workspace"),
                   default_project=login.get("project"), logged_in=True)

    @classmethod
    def stack(cls, home: Path | None) -> Connection:
        """The stack `yavio up` runs from `home`, whatever login is saved."""
        stack_home = resolve_home(home)
        credentials = stack_home.credentials() or {}
        server = stack_home.state().get("server") or {}
        if server.get("port"):
            url = f"http://{_reachable_host(server.get('host'))}:{server['port']}"
        elif credentials.get("server"):
            url = str(credentials["server"]).rstrip("/")
        else:
            url = f"http://127.0.0.1:{os.environ.get('YAVIO_PORT') or DEFAULT_PORT}"
        return cls(url=url, token=credentials.get("token"),
                   credentials_file=stack_home.credentials_file,
                   default_workspace=credentials.get("workspace"),
                   default_project=credentials.get("project"))

    @contextmanager
    def open(self, *, anonymous: bool = False) -> Iterator[YavioClient]:
        """A client for the block; a server that does not answer or answers an error ends the
        command with one line (exit 1). `anonymous` sends no access token."""
        with YavioClient(self.url, None if anonymous else self.token) as client:
            try:
                yield client
            except ServerUnavailable:
                raise fail(self.unreachable()) from None
            except ApiError as error:
                raise fail(self.explain(error, anonymous=anonymous)) from None

    def unreachable(self) -> str:
        """The one line to print when nothing answers."""
        if self.logged_in:
            return (f"Nothing answers at {self.url}; check the server is up, or run "
                    "`yavio logout` to use the local stack.")
        return NOT_RUNNING

    def explain(self, error: ApiError, *, anonymous: bool = False) -> str:
        """The one line to print for an error answer."""
        if error.status == 401 and not anonymous:
            if self.logged_in:
                return (f"The access token saved by `yavio login` ({self.credentials_file}) "
                        f"was refused; run `yavio login --server {self.url}` again.")
            if self.token:
                return (f"The saved access token in {self.credentials_file} was refused; "
                        "run `yavio up` again to mint a new one.")
            return (f"No access token saved in {self.credentials_file}; "
                    "run `yavio up` to create one.")
        if error.status >= 500:
            return f"The server failed: {error.message} (see `yavio logs server`)."
        return error.message


def _reachable_host(host: str | None) -> str:
    # `yavio up --host 0.0.0.0` listens everywhere; this machine reaches it on loopback.
    if not host or host in ("0.0.0.0", "::"):
        return "127.0.0.1" if host != "::" else "[::1]"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
