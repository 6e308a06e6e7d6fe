#!/usr/bin/env python
"""Benchmark of rendering FreeSWITCH XML for a big customer: 1,000 employees, 100 numbers.

Run from the repository root (project virtualenv active):

    python benchmarks/render.py               # throwaway SQLite file, N=20 runs per document
    python benchmarks/render.py --runs 50
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pbx REDIS_URL=redis://127.0.0.1:6379/5 \
        python benchmarks/render.py --http --employees 10000      # over HTTP, 200 requests/s

It builds one customer with 1,000 employees in 20 departments and 100 numbers (20 multichannel,
80 regular) with callback, call recording and АОН on, then times what mod_xml_curl asks for,
through the same functions the endpoint uses (database reads + pure rendering):
the whole directory domain (every SIP user), one directory user (a phone registering), the
public dialplan for one number, and callcenter.conf (every queue, agent and tier). Prints the
median / p95 time, the document size and the SQL query count of each.

With --http the same documents are asked over real HTTP from the production server
(`manage.py serve`'s gunicorn with uvicorn workers, Redis answer cache when REDIS_URL is set,
PostgreSQL pool when DATABASE_URL is PostgreSQL: a throwaway `bench_<pid>` database), paced at
--rate requests/s for --seconds per document, a new connection per request as mod_xml_curl
does, next to `/reference/`: a fixed document of the one-user answer's size served from memory
by the same server. Latency counts from the moment a request was due, so a lagging server
cannot hide its queue.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--employees", type=int, default=1000)
    parser.add_argument("--numbers", type=int, default=100)
    parser.add_argument("--http", action="store_true", help="over HTTP to the production server")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="pbx-bench-")
    base = os.environ.get("DATABASE_URL", "")
    dropped = None
    if args.http and base.startswith("postgres"):
        import psycopg

        head = base.rpartition("/")[0]
        dropped = f"bench_{os.getpid()}"
        with psycopg.connect(f"{head}/postgres", autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{dropped}"')
        os.environ["DATABASE_URL"] = f"{head}/{dropped}"
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
    if not args.http:
        os.environ["REDIS_URL"] = ""
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    try:
        return run(args, tmp)
    finally:
        if dropped:
            import psycopg

            with psycopg.connect(f"{head}/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{dropped}" WITH (FORCE)')


def run(args, tmp: str) -> int:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from pbx import render
    from portal.billing import services
    from portal.billing.models import Tariff
    from portal.directory.models import Department, Employee, PhoneNumber
    from portal.switch import xmldata
    from portal.tenants.models import Customer

    call_command("migrate", verbosity=0)
    customer = Customer.objects.create(name="Большой клиент", tariff=Tariff.objects.first())
    departments = Department.objects.bulk_create(
        Department(customer=customer, name=f"Отдел {i}", notify_callback=True) for i in range(20)
    )
    Employee.objects.bulk_create(
        Employee(
            customer=customer,
            department=departments[i % 20],
            name=f"Сотрудник {i}",
            extension=str(1000 + i),
            caller_id_option=i % 2 == 0,
        )
        for i in range(args.employees)
    )
    PhoneNumber.objects.bulk_create(
        PhoneNumber(
            customer=customer,
            e164=f"+7495{2000000 + i:07d}",
            kind="multichannel" if i < 20 else "regular",
            department=departments[i % 20],
        )
        for i in range(args.numbers)
    )
    for code in ("callback", "call_recording", "caller_id"):
        services.option_set(customer=customer, code=code, enabled=True)

    settings = xmldata.render_settings()
    domain = render.sip_domain(customer.pk, settings.sip_domain)
    cases = {
        "directory: whole domain": lambda: xmldata.directory_xml(domain, None),
        "directory: one user": lambda: xmldata.directory_xml(domain, "1500"),
        "dialplan: public, multichannel": lambda: xmldata.public_dialplan_xml("74952000005"),
        "dialplan: public, regular": lambda: xmldata.public_dialplan_xml("74952000050"),
        "callcenter.conf": lambda: xmldata.configuration_xml("callcenter.conf"),
    }
    if args.http:
        return over_http(args, tmp, domain)
    print(
        f"customer with {args.employees} employees, {args.numbers} numbers; "
        f"{args.runs} runs each (SQLite)"
    )
    print(f"{'document':34} {'queries':>7} {'KB':>8} {'median ms':>10} {'p95 ms':>8}")
    for name, fn in cases.items():
        with CaptureQueriesContext(connection) as queries:
            text = fn()
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1000)
        times.sort()
        p95 = times[min(len(times) - 1, int(0.95 * (len(times) - 1) + 0.5))]
        print(
            f"{name:34} {len(queries):>7} {len(text) / 1024:>8.1f} "
            f"{statistics.median(times):>10.1f} {p95:>8.1f}"
        )
    return 0


def over_http(args, tmp: str, domain: str) -> int:
    import base64
    import http.client
    import signal
    import subprocess
    from functools import partial
    from urllib.parse import urlencode

    from portal.switch import xmldata
    from portal.tenants.management.commands.serve import gunicorn_command
    from tests.realswitch import free_port

    password = "bench-xml-secret"
    user_fields = {
        "section": "directory",
        "tag_name": "domain",
        "key_name": "name",
        "key_value": domain,
        "key": "id",
        "user": "1500",
        "domain": domain,
        "action": "sip_auth",
    }
    Path(tmp, "reference.xml").write_text(xmldata.directory_xml(domain, "1500"))

    def dialplan(number: str) -> dict:
        return {
            "section": "dialplan",
            "Hunt-Context": "public",
            "Hunt-Destination-Number": number,
            "Caller-Context": "public",
            "Caller-Destination-Number": number,
            "Caller-Caller-ID-Number": "74957654321",
        }

    cases = {
        "reference (fixed document)": ("/reference/", {}),
        "directory: one user": ("/freeswitch/xml/", user_fields),
        "dialplan: public, multichannel": ("/freeswitch/xml/", dialplan("74952000005")),
        "dialplan: public, regular": ("/freeswitch/xml/", dialplan("74952000050")),
    }
    port = free_port()
    command = gunicorn_command(f"127.0.0.1:{port}", args.workers)
    command[command.index("portal.asgi:application")] = "reference_app:application"
    env = {
        **os.environ,
        "FREESWITCH_XML_CURL_PASSWORD": password,
        "REFERENCE_BODY_FILE": str(Path(tmp, "reference.xml")),
        "PYTHONPATH": f"{ROOT / 'benchmarks'}:{ROOT}",
        "DB_POOL_MAX_SIZE": "4",
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    token = base64.b64encode(f"freeswitch:{password}".encode()).decode()
    headers = {
        "Authorization": f"Basic {token}",
        "Content-Type": "application/x-www-form-urlencoded",
    }

    def ask(path: str, body: bytes) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                ask("/reference/", b"")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        print(
            f"customer with {args.employees} employees, {args.numbers} numbers; "
            f"{args.rate:.0f} requests/s for {args.seconds:.0f} s each over HTTP "
            f"(gunicorn, {args.workers} uvicorn workers, "
            f"{'PostgreSQL' if 'postgres' in os.environ['DATABASE_URL'] else 'SQLite'}, "
            f"cache {'Redis' if os.environ.get('REDIS_URL') else 'in memory'})"
        )
        print(f"{'asked':34} {'ok':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'p99-ref':>8}")
        reference_p99 = None
        for name, (path, fields) in cases.items():
            body = urlencode({"hostname": "fs1", **fields}).encode()
            for _ in range(20):  # warm: connections, the first render into the cache
                ask(path, body)
            latencies, failures = paced(partial(ask, path, body), args.rate, args.seconds)
            total = len(latencies)

            def pct(p: float, latencies=latencies) -> float:
                return latencies[min(len(latencies) - 1, int(p / 100 * (len(latencies) - 1)))]

            p99 = pct(99)
            reference_p99 = p99 if reference_p99 is None else reference_p99
            print(
                f"{name:34} {total - failures:>5}/{total:<4}{pct(50):>7.2f} {p99:>8.2f} "
                f"{latencies[-1]:>8.2f} {p99 - reference_p99:>+8.2f}"
            )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    return 0


def paced(request, rate: float, seconds: float, threads: int = 16) -> tuple[list[float], int]:
    """Open-loop load: request i is due at start + i/rate; its latency counts from then.
    Returns (sorted latencies in ms, failed requests)."""
    import queue
    import threading

    due: queue.Queue = queue.Queue()
    start = time.perf_counter() + 0.2
    for i in range(int(rate * seconds)):
        due.put(start + i / rate)
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()

    def worker() -> None:
        while True:
            try:
                at = due.get_nowait()
            except queue.Empty:
                return
            delay = at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            try:
                ok = request() == 200
            except OSError:
                ok = False
            took = (time.perf_counter() - at) * 1000
            with lock:
                latencies.append(took)
                failures[0] += not ok

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sorted(latencies), failures[0]


if __name__ == "__main__":
    raise SystemExit(main())
