"""`yavio demo`: a realistic stream of analytics from the hotel-booking example, through real
MCP client sessions, into a project of the local stack; then the dashboard."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from yavio_cli import stack
from yavio_cli.client import YavioClient
from yavio_cli.connection import Connection, resolve_home
from yavio_cli.home import read_json, write_private_json
from yavio_cli.terminal import HomeOption, JsonOption, errors, fail, say

KEYS_FILE = "demo-keys.json"  # the demo's API key per project, so a second run reuses it


def demo(
    events: Annotated[int, typer.Option("--events", min=1, help="How many events to send as "
                                        "history (live traffic comes on top).")] = 20_000,
    days: Annotated[int, typer.Option("--days", min=1, max=90,
                                      help="Days of history the events spread over.")] = 14,
    project: Annotated[str, typer.Option("--project", "-p", metavar="SLUG",
                                         help="The project to fill (created if missing).")
                       ] = "demo",
    no_tui: Annotated[bool, typer.Option("--no-tui",
                                         help="Print a summary instead of opening the TUI.")
                      ] = False,
    live_seconds: Annotated[float | None, typer.Option(
        "--live-seconds", min=0, metavar="SECONDS",
        help="How long live traffic goes on after the history [default: 5 with --no-tui, "
             "until the TUI is closed otherwise].", show_default=False)] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed for a repeatable run.")
                    ] = None,
    port: Annotated[int | None, typer.Option(
        "--port", envvar="YAVIO_PORT", help="Port of the server, if the demo starts the stack "
        "[default: the running stack's, else 3001].", show_default=False)] = None,
    pg_port: Annotated[int, typer.Option(
        "--pg-port", envvar="YAVIO_PG_PORT", help="Port of the embedded Postgres, if the demo "
        "starts the stack.")] = stack.DEFAULT_PG_PORT,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Fill a project with realistic traffic from the hotel-booking example: real MCP sessions
    from ChatGPT, Claude, Cursor, VS Code and others (searches, closer looks, bookings,
    cancellations, widget events; errors of every category, with retries; about 60% of the
    people identified), over `--days` of history plus live traffic; then open the dashboard.
    Starts the stack if it is not running; a second run adds to the same project. A history
    of 10,000 events or more is sent from one process per core.

    Examples: `yavio demo` · `yavio demo --events 100000 --days 30 --no-tui --json`
    """
    started = time.monotonic()
    connection = _running_stack(home, port, pg_port)
    with connection.open() as client:
        target = _demo_project(client, connection, project)
        key = _demo_key(client, home, target)

    from yavio_cli.demo.population import utc_now
    from yavio_cli.demo.relay import HistoryRelay
    from yavio_cli.demo.shares import HistoryShare, extra_processes
    from yavio_cli.demo.traffic import Traffic

    relay = HistoryRelay(connection.url)
    seed = seed if seed is not None else int.from_bytes(os.urandom(4), "big")
    people = max(60, events // 40)
    traffic = Traffic(relay, key, connection.url, seed=seed, people=people)
    end = utc_now() - timedelta(minutes=1)
    # An hour short of the full days: the ingest refuses events older than its retention (90
    # days by default, `--days`' maximum), and a big demo sends for many minutes.
    start = end - timedelta(days=days) + timedelta(hours=1)
    extra = extra_processes(events)
    shares = [HistoryShare(connection.url, key, seed=seed, share=index, people=people,
                           start=start, end=end, quota=events // (extra + 1))
              for index in range(1, extra + 1)]
    own = events - events // (extra + 1) * extra
    quitting = threading.Event()  # Ctrl-C or an error: every lane stops after its session
    history = _Background(traffic.run(start, end, lambda: (
        quitting.is_set() or relay.stats.received >= own)))
    stop = threading.Event()
    try:
        _send_history(relay, traffic, events, history, shares, quiet=as_json)
        history_seconds = time.monotonic() - started

        live = _Background(traffic.run(None, None, lambda: stop.is_set() or quitting.is_set(),
                                       pause=(0.3, 2.0)))
        if no_tui:
            stop.wait(5.0 if live_seconds is None else live_seconds)
        else:
            _open_tui(home, target, days, live_seconds, stop)
        stop.set()
        live.result()
        traffic.flush()
        relay.drain(60)
    finally:
        quitting.set()
        for share in shares:
            share.stop()
        relay.close()

    summary = {
        "project": target["slug"], "projectId": target["id"], "url": connection.url,
        "events": relay.stats.accepted, "rejected": relay.stats.rejected,
        "rateLimitedRetries": relay.stats.retries,
        "sessions": traffic.stats.sessions, "toolCalls": traffic.stats.tool_calls,
        "people": len(traffic.stats.people), "identifiedUsers": len(traffic.stats.identified),
        "conversions": traffic.stats.bookings,
        "revenueEur": round(traffic.stats.revenue_eur, 2),
        "widgetEvents": traffic.stats.widget_events, "days": days,
        "historySeconds": round(history_seconds, 1),
        "seconds": round(time.monotonic() - started, 1),
    }
    if relay.stats.errors:
        summary["problems"] = relay.stats.errors
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        _print_summary(summary)
    if relay.stats.rejected:
        raise fail(f"The ingest refused {relay.stats.rejected} of the demo's events: "
                   f"{relay.stats.errors[:1]}")


# -- the stack, the project, the key -----------------------------------------------------------

def _running_stack(home: Path | None, port: int | None, pg_port: int) -> Connection:
    """The local stack, started if it is not running."""
    saved = Connection.saved_login(home)
    if saved is not None:
        raise fail(f"You are signed in to {saved.url}; `yavio demo` fills the local stack. "
                   "Run `yavio logout` first.")
    root = resolve_home(home)
    state = root.state().get("server") or {}
    config = stack.StackConfig.from_environment(root, port=port or state.get("port"),
                                                pg_port=pg_port)
    try:
        with errors.status("Starting Yavio…") as spinner:
            stack.up(config, lambda step: spinner.update(f"{step}…"))
    except stack.StackError as error:
        raise fail(f"The stack is not running and could not be started: {error}") from None
    return Connection.stack(home)


def _demo_project(client: YavioClient, connection: Connection, slug: str) -> dict[str, Any]:
    workspace = connection.default_workspace
    if not workspace:
        raise fail("No default workspace in the stack's credentials; run `yavio up` again.")
    for found in client.projects(workspace["id"]):
        if slug in (found.get("slug"), found.get("id")):
            return found
    return client.create_project(workspace["id"], slug, slug)


def _demo_key(client: YavioClient, home: Path | None, target: dict[str, Any]) -> str:
    """The project's demo key, made on the first run and kept in the home (0600)."""
    path = resolve_home(home).root / KEYS_FILE
    try:
        saved = read_json(path) or {}
    except (OSError, ValueError):
        saved = {}
    key = saved.get(target["id"])
    live = {k["prefix"] for k in client.keys(target["id"]) if not k.get("revokedAt")}
    if key and key[:12] in live:
        return key
    key = client.create_key(target["id"], "yavio demo")["key"]
    write_private_json(path, {**saved, target["id"]: key})
    return key


# -- running the traffic beside the terminal ---------------------------------------------------

class _Background:
    """A coroutine run to the end on its own event loop, in a daemon thread."""

    def __init__(self, coroutine: Any) -> None:
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(coroutine,),
                                        name="yavio-demo-traffic", daemon=True)
        self._thread.start()

    def _run(self, coroutine: Any) -> None:
        try:
            asyncio.run(coroutine)
        except BaseException as error:  # re-raised in the caller's thread by result()
            self._error = error

    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


def _send_history(relay: Any, traffic: Any, total: int, history: _Background,
                  shares: list[Any], *, quiet: bool) -> None:
    """Wait for the history's sessions (this process's and its shares'), then for the ingest
    to take all their events, with a progress bar of the events the ingest accepted; the
    shares' figures are added to `traffic`'s and `relay`'s."""
    columns = (TextColumn("[bold]history"), BarColumn(), MofNCompleteColumn(),
               TextColumn("events"), TimeElapsedColumn())
    with Progress(*columns, console=errors, disable=quiet) as progress:
        task = progress.add_task("events", total=total)

        def accepted() -> int:
            return relay.stats.accepted + sum(share.accepted for share in shares)

        def wait(until: Any) -> None:
            while not until():
                progress.update(task, completed=min(accepted(), total))
                time.sleep(0.2)

        wait(history.done)
        try:
            history.result()
        except Exception as error:
            raise fail(f"The demo's MCP traffic failed: {type(error).__name__}: {error}"
                       ) from error
        traffic.flush()
        wait(lambda: relay.drain(0) and all(share.done() for share in shares))
        progress.update(task, completed=min(accepted(), total))
        for share in shares:
            try:
                share.add_to(traffic.stats, relay.stats)
            except RuntimeError as error:
                raise fail(f"The demo's MCP traffic failed: {error}") from error


def _open_tui(home: Path | None, target: dict[str, Any], days: int,
              live_seconds: float | None, stop: threading.Event) -> None:
    from yavio_cli.commands.tui import tui

    if live_seconds:
        threading.Timer(live_seconds, stop.set).start()
    tui(project=target["id"], workspace=None, range_="7d" if days <= 7 else "30d"
        if days <= 30 else "90d", server=None, refresh=2.0, home=home)


def _print_summary(summary: dict[str, Any]) -> None:
    say(f"Sent {summary['events']:,} events to project {summary['project']} in "
        f"{summary['seconds']:.0f} s ({summary['historySeconds']:.0f} s of history over "
        f"{summary['days']} days, then live traffic).")
    say(f"{summary['sessions']:,} sessions · {summary['toolCalls']:,} tool calls · "
        f"{summary['people']:,} people ({summary['identifiedUsers']:,} identified) · "
        f"{summary['conversions']:,} bookings, {summary['revenueEur']:,.2f} EUR · "
        f"{summary['widgetEvents']:,} widget events")
    say(f"Open the dashboard: yavio tui --project {summary['project']} --range 30d")



