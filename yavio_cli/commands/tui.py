"""`yavio tui`: the live dashboard of a project, in the terminal."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from datetime import datetime, timezone
from typing import Annotated, Any

import typer

from yavio_cli import scope
from yavio_cli.client import YavioClient
from yavio_cli.connection import Connection
from yavio_cli.terminal import HomeOption, fail
from yavio_cli.tui.filters import PRESETS, Filters

RangeOption = Annotated[str, typer.Option(
    "--range", "-r", metavar="|".join(key for key, _, _ in PRESETS),
    help="The time range to open with (`t` cycles through them).")]
ServerOption = Annotated[str | None, typer.Option(
    "--server", metavar="URL",
    help="A server you signed in to with `yavio login` [default: the saved login, else the "
         "local stack].", show_default=False)]
RefreshOption = Annotated[float, typer.Option(
    "--refresh", metavar="SECONDS", min=0.5, help="How often the visible view reloads.")]


def tui(project: scope.ProjectOption = None, workspace: scope.WorkspaceOption = None,
        range_: RangeOption = "7d", server: ServerOption = None,
        refresh: RefreshOption = 2.0, home: HomeOption = None) -> None:
    """Open the live dashboard: overview, tools, traces, sessions, users, funnels, paths,
    errors, intents and the live tail of a project. Keyboard only; `?` lists the keys.

    Examples: `yavio tui` · `yavio tui --range 24h` · `yavio tui --project hotel` ·
    `yavio tui --server https://yavio.example.com` (after `yavio login` there)
    """
    if range_ not in {key for key, _, _ in PRESETS}:
        raise fail(f"--range must be one of {', '.join(key for key, _, _ in PRESETS)}.")
    connection = Connection.for_home(home)
    if server is not None:
        if not connection.logged_in or connection.url != server.rstrip("/"):
            raise fail(f"You are not signed in to {server}; run `yavio login --server "
                       f"{server}` first.")
        connection = replace(connection, url=server.rstrip("/"))
    with connection.open() as client:
        chosen_workspace = scope.workspace(client, connection, workspace)
        chosen = scope.project(client, connection, workspace, project)
    filters = Filters(preset=range_)
    with YavioClient(connection.url, connection.token) as client:
        # The overview (the first view) is asked for now: its answer comes while Textual
        # loads, which is imported only here as every other command would pay for it.
        overview = _in_background(client.overview, chosen["id"],
                                  **filters.query(datetime.now(timezone.utc)))
        from yavio_cli.tui.app import YavioApp

        YavioApp(client, connection.url, chosen, chosen_workspace, filters=filters,
                 refresh=refresh, first_load=overview).run()


def _in_background(ask: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
    """`ask(*args, **kwargs)`'s answer or exception, to come, from a daemon thread: quitting
    never waits for it."""
    answer: Future[Any] = Future()

    def run() -> None:
        try:
            answer.set_result(ask(*args, **kwargs))
        except BaseException as error:  # handed to whoever reads the answer
            answer.set_exception(error)

    threading.Thread(target=run, name="yavio-first-load", daemon=True).start()
    return answer
