"""Crash safety (docs/RELIABILITY.md): the ingest server, a real process, is killed with SIGKILL
at random moments while a client sends batches without pause, and restarted each time.

Like the SDK, the client retries a batch that got no answer until it is acknowledged; event ids
make the retries idempotent. A kill rarely lands in the instant between a ClickHouse insert and
its checkpoint, so after each kill the checkpoint is also rewound to the start of its spool
segment, as if the process had died there: each restart replays events already stored. After
each restart the server catches up (replays its spool) and every event acknowledged before the
kill is readable. At the end the stored events are exactly
the acknowledged ones, each once: in ClickHouse (rows and aggregate views) and in every read
endpoint that counts or lists events.

Each batch is one trace of BATCH events; sessions and users repeat across batches, so a counted
replay would show in the per-session and per-user figures too.
"""

from __future__ import annotations

import json
import random
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

from tests.ingest.conftest import make_event
from tests.reliability.conftest import Tenant, scaled
from tests.reliability.server_process import ServerProcess, final_counts
from yavio_ingest.store.postgres import PostgresStore

BATCH = 50
SESSIONS = 7
USERS = 5
KILLS = scaled(3, 10)
# Sustained load: the default per-project rate limit (SPEC: 1,000 events/s).
EVENTS_PER_S = 1_000
# Random moments: long enough after a restart for batches to be in flight and the spool to
# hold something to replay, short enough to keep the fast variant fast.
RUN_BEFORE_KILL_S = scaled((0.5, 2.0), (1.0, 6.0))


def rewind_checkpoint(spool: Path) -> int:
    """Move the spool's checkpoint back to the start of its segment (the older segments are
    gone); the bytes it moved back."""
    checkpoint = spool / "checkpoint"
    position = json.loads(checkpoint.read_text())
    checkpoint.write_text(json.dumps({"segment": position["segment"], "offset": 0}))
    return position["offset"]


class Sender:
    """One client thread sending a batch every BATCH / EVENTS_PER_S seconds, each retried until
    acknowledged (the next one waits)."""

    def __init__(self, url: str, api_key: str):
        self.url = url
        self.api_key = api_key
        self.acknowledged: set[str] = set()
        self.traces = 0
        self.unanswered = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.give_up_at = float("inf")
        self.thread = threading.Thread(target=self._run, name="crash-sender", daemon=True)

    def stop(self) -> None:
        """Finish the batch in flight (a server gone for good: give it up after a minute)."""
        self.give_up_at = time.monotonic() + 60
        self.stopping.set()
        self.thread.join()

    def acknowledged_so_far(self) -> int:
        with self.lock:
            return len(self.acknowledged)

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        with httpx.Client(timeout=5, headers=headers) as client:
            next_at = time.monotonic()
            while not self.stopping.is_set():
                next_at += BATCH / EVENTS_PER_S
                time.sleep(max(0.0, next_at - time.monotonic()))
                trace = self.traces
                batch = [make_event(trace_id=f"tr_{trace}", session_id=f"ses_{trace % SESSIONS}",
                                    user_id=f"u_{i % USERS}") for i in range(BATCH)]
                while True:  # the same batch until acknowledged, as the SDK does
                    try:
                        response = client.post(f"{self.url}/v1/events", json={"events": batch})
                        if response.status_code == 200:
                            break
                    except httpx.TransportError:
                        self.unanswered += 1
                    if time.monotonic() > self.give_up_at:
                        return
                    time.sleep(0.05)
                with self.lock:
                    self.acknowledged.update(e["event_id"] for e in batch)
                    self.traces += 1


class Reader:
    """The read API as the project's owner sees it."""

    def __init__(self, server: ServerProcess, tenant: Tenant, since: datetime):
        store = PostgresStore(tenant.database_url, server.env["YAVIO_HMAC_SECRET"])
        token, _ = store.access_tokens.create(tenant.owner_id, "reliability")
        store.close()
        self.server = server
        self.base = f"/v1/projects/{tenant.project_id}"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.range = {"from": since.strftime("%Y-%m-%dT%H:%M:%SZ")}

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.server.url}{self.base}/{path}", headers=self.headers,
                             params={**self.range, **params}, timeout=60)
        assert response.status_code == 200, (path, response.text)
        return response.json()

    def query(self, sql: str) -> list:
        response = httpx.post(f"{self.server.url}{self.base}/query", headers=self.headers,
                              json={"sql": sql}, timeout=60)
        assert response.status_code == 200, response.text
        return response.json()["rows"]

    def stored(self) -> tuple[int, int]:
        """Events and distinct event ids that the query endpoint sees."""
        count, distinct = self.query("SELECT count(), uniqExact(event_id) FROM events")[0]
        return int(count), int(distinct)

    def wait_stored(self, at_least: int, timeout: float = 120) -> tuple[int, int]:
        deadline = time.monotonic() + timeout
        while True:
            count, distinct = self.stored()
            if distinct >= at_least or time.monotonic() > deadline:
                return count, distinct
            time.sleep(0.1)


