"""The real `yavio tui` in a real terminal, as a person uses it: `yavio up`, the hotel-booking
example driven by a real MCP client session, then the dashboard in tmux, every view visited with
`send-keys` and read with `capture-pane`; an event sent meanwhile shows up in the live tail."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from mcp import Client, StdioServerParameters

from tests.cli.test_stack import running_stack, yavio
from tests.cli.tui.tmux import Tmux
from tests.examples.test_hotel_booking import EXAMPLE, STAY, FakeUser, search_and_book
from yavio_cli.client import YavioClient
from yavio_cli.tui.format import count

pytestmark = pytest.mark.stack

LIVE_WITHIN_S = 1.0  # the figure: an accepted event on the screen within a second


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    with running_stack(tmp_path_factory.mktemp("tmux") / "home") as running:
        created = yavio(running.home, "keys", "create", "--json")
        assert created.returncode == 0, created.stderr
        running.key = json.loads(created.stdout)["key"]
        yield running


async def hotel_booking(stack: SimpleNamespace) -> None:
    """The example server over stdio, as an MCP client uses it: a check, a search, a booking."""
    user = FakeUser()
    env = {"PATH": "/usr/bin:/bin", "YAVIO_API_KEY": stack.key, "YAVIO_ENDPOINT": stack.url,
           "YAVIO_FLUSH_INTERVAL": "0.2"}
    params = StdioServerParameters(command=sys.executable, args=[str(EXAMPLE)], env=env)
    async with Client(params, mode="legacy", sampling_callback=user.sampling,
                      elicitation_callback=user.elicitation) as client:
        await client.call_tool("check_availability", {"room_id": "ber-1", **STAY})
        await search_and_book(client, user, SimpleNamespace(url=stack.url))


def overview(stack: SimpleNamespace) -> dict[str, Any]:
    with YavioClient(stack.url, stack.token) as client:
        return client.overview(stack.project["id"])


def test_every_view_of_the_real_tui_in_a_terminal_and_a_live_event_within_a_second(
        stack: SimpleNamespace) -> None:
    asyncio.run(hotel_booking(stack))
    deadline = time.monotonic() + 30
    while overview(stack)["kpis"]["invocations"]["value"] < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    calls = overview(stack)["kpis"]["invocations"]["value"]
    assert calls >= 3

    terminal = Tmux([sys.executable, "-m", "yavio_cli", "tui"],
                    env={"PATH": "/usr/bin:/bin", "HOME": str(stack.home.parent),
                         "YAVIO_HOME": str(stack.home), "TERM": "xterm-256color"})
    try:
        terminal.wait_for(f"{count(calls)} tool calls in")
        screen = terminal.screen()
        assert "Overview" in screen and "book_room" in screen and "search_rooms" in screen
        # (key, the view's title in the header, what it shows of the flow)
        for key, title, shown in [("2", "Tools", "check_availability"),
                                  ("3", "Traces", "book_room"),
                                  ("4", "Sessions", "Sessions"),
                                  ("5", "Users", "DAU"),
                                  ("6", "Funnels", "entered"),
                                  ("7", "Paths", "(start)"),
                                  ("8", "Errors", "failed"),
                                  ("9", "Intents", "intent")]:
            terminal.keys(key)
            terminal.wait_for(f"· {title} ·")
            terminal.wait_for(shown)
            assert "Traceback" not in terminal.screen()

        terminal.keys("0")
        terminal.wait_for("● live")
        trace = f"tr_tmux_{uuid.uuid4().hex[:8]}"
        now = datetime.now(timezone.utc)
        event = {"event_type": "tool_call", "event_id": str(uuid.uuid4()), "trace_id": trace,
                 "session_id": "ses_tmux", "source": "server", "event_name": "search_rooms",
                 "timestamp": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                 "latency_ms": 12.0, "status": "success"}
        sent = httpx.post(f"{stack.url}/v1/events", json={"events": [event]}, timeout=10,
                          headers={"Authorization": f"Bearer {stack.key}"})
        assert sent.status_code == 200, sent.text
        assert terminal.wait_for(trace, timeout=10, poll=0.005) < LIVE_WITHIN_S

        terminal.quit(10)
    finally:
        terminal.close()
