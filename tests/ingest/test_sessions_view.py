"""The sessions read endpoint against hand-computed figures, on the real server and ClickHouse
(chdb). `three_weeks` is also the fixture of `test_users_view.py`."""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.conftest import store_events
from tests.ingest.conftest import IngestServer
from tests.ingest.test_management import Tenant, make_tenant
from yavio_sdk.events import BaseEvent, ConversionEvent, IdentifyEvent, ToolCallEvent

# Day 0 of three weeks ending at midnight today: the range is [D0, D21), within the events'
# 90-day retention TTL with the month before it (which the trailing MAU reads).
_D0 = datetime.now(timezone.utc).date() - timedelta(days=21)
RANGE = {"from": f"{_D0}T00:00:00Z", "to": f"{_D0 + timedelta(days=21)}T00:00:00Z"}


def day(offset: int) -> date:
    return _D0 + timedelta(days=offset)


def at(offset: int, clock: str) -> str:
    return f"{day(offset)}T{clock}Z"


def user_event(kind: str, offset: int, clock: str, session: str, platform: str,
               user: str | None = None, *, trace: str | None = None,
               status: str = "success") -> BaseEvent:
    """A tool call, identify or conversion (40 EUR) on day D`offset` at `clock`, in its own
    trace unless `trace` is given."""
    event_id = str(uuid.uuid4())
    common = {"event_id": event_id, "trace_id": trace or f"tr_{event_id[:8]}",
              "session_id": session, "timestamp": at(offset, clock), "source": "server",
              "platform": platform, "user_id": user}
    if kind == "identify":
        return IdentifyEvent(**common, user_traits={"plan": "pro"})
    if kind == "conversion":
        return ConversionEvent(**common, event_name="booking", conversion_value=40.0,
                               conversion_currency="EUR")
    return ToolCallEvent(**common, event_name="search_rooms", latency_ms=10.0, status=status)


def three_weeks_of_events() -> tuple[list[BaseEvent], list[BaseEvent]]:
    """The events (D = day offset from D0) and those stored a second time: alice's first event
    and carol's last (a retried batch: each must count once).

    alice: D0 (identify and a call in one millisecond, a call 10 min later), D1 (a call and a
    40 EUR conversion 5 min later), D7 on chatgpt, D14 (a failed call): first seen D0.
    bob (chatgpt): D1 (identify, a call 2 min later), D8: first seen D1.
    carol: D-10 (before the range) and D3 on chatgpt, D20 at 23:59:59.999 on claude.
    An anonymous session on D2: two calls 30 min apart, without a user_id or with an empty one.
    dave: D15, a call before identify (anonymous), identify, a call: first seen D15 09:01.
    erin: one call at D21 00:00, the range's exclusive end.
    """
    first_call = user_event("tool_call", 0, "09:00:00.000", "s_a1", "claude", "alice",
                            trace="tr_a1")
    last_call = user_event("tool_call", 20, "23:59:59.999", "s_c2", "claude", "carol")
    events = [
        user_event("identify", 0, "09:00:00.000", "s_a1", "claude", "alice", trace="tr_a1"),
        first_call,
        user_event("tool_call", 0, "09:10:00.000", "s_a1", "claude", "alice"),
        user_event("tool_call", 1, "10:00:00.000", "s_a2", "claude", "alice", trace="tr_a2"),
        user_event("conversion", 1, "10:05:00.000", "s_a2", "claude", "alice", trace="tr_a2"),
        user_event("tool_call", 7, "08:00:00.000", "s_a3", "chatgpt", "alice"),
        user_event("tool_call", 14, "12:00:00.000", "s_a4", "claude", "alice", status="error"),
        user_event("identify", 1, "15:00:00.000", "s_b1", "chatgpt", "bob"),
        user_event("tool_call", 1, "15:02:00.000", "s_b1", "chatgpt", "bob"),
        user_event("tool_call", 8, "15:00:00.000", "s_b2", "chatgpt", "bob"),
        user_event("tool_call", -10, "12:00:00.000", "s_c0", "chatgpt", "carol"),
        user_event("tool_call", 3, "12:00:00.000", "s_c1", "chatgpt", "carol"),
        last_call,
        user_event("tool_call", 2, "11:00:00.000", "s_anon", "claude"),
        user_event("tool_call", 2, "11:30:00.000", "s_anon", "claude", ""),  # empty: anonymous
        user_event("tool_call", 15, "09:00:00.000", "s_d", "claude"),
        user_event("identify", 15, "09:01:00.000", "s_d", "claude", "dave"),
        user_event("tool_call", 15, "09:02:00.000", "s_d", "claude", "dave"),
        user_event("tool_call", 21, "00:00:00.000", "s_e", "claude", "erin"),
    ]
    return events, [first_call, last_call]


