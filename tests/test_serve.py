"""`manage.py serve` runs the portal on a production server (gunicorn + uvicorn workers), keeps
PostgreSQL connections in a bounded pool, and serves pages, websockets and mod_xml_curl."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.db import connection

from tests.callcontrol_process import ROOT, database_url

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "serve-secret-42"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children_of(pid: int) -> list[str]:
    """Command lines of every descendant of `pid`."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            for child in (task / "children").read_text().split():
                todo.append(int(child))
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
                found.append(cmdline.decode(errors="replace"))
    return found


@pytest.fixture
def served(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "FREESWITCH_XML_CURL_PASSWORD": PASSWORD,
        "FREESWITCH_ESL_PASSWORD": "",
        "SECRET_KEY": "serve-test-secret-key-0123456789-abcdefghij",
        "PORTAL_WORKERS": "2",
        "DB_POOL_MAX_SIZE": "2",
        "Q_WORKERS": "1",
    }
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--no-prompts", "--addr", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "the portal did not start"
        try:
            urllib.request.urlopen(url + "/login/", timeout=2).read()
            break
        except (OSError, urllib.error.URLError):
            time.sleep(0.2)
    yield proc, url
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def lookup(url: str, destination: str) -> tuple[int, str]:
    body = urlencode(
        {
            "section": "dialplan",
            "Hunt-Context": "public",
            "Hunt-Destination-Number": destination,
        }
    ).encode()
    request = urllib.request.Request(url + "/freeswitch/xml/", data=body)
    token = base64.b64encode(f"freeswitch:{PASSWORD}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read().decode()


def test_the_portal_runs_on_gunicorn_with_uvicorn_workers(served):
    proc, url = served
    commands = children_of(proc.pid)
    assert not any(" runserver" in c for c in commands)
    servers = [c for c in commands if "gunicorn portal.asgi:application" in c]
    assert len(servers) == 3  # the arbiter and two workers
    assert all("uvicorn_worker.UvicornWorker" in c for c in servers)
    status, xml = lookup(url, "74950000000")
    assert status == 200 and "UNALLOCATED_NUMBER" in xml
    page = urllib.request.urlopen(url + "/login/", timeout=5).read().decode()
    assert "csrfmiddlewaretoken" in page


def test_websockets_are_served(served):
    from websockets.asyncio.client import connect

    _, url = served

    async def scenario() -> int | None:
        ws_url = url.replace("http://", "ws://") + "/ws/notifications/"
        async with connect(ws_url, origin="http://127.0.0.1") as ws:
            try:
                await asyncio.wait_for(ws.recv(), timeout=5)
            except Exception:
                pass
            return ws.close_code

    # Anonymous: the consumer itself accepts the handshake's upgrade and closes with its code.
    assert asyncio.run(scenario()) == 4401


def test_portal_connections_stay_within_workers_times_pool(served):
    if connection.vendor != "postgresql":
        pytest.skip("connection pooling is PostgreSQL's")
    _, url = served
    peak, stop = [0], threading.Event()

    def watch() -> None:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1",
            user=connection.settings_dict["USER"] or "postgres",
            dbname=connection.settings_dict["NAME"],
            autocommit=True,
        ) as watcher:
            while not stop.is_set():
                count = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pbx-portal'"
                ).fetchone()[0]
                peak[0] = max(peak[0], count)
                time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    errors = []

    def hammer(i: int) -> None:
        for j in range(10):
            try:
                # distinct destinations: every one renders from the database
                assert lookup(url, f"749511{i:02d}{j:03d}")[0] == 200
            except Exception as exc:
                errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watcher.join()
    assert errors == []
    assert 1 <= peak[0] <= 2 * 2  # workers x DB_POOL_MAX_SIZE, whatever the concurrency
