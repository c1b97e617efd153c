"""Server settings, read from `YAVIO_*` environment variables and the secrets file.

Secrets (HMAC and JWT secrets, the embedded Postgres URL with its password) come from the 0600
secrets file that `yavio up` generates, or from the environment in a managed deployment; never
from the command line, where any local user could read them in the process list.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, Field

DEFAULT_PORT = 3001


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names the variable to set."""


class Settings(BaseModel):
    home: Path
    host: str = "127.0.0.1"
    port: int = Field(DEFAULT_PORT, ge=0, le=65535)
    database_url: str
    clickhouse_url: str
    clickhouse_cluster: str | None = None
    retention_days: int = Field(90, ge=1)
    hmac_secret: str = Field(min_length=32)
    jwt_secret: str = Field(min_length=32)
    spool_dir: Path | None = None  # default: <home>/spool
    spool_budget_bytes: int = Field(1 << 30, ge=1)
    spool_fsync: bool = False
    flush_rows: int = Field(10_000, ge=1)
    flush_interval_ms: int = Field(250, ge=1)
    # A request body must arrive whole within this time, so a client trickling it byte by byte
    # (slow loris) cannot hold a handler and a descriptor for ever.
    body_timeout_s: float = Field(30.0, gt=0)
    key_cache_ttl_s: float = Field(60.0, ge=0, le=60)
    project_rate: float = Field(1_000, gt=0)
    project_burst: float = Field(5_000, gt=0)
    failed_auth_rate: float = Field(10, gt=0)
    failed_auth_burst: float = Field(20, gt=0)
    widget_rate: float = Field(100, gt=0)
    widget_burst: float = Field(1_000, gt=0)
    trusted_proxies: str = ""  # comma-separated addresses or networks
    # The live tail polls ClickHouse this often for events other replicas acknowledged;
    # 0 = off: one process sees every event in its own fan-out.
    live_poll_ms: int = Field(0, ge=0)

    @property
    def spool_path(self) -> Path:
        return self.spool_dir or self.home / "spool"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get("YAVIO_HOME") or Path.home() / ".yavio").expanduser()
        secrets_file = Path(env.get("YAVIO_SECRETS_FILE") or home / "secrets.json")
        try:
            stored = json.loads(secrets_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            stored = {}

        def pick(variable: str, secret_name: str) -> str:
            value = env.get(variable) or stored.get(secret_name)
            if not value:
                raise SettingsError(f"{variable} is not set and {secrets_file} has no "
                                    f"{secret_name}; run `yavio up` or set {variable}")
            return value

        values = {
            "home": home,
            "host": env.get("YAVIO_HOST", "127.0.0.1"),
            "port": int(env.get("YAVIO_PORT", DEFAULT_PORT)),
            "database_url": pick("YAVIO_DATABASE_URL", "database_url"),
            "clickhouse_url": env.get("YAVIO_CLICKHOUSE_URL") or f"chdb://{home / 'clickhouse'}",
            "clickhouse_cluster": env.get("YAVIO_CLICKHOUSE_CLUSTER") or None,
            "retention_days": int(env.get("YAVIO_RETENTION_DAYS", 90)),
            "hmac_secret": pick("YAVIO_HMAC_SECRET", "hmac_secret"),
            "jwt_secret": pick("YAVIO_JWT_SECRET", "jwt_secret"),
        }
        # The tunables: YAVIO_<NAME> for each field not set above (e.g. YAVIO_SPOOL_FSYNC=1).
        for name in cls.model_fields:
            variable = f"YAVIO_{name.upper()}"
            if name not in values and env.get(variable):
                values[name] = env[variable]
        return cls(**values)


def without_password(url: str) -> str:
    """`url` fit for a log line: any password replaced by `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
