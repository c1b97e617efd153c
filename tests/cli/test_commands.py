"""The `yavio` command's surface: help with examples, usage errors, JSON output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from yavio_cli.main import app

runner = CliRunner()


@pytest.mark.parametrize("command", ["up", "down", "status", "logs", "doctor"])
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output and f"yavio {command}" in result.output


def test_an_unknown_log_component_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["logs", "nginx", "--home", str(tmp_path)])
    assert result.exit_code == 2
    assert "nginx" in result.output


def test_logs_before_any_start_say_how_to_start(tmp_path: Path) -> None:
    result = runner.invoke(app, ["logs", "--home", str(tmp_path / "home")])
    assert result.exit_code == 1
    assert "yavio up" in result.output


def test_logs_show_the_last_lines_of_each_component(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "server.log").write_text("".join(f"server line {i}\n" for i in range(100)))
    (logs / "postgres.log").write_text("ready to accept connections\n")

    only_server = runner.invoke(app, ["logs", "server", "-n", "3", "--home", str(tmp_path)])
    both = runner.invoke(app, ["logs", "--home", str(tmp_path)])

    assert only_server.exit_code == 0
    assert only_server.output.splitlines() == ["server line 97", "server line 98",
                                               "server line 99"]
    assert "postgres | ready to accept connections" in both.output
    assert "  server | server line 99" in both.output


def test_doctor_json_lists_checks_and_flags_a_world_readable_secrets_file(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    secrets = home / "secrets.json"
    secrets.write_text("{}")
    secrets.chmod(0o644)

    result = runner.invoke(app, ["doctor", "--json", "--home", str(home)])

    report = json.loads(result.output)
    assert result.exit_code == 1 and report["ok"] is False
    by_name = {check["name"]: check for check in report["checks"]}
    assert by_name["secrets file"]["status"] == "fail"
    assert "chmod go-rwx" in by_name["secrets file"]["detail"]
    assert by_name["python"]["status"] == "ok"
    assert {"server port", "postgres port", "disk space"} <= by_name.keys()


def test_status_json_of_a_stopped_stack_reports_every_component_down(tmp_path: Path) -> None:
    result = runner.invoke(app, ["status", "--json", "--home", str(tmp_path / "home")])
    report = json.loads(result.output)
    assert result.exit_code == 0
    assert report["running"] is False
    assert [report[c]["status"] for c in ("server", "postgres", "clickhouse")] == ["down"] * 3
