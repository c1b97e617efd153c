"""Fixtures of the CLI tests that talk to the fake management API (`fake_management_api.py`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.fake_management_api import FakeManagementApi
from yavio_cli.home import write_private_json


def make_home(root: Path, port: int, credentials: dict[str, Any] | None) -> Path:
    """A `$YAVIO_HOME` as `yavio up` leaves it: state.json with the server's address, and
    credentials.json with the bootstrap's token and defaults."""
    write_private_json(root / "state.json",
                       {"server": {"pid": None, "host": "127.0.0.1", "port": port}})
    if credentials is not None:
        write_private_json(root / "credentials.json",
                           {"server": f"http://127.0.0.1:{port}", **credentials})
    return root


@pytest.fixture(scope="module")
def running_api() -> Iterator[FakeManagementApi]:
    api = FakeManagementApi()
    api.start()
    yield api
    api.stop()


@pytest.fixture
def api(running_api: FakeManagementApi) -> FakeManagementApi:
    running_api.reset()
    return running_api


@pytest.fixture
def owner(api: FakeManagementApi) -> dict[str, Any]:
    return api.bootstrap()


@pytest.fixture
def home(tmp_path: Path, api: FakeManagementApi, owner: dict[str, Any]) -> Path:
    return make_home(tmp_path / "home", api.port, owner)
