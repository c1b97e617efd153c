"""`yavio demo` as a user runs it: a stack of its own, the real example server driven by real MCP
sessions, and what the read API and the real TUI (in tmux) show afterwards."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from tests.cli.test_stack import running_stack, yavio
from tests.cli.tui.tmux import Tmux
from yavio_cli.client import YavioClient

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    with running_stack(tmp_path_factory.mktemp("demo") / "home") as running:
        yield running


@pytest.fixture(scope="module")
def demo_run(stack: SimpleNamespace) -> dict[str, Any]:
    ran = yavio(stack.home, "demo", "--events", "2000", "--days", "3", "--no-tui",
                "--live-seconds", "2", "--seed", "7", "--json", timeout=600)
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


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
    assert "validation" in categories, categories
    (retries,), = query(stack, project,
                        "SELECT count() FROM events WHERE event_type = 'tool_call' "
                        "AND is_retry = 1")
    assert retries > 0

    (widget, orphans), = query(stack, project, """
        SELECT count(), countIf(trace_id NOT IN (
            SELECT trace_id FROM events
            WHERE event_type = 'tool_call' AND event_name = 'book_room'))
        FROM events WHERE source = 'widget'""")
    assert widget > 0 and orphans == 0, "widget events join their book_room call's trace"


@pytest.mark.timeout(300)
def test_a_second_run_adds_to_the_project_and_its_tui_shows_every_main_view(
        stack: SimpleNamespace, demo_run: dict[str, Any]) -> None:
    project = demo_run["projectId"]
    (before,), = query(stack, project, "SELECT count() FROM events")
    terminal = Tmux([sys.executable, "-m", "yavio_cli", "demo", "--events", "300", "--days",
                     "2", "--live-seconds", "3"],
                    env={"PATH": "/usr/bin:/bin", "HOME": str(stack.home.parent),
                         "YAVIO_HOME": str(stack.home), "TERM": "xterm-256color"})
    try:
        terminal.wait_for("tool calls in", timeout=120)
        screen = terminal.screen()
        assert "Overview" in screen and "search_rooms" in screen, screen
        assert "Traceback" not in screen
        for key, title, shown in [("2", "Tools", "check_availability"),
                                  ("3", "Traces", "book_room"),
                                  ("5", "Users", "guest_"),
                                  ("6", "Funnels", "entered"),
                                  ("0", "Live", "● live")]:
            terminal.keys(key)
            terminal.wait_for(f"· {title} ·" if key != "0" else shown)
            terminal.wait_for(shown)
            assert "Traceback" not in terminal.screen()
        terminal.keys("q")
        deadline = time.monotonic() + 30
        while terminal.alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not terminal.alive()
    finally:
        terminal.close()
    (after,), = query(stack, project, "SELECT count() FROM events")
    assert after >= before + 300
