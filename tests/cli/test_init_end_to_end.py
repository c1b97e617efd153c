"""`yavio init` end to end: the real ingest server (real Postgres and chdb), then an MCP server
built in that folder with `with_yavio(server)` and no options, whose tool call reaches
ClickHouse. It proves the SDK finds and uses the file init wrote; `yavio usage` then counts
what arrived."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.ingest.conftest import IngestServer, ingest_server, settings_overrides  # noqa: F401
from yavio_cli.home import write_private_json
from yavio_cli.main import app

pytest.importorskip("mcp.server")  # other environments run only tests/sdk, without mcp


async def test_init_then_an_unconfigured_server_sends_its_tool_calls_to_the_project(
        ingest_server: IngestServer, tmp_path: Path,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    from mcp import Client
    from mcp.server import MCPServer

    from yavio_sdk import with_yavio, yavio

    server = ingest_server
    for variable in ("YAVIO_API_KEY", "YAVIO_ENDPOINT", "YAVIO_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    # The home `yavio up` would leave for this server: its address and the owner's token.
    owner = server.postgres.users.first_owner()
    token, _ = server.postgres.access_tokens.create(owner.id, "t")
    home = tmp_path / "home"
    write_private_json(home / "credentials.json", {"server": server.url, "token": token})
    folder = tmp_path / "weather-server"
    folder.mkdir()
    monkeypatch.chdir(folder)

    # In a thread: the CLI's blocking HTTP must leave this loop free to serve it.
    result = await asyncio.to_thread(CliRunner().invoke, app, ["init"],
                                     env={"YAVIO_HOME": str(home)})

    assert result.exit_code == 0, result.output
    assert "accepts the key" in result.stdout
    written = json.loads((folder / ".yaviorc.json").read_text())
    assert written["endpoint"] == server.url

    mcp_server = MCPServer("weather")

    @mcp_server.tool()
    def forecast(city: str) -> str:
        """Tomorrow's weather in a city."""
        return f"Sunny in {city}"

    with_yavio(mcp_server)  # no options: the key and endpoint come from .yaviorc.json
    async with Client(mcp_server, mode="legacy") as client:
        answer = await client.call_tool("forecast", {"city": "Lisbon"})
    assert answer.content[0].text == "Sunny in Lisbon"
    await asyncio.to_thread(yavio.flush, 5.0)

    project = uuid.UUID(server.project_id)
    deadline = time.monotonic() + 15
    while await asyncio.to_thread(server.stored, "event_type = 'tool_call'") == 0 \
            and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert server.stored("event_type = 'tool_call' AND event_name = 'forecast'") == 1

    # And `yavio usage` counts them, as the real server answers it.
    usage = await asyncio.to_thread(CliRunner().invoke, app, ["usage", "--json"],
                                    env={"YAVIO_HOME": str(home)})
    assert usage.exit_code == 0, usage.output
    (counted,) = json.loads(usage.stdout)["projects"]
    assert counted["events"] == server.clickhouse.count_events(project_id=project) >= 1
