"""`yavio compose init`: every secret generated into a 0600 `.env`, never printed."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.compose.conftest import parse_env
from yavio_cli.commands.compose import SECRET_BYTES
from yavio_cli.main import app

runner = CliRunner()


def test_init_writes_every_secret_into_a_private_env_file_and_prints_none(tmp_path: Path):
    result = runner.invoke(app, ["compose", "init", str(tmp_path)])

    assert result.exit_code == 0, result.output
    env_file = tmp_path / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    values = parse_env(env_file.read_text())
    assert list(values) == list(SECRET_BYTES)
    for name, size in SECRET_BYTES.items():
        assert len(values[name]) == 2 * size, name  # hex: two characters a byte
        int(values[name], 16)
        assert values[name] not in result.output
    assert len(set(values.values())) == len(values)  # each one drawn on its own
    assert str(env_file) in result.output
    assert f"--env-file {env_file} up -d" in result.output
    assert [p.name for p in tmp_path.iterdir()] == [".env"]  # no temporary file left behind


# 0o000 would leave a plainly created file world-readable; 0o377 would make it read-only.
@pytest.mark.parametrize("umask", [0o000, 0o377], ids=["open", "strict"])
def test_the_env_file_is_0600_whatever_the_umask(tmp_path: Path, umask: int):
    previous = os.umask(umask)
    try:
        result = runner.invoke(app, ["compose", "init", str(tmp_path)])
    finally:
        os.umask(previous)

    assert result.exit_code == 0, result.output
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600


def test_init_refuses_to_replace_an_existing_env_file_without_force(tmp_path: Path):
    runner.invoke(app, ["compose", "init", str(tmp_path)])
    before = (tmp_path / ".env").read_text()

    refused = runner.invoke(app, ["compose", "init", str(tmp_path)])

    assert refused.exit_code == 1
    assert "--force" in refused.output
    assert (tmp_path / ".env").read_text() == before

    replaced = runner.invoke(app, ["compose", "init", str(tmp_path), "--force"])

    assert replaced.exit_code == 0, replaced.output
    after = parse_env((tmp_path / ".env").read_text())
    assert set(after.values()).isdisjoint(parse_env(before).values())
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600


def test_json_names_the_file_and_the_variables_but_no_value(tmp_path: Path):
    result = runner.invoke(app, ["compose", "init", str(tmp_path), "--json"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"path": str(tmp_path / ".env"),
                                         "variables": list(SECRET_BYTES)}


def test_a_missing_folder_is_a_user_error(tmp_path: Path):
    result = runner.invoke(app, ["compose", "init", str(tmp_path / "nowhere")])

    assert result.exit_code == 1
    assert "is not a folder" in result.output
    assert not (tmp_path / "nowhere").exists()

