"""Export the README's dashboard screenshots (docs/images/*.svg) from a running stack.

    yavio demo --no-tui                    # a stack with the `demo` project's traffic
    python docs/images/capture.py          # same YAVIO_HOME; writes the SVGs beside this file

Each screen is the real `yavio tui` at 120×36, driven by Textual's pilot. The live tail needs
events arriving, so a short `yavio demo` run sends some while that screen is open.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

from yavio_cli import scope
from yavio_cli.client import YavioClient
from yavio_cli.connection import Connection
from yavio_cli.tui.app import YavioApp

HERE = Path(__file__).parent
SIZE = (120, 36)
LIVE_TRAFFIC = ["demo", "--no-tui", "--events", "40", "--days", "1", "--live-seconds", "30"]


async def settle(pilot, seconds: float = 0.5) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(seconds)  # tables size their columns, charts draw, once idle


RECT = r'<rect fill="(#\w+)" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"/>'


def shrink(svg: str) -> str:
    """The same picture in about half the bytes: a short class prefix, one crispEdges rule for
    every rect, and each run of same-coloured cell backgrounds in a row as one rect."""
    svg = re.sub(r"terminal-\d+-", "t-", svg).replace(' shape-rendering="crispEdges"', "")
    svg = svg.replace("<style>", "<style>\n    rect { shape-rendering: crispEdges; }", 1)

    def merge(block: re.Match) -> str:
        runs: list[list] = []
        for fill, x, y, width, height in re.findall(RECT, block.group(0)):
            last = runs[-1] if runs else None
            if last and (last[0], last[2], last[4]) == (fill, y, height) \
                    and abs(last[1] + last[3] - float(x)) < 0.05:
                last[3] += float(width)
            else:
                runs.append([fill, float(x), y, float(width), height])
        return "".join(f'<rect fill="{f}" x="{x:g}" y="{y}" width="{w:g}" height="{h}"/>'
                       for f, x, y, w, h in runs)

    return re.sub(f"(?:{RECT}\\s*)+", merge, svg)


def save(app: YavioApp, name: str) -> None:
    svg = shrink(app.export_screenshot())
    (HERE / f"{name}.svg").write_text(svg, encoding="utf-8")
    print(f"wrote {HERE / name}.svg ({len(svg) // 1024} KiB)")


async def capture(app: YavioApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        async def shot(name: str, *keys: str) -> None:
            await pilot.press(*keys)
            await settle(pilot)
            save(app, name)

        await settle(pilot, 1.0)  # the footer lists its keys once the first screen is up
        await shot("overview")
        await shot("tool-detail", "2", "enter")
        await shot("trace-tree", "escape", "3", "slash", *"book_room", "enter", "enter", "e")
        await shot("users", "escape", "5")
        # the busiest tool's funnel, with the steps between the search and the booking
        await shot("funnels", "6", "down", "a", *"tool_call:check_availability", "enter",
                   "a", *"tool_call:book_room", "enter")
        traffic = subprocess.Popen([Path(sys.executable).with_name("yavio"), *LIVE_TRAFFIC],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            await pilot.press("0")
            await pilot.pause(20)  # the tail's stream never ends: no waiting for its worker
            save(app, "live")
        finally:
            traffic.terminate()
            traffic.wait()


def main() -> None:
    connection = Connection.for_home(None)
    with connection.open() as client:
        workspace = scope.workspace(client, connection, None)
        project = scope.project(client, connection, None, "demo")
    with YavioClient(connection.url, connection.token) as client:
        asyncio.run(capture(YavioApp(client, connection.url, project, workspace, refresh=0)))


if __name__ == "__main__":
    main()
