"""`yavio up/status/down` as a user runs them: the real CLI, real Postgres, real chdb, real server."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from tests.conftest import free_port
from yavio_cli.local_postgres import LocalPostgres

pytestmark = pytest.mark.stack


def yavio(home: Path, *args: str, timeout: float = 180,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {key: value for key, value in os.environ.items() if not key.startswith("YAVIO_")}
    env = {**base, **(env or {}), "YAVIO_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "yavio_cli", *args], env=env, text=True,
                          capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)


@contextmanager
def running_stack(home: Path) -> Iterator[SimpleNamespace]:
    """`yavio up` in `home` on free ports, `yavio down` after: the home, the server's URL and
    the owner's access token."""
    started = yavio(home, "up", "--port", str(free_port()), "--pg-port", str(free_port()),
                    "--json")
    assert started.returncode == 0, started.stderr
    try:
        credentials = json.loads((home / "credentials.json").read_text())
        yield SimpleNamespace(home=home, url=json.loads(started.stdout)["server"]["url"],
                              token=credentials["token"], project=credentials["project"])
    finally:
        yavio(home, "down")


def status_of(home: Path) -> dict:
    result = yavio(home, "status", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def insert_events_while_down(home: Path, project_id: str, workspace_id: str, count: int) -> None:
    """Write events straight into the stack's chdb folder, in a separate process (chdb opens one
    folder per process, and only while the server does not hold it)."""
    script = textwrap.dedent(f"""
        import uuid
        from tests.conftest import store_events
        from yavio_ingest.store.clickhouse import ClickHouseStore
        from yavio_sdk.events import format_timestamp, validate_obj
        store = ClickHouseStore("chdb://{home / 'clickhouse'}")
        events = []
        for i in range({count}):
            event, issues = validate_obj({{
                "event_id": str(uuid.uuid4()), "event_type": "tool_call", "trace_id": f"tr_{{i}}",
                "session_id": "ses_1", "timestamp": format_timestamp(),
                "source": "server", "event_name": "search_rooms", "latency_ms": 12.5,
                "status": "success"}})
            assert not issues, issues
            events.append(event)
        store_events(store, "{workspace_id}", "{project_id}", events)
        store.close()
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


@pytest.fixture
def ports() -> dict[str, int]:
    return {"port": free_port(), "pg_port": free_port()}


def test_up_status_down_lifecycle_keeps_data(tmp_path: Path, ports: dict[str, int]) -> None:
    home = tmp_path / "home"
    flags = ["--port", str(ports["port"]), "--pg-port", str(ports["pg_port"])]

    first = yavio(home, "up", *flags)
    assert first.returncode == 0, first.stderr
    assert "Yavio is up" in first.stdout
    status = status_of(home)
    assert status["running"] is True
    for component in ("server", "postgres", "clickhouse"):
        assert status[component]["status"] == "up", status
    assert status["server"]["port"] == ports["port"]
    assert status["postgres"]["port"] == ports["pg_port"]
    assert status["events"] == 0
    assert httpx.get(f"http://127.0.0.1:{ports['port']}/health").json() == \
        {"status": "ok", "postgres": "up", "clickhouse": "up"}

    # Secrets live in private files, never on a command line.
    secrets = json.loads((home / "secrets.json").read_text())
    credentials = json.loads((home / "credentials.json").read_text())
    for path in (home / "secrets.json", home / "credentials.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    command_lines = " ".join(
        Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        for pid in (status["server"]["pid"], status["postgres"]["pid"]))
    logs = "".join(p.read_text(errors="replace") for p in (home / "logs").iterdir())
    for secret in (*secrets.values(), credentials["token"]):
        assert secret not in command_lines
        assert secret not in logs

    again = yavio(home, "up", *flags)
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout
    assert status_of(home)["server"]["pid"] == status["server"]["pid"]

    # Postgres dies under a running server: health says which store is down, `up` heals it.
    LocalPostgres(home / "postgres", ports["pg_port"], home / "logs" / "postgres.log").stop()
    degraded = httpx.get(f"http://127.0.0.1:{ports['port']}/health", timeout=10)
    assert degraded.status_code == 503
    assert degraded.json() == {"status": "degraded", "postgres": "down", "clickhouse": "up"}
    assert status_of(home)["postgres"]["status"] == "down"
    healed = yavio(home, "up", "--json", *flags)
    assert healed.returncode == 0, healed.stderr
    assert json.loads(healed.stdout)["already_running"] is True
    healed_status = status_of(home)
    assert healed_status["running"] is True
    assert healed_status["server"]["pid"] == status["server"]["pid"]
    status = healed_status

    stopped = yavio(home, "down")
    assert stopped.returncode == 0, stopped.stderr
    for component in ("server", "postgres"):
        assert not alive(status[component]["pid"]), f"{component} still running"
    leftovers = [p for p in os.listdir("/proc") if p.isdigit() and alive(int(p)) and
                 str(home) in Path(f"/proc/{p}/cmdline").read_bytes().decode(errors="replace")]
    assert leftovers == []
    assert status_of(home)["running"] is False

    insert_events_while_down(home, credentials["project"]["id"], credentials["workspace"]["id"], 7)

    restarted = yavio(home, "up", *flags)
    assert restarted.returncode == 0, restarted.stderr
    try:
        after = status_of(home)
        assert after["running"] is True
        assert after["events"] == 7
        # The owner's token, stored in Postgres before `down`, still works after `up`.
        stats = httpx.get(f"http://127.0.0.1:{ports['port']}/v1/stats",
                          headers={"Authorization": f"Bearer {credentials['token']}"})
        assert stats.status_code == 200 and stats.json()["events"] == 7

        # A revoked saved token: the CLI says to run `yavio up`, which mints a new one.
        me = {"Authorization": f"Bearer {credentials['token']}"}
        tokens = httpx.get(f"http://127.0.0.1:{ports['port']}/v1/tokens", headers=me).json()
        for token in tokens["tokens"]:
            httpx.delete(f"http://127.0.0.1:{ports['port']}/v1/tokens/{token['id']}",
                         headers=me)
        refused = yavio(home, "keys", "list")
        assert refused.returncode == 1 and "yavio up" in refused.stderr
        mended = yavio(home, "up", *flags)
        assert mended.returncode == 0, mended.stderr
        listed = yavio(home, "keys", "list", "--json")
        assert listed.returncode == 0, listed.stderr
    finally:
        yavio(home, "down")


@pytest.mark.parametrize("busy, flag", [("port", "--port"), ("pg_port", "--pg-port")])
def test_a_busy_port_gives_one_line_naming_the_port_and_the_flag(
        tmp_path: Path, ports: dict[str, int], busy: str, flag: str) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports[busy]))
        squatter.listen()
        result = yavio(tmp_path / "home", "up", "--port", str(ports["port"]),
                       "--pg-port", str(ports["pg_port"]))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(ports[busy]) in lines[0] and flag in lines[0]


def test_status_without_a_stack_says_how_to_start_it(tmp_path: Path) -> None:
    result = yavio(tmp_path / "home", "status")
    assert result.returncode == 0
    assert "Yavio is not running. Start it with `yavio up`." in result.stdout


def test_an_external_postgres_url_replaces_the_embedded_one(tmp_path: Path, ports: dict[str, int],
                                                            postgres_url: str) -> None:
    home = tmp_path / "home"
    env_home = {"YAVIO_DATABASE_URL": postgres_url}
    started = yavio(home, "up", "--port", str(ports["port"]), env=env_home)
    try:
        assert started.returncode == 0, started.stderr
        status = json.loads(yavio(home, "status", "--json", env=env_home).stdout)
        assert status["running"] is True
        assert status["postgres"] == {"status": "up", "embedded": False, "pid": None,
                                      "port": None}
        assert not (home / "postgres").exists()
        assert postgres_url not in (home / "secrets.json").read_text()
    finally:
        stopped = yavio(home, "down", "--json", env=env_home)
    assert json.loads(stopped.stdout) == {"stopped": ["server"]}


def test_an_unreachable_clickhouse_fails_up_with_one_line_and_leaves_nothing_running(
        tmp_path: Path, ports: dict[str, int]) -> None:
    home = tmp_path / "home"
    url = f"http://analyst:hunter2secret@127.0.0.1:{free_port()}"
    result = yavio(home, "up", "--port", str(ports["port"]), "--pg-port", str(ports["pg_port"]),
                   env={"YAVIO_CLICKHOUSE_URL": url})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "ClickHouse" in lines[0] and "YAVIO_CLICKHOUSE_URL" in lines[0]
    assert "hunter2secret" not in result.stderr
    assert "hunter2secret" not in (home / "logs" / "server.log").read_text()
    status = status_of(home)
    assert status["server"]["status"] == "down" and status["postgres"]["status"] == "down"
