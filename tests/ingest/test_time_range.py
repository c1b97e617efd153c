"""The buckets of a range: computed in Python (`TimeRange.buckets`, for series grouped with
other figures) and filled by ClickHouse (`TimeRange.series_order`) must be the same, or two
views would draw one range with different buckets."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from yavio_ingest.store.clickhouse import ClickHouseStore
from yavio_ingest.time_range import TimeRange

_RANGES = [  # (from, to, bucket)
    ("2026-03-01T10:17:42", "2026-03-02T09:05:00", "hour"),
    ("2026-03-01T00:00:00", "2026-03-03T00:00:00", "hour"),
    ("2026-02-20T13:30:00", "2026-03-05T01:00:00", "day"),
    ("2026-01-07T08:00:00", "2026-05-01T00:00:01", "week"),
    ("2025-11-30T23:59:59", "2026-11-02T12:00:00", "month"),
    ("2024-12-31T12:00:00", "2026-01-31T00:00:00", "month"),
]


@pytest.mark.parametrize(("start", "end", "bucket"), _RANGES)
def test_python_and_clickhouse_agree_on_every_bucket(
        clickhouse_store: ClickHouseStore, start: str, end: str, bucket: str) -> None:
    period = TimeRange(datetime.fromisoformat(start).replace(tzinfo=timezone.utc),
                       datetime.fromisoformat(end).replace(tzinfo=timezone.utc))
    assert period.bucket == bucket
    filled = clickhouse_store.query(
        f"SELECT bucket FROM (SELECT {period.bucket_sql('timestamp')} AS bucket FROM "
        "(SELECT toDateTime64({start:String}, 3, 'UTC') AS timestamp) WHERE 0) "
        f"{period.series_order()}", period.parameters())
    assert period.buckets() == [row[0].replace(tzinfo=None) for row in filled]
    assert len(period.buckets()) > 1
