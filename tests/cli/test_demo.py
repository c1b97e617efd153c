"""`make demo` (the README's quick start, which runs `yavio demo`) as a user runs it: in a home
without a stack it starts one, the real example server is driven by real MCP sessions, and the
read API and the real TUI (in tmux) show what arrived."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.cli.test_stack import yavio
from tests.cli.tui.tmux import Tmux
from tests.conftest import free_port
from yavio_cli.client import YavioClient

pytestmark = pytest.mark.stack


REPO = Path(__file__).resolve().parents[2]


def make_demo(*demo_args: str) -> list[str]:
    """The README's `make demo` with `DEMO_ARGS`, its install step skipped (`-o install`: the
    tests run installed) and `yavio` taken from the environment running the tests."""
    return ["make", "-s", "--no-print-directory", "-C", str(REPO), "-o", "install",
            f"BIN={Path(sys.executable).parent}", "demo", f"DEMO_ARGS={shlex.join(demo_args)}"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """`make demo` with `--no-tui --json` in a home without a stack, as on a fresh clone: it
    starts the stack on the ports in YAVIO_PORT and YAVIO_PG_PORT; `yavio down` after. The
    home, the server's URL, the owner's token and the demo's summary."""
    home = tmp_path_factory.mktemp("demo") / "home"
    env = {**{key: value for key, value in os.environ.items() if not key.startswith("YAVIO_")},
           "YAVIO_HOME": str(home), "YAVIO_PORT": str(free_port()),
           "YAVIO_PG_PORT": str(free_port())}
    try:
        ran = subprocess.run(make_demo("--events", "2000", "--days", "3", "--no-tui",
                                       "--live-seconds", "2", "--seed", "7", "--json"),
                             env=env, text=True, capture_output=True, timeout=600,
                             stdin=subprocess.DEVNULL)
        assert ran.returncode == 0, ran.stderr
        credentials = json.loads((home / "credentials.json").read_text())
        yield SimpleNamespace(home=home, url=credentials["server"], token=credentials["token"],
                              summary=json.loads(ran.stdout))
    finally:
        yavio(home, "down")


@pytest.fixture(scope="module")
def demo_run(stack: SimpleNamespace) -> dict[str, Any]:
    return stack.summary


def query(stack: SimpleNamespace, project: str, sql: str) -> list[list[Any]]:
    with YavioClient(stack.url, stack.token) as client:
        return client.query(project, sql)["rows"]


