"""The live fan-out: accepted events pushed to in-process subscribers (the live tail).

Publishing never waits: a subscriber that falls behind loses its oldest events, counted in
`dropped`, rather than slowing ingestion.
"""

from __future__ import annotations

import asyncio


class Subscription:
    def __init__(self, fanout: Fanout, project_id: str | None, capacity: int):
        self.project_id = project_id
        self.dropped = 0
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(capacity)
        self._fanout = fanout

    def offer(self, line: bytes) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(line)

    async def get(self) -> bytes:
        return await self._queue.get()

    def close(self) -> None:
        self._fanout._subscribers.discard(self)


class Fanout:
    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()

    def subscribe(self, project_id: str | None = None, capacity: int = 10_000) -> Subscription:
        """Events of `project_id` (all projects if None) from now on, as JSON lines."""
        subscription = Subscription(self, project_id, capacity)
        self._subscribers.add(subscription)
        return subscription

    def publish(self, project_id: str, lines: list[bytes]) -> None:
        for subscription in self._subscribers:
            if subscription.project_id in (None, project_id):
                for line in lines:
                    subscription.offer(line)
