#!/usr/bin/env python
"""Benchmark of finance exports: a 1,000,000-row CDR export (with each call's rating joined
from the ledger) as CSV, and a smaller one as XLSX: wall time and peak memory (RSS).

Run from the repository root (project virtualenv active), on PostgreSQL:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pbx python benchmarks/export.py
    ... python benchmarks/export.py --rows 1000000 --xlsx-rows 100000

The database is a throwaway `bench_<pid>` database on that server (created, migrated and
dropped here). One customer gets --rows CDRs in October 2026 (75% answered outgoing ones with
a rated ledger entry each, the rest inbound, internal or unanswered), inserted in SQL.

Each export runs in a fresh child process exactly as the django-q2 task does
(`portal.exports.services.write_export`): time = the export's wall time (the row count for
the progress bar, the query and the file), with the CPU seconds of the PostgreSQL backend
(read from /proc: the server must run on this box) and of the exporter, which show the work
independently of other load on the machine; RSS = the child's peak resident memory, and its
RSS before the export (Django loaded, connected) for comparison. The file is parsed back: its
rows are counted and its amounts summed against the ledger.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = r"""
import json, os, sys, time
sys.path.insert(0, {root!r})
os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
import django
django.setup()
from django.db import connection
from pathlib import Path
from portal.exports import services
from portal.exports.models import Export
connection.ensure_connection()


def status(field):
    # VmHWM is this process's own peak (ru_maxrss carries the parent's across exec on Linux).
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])


