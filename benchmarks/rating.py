#!/usr/bin/env python
"""Benchmark of rating outgoing CDRs into the ledger: the set-based path (one SQL statement,
`portal.billing.rating.calls_rate`) side by side with the per-row ORM path
(`portal.billing.services.call_charge`).

Run from the repository root (project virtualenv active), on PostgreSQL:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pbx python benchmarks/rating.py
    ... python benchmarks/rating.py --cdrs 1000000 --orm 5000 --rates 5000

The database is a throwaway `bench_<pid>` database on that server (created, migrated and
dropped here, never the real one). It holds 20 customers on the three tariffs (one with 300
included minutes), a deck per tariff with --rates prefixes of 1-7 digits (countries, areas,
mobile ranges; some with a second version valid from the middle of the month, so calls cross
a rate change), a customer override deck on 5 customers, and --cdrs answered outgoing CDRs of
one month (plus 10% inbound/internal/unanswered ones that must stay free), inserted in SQL.

Figures: set-based = CDRs rated per second of wall time of the statement (the whole batch in
one transaction: lookup, pricing, included minutes, the ledger INSERT with its indexes), and
per CPU-second of its PostgreSQL backend (read from /proc: the server must run on this box);
per-row = CDRs/s of `call_charge` over --orm calls of other customers; the ratio; and a check
that both paths charge the same amounts on a common sample.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django() -> str:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("REDIS_URL", "")
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("set DATABASE_URL=postgres://... (the set-based path is PostgreSQL's)")
    import django
    from django.db import connection

    django.setup()
    name = f"bench_{os.getpid()}"
    connection.settings_dict.setdefault("TEST", {})["NAME"] = name
    return name


FILL_SQL = """
INSERT INTO calls_callrecord (customer_id, uuid, node, direction, caller_number, callee_number,
  caller_id_shown, started_at, answered_at, ended_at, duration_seconds, billsec, hangup_cause,
  recording_path, variables, sources, created_at, updated_at)
SELECT c.ids[1 + (i %% array_length(c.ids, 1))],
       %(tag)s || i, 'fs1',
       CASE WHEN i %% 10 = 0 THEN 'inbound' WHEN i %% 10 = 1 THEN 'internal' ELSE 'outbound' END,
       '101',
       '+' || p.prefixes[1 + ((i * 7919) %% array_length(p.prefixes, 1))]
           || lpad(((i * 104729) %% 100000000)::text, 8, '0'),
       '', t, t, t + make_interval(secs => 5 + (i * 31) %% 900), 5 + (i * 31) %% 900,
       CASE WHEN i %% 20 = 3 THEN 0 ELSE (i * 31) %% 900 END,
       'NORMAL_CLEARING', '', '{}'::jsonb, '["http"]'::jsonb, now(), now()
FROM generate_series(1::bigint, %(n)s) AS i
CROSS JOIN (SELECT %(customers)s::int[] AS ids) c
CROSS JOIN (SELECT %(prefixes)s::text[] AS prefixes) p
CROSS JOIN LATERAL (SELECT %(month)s::timestamptz + make_interval(secs => (i * 2593) %% 2592000)
                    AS t) tt
