"""Monthly event quotas of workspace plans (SPEC 7), checked on every batch.

A workspace's quota (Postgres) and its events this month (ClickHouse) are read once per
`refresh_s` and at a new month; in between, each accepted batch adds its events to the count,
so a check costs a dict lookup. A workspace without a quota (the self-hosted default) only
costs the periodic refresh, which runs in the background once a workspace's figures are known:
a check never waits on a store, and while one is down the last figures stand. Several replicas
each count their own batches between refreshes, so together they may overshoot a quota by what
they accept within `refresh_s`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from yavio_ingest.auth import STORE_DOWN_S
from yavio_ingest.responses import Reject
from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_ingest.store.postgres import PostgresStore

__all__ = ["Quotas", "month_start"]

log = logging.getLogger("yavio.ingest.quota")

PLAN_QUOTAS = {"self-hosted": None, "community": 1_000_000}
"""The plans and their default monthly event quota (None: unlimited)."""


def month_start(now: datetime | None = None) -> str:
    """The first day of the current UTC month, `YYYY-MM-01`."""
    now = now or datetime.now(timezone.utc)
    return f"{now.year:04d}-{now.month:02d}-01"


@dataclass
class _Usage:
    quota: int | None
    used: int
    month: str
    fetched: float


class Quotas:
    def __init__(self, postgres: PostgresStore, clickhouse: ClickHouseStore,
                 blocking: Callable[..., Awaitable[Any]], refresh_s: float = 30.0) -> None:
        self._postgres = postgres
        self._clickhouse = clickhouse
        self._blocking = blocking
        self._refresh_s = refresh_s
        self._usage: dict[str, _Usage] = {}
        self._refreshing: set[str] = set()

    async def check(self, workspace_id: str, count: int) -> None:
        """Raise 429 YAVIO-2054 if `count` more events would exceed the workspace's quota, 503
        YAVIO-5001 if the figures are unknown (first batch, new month) and a store is down."""
        usage = self._usage.get(workspace_id)
        month = month_start()
        if usage is None or usage.month != month:
            try:
                usage = await self._refresh(workspace_id, month, usage)
            except Exception:
                log.exception("could not read the quota of workspace %s", workspace_id)
                raise Reject("YAVIO-5001", retry_after=STORE_DOWN_S) from None
        elif time.monotonic() - usage.fetched > self._refresh_s and \
                workspace_id not in self._refreshing:
            usage.fetched = time.monotonic()  # tried again after another refresh_s if it fails
            self._refreshing.add(workspace_id)
            task = asyncio.ensure_future(self._refresh(workspace_id, month, usage))
            task.add_done_callback(lambda done: self._refreshed(workspace_id, done))
        if usage.quota is not None and usage.used + count > usage.quota:
            raise Reject("YAVIO-2054", f"The workspace's plan allows {usage.quota:,} events a "
                                       f"month and {usage.used:,} were received this month; "
                                       "raise the quota or wait for next month.")

    def add(self, workspace_id: str, count: int) -> None:
        """Count `count` accepted events."""
        usage = self._usage.get(workspace_id)
        if usage is not None:
            usage.used += count

    def forget(self, workspace_id: str) -> None:
        """Read the workspace's plan again at its next batch (its quota changed)."""
        self._usage.pop(workspace_id, None)

    def _refreshed(self, workspace_id: str, task: asyncio.Future) -> None:
        self._refreshing.discard(workspace_id)
        if not task.cancelled() and task.exception() is not None:
            log.warning("could not refresh the quota of workspace %s, its last figures stand: "
                        "%s", workspace_id, task.exception())

    async def _refresh(self, workspace_id: str, month: str, known: _Usage | None) -> _Usage:
        workspace = await self._blocking(self._postgres.workspaces.get,
                                         uuid.UUID(workspace_id))
        quota = workspace.monthly_event_quota if workspace is not None else None
        stored = sum((await self._blocking(self._clickhouse.events_by_project, workspace_id,
                                           month)).values()) if quota is not None else 0
        # Events accepted but still on their way to ClickHouse are only in the local count.
        used = max(stored, known.used) if known is not None and known.month == month else stored
        usage = _Usage(quota, used, month, time.monotonic())
        self._usage[workspace_id] = usage
        return usage