def backend_cpu(pid):
    # PostgreSQL runs on this box: its backend's CPU seconds (user + system) from /proc
    fields = open(f"/proc/{{pid}}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


before = status("VmHWM")
export = Export.objects.get(pk={export_id})
pid = connection.connection.info.backend_pid
cpu0, own0 = backend_cpu(pid), time.process_time()
t = time.perf_counter()
rows = services.write_export(export, Path({path!r}))
seconds = time.perf_counter() - t
own, cpu = time.process_time() - own0, backend_cpu(pid) - cpu0
peak = status("VmHWM")
print(json.dumps({{"rows": rows, "seconds": seconds, "rss_before_kb": before, "rss_peak_kb": peak,
                  "cpu": own, "backend_cpu": cpu, "load": os.getloadavg()[0]}}))
"""

FILL_CALLS = """
INSERT INTO calls_callrecord (customer_id, uuid, node, direction, caller_number, callee_number,
  caller_id_shown, started_at, answered_at, ended_at, duration_seconds, billsec, hangup_cause,
  recording_path, variables, sources, created_at, updated_at)
SELECT %(customer)s, 'x' || i, 'fs1',
       CASE WHEN i %% 8 = 0 THEN 'inbound' WHEN i %% 8 = 1 THEN 'internal' ELSE 'outbound' END,
       '101', '+7495' || lpad(((i * 7919) %% 10000000)::text, 7, '0'), '', t, t,
       t + make_interval(secs => 5 + i %% 600), 5 + i %% 600,
       CASE WHEN i %% 16 = 2 THEN 0 ELSE i %% 600 END, 'NORMAL_CLEARING', '',
       jsonb_build_object('pbx_employee', '1'), '["http"]'::jsonb, now(), now()
FROM generate_series(1::bigint, %(n)s) AS i
CROSS JOIN LATERAL (SELECT '2026-10-01T00:00:00+03'::timestamptz
                           + make_interval(secs => (i * 2593) %% 2678400) AS t) tt
"""

FILL_LEDGER = """
INSERT INTO billing_ledgerentry (customer_id, kind, category, amount, currency, period_start,
  period_end, description, details, source_key, created_at)
SELECT c.customer_id, 'charge', 'calls', round(((c.billsec + 59) / 60) * 1.50, 2), 'RUB', d, d,
       'Исходящий звонок на ' || c.callee_number,
       jsonb_build_object('call', c.uuid, 'billsec', c.billsec, 'prefix', '7495',
                          'billed_seconds', ((c.billsec + 59) / 60) * 60, 'included_seconds', 0),
       'cdr:' || c.uuid, now()
FROM calls_callrecord c
CROSS JOIN LATERAL (SELECT (c.started_at AT TIME ZONE 'Europe/Moscow')::date AS d) dd
WHERE c.customer_id = %(customer)s AND c.direction = 'outbound' AND c.billsec > 0
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--rows", type=int, default=1_000_000, help="CDRs in the CSV export")
    parser.add_argument("--xlsx-rows", type=int, default=100_000, help="CDRs in the XLSX one")
    parser.add_argument("--explain", action="store_true", help="print the CSV query's plan")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("set DATABASE_URL=postgres://...")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("REDIS_URL", "")
    import django

    django.setup()
    import datetime as dt
    import tempfile

    from django.db import connection, transaction

    from portal.billing import catalog
    from portal.billing.models import LedgerEntry, Tariff
    from portal.exports.models import Export
    from portal.exports.queries import Filters
    from portal.tenants.models import Customer

    name = f"bench_{os.getpid()}"
    connection.settings_dict.setdefault("TEST", {})["NAME"] = name
    old_name = connection.settings_dict["NAME"]
    url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + name
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    out_dir = Path(tempfile.mkdtemp(prefix="pbx-export-bench-"))
    try:
        catalog.ensure()
        tariff = Tariff.objects.get(name="Средний")
        big = Customer.objects.create(name="bench big", tariff=tariff)
        small = Customer.objects.create(name="bench small", tariff=tariff)
        t = time.perf_counter()
        with connection.cursor() as cursor:
            for cust, n in [(big, args.rows), (small, args.xlsx_rows)]:
                cursor.execute(FILL_CALLS.replace("'x' ||", f"'c{cust.pk}-' ||"), {"customer": cust.pk, "n": n})  # fmt: skip
                cursor.execute(FILL_LEDGER, {"customer": cust.pk})
            cursor.execute("ANALYZE")
        print(
            f"database {name}: {args.rows:,} + {args.xlsx_rows:,} CDRs and their ledger "
            f"entries inserted in {time.perf_counter() - t:.1f} s"
        )
        october = Filters(date_from=dt.date(2026, 10, 1), date_to=dt.date(2026, 10, 31))
        ok = True
        if args.explain:
            from portal.exports.queries import cdrs_sql
            from portal.exports.services import _tune

            sql, params = cdrs_sql(big, october, text_times=True)
            with transaction.atomic(), connection.cursor() as cursor:
                _tune(cursor)
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                print("\n".join(row[0] for row in cursor.fetchall()))
        for cust, fmt in [(big, "csv"), (small, "xlsx")]:
            export = Export.objects.create(
                customer=cust, kind="cdrs", format=fmt, filters=october.to_json()
            )
            path = out_dir / f"export.{fmt}"
            child = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    CHILD.format(root=str(ROOT), export_id=export.pk, path=str(path)),
                ],  # fmt: skip
                env={**os.environ, "DATABASE_URL": url},
                capture_output=True,
                text=True,
                check=False,
            )
            if child.returncode:
                print(child.stderr[-3000:])
                return 1
            result = json.loads(child.stdout.strip().splitlines()[-1])
            rows, total = parse_back(path, fmt)
            ledger = sum(
                LedgerEntry.objects.filter(customer=cust).values_list("amount", flat=True),
                Decimal("0"),
            )
            same = rows == result["rows"] and total == ledger
            ok = ok and same
            print(
                f"{fmt}: {result['rows']:,} rows, {path.stat().st_size / 1e6:,.0f} MB in "
                f"{result['seconds']:.2f} s (CPU: PostgreSQL {result['backend_cpu']:.2f} s, "
                f"exporter {result['cpu']:.2f} s; load {result['load']:.1f}); "
                f"peak RSS {result['rss_peak_kb'] / 1024:.0f} MB "
                f"(before the export {result['rss_before_kb'] / 1024:.0f} MB); parsed back: "
                f"{rows:,} rows, amounts {total} = ledger {ledger}: {same}"
            )
            path.unlink()
        return 0 if ok else 1
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def parse_back(path: Path, fmt: str) -> tuple[int, Decimal]:
    rows, total = 0, Decimal("0")
    if fmt == "csv":
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            amount = next(reader).index("Сумма")
            for row in reader:
                rows += 1
                total += Decimal(row[amount] or "0")
        return rows, total
    from openpyxl import load_workbook

    sheet = load_workbook(path, read_only=True).worksheets[0]
    values = sheet.iter_rows(values_only=True)
    amount = list(next(values)).index("Сумма")
    for row in values:
        rows += 1
        total += Decimal(str(row[amount] or 0))
    return rows, total.quantize(Decimal("0.01"))


if __name__ == "__main__":
    sys.exit(main())
