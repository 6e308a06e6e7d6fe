"""Rating outgoing calls by destination (rate decks) into the ledger.

Rules (README.md "Billing: rating"):
- The callee number is reduced to E.164 digits (`+`, spaces, a leading `00` dropped; a Russian
  national `8XXXXXXXXXX` read as `7XXXXXXXXXX`).
- The rate is the one of the **longest matching prefix** among the customer's own deck and their
  tariff's deck; for prefixes of equal length the customer's deck wins. Only rates valid when the
  call **started** count: a rate that changes while a call lasts does not touch that call.
  No matching rate: the tariff's `outgoing_minute_price`, 60/60, no fee, counting against the
  included minutes.
- Billed seconds: `max(billsec, min_duration)`, then the first increment, then whole next
  increments (60/60 = started minutes, 1/1 = per second, 30/6 = 30 s then per 6 s).
- Included minutes (`Tariff.included_minutes`, per local calendar month) cover the billed
  seconds of calls to `included` rates first come, first rated; what they do not cover costs
  `seconds * minute_price / 60`. The connection fee is always due.
- Amount = connection fee + that, rounded half-up to the kopeck. A call that costs nothing and
  used no included minutes writes no entry.

Every call is written once: its entry's `source_key` is `cdr:<uuid>`, unique per customer. The
set-based path (`calls_rate`, one SQL statement on PostgreSQL) and the per-row ORM path
(`portal.billing.services.call_charge`) apply the same rules; the tests hold them equal. Changing
a past charge is only done by `calls_rerate_period` (`manage.py rerate`), which logs a
`RatingRun` and writes the differences as new entries (the ledger stays append-only).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import CharField, Exists, IntegerField, OuterRef, Q, Sum, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.billing.models import LedgerEntry, Rate, RatingRun
from portal.tenants.models import Customer

log = logging.getLogger(__name__)

KOPECK = Decimal("0.01")
NON_DIGITS = re.compile(r"\D")


def e164_digits(number: str) -> str:
    """The digits rate prefixes are matched against (same rule as the SQL in `_NUMBER_SQL`)."""
    digits = NON_DIGITS.sub("", number or "")
    if len(digits) == 11 and digits.startswith("8"):
        return "7" + digits[1:]
    if digits.startswith("00"):
        return digits[2:]
    return digits


def billed_seconds(billsec: int, *, first: int, step: int, minimum: int = 0) -> int:
    """Seconds charged for a call of `billsec` talk seconds under increments first/step."""
    seconds = max(int(billsec), int(minimum))
    if seconds <= 0:
        return 0
    if seconds <= first:
        return first
    return first + -(-(seconds - first) // step) * step


def call_amount(*, seconds: int, covered: int, minute_price: Decimal, fee: Decimal) -> Decimal:
    """Connection fee plus the seconds the included minutes did not cover, to the kopeck."""
    paid = Decimal(seconds - covered) * Decimal(minute_price) / 60
    return (Decimal(fee) + paid).quantize(KOPECK, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class RateTerms:
    rate_id: int | None
    prefix: str
    minute_price: Decimal
    first_increment: int = 60
    next_increment: int = 60
    min_duration: int = 0
    connection_fee: Decimal = Decimal("0")
    included: bool = True


def rate_lookup(customer: Customer, number: str, at: dt.datetime) -> RateTerms:
    """Per-row lookup of the rate for one call (the ORM path)."""
    digits = e164_digits(number)
    prefixes = [digits[:n] for n in range(1, min(len(digits), 15) + 1)]
    candidates = (
        Rate.objects.filter(prefix__in=prefixes, valid_from__lte=at)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=at))
        .filter(Q(deck__customer_id=customer.pk) | Q(deck__tariff_id=customer.tariff_id))
        .values(
            "id",
            "prefix",
            "minute_price",
            "first_increment",
            "next_increment",
            "min_duration",
            "connection_fee",
            "included",
            "deck__customer_id",
        )
    )
    best = max(
        candidates,
        key=lambda r: (len(r["prefix"]), r["deck__customer_id"] is not None),
        default=None,
    )
    if best is None:
        return RateTerms(None, "", customer.tariff.outgoing_minute_price)
    return RateTerms(
        rate_id=best["id"],
        prefix=best["prefix"],
        minute_price=best["minute_price"],
        first_increment=best["first_increment"],
        next_increment=best["next_increment"],
        min_duration=best["min_duration"],
        connection_fee=best["connection_fee"],
        included=best["included"],
    )


def local_month(at: dt.datetime, tz_name: str) -> tuple[dt.date, dt.date]:
    day = at.astimezone(ZoneInfo(tz_name)).date()
    first = day.replace(day=1)
    return first, (first + dt.timedelta(days=32)).replace(day=1)


def included_used(customer: Customer, month_first: dt.date, *, exclude_uuid: str = "") -> int:
    """Included seconds already used in the month (entries carry `included_seconds`)."""
    entries = LedgerEntry.objects.filter(
        customer=customer,
        category=LedgerEntry.Category.CALLS,
        period_start__gte=month_first,
        period_start__lt=(month_first + dt.timedelta(days=32)).replace(day=1),
        details__has_key="included_seconds",
    )
    if exclude_uuid:
        key = f"cdr:{exclude_uuid}"
        entries = entries.exclude(Q(source_key=key) | Q(source_key__startswith=f"{key}:"))
    used = entries.aggregate(
        used=Sum(Cast(KeyTextTransform("included_seconds", "details"), IntegerField()))
    )["used"]
    return int(used or 0)


@dataclass(frozen=True)
class PricedCall:
    amount: Decimal
    seconds: int
    covered: int
    terms: RateTerms

    def details(self) -> dict:
        return {
            "rate": self.terms.rate_id,
            "prefix": self.terms.prefix,
            "minute_price": str(self.terms.minute_price),
            "increment": f"{self.terms.first_increment}/{self.terms.next_increment}",
            "billed_seconds": self.seconds,
            "minutes": -(-self.seconds // 60),
            "included_seconds": self.covered,
            "connection_fee": str(self.terms.connection_fee),
        }


def price_call(call) -> PricedCall:
    """Price one CallRecord (the ORM path): rate lookup, increments, included minutes."""
    customer = call.customer
    at = call.started_at or call.ended_at
    terms = rate_lookup(customer, call.callee_number, at)
    seconds = billed_seconds(
        call.billsec or 0,
        first=terms.first_increment,
        step=terms.next_increment,
        minimum=terms.min_duration,
    )
    covered = 0
    allowance = customer.tariff.included_minutes * 60
    if terms.included and allowance:
        first, _next = local_month(at, customer.time_zone)
        used = included_used(customer, first, exclude_uuid=call.uuid)
        covered = max(0, min(seconds, allowance - used))
    amount = call_amount(
        seconds=seconds, covered=covered, minute_price=terms.minute_price, fee=terms.connection_fee
    )
    return PricedCall(amount=amount, seconds=seconds, covered=covered, terms=terms)


# --- the set-based path (PostgreSQL) ---------------------------------------------------------

_NUMBER_SQL = r"""
CASE WHEN length(d.digits) = 11 AND left(d.digits, 1) = '8' THEN '7' || substr(d.digits, 2)
     WHEN left(d.digits, 2) = '00' THEN substr(d.digits, 3)
     ELSE d.digits END
