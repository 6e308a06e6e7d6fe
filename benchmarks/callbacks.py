#!/usr/bin/env python
"""Benchmark of callback claiming: lateness of attempts and duplicate claims with two workers.

Run from the repository root (with the project's virtualenv active):

    python benchmarks/callbacks.py                       # throwaway SQLite file
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pbx python benchmarks/callbacks.py
    python benchmarks/callbacks.py --requests 2000 --spread 10 --workers 3 --poll 1

It uses the test settings and a throwaway database (a temporary SQLite file, or a
`bench_<pid>` database created and dropped on the server of DATABASE_URL; the real database is
never touched). It creates `--requests` pending callback requests (one customer with the
callback option on, one department with two employees) whose due times are spread evenly over
`--spread` seconds of a clock that starts one second after the workers do. Then `--workers`
processes (forked, each with its own database connection) loop: read the clock, call
`callback_claim_due(limit=--batch)`, and finish every attempt they were given at once
(bridged -> completed); when nothing was due they sleep `--poll` seconds (call control ticks
every second in production). The clock is simulated: it runs at `--speed` times real time.

It prints the lateness of each claim (clock when the claim returned - the request's due time,
in clock seconds) as p50/p99/max, the throughput, and the number of duplicate claims (a request
given to two workers, or a request with more than one attempt), which must be 0.
Exit status 1 if there was any duplicate or a request was never claimed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django() -> str:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    if not os.environ.get("DATABASE_URL"):
        tmpdir = tempfile.mkdtemp(prefix="pbx-bench-")
        os.environ["DATABASE_URL"] = f"sqlite:///{tmpdir}/bench.sqlite3"
    os.environ["REDIS_URL"] = ""
    os.environ.setdefault("LOG_LEVEL", "WARNING")

    import django
    from django.db import connection

    django.setup()
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        name = str(Path(tempfile.mkdtemp(prefix="pbx-bench-")) / "bench.sqlite3")
    else:
        name = f"bench_{os.getpid()}"
    settings_dict.setdefault("TEST", {})["NAME"] = name
    return f"{connection.vendor} ({name})"


class Clock:
    """Simulated time: `start` at real monotonic `t0`, running `speed` times faster."""

    def __init__(self, start: dt.datetime, t0: float, speed: float) -> None:
        self.start, self.t0, self.speed = start, t0, speed

    def now(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=(time.monotonic() - self.t0) * self.speed)


def build(n: int, start: dt.datetime, spread: float) -> list[int]:
    from django.db import transaction

    from portal.billing import catalog
    from portal.billing.models import Option, OptionPeriod, Tariff
    from portal.callbacks.models import CallbackRequest
    from portal.directory.models import Department, Employee, PhoneNumber
    from portal.tenants.models import Customer

    catalog.ensure()
    customer = Customer.objects.create(name="Bench", tariff=Tariff.objects.get(name="Средний"))
    OptionPeriod.objects.create(
        customer=customer,
        option=Option.objects.get(code=Option.CALLBACK),
        started_at=start - dt.timedelta(days=1),
    )
    dept = Department.objects.create(customer=customer, name="Продажи", notify_callback=False)
    for ext in ("201", "202"):
        Employee.objects.create(customer=customer, department=dept, name=ext, extension=ext)
    number = PhoneNumber.objects.create(
        customer=customer, e164="+74957770001", kind="multichannel", department=dept
    )
    step = spread / max(n - 1, 1)
    rows = []
    for i in range(n):
        due = start + dt.timedelta(seconds=i * step)
        rows.append(
            CallbackRequest(
                customer=customer,
                department=dept,
                number=number,
                caller_number=f"+7916{i:07d}",
                status="pending",
                next_attempt_at=due,
                first_attempt_deadline=due + dt.timedelta(minutes=10),
                origin_uuid=f"bench-{i}",
                created_at=due,
            )
        )
    with transaction.atomic():
        CallbackRequest.objects.bulk_create(rows, batch_size=1000)
    return list(CallbackRequest.objects.order_by("id").values_list("id", flat=True))


def worker(index: int, clock: Clock, batch: int, poll: float, end: dt.datetime, out) -> None:
    """One claimer (a forked process with its own connection). Sends [(request_id, claimed_at)]."""
    from django.db import connection

    from portal.callbacks import services
    from portal.callbacks.models import CallbackRequest

    claims: list[tuple[int, float]] = []
    name = f"bench-{index}"
    queries = 0
    while True:
        plans = services.callback_claim_due(now=clock.now(), worker=name, limit=batch)
        claimed_at = clock.now()
        queries += 1
        for plan in plans:
            claims.append((plan.request_id, claimed_at.timestamp()))
            services.callback_attempt_finished(
                attempt_id=plan.attempt_id,
                caller_answered=True,
                bridged=True,
                cause="NORMAL_CLEARING",
                now=clock.now(),
            )
        if plans:
            continue
        if clock.now() > end and not CallbackRequest.objects.filter(status="pending").exists():
            break
        time.sleep(poll)
    connection.close()
    out.put((index, claims))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--spread", type=float, default=120.0, help="clock seconds of due times")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=20, help="limit of one claim call")
    parser.add_argument("--poll", type=float, default=0.05, help="sleep when nothing is due, s")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated clock speed")
    args = parser.parse_args()

    label = setup_django()
    import multiprocessing

    from django.db import connection, connections
    from django.db.models import Count

    from portal.callbacks.models import CallbackAttempt, CallbackRequest

    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        start = dt.datetime(2024, 3, 1, 9, 0, tzinfo=dt.UTC)
        t = time.perf_counter()
        ids = build(args.requests, start, args.spread)
        print(f"database: {label}")
        print(
            f"created {len(ids)} pending requests due over {args.spread:g} s "
            f"in {time.perf_counter() - t:.1f} s"
        )
        connections.close_all()  # no connection crosses the fork

        ctx = multiprocessing.get_context("fork")
        out = ctx.Queue()
        clock = Clock(start - dt.timedelta(seconds=1), time.monotonic(), args.speed)
        end = start + dt.timedelta(seconds=args.spread)
        procs = [
            ctx.Process(target=worker, args=(i, clock, args.batch, args.poll, end, out))
            for i in range(args.workers)
        ]
        t = time.perf_counter()
        for p in procs:
            p.start()
        results = dict(out.get() for _ in procs)
        for p in procs:
            p.join()
        elapsed = time.perf_counter() - t

        due = {
            pk: (deadline - dt.timedelta(minutes=10)).timestamp()
            for pk, deadline in CallbackRequest.objects.values_list("id", "first_attempt_deadline")
        }
        lateness = []
        seen: dict[int, int] = {}
        for _index, claims in results.items():
            for request_id, claimed_at in claims:
                seen[request_id] = seen.get(request_id, 0) + 1
                lateness.append(claimed_at - due[request_id])
        duplicate_claims = sum(c - 1 for c in seen.values() if c > 1)
        attempts = CallbackAttempt.objects.count()
        duplicate_attempts = (
            attempts - CallbackAttempt.objects.values("request_id").distinct().count()
        )
        unclaimed = len(due) - len(seen)
        statuses = dict(CallbackRequest.objects.values_list("status").annotate(n=Count("id")))
        print(
            f"{args.workers} workers, batch {args.batch}, poll {args.poll:g} s, clock x{args.speed:g}"
        )
        for index, claims in sorted(results.items()):
            print(f"  worker {index}: {len(claims)} claims")
        print(f"  wall time            {elapsed:8.1f} s  ({len(lateness) / elapsed:.0f} claims/s)")
        if lateness:
            ms = [x * 1000 for x in lateness]
            print(f"  lateness p50         {percentile(ms, 0.50):8.1f} ms")
            print(f"  lateness p99         {percentile(ms, 0.99):8.1f} ms")
            print(f"  lateness max         {max(ms):8.1f} ms")
            print(f"  lateness mean        {statistics.fmean(ms):8.1f} ms")
        print(f"  duplicate claims     {duplicate_claims:8d}")
        print(f"  duplicate attempts   {duplicate_attempts:8d}")
        print(f"  never claimed        {unclaimed:8d}")
        print(f"  final statuses       {statuses}")
        ok = duplicate_claims == 0 and duplicate_attempts == 0 and unclaimed == 0
        print("OK: every request claimed exactly once." if ok else "FAILED")
        return 0 if ok else 1
    finally:
        connections.close_all()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    sys.exit(main())
