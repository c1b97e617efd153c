"""The real `yavio tui` in a real terminal: a detached tmux session of a given size, on a tmux
server of its own (so it starts with the environment given and leaves nothing behind), driven
with `send-keys` and read with `capture-pane`, as a person at a keyboard would."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
import uuid
from collections.abc import Sequence

__all__ = ["Tmux"]


class Tmux:
    def __init__(self, command: Sequence[str], env: dict[str, str],
                 size: tuple[int, int] = (120, 40)) -> None:
        self.socket = f"yavio-{uuid.uuid4().hex[:8]}"
        self.started = time.monotonic()
        self._tmux("new-session", "-d", "-s", "tui", "-x", str(size[0]), "-y", str(size[1]),
                   shlex.join(command), env=env)

    def _tmux(self, *args: str, env: dict[str, str] | None = None) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], env=env or os.environ,
                              capture_output=True, text=True, check=True, timeout=30).stdout

    def screen(self) -> str:
        """What the terminal shows now, as text."""
        return self._tmux("capture-pane", "-p", "-t", "tui")

    def keys(self, *keys: str) -> None:
        """Type `keys` (tmux key names: `Enter`, `Escape`, `C-p`, or plain text)."""
        self._tmux("send-keys", "-t", "tui", *keys)

    def wait_for(self, text: str, timeout: float = 30.0, poll: float = 0.01) -> float:
        """Seconds until `text` is on the screen; AssertionError with the screen after
        `timeout`."""
        started = time.monotonic()
        while True:
            screen = self.screen()
            if text in screen:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise AssertionError(f"{text!r} not on the screen after {timeout} s:\n{screen}")
            time.sleep(poll)

    def pid(self) -> int:
        """The process running in the terminal (the command)."""
        return int(self._tmux("display-message", "-p", "-t", "tui", "#{pane_pid}").strip())

    def alive(self) -> bool:
        return subprocess.run(["tmux", "-L", self.socket, "has-session", "-t", "tui"],
                              capture_output=True, check=False).returncode == 0

    def quit(self, timeout: float = 30.0) -> None:
        """Press `q` and assert the program ends within `timeout` seconds."""
        self.keys("q")
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not self.alive(), f"still running {timeout} s after q"

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                       check=False, timeout=30)