"""


def _priced_sql(selection: str, *, only_unrated: bool) -> str:
    """One SELECT pricing every call that `selection` (a WHERE fragment on `c`) picks.

    Columns: call_id, uuid, customer_id, currency, day, callee, billsec, seconds, covered,
    amount, rate_id, prefix, price, first_inc, next_inc, fee, flow.
    """
    unrated = (
        """AND NOT EXISTS (SELECT 1 FROM billing_ledgerentry l
                  WHERE l.customer_id = c.customer_id AND l.source_key = 'cdr:' || c.uuid)"""
        if only_unrated
        else ""
    )
    # Constant fragments only; every value is a query parameter.
    return f"""
WITH calls AS MATERIALIZED (
  SELECT c.id, c.uuid, c.customer_id, c.billsec, c.callee_number,
         COALESCE(c.started_at, c.ended_at) AS at,
         ({_NUMBER_SQL}) AS num,
         cu.tariff_id, cu.currency,
         (COALESCE(c.started_at, c.ended_at) AT TIME ZONE cu.time_zone)::date AS day,
         COALESCE(c.variables ->> 'pbx_flow', '') AS flow
  FROM calls_callrecord c
  JOIN tenants_customer cu ON cu.id = c.customer_id
  -- a number of digits and '+' only (nearly all) loses its '+' without a regular expression
  CROSS JOIN LATERAL (SELECT CASE WHEN translate(c.callee_number, '+0123456789', '') = ''
                                  THEN replace(c.callee_number, '+', '')
                                  ELSE regexp_replace(c.callee_number, '\\D', '', 'g')
                             END AS digits) d
  WHERE c.direction = 'outbound' AND c.billsec > 0 AND c.ended_at IS NOT NULL
    AND c.customer_id IS NOT NULL
    AND COALESCE(c.variables ->> 'pbx_flow', '') <> 'emergency'
    AND ({selection}) {unrated}
),
decks AS (
  SELECT DISTINCT k.customer_id, rd.id AS deck_id, (rd.customer_id IS NOT NULL) AS own
  FROM (SELECT DISTINCT customer_id, tariff_id FROM calls) k
  JOIN billing_ratedeck rd ON rd.customer_id = k.customer_id OR rd.tariff_id = k.tariff_id
),
lens AS (
  SELECT DISTINCT length(r.prefix) AS len FROM billing_rate r
  WHERE r.deck_id IN (SELECT deck_id FROM decks)
),
best AS (
  SELECT DISTINCT ON (c.id) c.id AS call_id, r.id AS rate_id, r.prefix, r.minute_price,
         r.first_increment, r.next_increment, r.min_duration, r.connection_fee, r.included
  FROM calls c
  CROSS JOIN lens
  JOIN billing_rate r ON r.prefix = left(c.num, lens.len)
  JOIN decks dk ON dk.deck_id = r.deck_id AND dk.customer_id = c.customer_id
  WHERE lens.len <= length(c.num) AND r.valid_from <= c.at
    AND (r.valid_to IS NULL OR r.valid_to > c.at)
  ORDER BY c.id, length(r.prefix) DESC, dk.own DESC
),
terms AS (
  SELECT c.*, b.rate_id, COALESCE(b.prefix, '') AS prefix,
         COALESCE(b.minute_price, t.outgoing_minute_price) AS price,
         COALESCE(b.first_increment, 60) AS first_inc,
         COALESCE(b.next_increment, 60) AS next_inc,
         GREATEST(c.billsec, COALESCE(b.min_duration, 0)) AS eff,
         COALESCE(b.connection_fee, 0) AS fee,
         COALESCE(b.included, TRUE) AS incl,
         t.included_minutes * 60 AS allowance,
         date_trunc('month', c.day)::date AS month
  FROM calls c
  JOIN billing_tariff t ON t.id = c.tariff_id
  LEFT JOIN best b ON b.call_id = c.id
),
billed AS (
  SELECT *, CASE WHEN eff <= first_inc THEN first_inc
                 ELSE first_inc + ((eff - first_inc + next_inc - 1) / next_inc) * next_inc
            END AS seconds
  FROM terms
),
usage AS (
  SELECT l.customer_id, date_trunc('month', l.period_start)::date AS month,
         SUM((l.details ->> 'included_seconds')::int) AS used
  FROM billing_ledgerentry l
  WHERE l.category = 'calls' AND l.details ? 'included_seconds'
    AND (l.customer_id, date_trunc('month', l.period_start)::date) IN (
      SELECT customer_id, month FROM billed WHERE incl AND allowance > 0)
    AND NOT EXISTS (SELECT 1 FROM calls s WHERE s.customer_id = l.customer_id
                    AND s.uuid = split_part(l.source_key, ':', 2))
    AND l.source_key LIKE 'cdr:%%'
  GROUP BY 1, 2
),
inc AS (
  -- included minutes, first come first rated: only the calls that can use them are sorted
  SELECT b.id, GREATEST(0, LEAST(b.seconds, b.allowance - COALESCE(u.used, 0)
                                 - (SUM(b.seconds) OVER w - b.seconds))) AS covered
  FROM billed b
  LEFT JOIN usage u ON u.customer_id = b.customer_id AND u.month = b.month
  WHERE b.incl AND b.allowance > 0
  WINDOW w AS (PARTITION BY b.customer_id, b.month ORDER BY b.at, b.id)
),
covered AS (
  SELECT b.*, COALESCE(i.covered, 0) AS covered FROM billed b LEFT JOIN inc i ON i.id = b.id
)
SELECT id AS call_id, uuid, customer_id, currency, day, callee_number AS callee, billsec,
       seconds, covered,
       round(fee + (seconds - covered) * price / 60.0, 2) AS amount,
       rate_id, prefix, price, first_inc, next_inc, fee, flow