def store_three_weeks(server: IngestServer, label: str) -> Tenant:
    """A tenant whose project holds `three_weeks_of_events`, stored shuffled in two blocks, and
    the duplicated ones once more in a third block."""
    tenant = make_tenant(server.postgres, label)
    events, duplicated = three_weeks_of_events()
    random.Random(6).shuffle(events)
    workspace, project = uuid.UUID(tenant.workspace_id), uuid.UUID(tenant.project_id)
    for block in (events[:9], events[9:], duplicated):
        store_events(server.clickhouse, workspace, project, block)
    return tenant


@pytest.fixture
def three_weeks(ingest_server: IngestServer) -> Tenant:
    return store_three_weeks(ingest_server, "s")


async def get(server: IngestServer, token: str, path: str, **query: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        return await client.get(path, params=query,
                                headers={"Authorization": f"Bearer {token}"})


async def sessions_of(server: IngestServer, tenant: Tenant, **query: Any) -> dict[str, Any]:
    response = await get(server, tenant.tokens["viewer"],
                         f"/v1/projects/{tenant.project_id}/sessions", **RANGE, **query)
    assert response.status_code == 200, response.text
    return response.json()


async def test_session_kpis_match_the_hand_computed_figures(
        ingest_server: IngestServer, three_weeks: Tenant) -> None:
    body = await sessions_of(ingest_server, three_weeks)
    kpis = {name: kpi["value"] for name, kpi in body["kpis"].items()}
    assert kpis == {
        # s_a1..s_a4, s_b1, s_b2, s_c1, s_c2, s_anon, s_d (s_c0 is before, s_e at the end)
        "sessions": 10,
        "identifiedSessions": 9,  # all but s_anon; s_d identified itself midway
        "anonymousSessions": 1,
        # (600000 s_a1 + 300000 s_a2 + 120000 s_b1 + 1800000 s_anon + 120000 s_d) / 10;
        # the other five sessions have one event each (0 ms)
        "avgDurationMs": 294000.0,
        # (2 s_a1 + 1 + 1 + 1 s_a2..s_a4 + 1 + 1 s_b + 1 + 1 s_c + 2 s_anon + 2 s_d) / 10: the
        # calls of s_a1 and s_c2 stored twice count once (else 1.5)
        "avgToolCalls": 1.3,
    }
    # the 21 days before D0 hold s_c0 alone: one identified call, one event
    assert {name: kpi["previous"] for name, kpi in body["kpis"].items()} == {
        "sessions": 1, "identifiedSessions": 1, "anonymousSessions": 0,
        "avgDurationMs": 0.0, "avgToolCalls": 1.0}
    assert body["range"]["bucket"] == "day"
    series = {point["bucket"][:10]: point["sessions"] for point in body["series"]}
    assert len(series) == 21  # every day of the range, zero-filled
    assert {bucket: count for bucket, count in series.items() if count} == {
        str(day(0)): 1, str(day(1)): 2, str(day(2)): 1, str(day(3)): 1, str(day(7)): 1,
        str(day(8)): 1, str(day(14)): 1, str(day(15)): 1, str(day(20)): 1}


async def test_the_session_list_is_newest_first_with_each_sessions_figures(
        ingest_server: IngestServer, three_weeks: Tenant) -> None:
    listed = (await sessions_of(ingest_server, three_weeks))["sessions"]
    assert [s["sessionId"] for s in listed] == [
        "s_c2", "s_d", "s_a4", "s_b2", "s_a3", "s_c1", "s_anon", "s_b1", "s_a2", "s_a1"]
    by_id = {s["sessionId"]: s for s in listed}
    assert by_id["s_a1"] == {
        "sessionId": "s_a1", "userId": "alice", "platform": "claude",
        "startedAt": at(0, "09:00:00.000"), "lastSeenAt": at(0, "09:10:00.000"),
        "durationMs": 600_000, "toolCalls": 2, "errors": 0, "conversions": 0,
        "traces": 2,  # tr_a1 (identify and the call, one millisecond) and the later call's
        "events": 3}  # identify and two calls; the duplicate counts once
    assert (by_id["s_a2"]["conversions"], by_id["s_a2"]["traces"]) == (1, 1)
    assert by_id["s_a4"]["errors"] == 1
    assert by_id["s_anon"]["userId"] is None
    assert (by_id["s_d"]["userId"], by_id["s_d"]["events"]) == ("dave", 3)
    assert (by_id["s_c2"]["lastSeenAt"], by_id["s_c2"]["events"]) == (
        at(20, "23:59:59.999"), 1)  # stored twice


async def test_the_user_platform_and_limit_filters_narrow_the_sessions(
        ingest_server: IngestServer, three_weeks: Tenant) -> None:
    alice = await sessions_of(ingest_server, three_weeks, user="alice")
    assert alice["kpis"]["sessions"] == {"value": 4, "previous": 0}
    assert [s["sessionId"] for s in alice["sessions"]] == ["s_a4", "s_a3", "s_a2", "s_a1"]
    assert sum(point["sessions"] for point in alice["series"]) == 4

    latest = await sessions_of(ingest_server, three_weeks, user="alice", limit=2)
    assert [s["sessionId"] for s in latest["sessions"]] == ["s_a4", "s_a3"]

    chatgpt = await sessions_of(ingest_server, three_weeks, platform="chatgpt")
    kpis = {name: kpi["value"] for name, kpi in chatgpt["kpis"].items()}
    # s_a3, s_b1, s_b2, s_c1: one call each; only s_b1 lasts (120000 ms)
    assert kpis == {"sessions": 4, "identifiedSessions": 4, "anonymousSessions": 0,
                    "avgDurationMs": 30000.0, "avgToolCalls": 1.0}
    assert chatgpt["kpis"]["sessions"]["previous"] == 1  # s_c0, on chatgpt

    bad = await get(ingest_server, three_weeks.tokens["viewer"],
                    f"/v1/projects/{three_weeks.project_id}/sessions", limit="many")
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "YAVIO-3010")


async def test_a_range_without_sessions_has_no_averages(
        ingest_server: IngestServer, three_weeks: Tenant) -> None:
    body = await sessions_of(ingest_server, three_weeks, user="nobody")
    assert body["kpis"]["sessions"] == {"value": 0, "previous": 0}
    assert body["kpis"]["avgDurationMs"] == {"value": None, "previous": None}
    assert body["sessions"] == [] and len(body["series"]) == 21


async def test_the_sessions_are_only_for_the_projects_readers(
        ingest_server: IngestServer, three_weeks: Tenant) -> None:
    path = f"/v1/projects/{three_weeks.project_id}/sessions"
    other = make_tenant(ingest_server.postgres, "x")
    assert (await get(ingest_server, other.tokens["viewer"], path)).status_code == 404
    loner = ingest_server.postgres.users.create(f"loner-{uuid.uuid4().hex[:6]}@example.com")
    token, _ = ingest_server.postgres.access_tokens.create(loner.id, "no workspace")
    assert (await get(ingest_server, token, path)).status_code == 404
    assert (await get(ingest_server, "yat_" + "0" * 64, path)).status_code == 401
