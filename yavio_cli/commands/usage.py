"""`yavio usage` and `yavio plan`: what a workspace may send (its plan's monthly event quota)
and what it did send (events per project in a month). The ingest refuses events over the quota
(`YAVIO-2054`) until the month ends or the quota rises."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from yavio_cli import scope
from yavio_cli.client import PLAN_DEFAULT
from yavio_cli.connection import Connection
from yavio_cli.terminal import HomeOption, JsonOption, console, print_json, say

plan_app = typer.Typer(help="A workspace's plan and monthly event quota: set it.",
                       no_args_is_help=True)

_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def _month(text: str) -> str:
    """Parser of `--month`; a malformed one is a usage error (exit 2)."""
    if not _MONTH.fullmatch(text.strip()):
        raise typer.BadParameter(f"{text!r} is not a month; write it like 2026-03")
    return text.strip()


class Plan(str, Enum):
    self_hosted = "self-hosted"
    community = "community"


def usage(
    month: Annotated[str | None, typer.Option(
        "--month", metavar="YYYY-MM", parser=_month,
        help="The month to count [default: this one, in UTC].", show_default=False)] = None,
    workspace: scope.WorkspaceOption = None, home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a workspace's events in a month, per project and in total, beside its plan's quota.

    Example: `yavio usage --month 2026-03 --workspace acme`
    """
    connection = Connection.for_home(home)
    with connection.open() as client:
        target = scope.workspace(client, connection, workspace)
        answer = client.usage(target["id"], month)
    if as_json:
        print_json(answer)
        return
    shown = answer["workspace"]
    say(f"Events of workspace {shown['slug']} in {answer['month']}:")
    table = Table(box=None, pad_edge=False)
    table.add_column("project", no_wrap=True)
    table.add_column("name", overflow="fold")
    table.add_column("events", justify="right", no_wrap=True)
    for project in answer["projects"]:
        table.add_row(escape(project["slug"]), escape(project.get("name") or "-"),
                      f"{project['events']:,}")
    table.add_section()
    table.add_row("total", "", f"{shown['events']:,}")
    console.print(table)
    say(_allowance(shown, current=answer["month"] == datetime.now(UTC).strftime("%Y-%m")))


def _allowance(workspace: dict[str, Any], *, current: bool) -> str:
    """The plan line under the table: the quota, how much of it is used, and what happens at
    the limit (only this month's count is checked by the ingest)."""
    plan, quota, used = workspace.get("plan") or "-", workspace.get("monthlyEventQuota"), \
        workspace["events"]
    if quota is None:
        return f"Plan {plan}: no monthly event quota."
    share = f" ({used / quota:.0%} used)" if quota else ""
    line = f"Plan {plan}: {quota:,} events a month{share}."
    if current and used >= quota:
        line += (" The quota is reached: new events are refused until next month; raise it "
                 "with `yavio plan set`.")
    return line


@plan_app.command(name="set")
def set_plan(
    plan: Annotated[Plan, typer.Argument(help="The plan.", show_default=False)],
    quota: Annotated[str | None, typer.Option(
        "--quota", metavar="N|unlimited",
        help="Events a month, or `unlimited` [default: the plan's own: community 1,000,000, "
             "self-hosted unlimited].", show_default=False)] = None,
    workspace: scope.WorkspaceOption = None, home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change a workspace's plan and monthly event quota (owner only); the ingest applies it at
    once.

    Example: `yavio plan set community --quota 5000000`
    """
    events = PLAN_DEFAULT if quota is None else _quota(quota)
    connection = Connection.for_home(home)
    with connection.open() as client:
        target = scope.workspace(client, connection, workspace)
        updated = client.set_plan(target["id"], plan.value, events)
    if as_json:
        print_json(updated)
        return
    limit = updated.get("monthlyEventQuota")
    say(f"Workspace {updated['slug']} is on the {updated['plan']} plan: "
        + ("no monthly event quota." if limit is None else f"{limit:,} events a month."))


def _quota(text: str) -> int | None:
    """`--quota`: a whole number (`_` or `,` may group digits), or `unlimited` (None)."""
    cleaned = text.strip().lower().replace("_", "").replace(",", "")
    if cleaned == "unlimited":
        return None
    if not cleaned.isdigit():
        raise typer.BadParameter(f"{text!r} is not a number of events; write it like 5000000 "
                                 "or unlimited", param_hint="'--quota'")
    return int(cleaned)
