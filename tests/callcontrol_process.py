"""Run the real call-control service (`manage.py callcontrol`) as a subprocess for tests.

It is the same process a platform operator runs, pointed at the ESL test double and at the
test database (committed data: tests using it need `transactional_db`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    s = connection.settings_dict
    if s["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] or "postgres"
    if s.get("PASSWORD"):
        auth += f":{s['PASSWORD']}"
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class CallControl:
    def __init__(self, *, esl_port: int, password: str, **env: str) -> None:
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DATABASE_URL": database_url(),
            "REDIS_URL": "",
            "FREESWITCH_NODES": f"fs1=127.0.0.1:{esl_port}",
            "FREESWITCH_ESL_PASSWORD": password,
            "CALLCONTROL_SOCKET_PORT": "0",
            "CALLCONTROL_REPLY_TIMEOUT": "2",
            "CALLCONTROL_PUSH_INTERVAL": "0.1",
            "LOG_LEVEL": "INFO",
            **env,
        }
        self.proc: subprocess.Popen | None = None
        self.lines: list[str] = []
        self._new_line = threading.Condition()
        self.socket_port: int | None = None

    def start(self) -> CallControl:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "callcontrol"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        line = self.wait_for_line("outbound socket on", timeout=30)
        self.socket_port = int(line.rsplit(":", 1)[1])
        return self

    def _read(self) -> None:
        assert self.proc and self.proc.stdout
        for line in self.proc.stdout:
            with self._new_line:
                self.lines.append(line.rstrip("\n"))
                self._new_line.notify_all()

    def wait_for_line(self, fragment: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        seen = 0
        with self._new_line:
            while True:
                for line in self.lines[seen:]:
                    if fragment in line:
                        return line
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or (
                    self.proc and self.proc.poll() is not None and seen == len(self.lines)
                ):
                    raise AssertionError(
                        f"no line with {fragment!r}; output:\n" + "\n".join(self.lines[-40:])
                    )
                self._new_line.wait(left)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def until(check: Callable[[], object], timeout: float = 15) -> object:
    """Like `eventually`, but returns the last (falsy) value at the deadline instead of raising,
    so the caller's assertion can describe the state it found then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    return check()


def eventually(check: Callable[[], object], timeout: float = 10, message: str = "") -> object:
    """Wait for a database state the other process writes (polls: no queue crosses processes)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(message or f"condition not met within {timeout}s")
        time.sleep(0.05)
