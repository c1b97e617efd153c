"""Recent ids: duplicates are recognised, memory stays bounded, adding stays cheap when full."""

from __future__ import annotations

import time
import uuid

from yavio_ingest.dedup import RecentIds


def test_a_repeated_id_is_a_duplicate_whatever_its_case() -> None:
    recent = RecentIds()
    event_id = str(uuid.uuid4())
    assert recent.add(event_id) is True
    assert recent.add(event_id) is False
    assert recent.add(event_id.upper()) is False


def test_the_latest_half_of_the_capacity_is_always_remembered() -> None:
    recent = RecentIds(capacity=1000)
    ids = [str(uuid.uuid4()) for _ in range(5000)]
    recent.update(ids)
    assert all(recent.add(i) is False for i in ids[-500:])
    assert recent.add(ids[0]) is True, "old ids are forgotten: memory is bounded"


def test_adding_stays_cheap_once_the_set_is_full() -> None:
    recent = RecentIds(capacity=20_000)
    ids = [str(uuid.uuid4()) for _ in range(200_000)]
    started = time.perf_counter()
    recent.update(ids)
    # A generous guard against the quadratic slow-down of evicting one at a time (seconds).
    assert time.perf_counter() - started < 2.0
