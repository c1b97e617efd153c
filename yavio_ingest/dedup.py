"""The most recent event ids, so a retried event is acknowledged but stored only once.

ClickHouse's ReplacingMergeTree collapses a duplicate `event_id` eventually, but the aggregate views
see every insert: dropping retries before they reach the spool keeps the views exact.
"""

from __future__ import annotations

from collections.abc import Iterable


class RecentIds:
    """A bounded set of ids; when full, the oldest are forgotten first."""

    def __init__(self, capacity: int = 200_000):
        self.capacity = capacity
        self._ids: dict[str, None] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> bool:
        """Remember `event_id`; False if it was already known (a duplicate)."""
        key = event_id.lower()
        if key in self._ids:
            return False
        self._ids[key] = None
        if len(self._ids) > self.capacity:
            del self._ids[next(iter(self._ids))]
        return True

    def update(self, event_ids: Iterable[str]) -> None:
        for event_id in event_ids:
            self.add(event_id)
