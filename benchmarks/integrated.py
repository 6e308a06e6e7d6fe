#!/usr/bin/env python
"""Benchmark of integrated numbers: the public lookup a mobile app asks, and chat fan-out.

Run from the repository root (project virtualenv active):

    python benchmarks/integrated.py                                   # SQLite, in-memory layer
    REDIS_URL=redis://127.0.0.1:6379/7 python benchmarks/integrated.py --runs 500

It builds one customer with the integrated-number option, a service with `--numbers` numbers
and as many plain numbers of another customer, then times the lookup view (called directly,
without middleware) for an integrated number, a plain one and junk: median / p95 ms and SQL
queries per answer. Then it measures chat fan-out on the channel layer the
settings give (Redis when REDIS_URL is set): `--listeners` channels in one call's group (the
caller, the operator, trusted persons), `--runs` messages published the way the portal
publishes them; prints the median / p95 / max time from publish until the last listener has
the message.
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


def _stats(times: list[float]) -> tuple[float, float, float]:
    times = sorted(times)
    p95 = times[min(len(times) - 1, int(0.95 * (len(times) - 1) + 0.5))]
    return statistics.median(times), p95, times[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--numbers", type=int, default=200)
    parser.add_argument("--listeners", type=int, default=3)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="pbx-bench-")
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
    os.environ.setdefault("REDIS_URL", "")
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    import django

    django.setup()
    import asyncio

    from channels.layers import get_channel_layer
    from django.core.management import call_command
    from django.db import connection
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext

    from portal.billing import services as billing
    from portal.billing.models import Option, Tariff
    from portal.directory.models import PhoneNumber
    from portal.integrated import services
    from portal.integrated.models import IntegratedService
    from portal.integrated.views import lookup
    from portal.tenants.models import Customer

    call_command("migrate", verbosity=0)
    tariff = Tariff.objects.first()
    mine = Customer.objects.create(name="Медицина", tariff=tariff)
    other = Customer.objects.create(name="Другой", tariff=tariff)
    billing.option_set(customer=mine, code=Option.INTEGRATED_NUMBER, enabled=True)
    numbers = PhoneNumber.objects.bulk_create(
        PhoneNumber(customer=mine, e164=f"+7495{3000000 + i:07d}") for i in range(args.numbers)
    )
    PhoneNumber.objects.bulk_create(
        PhoneNumber(customer=other, e164=f"+7495{4000000 + i:07d}") for i in range(args.numbers)
    )
    service = IntegratedService.objects.create(customer=mine, name="Медицинские советы")
    service.numbers.set(numbers)

    factory = RequestFactory()
    cases = {
        "integrated number": "8 (495) 300-00-07",
        "plain number": "+74954000007",
        "junk": "not a number",
    }
    print(f"lookup: {args.numbers} integrated + {args.numbers} plain numbers, {args.runs} runs")
    print(f"{'asked':20} {'queries':>7} {'median ms':>10} {'p95 ms':>8}")
    for name, number in cases.items():
        request = factory.get("/api/integrated/lookup/", {"number": number})
        with CaptureQueriesContext(connection) as queries:
            lookup(request)
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            lookup(request)
            times.append((time.perf_counter() - start) * 1000)
        median, p95, _ = _stats(times)
        print(f"{name:20} {len(queries):>7} {median:>10.2f} {p95:>8.2f}")

    layer = get_channel_layer()

    async def fan_out() -> list[float]:
        channels = [await layer.new_channel() for _ in range(args.listeners)]
        for channel in channels:
            await layer.group_add(services.group(1), channel)
        times = []
        for i in range(args.runs):
            start = time.perf_counter()
            await layer.group_send(
                services.group(1),
                {"type": "integrated.message", "message": {"type": "chat", "id": i}},
            )
            for channel in channels:
                got = await layer.receive(channel)
                assert got["message"]["id"] == i
            times.append((time.perf_counter() - start) * 1000)
        for channel in channels:
            await layer.group_discard(services.group(1), channel)
        return times

    median, p95, worst = _stats(asyncio.run(fan_out()))
    print(
        f"chat fan-out on {type(layer).__name__} to {args.listeners} listeners, {args.runs} "
        f"messages: median {median:.2f} ms, p95 {p95:.2f} ms, max {worst:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