@pytest.mark.timeout(600)
def test_demo_fills_every_view_with_days_of_realistic_traffic(
        stack: SimpleNamespace, demo_run: dict[str, Any]) -> None:
    summary = demo_run
    assert summary["events"] >= 2000 and summary["rejected"] == 0, summary
    assert summary["sessions"] > 50 and summary["conversions"] > 0
    project = summary["projectId"]
    since = (datetime.now(timezone.utc) - timedelta(days=4)).isoformat().replace("+00:00", "Z")
    with YavioClient(stack.url, stack.token) as client:
        overview = client.overview(project, start=since)
        tools = client.tools(project, start=since)
        traces = client.traces(project, start=since)
        funnel = client.funnel(project, ["tool_call:search_rooms", "tool_call:book_room",
                                         "conversion:booking_completed"], by="session",
                               start=since)
        users = client.users(project, start=since)

    assert overview["kpis"]["invocations"]["value"] >= summary["toolCalls"] * 0.9
    assert overview["kpis"]["conversions"]["value"] > 0
    assert overview["kpis"]["revenue"]["value"].get("EUR", 0) > 0
    assert len(overview["platforms"]) >= 4, overview["platforms"]
    assert {"chatgpt", "claude", "cursor", "vscode"} <= {
        p["platform"] for p in overview["platforms"]}
    assert {"search_rooms", "check_availability", "book_room"} <= {
        t["name"] for t in tools["tools"]}
    assert traces["traces"]

    searched, booked, converted = (step["entered"] for step in funnel["steps"])
    assert searched > booked > 0 and converted > 0, funnel
    assert funnel["steps"][0]["droppedHere"] + funnel["steps"][1]["droppedHere"] > 0

    assert users["users"], "identified users"
    assert users["anonymousSessions"] > 0, "anonymous sessions"
    assert any(user["sessions"] > 1 for user in users["users"]), "someone came back"

    (first, last), = query(stack, project, "SELECT min(timestamp), max(timestamp) FROM events")
    first_at = datetime.fromisoformat(first.replace("Z", "+00:00"))
    last_at = datetime.fromisoformat(last.replace("Z", "+00:00"))
    now = datetime.now(timezone.utc)
    assert now - timedelta(days=3, hours=1) <= first_at < now - timedelta(days=2), first
    assert now - last_at < timedelta(minutes=5), "the live traffic comes last"

    categories = {row[0] for row in query(
        stack, project, "SELECT DISTINCT error_category FROM events WHERE status = 'error'")}
    assert {"validation", "timeout", "rate_limit", "auth", "server"} <= categories, categories
    (identified,), = query(stack, project,
                           "SELECT uniqExact(user_id) FROM events WHERE user_id != ''")
    # About 60% are identified; a 2,000-event run meets only ~40 people, so the share
    # varies by several points between runs (lanes interleave): bounds of ±3 sd.
    assert 0.35 <= identified / summary["people"] <= 0.85, (identified, summary["people"])
    (retries,), = query(stack, project,
                        "SELECT count() FROM events WHERE event_type = 'tool_call' "
                        "AND is_retry = 1")
    assert retries > 0

    (widget, orphans), = query(stack, project, """
        SELECT count(), countIf(trace_id NOT IN (
            SELECT trace_id FROM events
            WHERE event_type = 'tool_call' AND event_name IN ('search_rooms', 'book_room')))
        FROM events WHERE source = 'widget'""")
    assert widget > 0 and orphans == 0, "widget events join the trace of the call that " \
        "rendered their widget (search_rooms or book_room)"


@pytest.mark.timeout(300)
def test_make_demo_prints_its_summary_then_its_tui_shows_every_main_view_filled(
        stack: SimpleNamespace, demo_run: dict[str, Any]) -> None:
    project = demo_run["projectId"]
    (before,), = query(stack, project, "SELECT count() FROM events")
    history = ("--events", "300", "--days", "2")
    # Both runs in one terminal: the summary stays on the screen while the TUI run sends its
    # history, then the TUI opens with live traffic going on until it is closed.
    both = (f"{shlex.join(make_demo('--no-tui', '--live-seconds', '1', *history))} && "
            f"{shlex.join(make_demo(*history))}")
    terminal = Tmux(["sh", "-c", both],
                    env={"PATH": "/usr/bin:/bin", "HOME": str(stack.home.parent),
                         "YAVIO_HOME": str(stack.home), "TERM": "xterm-256color"})
    try:
        terminal.wait_for("Open the dashboard: yavio tui", timeout=120)
        summary = terminal.screen()
        assert "Sent " in summary and "tool calls" in summary and "bookings" in summary, summary
        terminal.wait_for("tool calls in", timeout=120)
        screen = terminal.screen()
        assert "· Overview ·" in screen and "search_rooms" in screen, screen
        assert "Traceback" not in screen
        # (key, the view's title in the header, a row only data puts there)
        for key, title, shown in [("2", "Tools", "check_availability"),
                                  ("3", "Traces", "ses_"),
                                  ("5", "Users", "guest_"),
                                  ("6", "Funnels", "sessions entered"),
                                  ("0", "Live tail", "tool_call")]:
            terminal.keys(key)
            terminal.wait_for(f"· {title} ·")
            terminal.wait_for(shown)
            screen = terminal.screen()
            assert "Traceback" not in screen
            if title == "Funnels":
                assert re.search(r"[1-9][\d,]* sessions entered", screen), screen
        terminal.quit()
    finally:
        terminal.close()
    (after,), = query(stack, project, "SELECT count() FROM events")
    assert after >= before + 2 * 300
