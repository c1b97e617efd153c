"""The ClickHouse event store, over clickhouse-connect.

`chdb:///<dir>` runs the real ClickHouse engine inside this process (chdb registers itself as a
clickhouse-connect backend); `http(s)://…` reaches a ClickHouse server or cluster. One query layer,
the same SQL, two deployments. chdb locks its directory, so only the server process opens it.
"""

from __future__ import annotations

import contextlib
import re
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import clickhouse_connect
import msgspec

from yavio_ingest.store.migrations import load_migrations
from yavio_sdk.events import BaseEvent

# ClickHouse refuses an insert block that touches over 100 partitions (months) by default, and a
# refused block would hold every tenant's events behind it in the spool. The ingest's timestamp
# window keeps a block within the retention's months; a long retention can still span more than
# 100 of them, which costs one part per month and is stored. For every insert into a table
# partitioned by month: `events` and the aggregates `rebuild_aggregates` rewrites.
_ANY_PARTITIONS = {"max_partitions_per_insert_block": 0}
# Events are written as JSONEachRow: ClickHouse parses the lines in C++ (about 10 µs a row in chdb,
# with the GIL released), JSON payloads land in their String columns as JSON text, and the spool can
# hold exactly the bytes that will be inserted.
_JSON_INSERT_SETTINGS = {
    "input_format_json_read_objects_as_strings": 1,
    "input_format_json_read_arrays_as_strings": 1,
    "input_format_json_read_bools_as_numbers": 1,
    "input_format_skip_unknown_fields": 1,
    "input_format_null_as_default": 1,
    "date_time_input_format": "best_effort",
    **_ANY_PARTITIONS,
}
# Payload columns that hold JSON text. A scalar (output_content may be a plain string) is encoded
# first, so every value in these columns is JSON, whatever its shape.
_JSON_TEXT_FIELDS = ("output_content", "input_values")

_encoder = msgspec.json.Encoder()

# The aggregate tables: their materialized view, the key of one aggregate row, and that key
# computed from an `events` row.
_AGGREGATES = (
    ("session_stats", "session_stats_mv", "workspace_id, project_id, session_id",
     "workspace_id, project_id, session_id"),
    ("user_stats", "user_stats_mv", "workspace_id, project_id, user_id",
     "workspace_id, project_id, user_id"),
    ("tool_hourly", "tool_hourly_mv", "workspace_id, project_id, tool, platform, hour",
     "workspace_id, project_id, event_name, platform, toStartOfHour(timestamp)"),
    ("session_hours", "session_hours_mv",
     "workspace_id, project_id, hour, platform, session_id, user_id",
     "workspace_id, project_id, toStartOfHour(timestamp), platform, session_id, user_id"),
)
_FROM_EVENTS = re.compile(r"\bFROM\s+((?:`?\w+`?\.)?`?events`?)(?=\s|$)")


def line_prefix(workspace_id: str, project_id: str, ingested_at: str) -> bytes:
    """The start of every `event_line` of one request: the tenant the credential decided and the
    ingest time (built once per request, not per event)."""
    return (f'{{"workspace_id":"{workspace_id}","project_id":"{project_id}",'
            f'"ingested_at":"{ingested_at}",').encode()


def event_line(event: BaseEvent, prefix: bytes) -> bytes:
    """One JSONEachRow line for the `events` table: `line_prefix` and the event as sent (after
    validation, redaction and truncation)."""
    for name in _JSON_TEXT_FIELDS:
        value = getattr(event, name, None)
        if value is not None and not isinstance(value, (dict, list)):
            event = msgspec.structs.replace(event, **{name: _encoder.encode(value).decode()})
    return prefix + _encoder.encode(event)[1:]


