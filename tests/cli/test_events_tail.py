"""`yavio events tail` against the real server: the real command in a subprocess prints each
accepted event as it arrives, one JSON object or one tab-separated line per event, and stops
cleanly on Ctrl+C; an unknown type and an unreachable server end it with one line."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from tests.cli.conftest import make_home
from tests.cli.test_commands_against_the_server import home_of
from tests.conftest import free_port
from tests.ingest.conftest import (  # noqa: F401  (fixtures, found by pytest in this module)
    IngestServer,
    ingest_server,
    ingest_settings,
    make_event,
    settings_overrides,
    start_ingest_server,
)
from tests.ingest.test_management import make_tenant
from yavio_cli.main import app


class Tail:
    """A running `yavio events tail` subprocess."""

    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process

    async def line(self, timeout: float = 10) -> str:
        assert self.process.stdout is not None
        return (await asyncio.wait_for(self.process.stdout.readline(), timeout)).decode()

    async def interrupt(self) -> tuple[int, str]:
        """Ctrl+C: the exit code and everything it wrote on stderr."""
        self.process.send_signal(signal.SIGINT)
        assert self.process.stderr is not None
        stderr = await asyncio.wait_for(self.process.stderr.read(), 10)
        return await asyncio.wait_for(self.process.wait(), 10), stderr.decode()


TAIL = [sys.executable, "-m", "yavio_cli", "events", "tail"]


@asynccontextmanager
async def tailing(home: Path, *arguments: str, command: list[str] = TAIL) -> AsyncIterator[Tail]:
    """The command, once it says on stderr that it is subscribed."""
    process = await asyncio.create_subprocess_exec(
        *command, *arguments, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "YAVIO_HOME": str(home), "COLUMNS": "200"})
    try:
        assert process.stderr is not None
        first = await asyncio.wait_for(process.stderr.readline(), 30)
        assert first.startswith(b"Tailing the events of project p"), first
        yield Tail(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def post(server: IngestServer, api_key: str, events: list[dict]) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{server.url}/v1/events", json={"events": events},
                                     headers={"Authorization": f"Bearer {api_key}"})
    assert response.status_code == 200, response.text


async def test_json_lines_are_the_events_as_they_arrive_and_ctrl_c_exits_0(
        ingest_server: IngestServer, tmp_path: Path) -> None:
    mine = make_tenant(ingest_server.postgres, "j")
    api_key, _ = ingest_server.postgres.api_keys.create(uuid.UUID(mine.project_id), "k")
    call = make_event(event_name="search_rooms")
    step = make_event("step", event_name="rooms_found", step_sequence=0)
    async with tailing(home_of(tmp_path, ingest_server, mine, "viewer"), "--json") as tail:
        await post(ingest_server, api_key, [call, step])
        shown = [json.loads(await tail.line()) for _ in range(2)]
        code, stderr = await tail.interrupt()
    assert [(e["event_id"], e["event_type"], e.get("event_name")) for e in shown] == [
        (call["event_id"], "tool_call", "search_rooms"),
        (step["event_id"], "step", "rooms_found")]
    assert shown[1]["step_sequence"] == 0 and shown[0]["project_id"] == mine.project_id
    assert "workspace_id" not in shown[0]
    assert code == 0 and "Traceback" not in stderr


async def test_plain_lines_show_time_type_name_trace_session_and_outcome_of_the_types_asked(
        ingest_server: IngestServer, tmp_path: Path) -> None:
    mine = make_tenant(ingest_server.postgres, "k")
    api_key, _ = ingest_server.postgres.api_keys.create(uuid.UUID(mine.project_id), "k")
    # Yesterday: the ingest refuses a timestamp older than its retention.
    when = f"{datetime.now(timezone.utc).date() - timedelta(days=1)}T09:30:00.250Z"
    failed = make_event(event_name="book_room", status="error", latency_ms=250.04,
                        timestamp=when, trace_id="tr_1", session_id="ses_1")
    async with tailing(home_of(tmp_path, ingest_server, mine, "viewer"),
                       "--type", "tool_call,conversion") as tail:
        # The step is not of a type asked for; the tool call after it is the first line.
        await post(ingest_server, api_key, [make_event("step", event_name="hidden"), failed])
        line = await tail.line()
        code, _ = await tail.interrupt()
    assert line.rstrip("\n").split("\t") == [
        when, "tool_call", "book_room", "tr_1", "ses_1", "error 250.0 ms"]
    assert code == 0


async def test_a_reader_that_stops_reading_ends_the_tail_quietly(
        ingest_server: IngestServer, tmp_path: Path) -> None:
    mine = make_tenant(ingest_server.postgres, "h")
    api_key, _ = ingest_server.postgres.api_keys.create(uuid.UUID(mine.project_id), "k")
    # `yavio events tail | head -n 1`, with the tail's exit code printed on stderr.
    piped = ["bash", "-c", f"{shlex.join(TAIL)} | head -n 1; echo \"tail exited ${{PIPESTATUS[0]}}\" >&2"]
    async with tailing(home_of(tmp_path, ingest_server, mine, "viewer"), command=piped) as tail:
        await post(ingest_server, api_key, [make_event(event_name="first")])
        assert "\tfirst\t" in await tail.line()
        # head has exited: printing the next event finds the pipe closed.
        await post(ingest_server, api_key, [make_event(event_name="second")])
        assert tail.process.stderr is not None
        stderr = (await asyncio.wait_for(tail.process.stderr.read(), 10)).decode()
    assert stderr.strip() == "tail exited 0"


async def test_an_unknown_type_and_an_unreachable_server_end_with_one_line(
        ingest_server: IngestServer, tmp_path: Path) -> None:
    mine = make_tenant(ingest_server.postgres, "u")
    runner = CliRunner()
    unknown = await asyncio.to_thread(
        runner.invoke, app, ["events", "tail", "--type", "tool_calls"],
        env={"YAVIO_HOME": str(home_of(tmp_path, ingest_server, mine, "viewer"))})
    assert unknown.exit_code == 1
    assert "Unknown event type tool_calls" in unknown.output

    nowhere = make_home(tmp_path / "nowhere", free_port(), {
        "token": mine.tokens["viewer"], "workspace": {"id": mine.workspace_id, "slug": "w"},
        "project": {"id": mine.project_id, "slug": "p"}})
    unreachable = await asyncio.to_thread(runner.invoke, app, ["events", "tail"],
                                          env={"YAVIO_HOME": str(nowhere)})
    assert unreachable.exit_code == 1
    assert unreachable.output.strip() == "error: Yavio is not running. Start it with `yavio up`."


async def test_a_server_that_stops_ends_the_tail_with_one_line(
        postgres_store: Any, clickhouse_store: Any, tmp_path: Path) -> None:
    server, test_server = await start_ingest_server(postgres_store, clickhouse_store,
                                                    ingest_settings(tmp_path))
    mine = make_tenant(postgres_store, "s")
    async with tailing(home_of(tmp_path, server, mine, "viewer")) as tail:
        await test_server.close()
        assert tail.process.stderr is not None
        stderr = (await asyncio.wait_for(tail.process.stderr.read(), 10)).decode()
        code = await asyncio.wait_for(tail.process.wait(), 10)
    assert code == 1
    assert stderr.strip() == ("error: The server ended the stream (it is stopping or "
                              "restarting); run the command again.")
