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
        return cls(**values)


def without_password(url: str) -> str:
    """`url` fit for a log line: any password replaced by `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
