"""The self-hosted stack on one machine: embedded Postgres and the server (with chdb inside it).

`up` is idempotent; `down` stops everything and keeps the data. Ports and pids live in
`$YAVIO_HOME/state.json`, so `status`, `logs` and `down` find what `up` started, whichever flags
it was given. `YAVIO_DATABASE_URL` / `YAVIO_CLICKHOUSE_URL` replace the embedded stores.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yavio_cli.client import ApiError, ServerUnavailable, YavioClient
from yavio_cli.home import YavioHome, write_private_json
from yavio_cli.local_postgres import LocalPostgres, PostgresError

DEFAULT_PORT = 3001
DEFAULT_PG_PORT = 54320
HEALTH_TIMEOUT_S = 90
STOP_TIMEOUT_S = 15


class StackError(RuntimeError):
    """A one-line message telling the user what went wrong and what to do."""


@dataclass(frozen=True)
class StackConfig:
    home: YavioHome
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    pg_port: int = DEFAULT_PG_PORT
    database_url: str | None = None
    clickhouse_url: str | None = None

    @classmethod
    def from_environment(cls, home: YavioHome, **overrides: Any) -> StackConfig:
        """The stack of `home`, on the stores `YAVIO_DATABASE_URL`/`YAVIO_CLICKHOUSE_URL` name
        (embedded when unset); `overrides` given as None keep their defaults."""
        return cls(home=home,
                   database_url=os.environ.get("YAVIO_DATABASE_URL") or None,
                   clickhouse_url=os.environ.get("YAVIO_CLICKHOUSE_URL") or None,
                   **{key: value for key, value in overrides.items() if value is not None})

    @property
    def server_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def postgres(self, port: int | None = None) -> LocalPostgres:
        return LocalPostgres(self.home.postgres_dir, port or self.pg_port,
                             self.home.log_file("postgres"))


Progress = Callable[[str], None]


def up(config: StackConfig, progress: Progress = lambda _: None) -> dict[str, Any]:
    """Start whatever is not running, wait for health, bootstrap on first run; return status."""
    home = config.home
    home.ensure()
    state = home.state()
    running_pid = server_pid(state)
    if running_pid is not None:
        postgres = config.postgres(state.get("postgres", {}).get("port"))
        if state.get("postgres", {}).get("embedded") and postgres.pid() is None:
            progress("Restarting Postgres")
            try:
                postgres.start()
            except PostgresError as error:
                raise StackError(str(error)) from error
            _wait_healthy(config, running_pid)
        _ensure_credentials(config, progress)
        return {**status(config), "already_running": True}

    secrets = home.secrets()
    postgres = config.postgres()
    embedded_pg = config.database_url is None
    if not port_is_free(config.host, config.port):
        raise StackError(f"Port {config.port} is in use: choose another with --port "
                         f"(or set YAVIO_PORT).")
    if embedded_pg and postgres.pid() is None and not port_is_free("127.0.0.1", config.pg_port):
        raise StackError(f"Port {config.pg_port} is in use: choose another with --pg-port "
                         f"(or set YAVIO_PG_PORT).")

    started_pg = False
    pid = None
    try:
        if embedded_pg:
            started_pg = postgres.pid() is None
            progress("Starting Postgres")
            if postgres.initialized():
                postgres.start()
            else:
                postgres.initialize(secrets["postgres_superuser_password"],
                                    secrets["postgres_app_password"])
            home.update_secrets(database_url=postgres.app_url(secrets["postgres_app_password"]))
        progress("Starting the server (migrations, ClickHouse)")
        pid = _start_server(config)
        # Recorded at once, so `yavio down` finds the server even if this command is interrupted.
        home.save_state({
            "server": {"pid": pid, "host": config.host, "port": config.port},
            "postgres": {"embedded": embedded_pg, "port": config.pg_port if embedded_pg else None},
            "clickhouse": {"embedded": config.clickhouse_url is None},
            "started_at": time.time(),
        })
        _wait_healthy(config, pid)
        _ensure_credentials(config, progress)
    except (PostgresError, StackError) as error:
        if pid is not None:
            _terminate(pid)
        if started_pg:
            postgres.stop()
        raise StackError(str(error)) from error

    return {**status(config), "already_running": False}


def down(config: StackConfig) -> list[str]:
    """Stop the server and the embedded Postgres, keeping all data; returns what was stopped."""
    home = config.home
    stopped = []
    state = home.state()
    pid = server_pid(state)
    if pid is not None:
        _terminate(pid)
        stopped.append("server")
    postgres = config.postgres(state.get("postgres", {}).get("port"))
    if postgres.pid() is not None:
        try:
            postgres.stop()
        except PostgresError as error:
            raise StackError(str(error)) from error
        stopped.append("postgres")
    if state:
        state["server"] = {**state.get("server", {}), "pid": None}
        home.save_state(state)
    return stopped


def status(config: StackConfig) -> dict[str, Any]:
    """Each component up or down with its port and pid, the data size and the event count."""
    home = config.home
    state = home.state()
    server_state = state.get("server", {})
    host = server_state.get("host", config.host)
    port = server_state.get("port", config.port)
    pg_state = state.get("postgres", {})
    pg_embedded = pg_state.get("embedded", config.database_url is None)
    postgres = config.postgres(pg_state.get("port"))
    ch_embedded = state.get("clickhouse", {}).get("embedded", config.clickhouse_url is None)

    pid = server_pid(state)
    health: dict[str, Any] = {}
    events = None
    if pid is not None:
        credentials = home.credentials() or {}
        with YavioClient(f"http://{host}:{port}", credentials.get("token")) as client:
            try:
                health = client.health()
                if credentials.get("token"):
                    events = client.stats()["events"]
            except (ServerUnavailable, ApiError):
                pass  # shown as down, or the event count as unknown

    server_up = health.get("status") in ("ok", "degraded")
    pg_pid = postgres.pid() if pg_embedded else None
    components = {
        "server": {"status": "up" if server_up else "down", "pid": pid, "host": host,
                   "port": port, "url": f"http://{host}:{port}"},
        "postgres": {"status": health.get("postgres") or ("up" if pg_pid else "down"),
                     "embedded": pg_embedded, "pid": pg_pid,
                     "port": postgres.port if pg_embedded else None},
        "clickhouse": {"status": health.get("clickhouse", "down"), "embedded": ch_embedded,
                       "pid": pid if ch_embedded else None,
                       "path": str(home.clickhouse_dir) if ch_embedded else None},
    }
    return {
        "running": all(c["status"] == "up" for c in components.values()),
        "home": str(home.root),
        **components,
        "data_bytes": home.data_size() if home.root.exists() else 0,
        "events": events,
    }


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def server_pid(state: dict[str, Any]) -> int | None:
    """The recorded server pid, if that process is alive and is really our server (a pid can be
    reused by an unrelated process after a reboot)."""
    pid = state.get("server", {}).get("pid")
    if not pid:
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if b"yavio_ingest" in cmdline else None


def _server_env(config: StackConfig) -> dict[str, str]:
    env = dict(os.environ)  # passes YAVIO_RETENTION_DAYS and friends on to the server
    env.update({
        "YAVIO_HOME": str(config.home.root),
        "YAVIO_HOST": config.host,
        "YAVIO_PORT": str(config.port),
        "YAVIO_SECRETS_FILE": str(config.home.secrets_file),
        "PYTHONUNBUFFERED": "1",
    })
    if config.database_url:
        env["YAVIO_DATABASE_URL"] = config.database_url
    if config.clickhouse_url:
        env["YAVIO_CLICKHOUSE_URL"] = config.clickhouse_url
    return env


def _start_server(config: StackConfig) -> int:
    log_path = config.home.log_file("server")
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "yavio_ingest", "serve"], env=_server_env(config),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=config.home.root)
    return process.pid


def _wait_healthy(config: StackConfig, pid: int) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    with YavioClient(config.server_url, timeout=2) as client:
        while time.monotonic() < deadline:
            exited = _reap(pid)
            if exited:
                raise StackError(f"The server exited during start-up: "
                                 f"{_startup_error(config.home.log_file('server'))} "
                                 f"(see `yavio logs server`)")
            try:
                if client.health().get("status") == "ok":
                    return
            except ServerUnavailable:
                pass
            time.sleep(0.1)
    raise StackError(f"The server did not become healthy within {HEALTH_TIMEOUT_S} s; "
                     "see `yavio logs server`")


def _ensure_credentials(config: StackConfig, progress: Progress) -> None:
    """Bootstrap on first run, and again when the saved access token is refused (revoked, or
    lost with a reset database): bootstrapping finds the owner and mints a new token."""
    credentials = config.home.credentials()
    if credentials is None or not credentials.get("token"):
        progress("Creating the owner, workspace and default project")
    else:
        with YavioClient(config.server_url, credentials["token"]) as client:
            try:
                client.stats()
                return
            except ServerUnavailable:
                return  # `yavio status` says so; nothing to mend here
            except ApiError as error:
                if error.status != 401:
                    return
        progress("The saved access token was refused: minting a new one")
    _bootstrap(config)


def _bootstrap(config: StackConfig) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "yavio_ingest", "bootstrap"], env=_server_env(config),
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60, check=False)
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise StackError(f"Creating the owner account failed: {detail}")
    owner = json.loads(result.stdout)
    write_private_json(config.home.credentials_file, {"server": config.server_url, **owner})


def _reap(pid: int) -> bool:
    """True if `pid` (our child) has exited; collects it so it does not linger as a zombie."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return not Path(f"/proc/{pid}").exists()
    return done == pid


def _terminate(pid: int) -> None:
    """SIGTERM, then SIGKILL if the process is still there after STOP_TIMEOUT_S."""
    for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 5)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if _reap(pid) or not _alive(pid):
                return
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _startup_error(path: Path) -> str:
    """Why the server stopped: its last error log line without the timestamp, else its last line."""
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    for line in reversed(lines):
        if " ERROR yavio" in line:
            return line.split(": ", 1)[-1]
    return lines[-1] if lines else "no log"
