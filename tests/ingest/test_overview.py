"""The overview read endpoint against hand-computed figures, on the real server and ClickHouse
(chdb), with a duplicated event, out-of-range events and two platforms."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.conftest import store_events
from tests.ingest.conftest import IngestServer
from tests.ingest.test_management import Tenant, make_tenant
from yavio_sdk.events import ConversionEvent, StepEvent, ToolCallEvent

# Two days ago: recent enough for the events table's retention TTL, which drops older rows.
_DAY = datetime.now(timezone.utc).date() - timedelta(days=2)
DAY, BEFORE, AFTER = (str(day) for day in (_DAY, _DAY - timedelta(days=1),
                                           _DAY + timedelta(days=1)))


def tool_call(event_id: str, when: str, session: str, name: str, platform: str,
              latency: float, status: str = "success") -> ToolCallEvent:
    return ToolCallEvent(event_id=event_id, trace_id=f"tr_{event_id[:8]}", session_id=session,
                         timestamp=when, source="server", event_name=name, platform=platform,
                         latency_ms=latency, status=status)


def conversion(event_id: str, when: str, value: float) -> ConversionEvent:
    return ConversionEvent(event_id=event_id, trace_id="tr_book", session_id="ses_2",
                           timestamp=when, source="server", event_name="booking",
                           platform="claude", conversion_value=value,
                           conversion_currency="EUR")


def ids(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


@pytest.fixture
def tenant(ingest_server: IngestServer) -> Tenant:
    mine = make_tenant(ingest_server.postgres, "o")
    e1, e2, e3, e4, c1, c2, s1, before, after = ids(9)
    events = [
        tool_call(e1, f"{DAY}T01:00:00.000Z", "ses_1", "search_rooms", "chatgpt", 10),
        tool_call(e2, f"{DAY}T01:30:00.000Z", "ses_1", "search_rooms", "chatgpt", 30, "error"),
        tool_call(e3, f"{DAY}T03:00:00.000Z", "ses_2", "book_room", "claude", 20),
        tool_call(e4, f"{DAY}T03:10:00.000Z", "ses_3", "search_rooms", "claude", 40),
        conversion(c1, f"{DAY}T03:01:00.000Z", 100.0),
        conversion(c2, f"{DAY}T03:02:00.000Z", 50.5),
        StepEvent(event_id=s1, trace_id="tr_s", session_id="ses_1",
                  timestamp=f"{DAY}T01:00:00.000Z", source="server", event_name="rooms_found",
                  platform="chatgpt", step_sequence=0),
        # outside the range: the previous day (the previous period) and the next day
        tool_call(before, f"{BEFORE}T12:00:00.000Z", "ses_0", "search_rooms", "chatgpt", 5),
        tool_call(after, f"{AFTER}T05:00:00.000Z", "ses_9", "search_rooms", "chatgpt", 5),
    ]
    workspace, project = uuid.UUID(mine.workspace_id), uuid.UUID(mine.project_id)
    store_events(ingest_server.clickhouse, workspace, project, events)
    # the same events again, in another block: a retried batch stored twice
    store_events(ingest_server.clickhouse, workspace, project, [events[0], events[5]])
    return mine


async def get(server: IngestServer, token: str, project: str, **query: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        return await client.get(f"/v1/projects/{project}/overview", params=query,
                                headers={"Authorization": f"Bearer {token}"})


async def test_the_overview_matches_the_hand_computed_figures(
        ingest_server: IngestServer, tenant: Tenant) -> None:
    response = await get(ingest_server, tenant.tokens["viewer"], tenant.project_id,
                         **{"from": f"{DAY}T00:00:00Z", "to": f"{AFTER}T00:00:00Z"})
    assert response.status_code == 200, response.text
    body = response.json()
    kpis = {name: kpi["value"] for name, kpi in body["kpis"].items()}
    assert kpis == {
        "invocations": 4,  # e1 stored twice counts once; the next day's call is out
        "sessions": 3,  # ses_1, ses_2, ses_3
        "errorRate": 0.25,
        "p50LatencyMs": 30.0,  # exact quantile of 10, 20, 30, 40 (ClickHouse's nearest rank)
        "p95LatencyMs": 40.0,
        "conversions": 2,  # c2 stored twice counts once
        "revenue": {"EUR": 150.5},
    }
    assert body["kpis"]["invocations"]["previous"] == 1  # the call of the day before
    assert body["range"]["bucket"] == "hour"
    assert body["platforms"] == [
        {"platform": "chatgpt", "invocations": 2, "share": 0.5},
        {"platform": "claude", "invocations": 2, "share": 0.5}]
    assert body["topTools"][0] == {"name": "search_rooms", "invocations": 3, "errors": 1,
                                   "errorRate": pytest.approx(1 / 3), "p95LatencyMs": 40.0}
    assert body["topTools"][1]["name"] == "book_room"
    series = {point["bucket"]: point["invocations"] for point in body["series"]}
    assert len(series) == 24  # every hour of the day, zero-filled
    assert series[f"{DAY}T01:00:00.000Z"] == 2 and series[f"{DAY}T03:00:00.000Z"] == 2
    assert sum(series.values()) == 4
    # each bucket's failed calls and p95 too, for the dashboard's sparklines
    points = {point["bucket"]: point for point in body["series"]}
    assert sum(point["errors"] for point in points.values()) == 1
    assert points[f"{DAY}T01:00:00.000Z"]["p95LatencyMs"] is not None
    assert points[f"{DAY}T02:00:00.000Z"]["p95LatencyMs"] is None  # no call that hour
    # sessions with an event in each hour (ses_1 at 01:00; ses_2 and ses_3 at 03:00), and the
    # conversions and revenue of each hour (c2 stored twice counts once)
    assert {bucket[11:13]: point["sessions"] for bucket, point in points.items()
            if point["sessions"]} == {"01": 1, "03": 2}
    assert {bucket[11:13]: (point["conversions"], point["revenue"])
            for bucket, point in points.items() if point["conversions"]} == \
        {"03": (2, {"EUR": 150.5})}


async def test_a_platform_filter_narrows_every_figure(
        ingest_server: IngestServer, tenant: Tenant) -> None:
    body = (await get(ingest_server, tenant.tokens["viewer"], tenant.project_id,
                      **{"from": f"{DAY}T00:00:00Z", "to": f"{AFTER}T00:00:00Z",
                         "platform": "claude"})).json()
    assert body["kpis"]["invocations"]["value"] == 2
    assert body["kpis"]["sessions"]["value"] == 2  # ses_2 and ses_3
    assert body["kpis"]["errorRate"]["value"] == 0.0
    assert body["kpis"]["revenue"]["value"] == {"EUR": 150.5}
    assert [p["platform"] for p in body["platforms"]] == ["claude"]


async def test_the_overview_is_only_for_the_projects_readers(
        ingest_server: IngestServer, tenant: Tenant) -> None:
    other = make_tenant(ingest_server.postgres, "x")
    outsider = await get(ingest_server, other.tokens["owner"], tenant.project_id)
    assert outsider.status_code == 404
    anonymous = await get(ingest_server, "yat_" + "0" * 64, tenant.project_id)
    assert anonymous.status_code == 401
    backwards = await get(ingest_server, tenant.tokens["viewer"], tenant.project_id,
                          **{"from": f"{AFTER}T00:00:00Z", "to": f"{DAY}T00:00:00Z"})
    assert backwards.status_code == 400
    assert backwards.json()["error"]["code"] == "YAVIO-3010"


async def test_a_time_outside_the_supported_years_is_a_400_not_a_500(
        ingest_server: IngestServer, tenant: Tenant) -> None:
    for moment in ("0768-07-14T00:00:00Z", "2400-01-01T00:00:00Z"):
        response = await get(ingest_server, tenant.tokens["viewer"], tenant.project_id,
                             **{"from": moment})
        assert response.status_code == 400, (moment, response.text)
        assert "between the years 2000 and 2200" in response.json()["error"]["message"]
