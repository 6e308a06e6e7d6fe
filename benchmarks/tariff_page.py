#!/usr/bin/env python
"""Benchmark of the "Тариф и опции" page: its query count must not grow with the options.

Run from the repository root (with the project's virtualenv active):

    python benchmarks/tariff_page.py              # throwaway SQLite file, N=50 runs
    python benchmarks/tariff_page.py --runs 200
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pbx python benchmarks/tariff_page.py

It uses the test settings (`tests.settings`) and a throwaway database: a temporary SQLite file,
or, when DATABASE_URL is set, a separate `bench_<pid>` database on that server (created and
dropped here, never the real one). It builds

  * customer A with 5 options enabled, with the stock catalog (14 options);
  * the same customer A again after 500 more options were added to the catalog;
  * customer B with 500 options enabled (same big catalog);

each with a month of daily accruals in the ledger, then renders the page (URL name
`web:tariff`, `/pbx/tariff/`) through Django's test Client as a signed-in customer admin, and
prints the query count and the median / p95 render time over N runs. If the page's URL is not
there, it times `portal.billing.selectors.tariff_page` instead and says so.

Exit status: 0 when the query count is the same in every case, 1 when it is not (an N+1
crept in), 2 when the page did not render.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django() -> tuple[str, str]:
    """Configure Django on a throwaway database; returns (database label, test db name)."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    tmpdir = None
    if not os.environ.get("DATABASE_URL"):
        tmpdir = tempfile.mkdtemp(prefix="pbx-bench-")
        os.environ["DATABASE_URL"] = f"sqlite:///{tmpdir}/bench.sqlite3"
    os.environ.setdefault("REDIS_URL", "")

    import django
    from django.db import connection

    django.setup()
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        test_name = str(Path(tmpdir or tempfile.mkdtemp(prefix="pbx-bench-")) / "bench.sqlite3")
    else:
        test_name = f"bench_{os.getpid()}"
    settings_dict.setdefault("TEST", {})["NAME"] = test_name
    # One persistent connection, as a busy server has: no connect time in the figures, and the
    # query counter below sees every request.
    settings_dict["CONN_MAX_AGE"] = None
    label = f"{connection.vendor} ({test_name})"
    return label, test_name


def build_customer(*, name: str, enabled: int, month_start: dt.date, today: dt.date):
    """A customer with `enabled` options on, a month of accruals and an admin user."""
    from django.utils import timezone

    from portal.billing.models import Option, OptionPeriod, Tariff
    from portal.billing.services import accrue_customer_day, payment_record
    from portal.directory.models import Department, Employee, PhoneNumber
    from portal.tenants.models import Customer, User

    customer = Customer.objects.create(
        name=name,
        tariff=Tariff.objects.get(name="Средний"),
        activated_on=month_start,
        extra_storage_packages=1,
    )
    options = list(Option.objects.filter(is_available=True).order_by("sort_order", "id"))
    if len(options) < enabled:
        raise SystemExit(f"catalog has {len(options)} options, need {enabled}")
    started = timezone.make_aware(dt.datetime.combine(month_start, dt.time(9)))
    OptionPeriod.objects.bulk_create(
        OptionPeriod(customer=customer, option=option, started_at=started)
        for option in options[:enabled]
    )
    dept = Department.objects.create(customer=customer, name="Продажи", notify_callback=True)
    for i in range(5):
        Employee.objects.create(
            customer=customer, department=dept, name=f"E{i}", extension=f"{200 + i}"
        )
    base = 4950000000 + customer.pk * 100
    for i in range(3):
        PhoneNumber.objects.create(
            customer=customer, e164=f"+7{base + i}", kind="multichannel", department=dept
        )
    day = month_start
    while day <= today:
        accrue_customer_day(customer, day)
        day += dt.timedelta(days=1)
    payment_record(customer=customer, amount=Decimal("5000"), reference=f"bench-{customer.pk}")
    user = User.objects.create_user(username=f"bench-{customer.pk}", customer=customer)
    return customer, user


