"""The ClickHouse event store, over clickhouse-connect.

`chdb:///<dir>` runs the real ClickHouse engine inside this process (chdb registers itself as a
clickhouse-connect backend); `http(s)://…` reaches a ClickHouse server or cluster. One query layer,
the same SQL, two deployments. chdb locks its directory, so only the server process opens it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

import clickhouse_connect
import msgspec

from yavio_ingest.store.migrations import load_migrations

# Insert order of the `events` columns (0001_events.sql). JSON payloads are stored as strings.
EVENT_COLUMNS: tuple[str, ...] = (
    "event_id", "event_type", "workspace_id", "project_id", "trace_id", "session_id", "timestamp",
    "ingested_at", "source", "event_name", "user_id", "platform", "sdk_version", "metadata",
    "latency_ms", "status", "error_category", "error_message", "is_retry", "input_keys",
    "input_types", "input_values", "output_content", "intent_signals", "tokens_in", "tokens_out",
    "country_code", "locale", "end_user_agent", "subject_id", "protocol_version", "client_name",
    "client_version", "connection_duration_ms", "tool_name", "description", "input_schema",
    "step_sequence", "conversion_value", "conversion_currency", "user_traits", "viewport_width",
    "viewport_height", "device_pixel_ratio", "device_touch", "connection_type",
    "visible_duration_ms", "click_count", "scroll_depth_pct", "field_name", "nav_from", "nav_to",
    "load_time_ms",
)
_JSON_COLUMNS = frozenset({
    "metadata", "input_keys", "input_types", "input_values", "output_content", "intent_signals",
    "input_schema", "user_traits",
})
_NULLABLE_COLUMNS = frozenset({
    "latency_ms", "tokens_in", "tokens_out", "connection_duration_ms", "step_sequence",
    "conversion_value", "viewport_width", "viewport_height", "device_pixel_ratio", "device_touch",
    "visible_duration_ms", "click_count", "scroll_depth_pct", "load_time_ms",
})
_ZERO_DEFAULT_COLUMNS = frozenset({"is_retry"})

# Small inserts cost ~15 ms each in chdb while blocks of 5k+ rows run above 100k rows/s.
INSERT_BLOCK_ROWS = 10_000

_json_encode = msgspec.json.Encoder().encode


def event_row(event: Any, workspace_id: uuid.UUID, project_id: uuid.UUID,
              ingested_at: datetime) -> tuple:
    """One `events` row, in EVENT_COLUMNS order, from a validated wire event and its tenant."""
    row: list[Any] = []
    for column in EVENT_COLUMNS:
        if column == "workspace_id":
            value: Any = workspace_id
        elif column == "project_id":
            value = project_id
        elif column == "ingested_at":
            value = ingested_at
        elif column == "event_type":
            # The union's tag lives on the struct's class, not on the instance.
            value = type(event).__struct_config__.tag
        elif column == "event_id":
            value = uuid.UUID(str(event.event_id))
        elif column == "timestamp":
            value = parse_timestamp(event.timestamp)
        else:
            value = getattr(event, column, None)
            if column in _JSON_COLUMNS:
                value = "" if value is None else _json_encode(value).decode()
            elif value is None and column not in _NULLABLE_COLUMNS:
                value = 0 if column in _ZERO_DEFAULT_COLUMNS else ""
            elif isinstance(value, bool):
                value = int(value)
        row.append(value)
    return tuple(row)


def parse_timestamp(value: str | datetime) -> datetime:
    """A wire timestamp (ISO-8601 UTC with `Z`) as an aware UTC datetime."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)


