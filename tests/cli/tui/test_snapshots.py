"""What a person sees, at 80×24 (an SSH session) and 120×40: every screen of the dashboard on
the fixed week, compared with the SVGs in `__snapshots__/` (`pytest --snapshot-update` writes
them again after a deliberate change; look at every one before committing it)."""

from __future__ import annotations

import pytest

from tests.cli.tui.conftest import SIZES, DashboardServer, dashboard, loaded


@pytest.mark.parametrize("size", SIZES)
def test_overview(snap_compare, dashboard_server: DashboardServer, size: str) -> None:
    assert snap_compare(dashboard(dashboard_server), terminal_size=SIZES[size],
                        run_before=loaded)


@pytest.mark.parametrize("size", SIZES)
def test_overview_of_an_empty_project(snap_compare, dashboard_server: DashboardServer,
                                      size: str) -> None:
    assert snap_compare(dashboard(dashboard_server, project=dashboard_server.empty_project),
                        terminal_size=SIZES[size], run_before=loaded)


@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare, dashboard_server: DashboardServer, size: str) -> None:
    assert snap_compare(dashboard(dashboard_server), terminal_size=SIZES[size],
                        run_before=loaded, press=["question_mark"])