def test_kill_9_at_random_moments_under_load_loses_and_duplicates_nothing(
        tmp_path: Path, tenant: Tenant) -> None:
    seed = random.randrange(1 << 32)
    moments = random.Random(seed)
    server = ServerProcess(tmp_path, tenant.database_url)
    server.start()
    try:
        reader = Reader(server, tenant, datetime.now(timezone.utc) - timedelta(hours=1))
        sender = Sender(server.url, tenant.api_key)
        sender.thread.start()
        try:
            for kill in range(KILLS):
                time.sleep(moments.uniform(*RUN_BEFORE_KILL_S))
                acknowledged = sender.acknowledged_so_far()
                killed_at = time.monotonic()
                server.kill()
                rewound = rewind_checkpoint(tmp_path / "spool")
                server.start()
                healthy_at = time.monotonic()
                count, distinct = reader.wait_stored(acknowledged)
                caught_up_at = time.monotonic()
                assert distinct >= acknowledged, f"kill {kill + 1} (seed {seed}): " \
                    f"{acknowledged} acknowledged, {distinct} stored"
                assert count == distinct, f"kill {kill + 1} (seed {seed}): duplicates visible"
                print(f"kill {kill + 1}: {acknowledged} acknowledged, {distinct} stored after "
                      f"catch-up ({rewound} spool bytes replayed again); kill to healthy "
                      f"{healthy_at - killed_at:.2f} s, caught up "
                      f"{caught_up_at - healthy_at:.2f} s later", flush=True)
            time.sleep(moments.uniform(*RUN_BEFORE_KILL_S))
        finally:
            sender.stop()

        total = len(sender.acknowledged)
        traces = sender.traces
        assert sender.unanswered > 0, "the kills should have hit requests in flight"
        assert traces >= KILLS, "the sender should have been acknowledged between kills"
        assert reader.wait_stored(total) == (total, total)
        assert_read_endpoints_count_each_event_once(reader, total, traces)
        server.stop_drained()
    finally:
        server.stop()
    counts = final_counts(tmp_path, str(tenant.project_id))
    assert set(counts["ids"]) == sender.acknowledged
    assert counts["rows"] == total, "a replay inserted some events twice"
    assert counts["views"] == total, "the aggregate view counted a replay twice"
    print(f"{KILLS} kills (seed {seed}): {total} events in {traces} batches acknowledged, "
          f"all stored once; {sender.unanswered} requests went unanswered")


def assert_read_endpoints_count_each_event_once(reader: Reader, events: int, traces: int) -> None:
    """Every read endpoint that counts or lists events agrees with what was acknowledged."""
    assert reader.query("SELECT uniqExact(trace_id) FROM events") == [[traces]]
    overview = reader.get("overview")
    assert overview["kpis"]["invocations"]["value"] == events
    assert overview["kpis"]["sessions"]["value"] == min(traces, SESSIONS)
    assert sum(t["invocations"] for t in overview["topTools"]) == events

    assert reader.get("tools")["tools"][0]["invocations"] == events
    assert reader.get("tools/search_rooms")["invocations"] == events

    listed = reader.get("traces", limit=traces)["traces"]
    assert listed and all(t["events"] == BATCH for t in listed), \
        [t for t in listed if t["events"] != BATCH][:3]
    one = reader.get(f"traces/{listed[-1]['traceId']}")
    assert len(one["events"]) == len({e["eventId"] for e in one["events"]}) == BATCH

    sessions = reader.get("sessions", limit=SESSIONS)["sessions"]
    assert sum(s["events"] for s in sessions) == events

    assert sum(u["events"] for u in reader.get("users")["users"]) == events
    timelines = [reader.get(f"users/u_{i}", limit=1)["totals"]["events"] for i in range(USERS)]
    assert sum(timelines) == events

    exported, after, first = [], None, None
    while True:
        page = reader.get("events", limit=10_000, **({"after": after} if after else {}))
        first = page["total"] if first is None else first
        exported += [e["event_id"] for e in page["events"]]
        after = page["next"]
        if after is None:
            break
    assert first == events
    assert len(exported) == len(set(exported)) == events