class ClickHouseStore:
    """Events, aggregates and the tool registry in ClickHouse.

    Thread-safe: one lock serialises calls, because a chdb session is not safe to share between
    threads and the server calls the store from executor threads.
    """

    def __init__(self, url: str, *, retention_days: int = 90, cluster: str | None = None):
        self.url = url
        self.retention_days = retention_days
        self.cluster = cluster
        self._lock = threading.Lock()
        self._client = clickhouse_connect.get_client(dsn=url)

    @property
    def embedded(self) -> bool:
        return self.url.startswith("chdb:")

    def close(self) -> None:
        with self._lock:
            self._client.close()

    def ping(self) -> bool:
        try:
            with self._lock:
                return self._client.command("SELECT 1") == 1
        except Exception:
            return False

    def migrate(self) -> list[str]:
        """Apply the migrations not yet recorded; returns the names applied. Safe to run again."""
        on_cluster = f"ON CLUSTER {self.cluster}" if self.cluster else ""
        replicated = "Replicated" if self.cluster else ""
        zoo_path = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'" if self.cluster else ""
        substitutions = {
            "on_cluster": on_cluster,
            "retention_days": str(int(self.retention_days)),
            "replacing_engine": f"{replicated}ReplacingMergeTree({zoo_path})",
            "aggregating_engine": f"{replicated}AggregatingMergeTree({zoo_path})",
            "registry_engine": f"{replicated}ReplacingMergeTree({zoo_path}{', ' if zoo_path else ''}registered_at)",
        }
        applied: list[str] = []
        with self._lock:
            self._client.command(
                f"CREATE TABLE IF NOT EXISTS schema_migrations {on_cluster} "
                "(version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
                f"ENGINE = {replicated}ReplacingMergeTree({zoo_path}) ORDER BY version"
            )
            done = {row[0] for row in self._client.query(
                "SELECT version FROM schema_migrations").result_rows}
            for migration in load_migrations("clickhouse", substitutions):
                if migration.version in done:
                    continue
                for statement in migration.statements:
                    self._client.command(statement)
                self._client.insert("schema_migrations", [[migration.version, migration.name]],
                                    column_names=["version", "name"])
                applied.append(f"{migration.version:04d}_{migration.name}")
        return applied

    def applied_migrations(self) -> list[int]:
        with self._lock:
            rows = self._client.query(
                "SELECT DISTINCT version FROM schema_migrations ORDER BY version").result_rows
        return [row[0] for row in rows]

    def insert_rows(self, rows: Sequence[tuple]) -> None:
        """Insert `events` rows (EVENT_COLUMNS order) in blocks of INSERT_BLOCK_ROWS."""
        with self._lock:
            for start in range(0, len(rows), INSERT_BLOCK_ROWS):
                self._client.insert("events", rows[start:start + INSERT_BLOCK_ROWS],
                                    column_names=EVENT_COLUMNS)

    def existing_event_ids(self, event_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        """Which of `event_ids` are stored already: the writer drops them so a replayed block
        never reaches the aggregate views twice."""
        ids = [str(i) for i in event_ids]
        if not ids:
            return set()
        with self._lock:
            rows = self._client.query(
                "SELECT DISTINCT event_id FROM events WHERE event_id IN {ids:Array(UUID)}",
                parameters={"ids": ids}).result_rows
        return {row[0] for row in rows}

    def count_events(self, *, workspace_ids: Sequence[uuid.UUID] | None = None,
                     project_id: uuid.UUID | None = None) -> int:
        """Distinct events (an event_id stored twice counts once), optionally for some tenants."""
        conditions, parameters = [], {}
        if workspace_ids is not None:
            conditions.append("workspace_id IN {workspaces:Array(UUID)}")
            parameters["workspaces"] = [str(w) for w in workspace_ids]
        if project_id is not None:
            conditions.append("project_id = {project:UUID}")
            parameters["project"] = str(project_id)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        with self._lock:
            return int(self._client.command(
                f"SELECT uniqExact(event_id) FROM events {where}", parameters=parameters))

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple]:
        """Rows of a parameterised read query."""
        with self._lock:
            return self._client.query(sql, parameters=parameters or {}).result_rows

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        with self._lock:
            return self._client.command(sql, parameters=parameters or {})
