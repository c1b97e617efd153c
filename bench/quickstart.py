"""How long the README's "Instrument your own server" takes from a clean clone: the wall time of
each step a user goes through and the total (the issue's target: under 2 minutes, install
included).

In a temporary folder: `git clone` this repository, `make install` (what the README's `make demo`
does first: a `.venv` with Yavio, the server and mcp; the user then puts `.venv/bin` on the PATH),
`yavio up` (a home of its own, free ports), a fresh MCP server written in a folder (tests/cli/own_server.py), `yavio init` there
(the README section's command), the section's Python lines added, one MCP client session over
stdio calling its tools, then `yavio trace` until it shows the last call. Then `yavio down`
and the folder is deleted (not timed).

The installers (pip for uv, uv for the rest) use their usual caches unless `--cold-cache` gives
them empty ones: say which when quoting a figure. `--uncommitted` copies this checkout's modified and untracked files over the
clone, to time changes not committed yet.

Usage:
    .venv/bin/python bench/quickstart.py
    .venv/bin/python bench/quickstart.py --cold-cache --uncommitted
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from tests.cli.own_server import (  # noqa: E402
    CALLS,
    FRESH_SERVER,
    instrument,
    read_instructions,
)
from tests.conftest import free_port  # noqa: E402


class Steps:
    """Runs the named steps in order, printing each one's wall time as it ends."""

    def __init__(self) -> None:
        self.times: list[tuple[str, float]] = []

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        yield
        took = time.monotonic() - started
        self.times.append((name, took))
        print(f"{name:<34} {took:6.1f} s", flush=True)

    def total(self) -> float:
        return sum(took for _, took in self.times)


def run(command: list[str], **options: Any) -> subprocess.CompletedProcess:
    done = subprocess.run(command, text=True, capture_output=True, **options)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return done


def overlay_uncommitted(source: Path, clone: Path) -> list[str]:
    """Copy `source`'s modified and untracked (not ignored) files over `clone`."""
    listed = run(["git", "-C", str(source), "ls-files", "--modified", "--others",
                  "--exclude-standard"]).stdout.split()
    copied = []
    for name in sorted(set(listed)):
        if (source / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, clone / name)
            copied.append(name)
    return copied


async def call_tools(python: Path, folder: Path, env: dict[str, str]) -> None:
    """An MCP client session over stdio with `python server.py` in `folder`, as a client
    (ChatGPT, Claude, the inspector) would run it."""
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=str(python), args=["server.py"], cwd=folder, env=env)
    async with Client(params, mode="legacy") as client:
        for tool, arguments in CALLS:
            await client.call_tool(tool, arguments)


def wait_for(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up after {timeout} s")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=ROOT, help="the repository to clone")
    parser.add_argument("--python", default="python3", help="the Python that makes the venv")
    parser.add_argument("--cold-cache", action="store_true",
                        help="give pip and uv empty caches (every package downloaded)")
    parser.add_argument("--uncommitted", action="store_true",
                        help="copy the checkout's modified and untracked files over the clone")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="yavio-quickstart-"))
    clone, home, folder = root / "yavio", root / "home", root / "my-server"
    venv = clone / ".venv"
    env = {key: value for key, value in os.environ.items() if not key.startswith("YAVIO_")}
    env.update(YAVIO_HOME=str(home), PATH=f"{venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}")
    if args.cold_cache:
        env.update(PIP_CACHE_DIR=str(root / "pip-cache"), UV_CACHE_DIR=str(root / "uv-cache"))
    print(f"package caches: {'empty (--cold-cache)' if args.cold_cache else 'as usual'}")
    steps = Steps()
    try:
        with steps.step("git clone"):
            run(["git", "clone", "--quiet", str(args.repo), str(clone)])
        if args.uncommitted:
            copied = overlay_uncommitted(args.repo, clone)
            print(f"  (copied {len(copied)} uncommitted files over the clone, not timed)")
        with steps.step("make install"):
            run(["make", "-C", str(clone), "install", f"PYTHON={args.python}"], env=env)
        with steps.step("yavio up"):
            run(["yavio", "up", "--port", str(free_port()), "--pg-port", str(free_port())],
                env=env)
        instructions = read_instructions(clone / "README.md")
        with steps.step("write the server, " + " · ".join(instructions.commands)):
            folder.mkdir()
            (folder / "server.py").write_text(FRESH_SERVER)
            for command in instructions.commands:
                run(["sh", "-c", command], cwd=folder, env=env)
        with steps.step("add the README's lines"):
            (folder / "server.py").write_text(instrument(FRESH_SERVER, instructions.python))
        with steps.step("MCP client calls the tools"):
            asyncio.run(call_tools(venv / "bin" / "python", folder, env))
        last_tool = CALLS[-1][0]
        with steps.step(f"yavio trace shows {last_tool}"):
            wait_for(lambda: last_tool in subprocess.run(
                ["yavio", "trace"], cwd=folder, env=env, text=True,
                capture_output=True).stdout, timeout=60)
        print(f"{'total':<34} {steps.total():6.1f} s")
    finally:
        if (venv / "bin" / "yavio").exists():
            subprocess.run(["yavio", "down"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
