"""The README's "Instrument your own server" as a user follows it: a fresh MCP server in a
folder of its own, the section's shell command (`yavio init`) run there against a running
stack, the section's Python lines added to the server, the server run over stdio by a real MCP
client session; then `yavio trace` (no argument) and the real TUI in tmux show the call."""

from __future__ import annotations

import asyncio
import difflib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.cli.own_server import CALLS, FRESH_SERVER, instrument, read_instructions
from tests.cli.test_stack import running_stack
from tests.cli.tui.tmux import Tmux

pytest.importorskip("mcp.server")  # other environments run only tests/sdk, without mcp

pytestmark = pytest.mark.stack

README = Path(__file__).resolve().parents[2] / "README.md"
MOST_ADDED_LINES = 3  # the promise: import, wrap, and the key from `yavio init`


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    with running_stack(tmp_path_factory.mktemp("own-server") / "home") as running:
        yield running


def user_env(stack: SimpleNamespace, folder: Path) -> dict[str, str]:
    """A user's shell: `yavio` and `python` of this environment on the PATH, the stack's home,
    nothing else of Yavio (no key or endpoint in the environment)."""
    return {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(folder.parent),
            "YAVIO_HOME": str(stack.home), "TERM": "xterm-256color"}


async def call_the_tools(folder: Path, env: dict[str, str]) -> None:
    """The server as a user runs it (`python server.py` in its folder), from a real MCP
    client session over stdio; closing the session ends the server."""
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=sys.executable, args=["server.py"], cwd=folder,
                                   env=env)
    async with Client(params, mode="legacy") as client:
        for tool, arguments in CALLS:
            await client.call_tool(tool, arguments)


def latest_trace(env: dict[str, str], folder: Path, tool: str, timeout: float = 60) -> dict:
    """`yavio trace --json` once it shows a call of `tool` (the SDK sends in the background,
    so the calls before it may show first)."""
    deadline = time.monotonic() + timeout
    while True:
        shown = subprocess.run(["yavio", "trace", "--json"], cwd=folder, env=env, text=True,
                               capture_output=True, timeout=60)
        found = json.loads(shown.stdout) if shown.returncode == 0 else {"events": [{}]}
        call = found["events"][0]
        if (call.get("type"), call.get("name")) == ("tool_call", tool):
            return found
        assert time.monotonic() < deadline, shown.stdout + shown.stderr
        time.sleep(0.5)


@pytest.mark.timeout(300)
def test_a_fresh_server_plus_the_readme_lines_shows_its_calls_in_trace_and_the_tui(
        stack: SimpleNamespace, tmp_path: Path) -> None:
    readme = read_instructions(README)
    commands, python = readme.commands, readme.python
    fresh_lines = FRESH_SERVER.splitlines()
    added = [line for line in python if line not in fresh_lines]
    assert commands == ["yavio init"], commands
    assert added and len(added) + len(commands) <= MOST_ADDED_LINES, added

    folder = tmp_path / "my-server"
    folder.mkdir()
    instrumented = instrument(FRESH_SERVER, python)
    diff = list(difflib.ndiff(fresh_lines, instrumented.splitlines()))
    assert [line[2:] for line in diff if line.startswith("+ ")] == added
    # A removed line is one the wrap replaced: `mcp = MCPServer(...)` by `mcp = with_yavio(...)`.
    targets = {line.split("=", 1)[0] for line in added if "=" in line}
    assert all(line[2:].split("=", 1)[0] in targets for line in diff if line.startswith("- "))
    (folder / "server.py").write_text(instrumented)

    env = user_env(stack, folder)
    for command in commands:
        ran = subprocess.run(["sh", "-c", command], cwd=folder, env=env, text=True,
                             capture_output=True, timeout=120)
        assert ran.returncode == 0, ran.stderr
    assert (folder / ".yaviorc.json").exists()

    asyncio.run(call_the_tools(folder, env))

    last_tool = CALLS[-1][0]
    found = latest_trace(env, folder, last_tool)
    shown = subprocess.run(["yavio", "trace"], cwd=folder, env={**env, "COLUMNS": "160"},
                           text=True, capture_output=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert f"trace {found['traceId']}" in shown.stdout and last_tool in shown.stdout

    terminal = Tmux(["yavio", "tui"], env=env)
    try:
        terminal.wait_for("· Overview ·", timeout=60)
        terminal.keys("3")
        terminal.wait_for("· Traces ·", timeout=60)
        for tool, _ in CALLS:
            terminal.wait_for(tool, timeout=60)
        assert "Traceback" not in terminal.screen()
        terminal.quit()
    finally:
        terminal.close()
