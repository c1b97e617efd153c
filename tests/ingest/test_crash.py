"""kill -9 under load: every acknowledged event ends up in ClickHouse exactly once.

The server runs as a real process (its own chdb folder and spool) and is killed with SIGKILL
twice while a client sends batches. Like the SDK, the client retries a batch that got no answer;
event ids make the retries idempotent. Afterwards the set of stored events equals the set of
acknowledged ones, the raw row count equals it too, and so does the aggregate view."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.conftest import TEST_SECRET, PostgresServer, free_port
from tests.ingest.conftest import make_event
from yavio_ingest.store.postgres import PostgresStore

JWT_SECRET = "jwt-" + TEST_SECRET


class ServerProcess:
    def __init__(self, home: Path, database_url: str):
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "YAVIO_HOME": str(home), "YAVIO_PORT": str(self.port),
                    "YAVIO_DATABASE_URL": database_url, "YAVIO_HMAC_SECRET": TEST_SECRET,
                    "YAVIO_JWT_SECRET": JWT_SECRET, "YAVIO_PROJECT_RATE": "1000000",
                    "YAVIO_PROJECT_BURST": "1000000", "YAVIO_FLUSH_INTERVAL_MS": "50"}
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        log = (self.home / "server.log").open("ab")
        self.process = subprocess.Popen([sys.executable, "-m", "yavio_ingest", "serve"],
                                        env=self.env, stdout=log, stderr=log,
                                        stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.home / "server.log").read_text()
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError("server did not become healthy")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def final_counts(home: Path, project_id: str) -> dict:
    """Read the stopped server's chdb folder from a fresh process (one chdb folder per process)."""
    script = (
        "import json\n"
        "from yavio_ingest.store.clickhouse import ClickHouseStore\n"
        f"s = ClickHouseStore('chdb://{home / 'clickhouse'}')\n"
        "p = {'p': '" + project_id + "'}\n"
        "ids = [str(r[0]) for r in s.query('SELECT event_id FROM events FINAL "
        "WHERE project_id = {p:UUID}', p)]\n"
        "rows = s.command('SELECT count() FROM events WHERE project_id = {p:UUID}', p)\n"
        "views = s.command('SELECT countMerge(events) FROM session_stats "
        "WHERE project_id = {p:UUID}', p)\n"
        "print(json.dumps({'ids': ids, 'rows': rows, 'views': views}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=120)
    return json.loads(out.stdout)


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

    assert unanswered > 0, "the kills should have hit requests in flight"
    assert len(acknowledged) > 500
    counts = final_counts(tmp_path, str(project.id))
    assert set(counts["ids"]) == acknowledged
    assert len(counts["ids"]) == len(acknowledged)
    assert counts["rows"] == len(acknowledged), "a replay inserted some events twice"
    assert counts["views"] == len(acknowledged), "the aggregate view counted a replay twice"