FROM covered
"""  # noqa: S608


_INSERT_SQL = """
INSERT INTO billing_ledgerentry
  (customer_id, kind, category, amount, currency, period_start, period_end, description,
   details, source_key, created_at)
SELECT p.customer_id, 'charge', 'calls', p.amount, p.currency, p.day, p.day,
       replace(%(description)s, '{number}', left(p.callee, 32)),
       jsonb_build_object(
         'call', p.uuid, 'billsec', p.billsec, 'minutes', (p.seconds + 59) / 60,
         'minute_price', p.price::text, 'flow', p.flow, 'rate', p.rate_id, 'prefix', p.prefix,
         'increment', p.first_inc || '/' || p.next_inc, 'billed_seconds', p.seconds,
         'included_seconds', p.covered, 'connection_fee', p.fee::text),
       'cdr:' || p.uuid, now()
FROM priced p
WHERE p.amount > 0 OR p.covered > 0
ON CONFLICT (customer_id, source_key) DO NOTHING
RETURNING customer_id
"""


def set_based_available() -> bool:
    return connection.vendor == "postgresql"


def calls_rate(*, call_ids: list[int] | None = None) -> tuple[int, set[int]]:
    """Rate every unrated outgoing call (or those of `call_ids`) in one SQL statement.

    Returns (entries written, customer ids charged). On SQLite it falls back to the per-row
    path, which applies the same rules.
    """
    from portal.billing.services import call_charge
    from portal.calls.models import CallRecord

    if not set_based_available():
        calls = CallRecord.objects.filter(
            direction=CallRecord.Direction.OUTBOUND,
            billsec__gt=0,
            customer__isnull=False,
            ended_at__isnull=False,
        )
        if call_ids is not None:
            calls = calls.filter(pk__in=call_ids)
        rated = LedgerEntry.objects.filter(
            customer_id=OuterRef("customer_id"),
            source_key=Concat(Value("cdr:"), OuterRef("uuid"), output_field=CharField()),
        )
        calls = calls.exclude(Exists(rated))
        written, customers = 0, set()
        for pk in calls.order_by("started_at", "id").values_list("pk", flat=True):
            entry = call_charge(call_record_id=pk)
            if entry is not None:
                written += 1
                customers.add(entry.customer_id)
        return written, customers
    selection = "c.id = ANY(%(ids)s)" if call_ids is not None else "TRUE"
    sql = f"WITH priced AS ({_priced_sql(selection, only_unrated=True)}) {_INSERT_SQL}"
    params = {"ids": list(call_ids or []), "description": _description_template()}
    with transaction.atomic(), connection.cursor() as cursor:
        # One rating at a time: two workers rating overlapping batches would both count the
        # same included minutes as free.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('billing.calls_rate'))")
        _tune(cursor)
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return len(rows), {row[0] for row in rows}


def _tune(cursor) -> None:
    """For this transaction only: no JIT (compiling the statement cost 10 s of a 17 s run of
    100,000 calls) and room to sort a batch in memory."""
    cursor.execute("SET LOCAL jit = off")
    cursor.execute("SET LOCAL work_mem = '64MB'")


def _description_template() -> str:
    return _("Исходящий звонок на %(number)s") % {"number": "{number}"}


# --- explicit re-rating of a period ----------------------------------------------------------


def _priced_python(calls) -> list[dict]:
    """The per-row pricing of calls for re-rating on SQLite (same rules, recomputed from the
    start of each month)."""
    rows = []
    usage: dict[tuple[int, dt.date], int] = {}
    for call in calls:
        at = call.started_at or call.ended_at
        terms = rate_lookup(call.customer, call.callee_number, at)
        seconds = billed_seconds(
            call.billsec, first=terms.first_increment, step=terms.next_increment,
            minimum=terms.min_duration,
        )  # fmt: skip
        first, _next = local_month(at, call.customer.time_zone)
        allowance = call.customer.tariff.included_minutes * 60
        covered = 0
        if terms.included and allowance:
            key = (call.customer_id, first)
            if key not in usage:
                usage[key] = _used_outside(call.customer, first, calls)
            covered = max(0, min(seconds, allowance - usage[key]))
            usage[key] += covered
        amount = call_amount(
            seconds=seconds, covered=covered, minute_price=terms.minute_price,
            fee=terms.connection_fee,
        )  # fmt: skip
        rows.append(
            {
                "uuid": call.uuid,
                "customer_id": call.customer_id,
                "currency": call.customer.currency,
                "day": at.astimezone(ZoneInfo(call.customer.time_zone)).date(),
                "callee": call.callee_number,
                "seconds": seconds,
                "covered": covered,
                "amount": amount,
            }
        )
    return rows


def _used_outside(customer, first: dt.date, calls) -> int:
    uuids = {c.uuid for c in calls if c.customer_id == customer.pk}
    total = 0
    entries = LedgerEntry.objects.filter(
        customer=customer,
        category=LedgerEntry.Category.CALLS,
        period_start__gte=first,
        period_start__lt=(first + dt.timedelta(days=32)).replace(day=1),
        source_key__startswith="cdr:",
    ).values_list("source_key", "details")
    for key, details in entries:
        if key.split(":")[1] not in uuids:
            total += int((details or {}).get("included_seconds", 0))
    return total


def calls_rerate_period(
    *,
    start: dt.date,
    end: dt.date,
    reason: str,
    requested_by: str,
    customer: Customer | None = None,
) -> RatingRun:
    """Price again every outgoing call that started in [start, end] (customers' local days)
    with today's rate decks, and write what changed: a charge for a call that now costs more,
    a correction (kind payment, category calls) for one that costs less. Calls never rated
    before are rated. Logged as a RatingRun."""
    from portal.calls.models import CallRecord

    if end < start:
        raise ValueError("end before start")
    run = RatingRun.objects.create(
        period_start=start,
        period_end=end,
        customer=customer,
        requested_by=requested_by[:150],
        reason=reason[:255],
    )
    # Days are the customer's local days; a day of margin on each side, then the exact filter.
    lo = dt.datetime.combine(start - dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    hi = dt.datetime.combine(end + dt.timedelta(days=2), dt.time.min, tzinfo=dt.UTC)
    with transaction.atomic():
        if set_based_available():
            selection = "COALESCE(c.started_at, c.ended_at) >= %(lo)s AND "
            selection += "COALESCE(c.started_at, c.ended_at) < %(hi)s"
            if customer is not None:
                selection += " AND c.customer_id = %(customer)s"
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext('billing.calls_rate'))")
                _tune(cursor)
                cursor.execute(
                    _priced_sql(selection, only_unrated=False),
                    {"lo": lo, "hi": hi, "customer": customer.pk if customer else None},
                )
                names = [col.name for col in cursor.description]
                priced = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        else:
            calls = CallRecord.objects.select_related("customer__tariff").filter(
                direction=CallRecord.Direction.OUTBOUND,
                billsec__gt=0,
                customer__isnull=False,
                ended_at__isnull=False,
                started_at__gte=lo,
                started_at__lt=hi,
            )
            if customer is not None:
                calls = calls.filter(customer=customer)
            calls = [c for c in calls.order_by("started_at", "id") if not _emergency(c)]
            priced = _priced_python(calls)
        priced = [p for p in priced if start <= p["day"] <= end]
        _write_differences(run, priced)
    log.info(
        "re-rating %s..%s (customer %s) by %s: %d calls, +%s charged, %s credited; reason: %s",
        start, end, customer.pk if customer else "all", requested_by, run.calls,
        run.charged_more, run.credited, reason,
    )  # fmt: skip
    return run


def _emergency(call) -> bool:
    return (call.variables or {}).get("pbx_flow") == "emergency"


def _write_differences(run: RatingRun, priced: list[dict]) -> None:
    keys = {(p["customer_id"], f"cdr:{p['uuid']}") for p in priced}
    customers = {c for c, _k in keys}
    charged: dict[tuple[int, str], list[Decimal | int]] = {}
    entries = LedgerEntry.objects.filter(
        customer_id__in=customers,
        category=LedgerEntry.Category.CALLS,
        source_key__startswith="cdr:",
    ).values_list("customer_id", "source_key", "kind", "amount", "details")
    for customer_id, source_key, kind, amount, details in entries.iterator():
        base = (customer_id, ":".join(source_key.split(":")[:2]))
        if base not in keys:
            continue
        total = charged.setdefault(base, [Decimal("0"), 0])
        total[0] += amount if kind == LedgerEntry.Kind.CHARGE else -amount
        total[1] += int((details or {}).get("included_seconds", 0))
    new_entries = []
    for p in priced:
        base = (p["customer_id"], f"cdr:{p['uuid']}")
        old_amount, old_covered = charged.get(base, [Decimal("0"), 0])
        amount = Decimal(p["amount"]).quantize(KOPECK)
        diff = amount - old_amount
        covered_diff = int(p["covered"]) - old_covered
        if diff == 0 and covered_diff == 0:
            continue
        run.calls += 1
        first = base not in charged
        if diff > 0:
            run.charged_more += diff
        else:
            run.credited += -diff
        new_entries.append(
            LedgerEntry(
                customer_id=p["customer_id"],
                kind=LedgerEntry.Kind.CHARGE if diff >= 0 else LedgerEntry.Kind.PAYMENT,
                category=LedgerEntry.Category.CALLS,
                amount=abs(diff),
                currency=p["currency"],
                period_start=p["day"],
                period_end=p["day"],
                description=(
                    _("Исходящий звонок на %(number)s")
                    if first
                    else _("Перетарификация звонка на %(number)s")
                )
                % {"number": p["callee"][:32]},
                details={
                    "call": p["uuid"],
                    "rating_run": run.pk,
                    "billed_seconds": int(p["seconds"]),
                    "included_seconds": covered_diff,
                    "rerated_from": str(old_amount),
                    "amount": str(amount),
                },
                source_key=(base[1] if first else f"{base[1]}:rerate{run.pk}")[:120],
            )
        )
    LedgerEntry.objects.bulk_create(new_entries)
    run.finished_at = timezone.now()
    run.save()