# Every table holding a tenant's data, each with workspace_id and project_id columns.
_TENANT_TABLES = ("events", "session_stats", "user_stats", "tool_hourly", "tool_registry",
                  "session_hours")


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

    def insert_lines(self, lines: bytes) -> None:
        """Insert newline-separated `event_line`s as one block."""
        with self._lock:
            self._client.raw_insert("events", None, lines, settings=_JSON_INSERT_SETTINGS,
                                    fmt="JSONEachRow")

    def existing_event_ids(self, event_ids: Iterable[str]) -> set[str]:
        """Which of `event_ids` are stored already: the writer drops them so a replayed block
        never reaches the aggregate views twice."""
        ids = list(event_ids)
        if not ids:
            return set()
        with self._lock:
            rows = self._client.query(
                "SELECT DISTINCT event_id FROM events WHERE event_id IN {ids:Array(UUID)}",
                parameters={"ids": ids}).result_rows
        return {str(row[0]) for row in rows}

    def rebuild_aggregates(self, event_ids: Sequence[str]) -> None:
        """Recompute, from the deduplicated `events`, every aggregate row these events touch.

        For replays after a crash: ClickHouse commits an insert's part in `events` and the parts
        its views produce separately, so a process killed in between leaves the views short (or,
        replayed naively, double). Each view's own SELECT, restricted to the touched keys and
        reading `events FINAL`, replaces those rows.
        """
        if not event_ids:
            return
        parameters = {"ids": list(event_ids)}
        with self._lock:
            for table, view, key, key_from_events in _AGGREGATES:
                select = self._client.query(
                    "SELECT as_select FROM system.tables WHERE database = currentDatabase() "
                    "AND name = {v:String}", parameters={"v": view}).result_rows[0][0]
                select = _FROM_EVENTS.sub(r"FROM \1 FINAL", select, count=1)
                touched = (f"({key}) IN (SELECT DISTINCT {key_from_events} FROM events "
                           "WHERE event_id IN {ids:Array(UUID)})")
                self._client.command(f"DELETE FROM {table} WHERE {touched}",
                                     parameters=parameters)
                self._client.command(f"INSERT INTO {table} SELECT * FROM ({select}) "
                                     f"WHERE {touched}", parameters=parameters,
                                     settings=_ANY_PARTITIONS)

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

    def total_events(self, workspace_ids: Sequence[uuid.UUID | str]) -> int:
        """Events stored for these workspaces, read from the per-session aggregate: as exact as
        `count_events` (the views are kept exact) but it reads one row per session, not one per
        event, so polling it stays cheap on a large table."""
        with self._lock:
            return int(self._client.command(
                "SELECT countMerge(events) FROM session_stats "
                "WHERE workspace_id IN {workspaces:Array(UUID)}",
                parameters={"workspaces": [str(w) for w in workspace_ids]}))

    def erase(self, workspace_id: uuid.UUID | str, project_id: uuid.UUID | str | None = None,
              ) -> None:
        """Delete a workspace's (or one of its projects') events, aggregates and tool registry:
        what deleting the workspace or project promises. Lightweight deletes: the rows vanish
        from queries at once and from disk at the next merge."""
        condition = "workspace_id = {w:UUID}"
        parameters = {"w": str(workspace_id)}
        if project_id is not None:
            condition += " AND project_id = {p:UUID}"
            parameters["p"] = str(project_id)
        with self._lock:
            for table in _TENANT_TABLES:
                self._client.command(f"DELETE FROM {table} WHERE {condition}",
                                     parameters=parameters)

    def events_by_project(self, workspace_id: uuid.UUID | str, month_start: str,
                          ) -> dict[str, int]:
        """Distinct events per project of the workspace in the month starting `month_start`
        (YYYY-MM-01, UTC): the usage behind plans and quotas."""
        with self._lock:
            rows = self._client.query(
                "SELECT toString(project_id), uniqExact(event_id) FROM events "
                "WHERE workspace_id = {w:UUID} AND timestamp >= toDateTime64({m:String}, 3, 'UTC') "
                "AND timestamp < addMonths(toDateTime64({m:String}, 3, 'UTC'), 1) "
                "GROUP BY project_id",
                parameters={"w": str(workspace_id), "m": f"{month_start} 00:00:00"}).result_rows
        return {project: int(count) for project, count in rows}

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple]:
        """Rows of a parameterised read query."""
        with self._reading():
            return self._client.query(sql, parameters=parameters or {}).result_rows

    def query_json(self, sql: str, parameters: dict[str, Any] | None = None) -> bytes:
        """A parameterised read query's answer as ClickHouse's JSONCompact document (`meta`,
        `data`, `statistics`): for answers passed on as JSON, values converted by ClickHouse
        rather than one by one in Python."""
        with self._reading():
            return self._client.raw_query(sql, parameters=parameters or {}, fmt="JSONCompact")

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        with self._lock:
            try:
                yield
            except Exception:
                # chdb keeps what a failed query had already written (a timeout, a throwIf
                # on a later block) and hands it to the next query of the handle, which then
                # fails to decode (measured): one throwaway query takes it instead.
                with contextlib.suppress(Exception):
                    self._client.raw_query("SELECT 1")
                raise

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        with self._lock:
            return self._client.command(sql, parameters=parameters or {})
