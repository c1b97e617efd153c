"""Numbered SQL migrations shipped with the package, shared by both stores.

A migration is `NNNN_name.sql` under `migrations/<store>/`; statements are separated by a `;` at the
end of a line. `${name}` placeholders are filled from the store's settings (cluster clause, engines,
retention), so one set of SQL serves embedded chdb, a ClickHouse server and a cluster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from string import Template

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_STATEMENT_END = re.compile(r";\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def load_migrations(store: str, substitutions: dict[str, str] | None = None) -> list[Migration]:
    """The migrations of `store` ("clickhouse" or "postgres") in version order."""
    folder = resources.files("yavio_ingest.store") / "migrations" / store
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if not match:
            continue
        text = entry.read_text(encoding="utf-8")
        if substitutions is not None:
            text = Template(text).substitute(substitutions)
        statements = tuple(s.strip() for s in _STATEMENT_END.split(text) if _has_sql(s))
        found.append(Migration(int(match.group(1)), match.group(2), statements))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration numbers in {store}: {versions}")
    return found


def _has_sql(chunk: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in chunk.splitlines())
