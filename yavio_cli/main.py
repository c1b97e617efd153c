"""The `yavio` command: the self-hosted stack (`up`, `down`, `status`, `logs`, `doctor`) here,
the management groups (`keys`, `projects`, …), `usage`/`plan`, `login`/`logout` and `init` in
`yavio_cli.commands`.

Exit codes: 0 success, 1 a user error (one line saying what to do), 2 a usage error.
"""

from __future__ import annotations

import json
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from yavio_cli import doctor, mcp_server, stack
from yavio_cli.commands import (
    compose,
    demo,
    events,
    export,
    init,
    invitations,
    keys,
    login,
    members,
    projects,
    query,
    tokens,
    trace,
    tui,
    usage,
    workspaces,
)
from yavio_cli.connection import resolve_home
from yavio_cli.terminal import HomeOption, JsonOption, console
from yavio_cli.terminal import fail as _fail

app = typer.Typer(
    name="yavio",
    help="Product analytics for MCP servers and ChatGPT Apps, in your terminal.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
)
app.add_typer(workspaces.app, name="workspaces")
app.add_typer(projects.app, name="projects")
app.add_typer(keys.app, name="keys")
app.add_typer(tokens.app, name="tokens")
app.add_typer(members.app, name="members")
app.add_typer(invitations.app, name="invitations")
app.add_typer(usage.plan_app, name="plan")
app.add_typer(events.app, name="events")
app.add_typer(compose.app, name="compose")


def _config(home: Path | None, **overrides) -> stack.StackConfig:
    return stack.StackConfig.from_environment(resolve_home(home), **overrides)


def _print_version(requested: bool) -> None:
    if requested:
        # imported here: it takes about 50 ms, which every command (`yavio tui`'s start) paid
        import importlib.metadata

        print(f"yavio {importlib.metadata.version('yavio')}")
        raise typer.Exit()