"""


def backend_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a PostgreSQL backend on this box, from /proc: the work
    of the statement, whatever else loads the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def build_decks(rates: int):
    import datetime as dt
    import random
    from decimal import Decimal

    from portal.billing.models import Rate, RateDeck, Tariff

    rnd = random.Random(7)
    prefixes: set[str] = {"7", "1", "44", "49", "33", "86", "380", "375", "998"}
    while len(prefixes) < rates:
        head = rnd.choice(["7", "7", "7", "44", "49", "86", "1", "380"])
        prefixes.add(head + "".join(rnd.choice("0123456789") for _ in range(rnd.randint(1, 5))))
    prefixes = sorted(prefixes)
    start = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
    middle = dt.datetime(2026, 10, 16, tzinfo=dt.UTC)
    increments = [(60, 60), (1, 1), (30, 6)]
    for tariff in Tariff.objects.all():
        deck = RateDeck.objects.create(tariff=tariff, name=tariff.name)
        rows = []
        for n, prefix in enumerate(prefixes):
            first, step = increments[n % 3]
            common = {
                "deck": deck,
                "prefix": prefix,
                "first_increment": first,
                "next_increment": step,
                "min_duration": 10 if n % 7 == 0 else 0,
                "connection_fee": Decimal("0.20") if n % 5 == 0 else Decimal("0"),
                "included": prefix.startswith("7") and len(prefix) <= 4,
            }
            price = Decimal(rnd.randint(30, 900)) / 100
            if n % 4 == 0:  # a price change in the middle of the month
                rows.append(Rate(minute_price=price, valid_from=start, valid_to=middle, **common))
                rows.append(Rate(minute_price=price + 1, valid_from=middle, **common))
            else:
                rows.append(Rate(minute_price=price, valid_from=start, **common))
        Rate.objects.bulk_create(rows, batch_size=5000)
    return prefixes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--cdrs", type=int, default=200_000)
    parser.add_argument("--orm", type=int, default=3_000, help="calls rated per row")
    parser.add_argument("--rates", type=int, default=2_000, help="prefixes per deck")
    parser.add_argument("--explain", action="store_true", help="print the query plan first")
    args = parser.parse_args()

    name = setup_django()
    import datetime as dt
    from decimal import Decimal

    from django.db import connection

    from portal.billing import catalog
    from portal.billing.models import LedgerEntry, Rate, RateDeck, Tariff
    from portal.billing.rating import calls_rate
    from portal.billing.services import call_charge
    from portal.calls.models import CallRecord
    from portal.tenants.models import Customer

    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        catalog.ensure()
        Tariff.objects.filter(name="Средний").update(included_minutes=300)
        tariffs = list(Tariff.objects.all())
        customers = [
            Customer.objects.create(name=f"bench {n}", tariff=tariffs[n % 3]) for n in range(24)
        ]
        prefixes = build_decks(args.rates)
        for cust in customers[:5]:
            deck = RateDeck.objects.create(customer=cust, name=cust.name)
            Rate.objects.bulk_create(
                Rate(
                    deck=deck,
                    prefix=p,
                    minute_price=Decimal("0.50"),
                    valid_from=dt.datetime(2026, 9, 1, tzinfo=dt.UTC),
                )
                for p in prefixes[::10]
            )
        month = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
        bulk_ids = [c.pk for c in customers[:20]]
        orm_ids = [c.pk for c in customers[20:]]
        t = time.perf_counter()
        with connection.cursor() as cursor:
            for tag, ids, n in [("s", bulk_ids, args.cdrs), ("o", orm_ids, args.orm)]:
                cursor.execute(
                    FILL_SQL,
                    {"n": n, "tag": tag, "customers": ids, "prefixes": prefixes, "month": month},
                )
            cursor.execute("ANALYZE")
        billable_bulk = CallRecord.objects.filter(
            customer_id__in=bulk_ids, direction="outbound", billsec__gt=0
        ).count()
        print(
            f"database {name}: {args.cdrs:,} + {args.orm:,} CDRs inserted in "
            f"{time.perf_counter() - t:.1f} s; {billable_bulk:,} billable in the set-based batch; "
            f"{Rate.objects.count():,} rates in {RateDeck.objects.count()} decks"
        )

        # Set-based: everything of the 20 customers at once.
        bulk_calls = list(
            CallRecord.objects.filter(customer_id__in=bulk_ids).values_list("pk", flat=True)
        )
        if args.explain:
            from portal.billing.rating import _INSERT_SQL, _description_template, _priced_sql

            sql = f"WITH priced AS ({_priced_sql('c.id = ANY(%(ids)s)', only_unrated=True)}) "
            with connection.cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute("SET LOCAL jit = off")
                cursor.execute("SET LOCAL work_mem = '64MB'")
                cursor.execute(
                    "EXPLAIN (ANALYZE, BUFFERS) " + sql + _INSERT_SQL,
                    {"ids": bulk_calls, "description": _description_template()},
                )
                plan = "\n".join(row[0] for row in cursor.fetchall())
                print(re.sub(r"'\{[0-9,]{80,}\}'", "'{...}'", plan))
                cursor.execute("ROLLBACK")
        pid = connection.connection.info.backend_pid
        cpu0 = backend_cpu(pid)
        t = time.perf_counter()
        written, _customers = calls_rate(call_ids=bulk_calls)
        sql_s = time.perf_counter() - t
        cpu = backend_cpu(pid) - cpu0
        sql_rate = len(bulk_calls) / sql_s
        print(
            f"set-based: {len(bulk_calls):,} CDRs ({written:,} ledger entries) in {sql_s:.2f} s "
            f"= {sql_rate:,.0f} CDRs/s (PostgreSQL CPU {cpu:.2f} s = {len(bulk_calls) / cpu:,.0f} "
            f"CDRs per CPU-second; load {os.getloadavg()[0]:.1f})"
        )

        # Per row: the ORM path over the other customers' calls.
        orm_calls = list(
            CallRecord.objects.filter(customer_id__in=orm_ids)
            .order_by("started_at", "id")
            .values_list("pk", flat=True)
        )
        t = time.perf_counter()
        for pk in orm_calls:
            call_charge(call_record_id=pk)
        orm_s = time.perf_counter() - t
        orm_rate = len(orm_calls) / orm_s
        print(
            f"per-row ORM: {len(orm_calls):,} CDRs in {orm_s:.2f} s = {orm_rate:,.0f} CDRs/s; "
            f"set-based is {sql_rate / orm_rate:.0f}x"
        )

        # Same amounts: the per-row calls rated again set-based must come out equal.
        per_row = dict(
            LedgerEntry.objects.filter(customer_id__in=orm_ids).values_list("source_key", "amount")
        )
        LedgerEntry.objects.filter(customer_id__in=orm_ids).delete()
        calls_rate(call_ids=orm_calls)
        set_based = dict(
            LedgerEntry.objects.filter(customer_id__in=orm_ids).values_list("source_key", "amount")
        )
        same = per_row == set_based
        print(f"check: both paths charge the same on {len(per_row):,} calls: {same}")
        return 0 if same else 1
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    sys.exit(main())
