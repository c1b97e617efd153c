"""`yavio events tail`: a project's events as the server accepts them, one line each (or one
JSON object each), for watching an MCP server at work and for scripts."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated, Any

import typer

from yavio_cli import scope
from yavio_cli.connection import Connection
from yavio_cli.terminal import HomeOption, JsonOption, errors, fail

app = typer.Typer(help="A project's events as they arrive.", no_args_is_help=True)

TypeOption = Annotated[list[str] | None, typer.Option(
    "--type", "-t", metavar="TYPE[,TYPE…]",
    help="Only these event types, comma-separated or repeated (e.g. tool_call,step).",
    show_default=False)]


@app.command()
def tail(types: TypeOption = None, project: scope.ProjectOption = None,
         workspace: scope.WorkspaceOption = None, home: HomeOption = None,
         as_json: JsonOption = False) -> None:
    """Print a project's events as the server accepts them, until Ctrl+C.

    One tab-separated line per event: time, type, name, trace, session, then status and
    latency (`-` where an event has none). With `--json`, each event as stored, one JSON
    object per line. Notes (connected, events dropped because the tail fell behind) go to
    stderr, so stdout holds events only.

    Examples: `yavio events tail` · `yavio events tail --type tool_call,step` ·
    `yavio events tail --json | jq -r .event_name`
    """
    chosen = [name.strip() for value in types or () for name in value.split(",")
              if name.strip()]
    connection = Connection.for_home(home)
    try:
        with connection.open() as client:
            target = scope.project(client, connection, workspace, project)
            with client.live(target["id"], chosen) as messages:
                _note(f"Tailing the events of project {target['slug']}; Ctrl+C to stop.")
                for event, data in messages:
                    if event == "dropped":
                        _note(f"{data['dropped']} events dropped: this tail fell behind.")
                    else:
                        print(json.dumps(data) if as_json else _line(data), flush=True)
    except KeyboardInterrupt:
        return
    except BrokenPipeError:
        # The reader left (`| head`): point stdout at nothing so Python's final flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    raise fail("The server ended the stream (it is stopping or restarting); run the "
               "command again.")


def _note(message: str) -> None:
    errors.print(message, markup=False, highlight=False, soft_wrap=True)


def _line(event: dict[str, Any]) -> str:
    outcome = [event["status"]] if event.get("status") else []
    if event.get("latency_ms") is not None:
        outcome.append(f"{event['latency_ms']:.1f} ms")
    fields = [event.get("timestamp"), event.get("event_type"), event.get("event_name"),
              event.get("trace_id"), event.get("session_id"), " ".join(outcome)]
    return "\t".join(str(field) if field else "-" for field in fields)