@app.callback()
def _global_options(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Product analytics for MCP servers and ChatGPT Apps, in your terminal.

    Start here: `yavio up`, then `yavio status`.
    """


@app.command()
def up(
    home: HomeOption = None,
    port: Annotated[int, typer.Option("--port", envvar="YAVIO_PORT",
                                      help="Port of the server.")] = stack.DEFAULT_PORT,
    pg_port: Annotated[int, typer.Option("--pg-port", envvar="YAVIO_PG_PORT",
                                         help="Port of the embedded Postgres.")] = stack.DEFAULT_PG_PORT,
    host: Annotated[str, typer.Option("--host", envvar="YAVIO_HOST",
                                      help="Address the server listens on.")] = "127.0.0.1",
    as_json: JsonOption = False,
) -> None:
    """Start the self-hosted stack (Postgres, ClickHouse, server); a no-op if it is running.

    Example: `yavio up --port 3002`
    """
    config = _config(home, port=port, pg_port=pg_port, host=host)
    started = time.monotonic()
    try:
        if as_json:
            result = stack.up(config)
        else:
            with console.status("Starting Yavio…") as spinner:
                result = stack.up(config, lambda step: spinner.update(f"{step}…"))
    except stack.StackError as error:
        raise _fail(str(error)) from None
    result["seconds"] = round(time.monotonic() - started, 2)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    if result["already_running"]:
        console.print("Yavio is already running.")
    else:
        console.print(f"Yavio is up in {result['seconds']:.1f} s.")
    _print_status(result)
    credentials = config.home.credentials_file
    console.print(f"\nOwner access token: {credentials} (readable by you only)")
    console.print("Next: [bold]yavio status[/] · [bold]yavio logs -f[/] · [bold]yavio down[/]")


@app.command()
def down(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Stop the stack, keeping all data.

    Example: `yavio down`
    """
    try:
        stopped = stack.down(_config(home))
    except stack.StackError as error:
        raise _fail(str(error)) from None
    if as_json:
        print(json.dumps({"stopped": stopped}))
    elif stopped:
        console.print(f"Stopped {', '.join(stopped)}. Data kept; `yavio up` starts it again.")
    else:
        console.print("Yavio was not running.")


@app.command()
def status(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Show each component (up or down, port, pid), the data size and the event count.

    Example: `yavio status --json`
    """
    result = stack.status(_config(home))
    if as_json:
        print(json.dumps(result, indent=2))
        return
    _print_status(result)
    if not result["running"]:
        console.print("\nYavio is not running. Start it with `yavio up`.")


class Component(str, Enum):
    server = "server"
    postgres = "postgres"


@app.command()
def logs(
    component: Annotated[Optional[Component], typer.Argument(
        help="Only this component's log [default: both].", show_default=False)] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines.")] = False,
    lines: Annotated[int, typer.Option("--lines", "-n", help="Lines to show first.")] = 50,
    home: HomeOption = None,
) -> None:
    """Print the logs of the stack's components.

    Example: `yavio logs server -f`
    """
    config = _config(home)
    chosen = [component.value] if component else [c.value for c in Component]
    paths = {name: config.home.log_file(name) for name in chosen}
    if not any(path.exists() for path in paths.values()):
        raise _fail(f"No logs yet in {config.home.logs_dir}. Start Yavio with `yavio up`.")
    positions = {}
    for name, path in paths.items():
        if not path.exists():
            continue
        text = path.read_text(errors="replace")
        for line in text.splitlines()[-lines:]:
            _print_log_line(name, line, len(chosen) > 1)
        positions[name] = len(text.encode(errors="replace"))
    while follow:
        time.sleep(0.3)
        for name, path in paths.items():
            if not path.exists():
                continue
            with path.open("rb") as handle:
                handle.seek(positions.get(name, 0))
                chunk = handle.read()
            positions[name] = positions.get(name, 0) + len(chunk)
            for line in chunk.decode(errors="replace").splitlines():
                _print_log_line(name, line, len(chosen) > 1)


def _print_log_line(component: str, line: str, prefixed: bool) -> None:
    print(f"{component:>8} | {line}" if prefixed else line, flush=True)


@app.command(name="doctor")
def doctor_command(
    home: HomeOption = None,
    port: Annotated[int, typer.Option("--port", envvar="YAVIO_PORT")] = stack.DEFAULT_PORT,
    pg_port: Annotated[int, typer.Option("--pg-port", envvar="YAVIO_PG_PORT")] = stack.DEFAULT_PG_PORT,
    as_json: JsonOption = False,
) -> None:
    """Check what the stack needs: ports, disk space, versions, permissions.

    Example: `yavio doctor`
    """
    checks = doctor.run_checks(_config(home, port=port, pg_port=pg_port))
    failed = any(check.status == "fail" for check in checks)
    if as_json:
        print(json.dumps({"ok": not failed, "checks": [c.__dict__ for c in checks]}, indent=2))
    else:
        table = Table(show_header=False, box=None)
        marks = {"ok": "[green]✓[/]", "warn": "[yellow]![/]", "fail": "[red]✗[/]"}
        for check in checks:
            table.add_row(marks[check.status], check.name, check.detail)
        console.print(table)
    if failed:
        raise typer.Exit(1)


def _print_status(result: dict) -> None:
    table = Table(box=None)
    for column in ("component", "status", "address", "pid"):
        table.add_column(column)
    server, postgres, clickhouse = result["server"], result["postgres"], result["clickhouse"]

    def mark(state: str) -> str:
        return "[green]up[/]" if state == "up" else "[red]down[/]"

    table.add_row("server", mark(server["status"]), server["url"], str(server["pid"] or "-"))
    table.add_row("postgres", mark(postgres["status"]),
                  f"127.0.0.1:{postgres['port']}" if postgres["embedded"] else "external",
                  str(postgres["pid"] or "-"))
    table.add_row("clickhouse", mark(clickhouse["status"]),
                  "embedded (chdb)" if clickhouse["embedded"] else "external",
                  str(clickhouse["pid"] or "-"))
    console.print(table)
    events = "unknown" if result["events"] is None else f"{result['events']:,}"
    console.print(f"data: {result['data_bytes'] / (1 << 20):.1f} MiB in {result['home']}"
                  f" · events: {events}")


# Registered after the stack's commands, so `yavio --help` lists those first.
app.command(name="usage")(usage.usage)
app.command(name="login")(login.login)
app.command(name="logout")(login.logout)
app.command(name="init")(init.init)
app.command(name="trace")(trace.trace)
app.command(name="export")(export.export)
app.command(name="query")(query.query)
app.command(name="tui")(tui.tui)
app.command(name="mcp")(mcp_server.mcp)
app.command(name="demo")(demo.demo)


def main() -> None:
    app()
