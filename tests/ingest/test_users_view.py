"""The users read endpoints (the users view and one user's timeline) against hand-computed
figures, on the real server and ClickHouse (chdb), over the three weeks of
`test_sessions_view.py`: active days per user (D = day offset from D0, the range [D0, D21)):

    alice  D0 D1 D7 D14       first seen D0 (her first call is stored twice)
    bob    D1 D8              first seen D1
    carol  D-10 | D3 D20      first seen D-10, before the range (her last call stored twice)
    dave   D15                first seen D15 (identify midway through an anonymous session)
    erin   D21 00:00          at the range's exclusive end: never in it
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta
from typing import Any

import pytest

from tests.conftest import store_events
from tests.ingest.conftest import IngestServer
from tests.ingest.test_management import Tenant, make_tenant
from tests.ingest.test_sessions_view import (
    RANGE,
    at,
    day,
    get,
    store_three_weeks,
    user_event,
)
from yavio_cli.client import ApiError, YavioClient


@pytest.fixture
def three_weeks(ingest_server: IngestServer) -> Tenant:
    return store_three_weeks(ingest_server, "u")


async def users_of(server: IngestServer, tenant: Tenant, **query: Any) -> dict[str, Any]:
    response = await get(server, tenant.tokens["viewer"],
                         f"/v1/projects/{tenant.project_id}/users", **{**RANGE, **query})
    assert response.status_code == 200, response.text
    return response.json()


async def test_active_users_per_day_use_the_trailing_week_and_month(
        ingest_server: IngestServer, three_weeks: Tenant) -> None:
    body = await users_of(ingest_server, three_weeks)
    # at D21 00:00: the last day holds carol (D20); the last 7 days alice (D14), dave (D15),
    # carol (D20); the last 30 days (from D-9) alice, bob, carol, dave. erin is at the end.
    assert body["activeUsers"] == {"dau": 1, "wau": 3, "mau": 4}
    series = body["series"]
    assert [point["day"] for point in series] == [str(day(k)) for k in range(21)]
    # DAU: who was active that day
    assert [point["dau"] for point in series] == [
        1, 2, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1]
    # WAU over [k-6, k]: alice from D0, bob from D1, carol from D3 until D9, alice and bob
    # until D13 (D7, D8), then bob leaves on D15, dave comes, carol is back on D20
    assert [point["wau"] for point in series] == [
        1, 2, 2, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3]
    # MAU over [k-29, k]: on D0 alice and carol (D-10, read from before the range), bob from
    # D1, dave from D15
    assert [point["mau"] for point in series] == [2] + [3] * 14 + [4] * 6


async def test_new_and_returning_users_per_bucket_and_retention_cohorts(
        ingest_server: IngestServer, three_weeks: Tenant) -> None:
    body = await users_of(ingest_server, three_weeks)
    buckets = {point["bucket"][:10]: (point["new"], point["returning"])
               for point in body["newVsReturning"]}
    assert len(buckets) == 21
    # new: the first event ever falls in that day (alice D0, bob D1, dave D15); carol was
    # first seen on D-10, so she returns on D3 and D20
    assert {bucket: pair for bucket, pair in buckets.items() if pair != (0, 0)} == {
        str(day(0)): (1, 0), str(day(1)): (1, 1), str(day(3)): (0, 1), str(day(7)): (0, 1),
        str(day(8)): (0, 1), str(day(14)): (0, 1), str(day(15)): (1, 0),
        str(day(20)): (0, 1)}
    # daily cohorts (a 21-day range) of the users first seen in the range: carol is not one.
    # returned[k]: active on the cohort's day k; 8 periods, fewer when the range ends first
    # (dave's cohort, D15, has 6 days before D21)
    assert body["retention"] == {"period": "day", "cohorts": [
        {"cohort": at(0, "00:00:00.000"), "users": 1, "returned": [1, 1, 0, 0, 0, 0, 0, 1]},
        {"cohort": at(1, "00:00:00.000"), "users": 1, "returned": [1, 0, 0, 0, 0, 0, 0, 1]},
        {"cohort": at(15, "00:00:00.000"), "users": 1, "returned": [1, 0, 0, 0, 0, 0]},
    ]}
    assert body["anonymousSessions"] == 1  # s_anon; dave's session identified itself


async def test_ranges_over_60_days_have_weekly_cohorts(
        ingest_server: IngestServer, three_weeks: Tenant) -> None:
    body = await users_of(ingest_server, three_weeks,
                          **{"from": f"{day(-40)}T00:00:00Z", "to": RANGE["to"]})
    # 61 days: cohorts by the Monday of the first event; carol (D-10) is in the range now.
    # Which days share a week depends on today's weekday, so the expected table is derived
    # from the active days above, week by week.
    active = {"alice": [0, 1, 7, 14], "bob": [1, 8], "carol": [-10, 3, 20], "dave": [15]}

    def monday(offset: int) -> date:
        return day(offset) - timedelta(days=day(offset).weekday())

    expected: dict[date, list[Any]] = {}
    for days in active.values():
        cohort = monday(days[0])
        weeks = {(monday(offset) - cohort).days // 7 for offset in days}
        observable = min(8, -(-(day(21) - cohort).days // 7))  # weeks starting before D21
        users, returned = expected.setdefault(cohort, [0, [0] * observable])
        expected[cohort][0] = users + 1
        for week in weeks:
            returned[week] += 1
    assert body["retention"] == {"period": "week", "cohorts": [
        {"cohort": f"{cohort}T00:00:00.000Z", "users": users, "returned": returned}
        for cohort, (users, returned) in sorted(expected.items())]}
    assert sum(point["new"] for point in body["newVsReturning"]) == 4


async def test_the_most_active_users_with_their_figures(
        ingest_server: IngestServer, three_weeks: Tenant) -> None:
    listed = (await users_of(ingest_server, three_weeks))["users"]
    assert listed == [
        # identify + 2 calls (D0), a call + a conversion (D1), a call (D7), a call (D14)
        {"userId": "alice", "firstSeen": at(0, "09:00:00.000"),
         "lastSeen": at(14, "12:00:00.000"), "events": 7, "sessions": 4, "toolCalls": 5,
         "conversions": 1, "revenue": {"EUR": 40.0}},
        {"userId": "bob", "firstSeen": at(1, "15:00:00.000"), "lastSeen": at(8, "15:00:00.000"),
         "events": 3, "sessions": 2, "toolCalls": 2, "conversions": 0, "revenue": {}},
        # two events each: by id. carol's first event ever is before the range
        {"userId": "carol", "firstSeen": at(-10, "12:00:00.000"),
         "lastSeen": at(20, "23:59:59.999"), "events": 2, "sessions": 2, "toolCalls": 2,
         "conversions": 0, "revenue": {}},
        # dave's call before identify carries no user_id: not his
        {"userId": "dave", "firstSeen": at(15, "09:01:00.000"),
         "lastSeen": at(15, "09:02:00.000"), "events": 2, "sessions": 1, "toolCalls": 1,
         "conversions": 0, "revenue": {}},
    ]


async def test_a_platform_filter_narrows_the_activity_but_not_the_first_seen(
        ingest_server: IngestServer, three_weeks: Tenant) -> None:
    body = await users_of(ingest_server, three_weeks, platform="chatgpt")
    # chatgpt: alice D7, bob D1 D8, carol D-10 D3; nobody in the last 7 days
    assert body["activeUsers"] == {"dau": 0, "wau": 0, "mau": 3}
    new_users = sum(point["new"] for point in body["newVsReturning"])
    returning = sum(point["returning"] for point in body["newVsReturning"])
    # bob is new on D1; alice (first seen D0, on claude) returns on D7, bob on D8, carol on D3
    assert (new_users, returning) == (1, 3)
    assert body["anonymousSessions"] == 0


async def test_a_users_timeline_lists_their_sessions_and_events_newest_first(
        ingest_server: IngestServer, three_weeks: Tenant) -> None:
    path = f"/v1/projects/{three_weeks.project_id}/users/alice"
    response = await get(ingest_server, three_weeks.tokens["viewer"], path, **RANGE)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["userId"], body["firstSeen"], body["lastSeen"]) == (
        "alice", at(0, "09:00:00.000"), at(14, "12:00:00.000"))
    assert body["totals"] == {"events": 7, "sessions": 4, "toolCalls": 5, "errors": 1,
                              "conversions": 1, "revenue": {"EUR": 40.0}}
    assert [s["sessionId"] for s in body["sessions"]] == ["s_a4", "s_a3", "s_a2", "s_a1"]
    events = [(e["type"], e["timestamp"], e["sessionId"], e["platform"], e["status"])
              for e in body["events"]]
    assert events[:5] == [
        ("tool_call", at(14, "12:00:00.000"), "s_a4", "claude", "error"),
        ("tool_call", at(7, "08:00:00.000"), "s_a3", "chatgpt", "success"),
        ("conversion", at(1, "10:05:00.000"), "s_a2", "claude", None),
        ("tool_call", at(1, "10:00:00.000"), "s_a2", "claude", "success"),
        ("tool_call", at(0, "09:10:00.000"), "s_a1", "claude", "success")]
    # identify and the call share one millisecond; the call stored twice is listed once
    assert sorted(events[5:]) == [("identify", at(0, "09:00:00.000"), "s_a1", "claude", None),
                                  ("tool_call", at(0, "09:00:00.000"), "s_a1", "claude",
                                   "success")]
    assert body["events"][0]["traceId"].startswith("tr_")
    assert body["events"][0]["name"] == "search_rooms"

    latest = (await get(ingest_server, three_weeks.tokens["viewer"], path, **RANGE,
                        limit=2)).json()
    assert [e["timestamp"] for e in latest["events"]] == [at(14, "12:00:00.000"),
                                                          at(7, "08:00:00.000")]
    assert len(latest["sessions"]) == 2


async def test_a_user_without_events_in_the_range_or_in_the_project(
        ingest_server: IngestServer, three_weeks: Tenant) -> None:
    base = f"/v1/projects/{three_weeks.project_id}/users"
    erin = (await get(ingest_server, three_weeks.tokens["viewer"], f"{base}/erin",
                      **RANGE)).json()  # her one event is at the range's end
    assert erin["totals"]["events"] == 0 and erin["events"] == [] and erin["sessions"] == []
    assert erin["firstSeen"] == at(21, "00:00:00.000")
    unknown = await get(ingest_server, three_weeks.tokens["viewer"], f"{base}/nobody")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "YAVIO-3004")


async def test_the_users_endpoints_are_only_for_the_projects_readers(
        ingest_server: IngestServer, three_weeks: Tenant) -> None:
    other = make_tenant(ingest_server.postgres, "y")
    # mallory is a user of the other project only
    store_events(ingest_server.clickhouse, uuid.UUID(other.workspace_id),
                 uuid.UUID(other.project_id),
                 [user_event("tool_call", 5, "10:00:00.000", "s_m", "claude", "mallory")])
    mine = f"/v1/projects/{three_weeks.project_id}"
    for path in (f"{mine}/users", f"{mine}/users/alice"):
        assert (await get(ingest_server, other.tokens["viewer"], path)).status_code == 404
        assert (await get(ingest_server, "yat_" + "0" * 64, path)).status_code == 401
    loner = ingest_server.postgres.users.create(f"loner-{uuid.uuid4().hex[:6]}@example.com")
    token, _ = ingest_server.postgres.access_tokens.create(loner.id, "no workspace")
    assert (await get(ingest_server, token, f"{mine}/users")).status_code == 404
    # a user id of another project is unknown here, and the other project sees only mallory
    assert (await get(ingest_server, three_weeks.tokens["owner"],
                      f"{mine}/users/mallory")).status_code == 404
    theirs = await users_of(ingest_server, other)
    assert [user["userId"] for user in theirs["users"]] == ["mallory"]


async def test_the_cli_client_reads_the_same_views(
        ingest_server: IngestServer, three_weeks: Tenant) -> None:
    def read() -> tuple[Any, ...]:
        with YavioClient(ingest_server.url, three_weeks.tokens["viewer"], timeout=30) as client:
            project, range_ = three_weeks.project_id, {"start": RANGE["from"],
                                                       "end": RANGE["to"]}
            sessions = client.sessions(project, user="bob", limit=1, **range_)
            users = client.users(project, platforms=["chatgpt"], **range_)
            bob = client.user(project, "bob", limit=1, **range_)
            try:
                client.user(project, "nobody")
            except ApiError as error:
                return sessions, users, bob, error.status
            return sessions, users, bob, None

    # the server answers on this event loop: the blocking client runs in a thread
    sessions, users, bob, missing = await asyncio.to_thread(read)
    assert [s["sessionId"] for s in sessions["sessions"]] == ["s_b2"]
    assert sessions["kpis"]["sessions"]["value"] == 2
    assert users["activeUsers"]["mau"] == 3 and users["range"]["platforms"] == ["chatgpt"]
    assert [e["timestamp"] for e in bob["events"]] == [at(8, "15:00:00.000")]
    assert missing == 404


async def test_ranges_cut_mid_day_count_only_the_activity_inside_them(
        ingest_server: IngestServer, three_weeks: Tenant) -> None:
    # Whole days of activity come from the per-day presence table; the days a boundary cuts
    # (from, to, and to less 1, 7 and 30 days) and every day of an hourly range from the
    # events themselves. Up to D15 09:00:30, dave (identified at 09:01) is not active yet,
    # though he is on D15; alice's D14 12:00 call is in the history, before `from`.
    body = await users_of(ingest_server, three_weeks, **{"from": at(14, "13:00:00.000"),
                                                          "to": at(15, "09:00:30.000")})
    assert body["range"]["bucket"] == "hour"
    # the last day (from D14 09:00:30): alice; 7 days: bob (D8 15:00), alice; 30: and carol
    assert body["activeUsers"] == {"dau": 1, "wau": 2, "mau": 3}
    assert [(p["day"], p["dau"], p["wau"], p["mau"]) for p in body["series"]] == [
        (str(day(14)), 1, 2, 3), (str(day(15)), 0, 1, 3)]
    assert len(body["newVsReturning"]) == 21  # D14 13:00 to D15 09:00
    assert all((p["new"], p["returning"]) == (0, 0) for p in body["newVsReturning"])
    assert body["retention"] == {"period": "day", "cohorts": []}
    assert body["anonymousSessions"] == 1  # dave's session, before he identified

    # a minute later dave is active, new in the hour of his first event, his own cohort
    body = await users_of(ingest_server, three_weeks, **{"from": at(14, "13:00:00.000"),
                                                          "to": at(15, "09:01:30.000")})
    assert body["activeUsers"] == {"dau": 2, "wau": 3, "mau": 4}
    assert [(p["day"], p["dau"], p["wau"], p["mau"]) for p in body["series"]] == [
        (str(day(14)), 1, 2, 3), (str(day(15)), 1, 2, 4)]
    assert {p["bucket"]: (p["new"], p["returning"]) for p in body["newVsReturning"]
            if (p["new"], p["returning"]) != (0, 0)} == {at(15, "09:00:00.000"): (1, 0)}
    assert body["retention"] == {"period": "day", "cohorts": [
        {"cohort": at(15, "00:00:00.000"), "users": 1, "returned": [1]}]}
