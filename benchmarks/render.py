#!/usr/bin/env python
"""Benchmark of rendering FreeSWITCH XML for a big customer: 1,000 employees, 100 numbers.

Run from the repository root (project virtualenv active):

    python benchmarks/render.py               # throwaway SQLite file, N=20 runs per document
    python benchmarks/render.py --runs 50

It builds one customer with 1,000 employees in 20 departments and 100 numbers (20 multichannel,
80 regular) with callback, call recording and АОН on, then times what mod_xml_curl asks for,
through the same functions the endpoint uses (database reads + pure rendering):
the whole directory domain (every SIP user), one directory user (a phone registering), the
public dialplan for one number, and callcenter.conf (every queue, agent and tier). Prints the
median / p95 time, the document size and the SQL query count of each.
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
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="pbx-bench-")
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
    os.environ["REDIS_URL"] = ""
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from pbx import render, xmldata
    from portal.billing import services
    from portal.billing.models import Tariff
    from portal.directory.models import Department, Employee, PhoneNumber
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


if __name__ == "__main__":
    raise SystemExit(main())
