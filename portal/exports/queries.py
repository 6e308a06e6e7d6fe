"""What each export contains: its columns and its rows, always scoped to one customer (or, for
a platform export, every customer), filtered by period and, for calls, by number, employee,
direction and status.

On PostgreSQL the rows come from one SQL statement (COPY for CSV, a server-side cursor for
XLSX), so an export of a million calls never holds them in memory; elsewhere (SQLite) the same
columns come from the ORM, calls' charges from one pass over the period's ledger.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Q, Sum
from django.db.models.functions import TruncMonth
from django.utils.translation import gettext as _

from portal.billing.models import LedgerEntry
from portal.tenants.models import Customer

ZERO = Decimal("0.00")
DIGITS = re.compile(r"[^0-9]")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
CATEGORIES = [c for c in LedgerEntry.Category if c != LedgerEntry.Category.PAYMENT]


@dataclass(frozen=True)
class Filters:
    date_from: dt.date
    date_to: dt.date
    number: str = ""
    employee: int | None = None
    direction: str = ""
    status: str = ""  # "answered" | "unanswered" | ""
    customer: int | None = None  # platform exports: one customer only

    @classmethod
    def from_json(cls, data: dict) -> Filters:
        return cls(
            date_from=dt.date.fromisoformat(data["date_from"]),
            date_to=dt.date.fromisoformat(data["date_to"]),
            number=DIGITS.sub("", data.get("number") or "")[:20],
            employee=data.get("employee"),
            direction=data.get("direction") or "",
            status=data.get("status") or "",
            customer=data.get("customer"),
        )

    def to_json(self) -> dict:
        return {
            "date_from": self.date_from.isoformat(),
            "date_to": self.date_to.isoformat(),
            "number": self.number,
            "employee": self.employee,
            "direction": self.direction,
            "status": self.status,
            "customer": self.customer,
        }


def header(kind: str, *, platform: bool) -> list[str]:
    who = [_("ID клиента"), _("Клиент")] if platform else []
    if kind == "cdrs":
        return who + [
            _("Начало"),
            _("Направление"),
            _("Кто звонил"),
            _("Куда звонили"),
            _("Сотрудник"),
            _("Длительность, с"),
            _("Оплачиваемые секунды"),
            _("Статус"),
            _("Причина завершения"),
            _("Префикс"),
            _("Тарифицировано, с"),
            _("Включённые, с"),
            _("Сумма"),
            _("Валюта"),
            _("ID звонка"),
        ]
    if kind == "ledger":
        return who + [
            _("Дата"),
            _("Вид"),
            _("Статья"),
            _("Описание"),
            _("Начислено"),
            _("Оплачено"),
            _("Валюта"),
            _("Источник"),
        ]
    return who + [
        _("Месяц"),
        *[str(LedgerEntry.Category(c).label) for c in CATEGORIES],
        _("Итого начислено"),
        _("Оплачено"),
        _("Валюта"),
    ]


# --- PostgreSQL: one statement per export -----------------------------------------------------


def _scope(alias: str, customer: Customer | None, filters: Filters, params: dict) -> str:
    if customer is not None:
        params["customer"] = customer.pk
        return f"{alias}.customer_id = %(customer)s"
    if filters.customer:
        params["customer"] = int(filters.customer)
        return f"{alias}.customer_id = %(customer)s"
    return f"{alias}.customer_id IS NOT NULL"


def _local_bounds(customer: Customer | None, filters: Filters) -> tuple | None:
    """[start, end) in UTC of the period's local days when one customer is in scope (their time
    zone known), so the calls are picked by a plain range on `started_at` (the index, a good
    estimate) instead of converting each call's start; None for a platform-wide export."""
    if customer is not None:
        tz_name = customer.time_zone
    elif filters.customer:
        tz_name = (
            Customer.objects.filter(pk=int(filters.customer))
            .values_list("time_zone", flat=True)
            .first()
        )
        if tz_name is None:
            return None
    else:
        return None
    tz = ZoneInfo(tz_name)
    start = dt.datetime.combine(filters.date_from, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(filters.date_to + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


_EMPLOYEES = """LEFT JOIN directory_employee e
  ON e.customer_id = c.customer_id AND e.id::text = c.variables ->> 'pbx_employee'"""
_NO_EMPLOYEES = "CROSS JOIN (SELECT NULL::text AS name) e"
_LATER = """LEFT JOIN (
  -- later entries of a call (a longer CDR, a re-rating): few, summed per call
  SELECT l.customer_id, split_part(l.source_key, ':', 2) AS uuid,
         SUM(CASE WHEN l.kind = 'charge' THEN l.amount ELSE -l.amount END) AS amount,
         MAX((l.details ->> 'billed_seconds')::int) AS billed_seconds,
         SUM(COALESCE((l.details ->> 'included_seconds')::int, 0)) AS included_seconds
  FROM billing_ledgerentry l
  WHERE l.category = 'calls' AND l.source_key LIKE 'cdr:%%:%%'
    AND l.period_start BETWEEN %(date_from)s AND %(date_to)s
    AND {scope}
  GROUP BY 1, 2
) a ON a.customer_id = c.customer_id AND a.uuid = c.uuid"""
_NO_LATER = """CROSS JOIN (SELECT NULL::text AS uuid, NULL::numeric AS amount,
  NULL::int AS billed_seconds, NULL::bigint AS included_seconds) a"""


def _exists(sql: str, params: dict) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT EXISTS ({sql})", params)
        return bool(cursor.fetchone()[0])


def cdrs_sql(
    customer: Customer | None, filters: Filters, *, count: bool = False, text_times: bool = False
) -> tuple[str, dict]:
    """The CDR export's statement. `text_times`: the start time as a timestamp truncated to the
    second (for COPY, which prints it as `YYYY-MM-DD HH:MM:SS` under DateStyle ISO: cheaper
    than to_char per row); otherwise to_char's text of the same value."""
    params: dict = {
        "lo": dt.datetime.combine(filters.date_from - dt.timedelta(days=1), dt.time.min, dt.UTC),
        "hi": dt.datetime.combine(filters.date_to + dt.timedelta(days=2), dt.time.min, dt.UTC),
        "date_from": filters.date_from,
        "date_to": filters.date_to,
        "answered": _("отвечен"),
        "unanswered": _("не отвечен"),
    }
    where = [_scope("c", customer, filters, params)]
    bounds = _local_bounds(customer, filters)
    if bounds is not None:
        params["lo"], params["hi"] = bounds
        where.append("c.started_at >= %(lo)s AND c.started_at < %(hi)s")
    else:
        where += [
            "c.started_at >= %(lo)s AND c.started_at < %(hi)s",
            "(c.started_at AT TIME ZONE cu.time_zone)::date BETWEEN %(date_from)s AND %(date_to)s",
        ]
    if filters.number:
        params["number"] = f"%{filters.number}%"
        where.append("(c.caller_number LIKE %(number)s OR c.callee_number LIKE %(number)s)")
    if filters.employee:
        params["employee"] = str(int(filters.employee))
        where.append("c.variables ->> 'pbx_employee' = %(employee)s")
    if filters.direction:
        params["direction"] = filters.direction
        where.append("c.direction = %(direction)s")
    if filters.status == "answered":
        where.append("c.billsec > 0")
    elif filters.status == "unanswered":
        where.append("COALESCE(c.billsec, 0) = 0")
    if count:  # the joins below add columns, never rows
        sql = f"""
SELECT count(*) FROM calls_callrecord c JOIN tenants_customer cu ON cu.id = c.customer_id
WHERE {" AND ".join(where)}"""  # noqa: S608
        return sql, params
    who = "cu.id, cu.name, " if customer is None else ""
    # Joins that would only add NULLs are left out (the same rows, less work per call): the
    # employee names when the scope has no employees, later entries when there are none.
    employees = _exists(
        f"SELECT 1 FROM directory_employee l WHERE {_scope('l', customer, filters, params)}",  # noqa: S608
        params,
    )
    later = _exists(
        f"""SELECT 1 FROM billing_ledgerentry l
        WHERE l.category = 'calls' AND l.source_key LIKE 'cdr:%%:%%'
          AND l.period_start BETWEEN %(date_from)s AND %(date_to)s
          AND {_scope("l", customer, filters, params)}""",  # noqa: S608
        params,
    )
    started = "date_trunc('second', c.started_at AT TIME ZONE cu.time_zone)"
    if not text_times:
        started = "to_char(c.started_at AT TIME ZONE cu.time_zone, 'YYYY-MM-DD HH24:MI:SS')"
    # A call's own entry (`cdr:<uuid>`) is hash-joined from the scope's entries by the uuid cut
    # from its key (no string built per call), narrowed to the values shown before hashing
    # (OFFSET 0 keeps the subquery whole): one pass over the ledger, not an index probe per call.
    sql = f"""
SELECT {who}{started},
       c.direction, c.caller_number, c.callee_number, COALESCE(e.name, ''),
       c.duration_seconds, c.billsec,
       CASE WHEN c.billsec > 0 THEN %(answered)s ELSE %(unanswered)s END,
       c.hangup_cause, COALESCE(r.prefix, ''), r.billed_seconds, r.included_seconds,
       COALESCE(r.amount, 0.00), cu.currency, c.uuid
FROM calls_callrecord c
JOIN tenants_customer cu ON cu.id = c.customer_id
{_EMPLOYEES if employees else _NO_EMPLOYEES}
LEFT JOIN (
  SELECT l.customer_id, substr(l.source_key, 5) AS uuid, l.amount,
         l.details ->> 'prefix' AS prefix,
         (l.details ->> 'billed_seconds')::int AS billed_seconds,
         (l.details ->> 'included_seconds')::int AS included_seconds
  FROM billing_ledgerentry l
  WHERE {_scope("l", customer, filters, params)} AND l.source_key LIKE 'cdr:%%'
  OFFSET 0
) p ON p.customer_id = c.customer_id AND p.uuid = c.uuid
{_LATER.format(scope=_scope("l", customer, filters, params)) if later else _NO_LATER}
CROSS JOIN LATERAL (SELECT
  CASE WHEN p.uuid IS NOT NULL OR a.uuid IS NOT NULL
       THEN COALESCE(p.amount, 0) + COALESCE(a.amount, 0) END AS amount,
  p.prefix,
  GREATEST(p.billed_seconds, a.billed_seconds) AS billed_seconds,
  CASE WHEN p.uuid IS NOT NULL OR a.uuid IS NOT NULL
       THEN COALESCE(p.included_seconds, 0) + COALESCE(a.included_seconds, 0) END
       AS included_seconds) r
WHERE {" AND ".join(where)}
ORDER BY c.started_at, c.id
"""  # noqa: S608 (constant fragments; every value is a parameter)
    return sql, params


def ledger_sql(
    customer: Customer | None, filters: Filters, *, count: bool = False
) -> tuple[str, dict]:
    params: dict = {"date_from": filters.date_from, "date_to": filters.date_to}
    kinds = " ".join(
        f"WHEN '{value}' THEN %(kind_{value})s" for value in LedgerEntry.Kind.values
    )  # values are our own constants
    categories = " ".join(
        f"WHEN '{value}' THEN %(cat_{value})s" for value in LedgerEntry.Category.values
    )
    params.update({f"kind_{k.value}": str(k.label) for k in LedgerEntry.Kind})
    params.update({f"cat_{c.value}": str(c.label) for c in LedgerEntry.Category})
    if count:
        sql = f"""
SELECT count(*) FROM billing_ledgerentry l
WHERE {_scope("l", customer, filters, params)}
  AND l.period_start BETWEEN %(date_from)s AND %(date_to)s"""  # noqa: S608
        return sql, params
    who = "cu.id, cu.name, " if customer is None else ""
    sql = f"""
SELECT {who}to_char(l.period_start, 'YYYY-MM-DD'), CASE l.kind {kinds} ELSE l.kind END,
       CASE l.category {categories} ELSE l.category END, l.description,
       CASE WHEN l.kind = 'charge' THEN l.amount END,
       CASE WHEN l.kind <> 'charge' THEN l.amount END,
       l.currency, l.source_key
FROM billing_ledgerentry l
JOIN tenants_customer cu ON cu.id = l.customer_id
WHERE {_scope("l", customer, filters, params)}
  AND l.period_start BETWEEN %(date_from)s AND %(date_to)s
ORDER BY l.period_start, l.id
"""  # noqa: S608 (constant fragments; every value is a parameter)
    return sql, params


# --- portable rows (SQLite, and totals everywhere) ---------------------------------------------


def _customers(customer: Customer | None, filters: Filters):
    if customer is not None:
        return Customer.objects.filter(pk=customer.pk)
    if filters.customer:
        return Customer.objects.filter(pk=filters.customer)
    return Customer.objects.all()


def cdr_rows(customer: Customer | None, filters: Filters) -> Iterator[tuple]:
    from portal.calls.models import CallRecord
    from portal.directory.models import Employee

    for cust in _customers(customer, filters).order_by("id"):
        tz = ZoneInfo(cust.time_zone)
        start = dt.datetime.combine(filters.date_from, dt.time.min, tzinfo=tz)
        end = dt.datetime.combine(filters.date_to + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        calls = CallRecord.objects.filter(customer=cust, started_at__gte=start, started_at__lt=end)
        if filters.number:
            calls = calls.filter(
                Q(caller_number__contains=filters.number)
                | Q(callee_number__contains=filters.number)
            )
        if filters.employee:
            calls = calls.filter(variables__pbx_employee=str(int(filters.employee)))
        if filters.direction:
            calls = calls.filter(direction=filters.direction)
        if filters.status == "answered":
            calls = calls.filter(billsec__gt=0)
        elif filters.status == "unanswered":
            calls = calls.filter(Q(billsec=0) | Q(billsec__isnull=True))
        rated: dict[str, list] = {}
        entries = LedgerEntry.objects.filter(
            customer=cust,
            category=LedgerEntry.Category.CALLS,
            source_key__startswith="cdr:",
            period_start__gte=filters.date_from,
            period_start__lte=filters.date_to,
        ).values_list("source_key", "kind", "amount", "details")
        for source_key, kind, amount, details in entries.iterator():
            row = rated.setdefault(source_key.split(":")[1], [ZERO, "", None, 0])
            row[0] += amount if kind == LedgerEntry.Kind.CHARGE else -amount
            details = details or {}
            row[1] = row[1] or details.get("prefix", "")
            if details.get("billed_seconds") is not None:
                row[2] = max(row[2] or 0, int(details["billed_seconds"]))
            row[3] += int(details.get("included_seconds") or 0)
        names = dict(Employee.objects.filter(customer=cust).values_list("id", "name"))
        who = (cust.pk, cust.name) if customer is None else ()
        for c in calls.order_by("started_at", "id").iterator(chunk_size=2000):
            amount, prefix, billed, included = rated.get(c.uuid, [ZERO, "", None, None])
            employee = (c.variables or {}).get("pbx_employee", "")
            yield (
                *who,
                c.started_at.astimezone(tz).strftime(TIME_FORMAT),
                c.direction,
                c.caller_number,
                c.callee_number,
                names.get(int(employee), "") if str(employee).isdigit() else "",
                c.duration_seconds,
                c.billsec,
                _("отвечен") if c.billsec else _("не отвечен"),
                c.hangup_cause,
                prefix,
                billed,
                included if c.uuid in rated else None,
                amount,
                cust.currency,
                c.uuid,
            )


def ledger_rows(customer: Customer | None, filters: Filters) -> Iterator[tuple]:
    entries = (
        LedgerEntry.objects.filter(
            customer__in=_customers(customer, filters),
            period_start__gte=filters.date_from,
            period_start__lte=filters.date_to,
        )
        .select_related("customer")
        .order_by("period_start", "id")
    )
    for e in entries.iterator(chunk_size=2000):
        who = (e.customer_id, e.customer.name) if customer is None else ()
        charge = e.kind == LedgerEntry.Kind.CHARGE
        yield (
            *who,
            e.period_start.isoformat(),
            str(LedgerEntry.Kind(e.kind).label),
            str(LedgerEntry.Category(e.category).label),
            e.description,
            e.amount if charge else None,
            None if charge else e.amount,
            e.currency,
            e.source_key,
        )


def month_totals(customer: Customer | None, filters: Filters) -> list[dict]:
    """Charges per category, net of corrections (re-rated calls), and payments per customer
    and month; `customer_id` None rows are the platform's sums (platform exports only)."""
    rows = (
        LedgerEntry.objects.filter(
            customer__in=_customers(customer, filters),
            period_start__gte=filters.date_from.replace(day=1),
            period_start__lte=filters.date_to,
        )
        .annotate(month=TruncMonth("period_start"))
        .values("customer_id", "customer__name", "customer__currency", "month", "kind", "category")
        .annotate(total=Sum("amount"))
        .order_by("month", "customer_id")
    )
    table: dict[tuple, dict] = {}
    for row in rows:
        month = row["month"]
        month = month.date() if isinstance(month, dt.datetime) else month
        row["total"] = Decimal(row["total"]).quantize(ZERO)  # SQLite sums carry more places
        key = (month, row["customer_id"])
        cell = table.setdefault(
            key,
            {
                "month": month,
                "customer_id": row["customer_id"],
                "customer": row["customer__name"],
                "currency": row["customer__currency"],
                "charges": {c.value: ZERO for c in CATEGORIES},
                "payments": ZERO,
            },
        )
        if row["kind"] == LedgerEntry.Kind.CHARGE:
            cell["charges"][row["category"]] += row["total"]
        elif row["category"] == LedgerEntry.Category.PAYMENT:
            cell["payments"] += row["total"]
        else:  # a correction in the customer's favour: less charged in that category
            cell["charges"][row["category"]] -= row["total"]
    result = [table[key] for key in sorted(table, key=lambda k: (k[0], k[1]))]
    if customer is None and result:
        sums: dict[dt.date, dict] = {}
        for cell in result:
            total = sums.setdefault(
                cell["month"],
                {
                    "month": cell["month"],
                    "customer_id": None,
                    "customer": _("Итого по платформе"),
                    "currency": cell["currency"],
                    "charges": {c.value: ZERO for c in CATEGORIES},
                    "payments": ZERO,
                },
            )
            for category, amount in cell["charges"].items():
                total["charges"][category] += amount
            total["payments"] += cell["payments"]
        result = sorted(
            result + list(sums.values()),
            key=lambda c: (c["month"], c["customer_id"] is None, c["customer_id"] or 0),
        )
    return result


def totals_rows(customer: Customer | None, filters: Filters) -> Iterator[tuple]:
    for cell in month_totals(customer, filters):
        who = (cell["customer_id"] or "", cell["customer"]) if customer is None else ()
        charges = [cell["charges"][c.value] for c in CATEGORIES]
        yield (
            *who,
            cell["month"].strftime("%Y-%m"),
            *charges,
            sum(charges, ZERO),
            cell["payments"],
            cell["currency"],
        )


def use_sql(kind: str) -> bool:
    return connection.vendor == "postgresql" and kind in {"cdrs", "ledger"}


SQL = {"cdrs": cdrs_sql, "ledger": ledger_sql}
ROWS = {"cdrs": cdr_rows, "ledger": ledger_rows, "totals": totals_rows}