def add_catalog_options(count: int) -> None:
    from portal.billing.models import Option

    Option.objects.bulk_create(
        Option(
            code=f"bench_{i:04d}",
            name_ru=f"Опция {i}",
            name_en=f"Option {i}",
            description_ru="Опция для замера.",
            description_en="Benchmark option.",
            monthly_price=Decimal("10.00") + i,
            sort_order=1000 + i,
        )
        for i in range(count)
    )


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


class QueryCounter:
    """Counts the SQL statements run through the connection (survives reconnects)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def count_queries(func) -> tuple[int, object]:
    from django.db import connection

    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        result = func()
    return counter.count, result


def measure_page(user, url: str, runs: int) -> tuple[int, list[float], int]:
    from django.test import Client

    client = Client()
    client.force_login(user)
    warm = client.get(url)  # warm caches (templates, translations, content types)
    queries, response = count_queries(lambda: client.get(url))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - start) * 1000)
    status = response.status_code if warm.status_code == 200 else warm.status_code
    return queries, times, status


def measure_selector(customer, runs: int) -> tuple[int, list[float], int]:
    from django.utils import timezone

    from portal.billing.selectors import tariff_page

    month = timezone.localdate()
    tariff_page(customer=customer, month=month)
    queries, _page = count_queries(lambda: tariff_page(customer=customer, month=month))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        tariff_page(customer=customer, month=month)
        times.append((time.perf_counter() - start) * 1000)
    return queries, times, 200


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50, help="timed renders per case (50)")
    parser.add_argument("--small", type=int, default=5, help="options of the small customer (5)")
    parser.add_argument("--large", type=int, default=500, help="options of the big one (500)")
    args = parser.parse_args()

    label, _test_name = setup_django()

    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment
    from django.urls import NoReverseMatch, reverse
    from django.utils import timezone

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        try:
            url = reverse("web:tariff")
        except NoReverseMatch:
            url = None
        target = f"GET {url} (web:tariff, test Client)" if url else "selectors.tariff_page"
        if url is None:
            print("NOTE: URL name web:tariff does not exist yet; timing selectors.tariff_page.")

        today = timezone.localdate()
        month_start = today.replace(day=1)

        def measure(customer, user):
            return (
                measure_page(user, url, args.runs) if url else measure_selector(customer, args.runs)
            )

        from portal.billing.models import Option

        rows = []
        small, small_user = build_customer(
            name="Клиент A", enabled=args.small, month_start=month_start, today=today
        )
        catalog = Option.objects.count()
        rows.append((f"A: {args.small} options on", catalog, *measure(small, small_user)))
        add_catalog_options(args.large)
        catalog = Option.objects.count()
        rows.append((f"A: {args.small} options on", catalog, *measure(small, small_user)))
        large, large_user = build_customer(
            name="Клиент B", enabled=args.large, month_start=month_start, today=today
        )
        rows.append((f"B: {args.large} options on", catalog, *measure(large, large_user)))
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()

    print(f"Тариф и опции: {target}; database {label}; N={args.runs} runs per case")
    header = (
        f"{'case':<22} {'catalog':>7} {'queries':>7} {'median ms':>10} {'p95 ms':>8} {'status':>6}"
    )
    print(header)
    print("-" * len(header))
    for case, catalog, queries, times, status in rows:
        print(
            f"{case:<22} {catalog:>7} {queries:>7} {statistics.median(times):>10.1f} "
            f"{percentile(times, 95):>8.1f} {status:>6}"
        )

    if any(status != 200 for *_rest, status in rows):
        print("FAIL: the page did not render (status above).")
        return 2
    counts = {queries for _case, _catalog, queries, _times, _status in rows}
    if len(counts) != 1:
        print(f"FAIL: the query count depends on the number of options: {sorted(counts)}")
        return 1
    print(f"OK: {counts.pop()} queries whatever the number of options.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
