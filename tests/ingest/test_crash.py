"""kill -9 under load: every acknowledged event ends up in ClickHouse exactly once.

The server runs as a real process (its own chdb folder and spool) and is killed with SIGKILL
twice while a client sends batches. Like the SDK, the client retries a batch that got no answer;
event ids make the retries idempotent. Afterwards the set of stored events equals the set of
acknowledged ones, the raw row count equals it too, and so does the aggregate view."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from tests.conftest import TEST_SECRET, PostgresServer
from tests.ingest.conftest import make_event
from tests.reliability.server_process import ServerProcess, final_counts
from yavio_ingest.store.postgres import PostgresStore


def test_kill_9_under_load_loses_and_duplicates_nothing(
        tmp_path: Path, postgres_server: PostgresServer) -> None:
    database_url = postgres_server.new_database()
    store = PostgresStore(database_url, TEST_SECRET)
    store.migrate()
    owner = store.users.create("crash@example.com")
    workspace = store.workspaces.create("Crash", "crash", owner.id)
    project = store.projects.create(workspace.id, "P", "p")
    api_key, _ = store.api_keys.create(project.id)
    store.close()

    server = ServerProcess(tmp_path, database_url)
    server.start()
    acknowledged: set[str] = set()
    stop = threading.Event()
    unanswered = 0

    def send_forever() -> None:
        nonlocal unanswered
        with httpx.Client(timeout=5, headers={"Authorization": f"Bearer {api_key}"}) as client:
            while not stop.is_set():
                batch = [make_event(session_id=f"ses_{i % 7}") for i in range(50)]
                while True:  # retry the same batch until it is acknowledged, as the SDK does
                    try:
                        response = client.post(f"{server.url}/v1/events", json={"events": batch})
                        if response.status_code == 200:
                            acknowledged.update(e["event_id"] for e in batch)
                            break
                    except httpx.TransportError:
                        unanswered += 1
                    time.sleep(0.05)

    sender = threading.Thread(target=send_forever, daemon=True)
    sender.start()
    try:
        for _ in range(2):
            time.sleep(1.5)
            server.kill()
            time.sleep(0.3)
            server.start()
        time.sleep(1.0)
    finally:
        stop.set()
        sender.join(timeout=60)
        server.stop()
    server.stop_drained()

    assert unanswered > 0, "the kills should have hit requests in flight"
    assert len(acknowledged) > 500
    counts = final_counts(tmp_path, str(project.id))
    assert set(counts["ids"]) == acknowledged
    assert len(counts["ids"]) == len(acknowledged)
    assert counts["rows"] == len(acknowledged), "a replay inserted some events twice"
    assert counts["views"] == len(acknowledged), "the aggregate view counted a replay twice"
