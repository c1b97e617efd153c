"""`$YAVIO_HOME` (default `~/.yavio`): where the self-hosted stack keeps its data and state.

Layout: `secrets.json` (server secrets and the embedded Postgres passwords, 0600),
`credentials.json` (the owner's access token, 0600), `state.json` (ports and pids),
`postgres/`, `clickhouse/`, `spool/`, `logs/`. Every file that holds a secret is written 0600
through a temporary file and a rename, so it is never readable by others, even for an instant.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def default_home() -> Path:
    return Path(os.environ.get("YAVIO_HOME") or Path.home() / ".yavio").expanduser().resolve()


@dataclass(frozen=True)
class YavioHome:
    root: Path

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.json"

    @property
    def credentials_file(self) -> Path:
        return self.root / "credentials.json"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def postgres_dir(self) -> Path:
        return self.root / "postgres"

    @property
    def clickhouse_dir(self) -> Path:
        return self.root / "clickhouse"

    @property
    def spool_dir(self) -> Path:
        return self.root / "spool"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def log_file(self, component: str) -> Path:
        return self.logs_dir / f"{component}.log"

    def ensure(self) -> None:
        """Create the home (0700: it holds secrets) and its log folder. Under root the embedded
        Postgres later adds search permission for its own user (0701): still nothing listable."""
        if not self.root.exists():
            self.root.mkdir(parents=True, mode=0o700)
        self.logs_dir.mkdir(mode=0o700, exist_ok=True)

    def secrets(self) -> dict[str, str]:
        """The server secrets, generated on first use. Never passed on a command line."""
        existing = read_json(self.secrets_file) or {}
        wanted = ("hmac_secret", "jwt_secret", "postgres_superuser_password",
                  "postgres_app_password")
        if all(existing.get(name) for name in wanted):
            return existing
        for name in wanted:
            existing.setdefault(name, secrets.token_hex(32))
        write_private_json(self.secrets_file, existing)
        return existing

    def update_secrets(self, **values: str) -> None:
        write_private_json(self.secrets_file, {**self.secrets(), **values})

    def state(self) -> dict[str, Any]:
        return read_json(self.state_file) or {}

    def save_state(self, state: dict[str, Any]) -> None:
        write_private_json(self.state_file, state)

    def credentials(self) -> dict[str, Any] | None:
        return read_json(self.credentials_file)

    def data_size(self) -> int:
        """Bytes on disk under the home, logs included."""
        total = 0
        for dirpath, _, filenames in os.walk(self.root):
            for name in filenames:
                try:
                    total += (Path(dirpath) / name).lstat().st_size
                except OSError:
                    continue
        return total

    def free_bytes(self) -> int:
        probe = self.root if self.root.exists() else self.root.parent
        while not probe.exists():
            probe = probe.parent
        return shutil.disk_usage(probe).free


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def write_private_json(path: Path, value: Any) -> None:
    """Write `value` as JSON to `path`, readable by the owner only, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, json.dumps(value, indent=2) + "\n")


def write_private(path: Path, text: str, *, replace: bool = True) -> None:
    """Write `path` so that no other user can ever read it: a temporary file created 0600 in the
    same folder, then moved into place in one step, or, without `replace`, linked there, which
    fails (FileExistsError) if `path` appeared meanwhile."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        # The umask can only remove bits from 0600; fchmod makes it exactly 0600 whatever it is.
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
