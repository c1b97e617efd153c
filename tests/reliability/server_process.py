"""The ingest server as a real process of its own (its own chdb folder and spool), for tests that
kill it, restart it or watch it from outside, and a read of what it stored once it is stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import TEST_SECRET, free_port
from yavio_ingest.spool import Spool

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

    def stop_drained(self) -> None:
        """Stop (if not stopped yet) with every acknowledged event in ClickHouse. A stop drains
        the spool for at most 10 s and leaves the rest for the next start (a slow machine, a long
        replay after a kill), so start and stop again until the spool is empty."""
        for _ in range(5):
            self.stop()
            spool = Spool(self.home / "spool")
            pending = spool.pending_bytes
            spool.close()
            if pending == 0:
                return
            self.start()
        raise AssertionError(f"the spool still held {pending} bytes after five restarts")


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
