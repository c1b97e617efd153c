"""The guarded query endpoint on the real server and ClickHouse (chdb): the project's own figures,
another tenant's rows out of reach however a query names them, every way out of the project
refused with a reason, the row limit, and ClickHouse's limits on time and memory."""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import store_events
from tests.ingest.conftest import IngestServer
from tests.ingest.test_management import Tenant, make_tenant
from tests.ingest.test_overview import DAY, conversion, tool_call
from yavio_sdk.events import ToolDiscoveryEvent


def ids(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


def two_tenants(server: IngestServer) -> tuple[Tenant, Tenant]:
    """Mine: four tool calls and a conversion, two platforms, two identified users and an
    anonymous session, two calls in one millisecond, stored shuffled and one call stored
    twice. Theirs (another workspace): five calls of `secret_tool`, which it registered."""
    mine, theirs = make_tenant(server.postgres, "q"), make_tenant(server.postgres, "r")
    e1, e2, e3, e4, c1, d1 = ids(6)
    first = tool_call(e1, f"{DAY}T01:00:00.000Z", "ses_1", "search_rooms", "chatgpt", 10)
    first.user_id = "u_1"
    same_ms = tool_call(e2, f"{DAY}T01:00:00.000Z", "ses_1", "search_rooms", "chatgpt", 30,
                        "error")
    same_ms.user_id = "u_1"
    later = tool_call(e4, f"{DAY}T02:00:00.000Z", "ses_3", "search_rooms", "claude", 40)
    later.user_id = "u_2"
    anonymous = tool_call(e3, f"{DAY}T03:00:00.000Z", "ses_2", "book_room", "claude", 20)
    registered = ToolDiscoveryEvent(event_id=d1, trace_id="tr_d", session_id="ses_1",
                                    timestamp=f"{DAY}T00:59:00.000Z", source="server",
                                    tool_name="search_rooms", description="Find rooms.")
    events = [first, same_ms, later, anonymous, conversion(c1, f"{DAY}T03:01:00.000Z", 100.0),
              registered]
    random.Random(7).shuffle(events)
    workspace, project = uuid.UUID(mine.workspace_id), uuid.UUID(mine.project_id)
    store_events(server.clickhouse, workspace, project, events)
    store_events(server.clickhouse, workspace, project, [first])  # a retry stored twice
    secret = [tool_call(event_id, f"{DAY}T04:00:00.000Z", "ses_s", "secret_tool", "chatgpt", 5)
              for event_id in ids(5)]
    secret.append(ToolDiscoveryEvent(event_id=str(uuid.uuid4()), trace_id="tr_s",
                                     session_id="ses_s", timestamp=f"{DAY}T03:59:00.000Z",
                                     source="server", tool_name="secret_tool"))
    store_events(server.clickhouse, uuid.UUID(theirs.workspace_id),
                 uuid.UUID(theirs.project_id), secret)
    return mine, theirs


@pytest.fixture
def tenants(ingest_server: IngestServer) -> tuple[Tenant, Tenant]:
    return two_tenants(ingest_server)


async def ask(server: IngestServer, token: str | None, project: str, body: Any,
              ) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        return await client.post(f"/v1/projects/{project}/query", json=body, headers=headers)


async def rows(server: IngestServer, tenant: Tenant, sql: str, **body: Any) -> list[list[Any]]:
    response = await ask(server, tenant.tokens["viewer"], tenant.project_id,
                         {"sql": sql, **body})
    assert response.status_code == 200, response.text
    return response.json()["rows"]


async def test_a_viewer_reads_the_projects_own_events_once_each_with_their_types(
        ingest_server: IngestServer, tenants: tuple[Tenant, Tenant]) -> None:
    mine, _ = tenants
    response = await ask(ingest_server, mine.tokens["viewer"], mine.project_id, {"sql": """
        SELECT event_name, count() AS calls, countIf(status = 'error') AS failures,
               avg(latency_ms) AS mean_ms
        FROM events WHERE event_type = 'tool_call' GROUP BY event_name ORDER BY event_name"""})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["columns"] == [{"name": "event_name", "type": "String"},
                               {"name": "calls", "type": "UInt64"},
                               {"name": "failures", "type": "UInt64"},
                               {"name": "mean_ms", "type": "Nullable(Float64)"}]
    # search_rooms: e1 (stored twice, counted once), e2 (the failure), e4 → 3 calls, mean of
    # 10, 30, 40 ms; book_room: e3 alone, 20 ms.
    assert body["rows"] == [["book_room", 1, 0, 20.0], ["search_rooms", 3, 1, 80 / 3]]
    assert body["truncated"] is False and body["elapsedMs"] >= 0

    # Users: u_1 (ses_1) and u_2 (ses_3) are identified; ses_2 (the booking and the
    # conversion) is anonymous. Platforms: chatgpt for e1 and e2, claude for e3, e4 and c1.
    assert await rows(ingest_server, mine, """
        SELECT uniqExactIf(user_id, user_id != ''), uniqExactIf(session_id, user_id = ''),
               countIf(platform = 'chatgpt'), countIf(platform = 'claude')
        FROM events WHERE event_type IN ('tool_call', 'conversion')""") == [[2, 1, 2, 3]]

    # Times come back as ISO-8601 UTC, in the order asked for though stored shuffled; e1 and
    # e2 share their millisecond.
    assert await rows(ingest_server, mine, """
        SELECT timestamp, latency_ms FROM events WHERE event_type = 'tool_call'
        ORDER BY timestamp, latency_ms""") == [
        [f"{DAY}T01:00:00.000Z", 10.0], [f"{DAY}T01:00:00.000Z", 30.0],
        [f"{DAY}T02:00:00.000Z", 40.0], [f"{DAY}T03:00:00.000Z", 20.0]]

    # The registry holds the tool the project registered, and only that one.
    assert await rows(ingest_server, mine, "SELECT tool_name, description FROM tool_registry"
                      ) == [["search_rooms", "Find rooms."]]


# Each query tries to reach the other project's rows (`{other}`, in `{workspace}`) in its own way. Run by a viewer
# of that project, it finds them (the figure beside it: 5 calls of secret_tool and 1
# registration, 6 events); run by anyone else, nothing.
ISOLATION = [
    ("a filter on project_id", "SELECT count() FROM events WHERE project_id = '{other}'", 6),
    ("a subquery",
     "SELECT count() FROM (SELECT * FROM (SELECT * FROM events WHERE project_id = '{other}'))",
     6),
    ("a UNION", "SELECT count() FROM (SELECT project_id FROM events "
                "WHERE project_id = '{other}' UNION ALL SELECT project_id FROM tool_registry "
                "WHERE project_id = '{other}')", 7),
    ("a JOIN", "SELECT count() FROM events AS e INNER JOIN tool_registry AS t "
               "ON e.event_name = t.tool_name WHERE t.project_id = '{other}'", 5),
    ("an IN (SELECT …)", "SELECT count() FROM (SELECT 1) WHERE '{other}' IN "
                         "(SELECT toString(project_id) FROM events)", 1),
    ("a CTE of its own named events",
     "WITH events AS (SELECT * FROM events WHERE project_id = '{other}') "
     "SELECT count() FROM events", 6),
    ("a scalar subquery", "SELECT (SELECT count() FROM events WHERE event_name = "
                          "'secret_tool')", 5),
    ("IN a table's name", "SELECT count() FROM (SELECT 1) WHERE (toUUID('{workspace}'), "
                          "toUUID('{other}'), 'secret_tool', '', '', "
                          "toDateTime64('{day} 03:59:00', 3, 'UTC')) IN tool_registry", 1),
]


@pytest.mark.parametrize("how, sql, theirs_see", ISOLATION, ids=[case[0] for case in ISOLATION])
async def test_another_projects_rows_are_unreachable_however_the_query_names_them(
        ingest_server: IngestServer, tenants: tuple[Tenant, Tenant], how: str, sql: str,
        theirs_see: int) -> None:
    mine, theirs = tenants
    text = sql.format(other=theirs.project_id, workspace=theirs.workspace_id, day=DAY)
    assert await rows(ingest_server, theirs, text) == [[theirs_see]], how
    assert await rows(ingest_server, mine, text) == [[0]], how


REFUSED = [
    ("two statements", "SELECT 1; CREATE TABLE query_escape (x UInt8) ENGINE = Memory",
     "Multi-statements are not allowed"),
    ("a syntax error", "SELECT count( FROM events", "does not parse"),
    ("not a SELECT", "INSERT INTO events SELECT * FROM events", "Only a SELECT"),
    ("a system table", "SELECT name FROM system.tables", "system.tables cannot"),
    ("a database-qualified table", "SELECT count() FROM default.events",
     "default.events cannot"),
    ("another table of the database", "SELECT count() FROM session_stats",
     "session_stats cannot"),
    ("a table after IN", "SELECT count() FROM events WHERE session_id IN session_stats",
     "session_stats cannot"),
    ("a table function", "SELECT * FROM numbers(10)", "numbers() are not allowed"),
    ("a remote table function", "SELECT * FROM remote('127.0.0.1', default.events)",
     "remote() are not allowed"),
    ("a url table function", "SELECT * FROM url('http://127.0.0.1:9/x', CSV)",
     "url() are not allowed"),
    ("a file read by a function", "SELECT file('/etc/passwd')", "file() is not allowed"),
    ("a dictionary", "SELECT dictGet('d', 'a', 1)", "dictGet() is not allowed"),
    ("SETTINGS", "SELECT count() FROM events SETTINGS max_execution_time = 100",
     "SETTINGS is not allowed"),
    ("SETTINGS in a subquery", "SELECT * FROM (SELECT 1 SETTINGS readonly = 0)",
     "SETTINGS is not allowed"),
    ("FORMAT", "SELECT 1 FORMAT JSON", "FORMAT is not allowed"),
    ("FORMAT Native", "SELECT 1 FORMAT Native", "FORMAT is not allowed"),
    ("INTO OUTFILE", "SELECT 1 INTO OUTFILE 'out.csv'", "INTO OUTFILE is not allowed"),
    ("a name that prints extra lines", "SELECT 1 AS `a\n  TableIdentifier system.x`",
     "could not be checked"),
    ("an unknown column", "SELECT nothing_here FROM events",
     "Unknown expression identifier `nothing_here`"),
]


@pytest.mark.parametrize("what, sql, reason", REFUSED, ids=[case[0] for case in REFUSED])
async def test_queries_that_leave_the_project_or_bend_the_limits_are_refused_with_a_reason(
        ingest_server: IngestServer, what: str, sql: str, reason: str) -> None:
    mine = make_tenant(ingest_server.postgres, "x")
    response = await ask(ingest_server, mine.tokens["viewer"], mine.project_id, {"sql": sql})
    assert response.status_code == 400, (what, response.text)
    error = response.json()["error"]
    assert error["code"] == "YAVIO-3010" and reason in error["message"], (what, error)
    # chdb would run every statement of a multi-statement text it is sent: none reached it.
    assert ingest_server.clickhouse.query("EXISTS TABLE query_escape") == [(0,)]


async def test_rows_past_max_rows_are_left_out_and_the_answer_says_so(
        ingest_server: IngestServer) -> None:
    mine = make_tenant(ingest_server.postgres, "m")
    ten = "SELECT number FROM (SELECT arrayJoin(range(10)) AS number) ORDER BY number DESC"
    response = await ask(ingest_server, mine.tokens["viewer"], mine.project_id,
                         {"sql": ten, "maxRows": 3})
    assert response.status_code == 200, response.text
    assert (response.json()["rows"], response.json()["truncated"]) == ([[9], [8], [7]], True)
    whole = await ask(ingest_server, mine.tokens["viewer"], mine.project_id,
                      {"sql": ten, "maxRows": 10})
    assert (len(whole.json()["rows"]), whole.json()["truncated"]) == (10, False)
    for body in ({"sql": ten, "maxRows": 0}, {"sql": ten, "maxRows": 1001},
                 {"sql": ten, "maxRows": "5"}, {"sql": ""}, {"maxRows": 5}, ["SELECT 1"]):
        refused = await ask(ingest_server, mine.tokens["viewer"], mine.project_id, body)
        assert refused.status_code == 400, body
        assert refused.json()["error"]["code"] == "YAVIO-3010"


async def test_a_query_over_the_time_or_memory_limit_is_stopped_and_the_store_keeps_answering(
        ingest_server: IngestServer, tenants: tuple[Tenant, Tenant]) -> None:
    mine, _ = tenants
    # 10^11 pairs: minutes of work, a few MB of memory. Stopped at 5 s.
    started = time.monotonic()
    slow = await ask(ingest_server, mine.tokens["viewer"], mine.project_id, {"sql": """
        SELECT count() FROM (SELECT arrayJoin(range(100000)) AS a) AS x
        CROSS JOIN (SELECT arrayJoin(range(1000000)) AS b) AS y WHERE cityHash64(a, b) = 0"""})
    assert slow.status_code == 504, slow.text
    assert slow.json()["error"]["code"] == "YAVIO-3061"
    assert "longer than 5 s" in slow.json()["error"]["message"]
    assert time.monotonic() - started < 30
    # An array of 3·10^8 numbers needs 2.4 GB: refused at the 1 GB memory limit.
    big = await ask(ingest_server, mine.tokens["viewer"], mine.project_id, {
        "sql": "SELECT length(groupArray(n)) FROM (SELECT arrayJoin(range(300000000)) AS n)"})
    assert big.status_code == 400, big.text
    assert big.json()["error"]["code"] == "YAVIO-3060"
    assert "memory limit" in big.json()["error"]["message"]
    # A query that fails after its first rows were written (chdb would hand them to the next
    # query of the store): the next answer is the next query's own.
    failing = await ask(ingest_server, mine.tokens["viewer"], mine.project_id, {
        "sql": "SELECT n, throwIf(n = 500000) FROM (SELECT arrayJoin(range(1000000)) AS n) "
               "WHERE n % 1000 = 0", "maxRows": 1000})
    assert failing.status_code == 400, failing.text
    assert await rows(ingest_server, mine, "SELECT count() FROM events "
                                           "WHERE event_type = 'tool_call'") == [[4]]


async def test_only_readers_of_the_project_may_query_it(
        ingest_server: IngestServer, tenants: tuple[Tenant, Tenant]) -> None:
    mine, theirs = tenants
    body = {"sql": "SELECT count() FROM events"}
    outsider = await ask(ingest_server, theirs.tokens["owner"], mine.project_id, body)
    assert outsider.status_code == 404
    assert outsider.json()["error"]["code"] == "YAVIO-3004"
    anonymous = await ask(ingest_server, None, mine.project_id, body)
    assert anonymous.status_code == 401
    for role in ("viewer", "member", "admin", "owner"):
        allowed = await ask(ingest_server, mine.tokens[role], mine.project_id, body)
        # 4 calls, a conversion and a registration: 6 distinct events.
        assert allowed.status_code == 200 and allowed.json()["rows"] == [[6]], role
