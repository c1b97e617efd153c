"""Fixtures for the compose deployment: a copy of `compose/` (so a developer's own `.env` is
never read or replaced) and that copy with secrets from the real `yavio compose init`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from yavio_cli.main import app

COMPOSE_SOURCE = Path(__file__).resolve().parents[2] / "compose"
BASE = ("docker-compose.yml",)
CLUSTER = ("docker-compose.yml", "docker-compose.cluster.yml")


def _compose_missing() -> str | None:
    if shutil.which("docker") is None:
        return "the docker client is not installed"
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        return "the docker compose plugin is not installed (`docker compose version` fails)"
    return None


@pytest.fixture(scope="session")
def docker_compose() -> None:
    """Skips the test when `docker compose` cannot run; the engine is never needed."""
    reason = _compose_missing()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def compose_folder(docker_compose: None, tmp_path: Path) -> Path:
    folder = tmp_path / "compose"
    shutil.copytree(COMPOSE_SOURCE, folder, ignore=shutil.ignore_patterns(".env"))
    return folder


@pytest.fixture
def deployment(compose_folder: Path) -> Path:
    """The compose folder with `.env` written by `yavio compose init`."""
    result = CliRunner().invoke(app, ["compose", "init", str(compose_folder)])
    assert result.exit_code == 0, result.output
    return compose_folder


def parse_env(text: str) -> dict[str, str]:
    """The variables of an `.env` text, comments skipped."""
    return dict(line.split("=", 1) for line in text.splitlines()
                if line and not line.startswith("#"))


def compose_config(folder: Path, files: tuple[str, ...], env_file: Path,
                   **variables: str) -> subprocess.CompletedProcess[str]:
    """`docker compose config --format json` on `files`, with nothing from this process's
    environment but what the docker client needs to find its plugin, plus `variables`."""
    environment = {name: os.environ[name] for name in ("PATH", "HOME", "DOCKER_CONFIG")
                   if name in os.environ}
    command = ["docker", "compose", "--project-directory", str(folder), "--env-file", str(env_file)]
    for name in files:
        command += ["-f", str(folder / name)]
    return subprocess.run([*command, "config", "--format", "json"], capture_output=True,
                          text=True, env={**environment, **variables}, cwd=folder, timeout=60)


def resolved(folder: Path, files: tuple[str, ...], **variables: str) -> dict:
    """The resolved model of a deployment with its generated `.env`."""
    result = compose_config(folder, files, folder / ".env", **variables)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
