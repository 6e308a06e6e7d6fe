"""Billing writes: option toggles, payments and the daily accrual.

Rounding rule (also in README.md): every billable item (the tariff, each extra number, each
extra employee, each option, each storage package) is charged per local day at
`monthly price / days in that month`, **truncated** to whole kopecks (ROUND_DOWN), so the
customer is never charged a fraction of a kopeck more than the pro-rata price. Items of one
category are summed into one ledger entry per customer and day. A day counts for an option if
the option was on at any moment of that day (customer's time zone); switching it off and on
again the same day charges that day once.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.billing.callpolicy import paid_calls_reassess
from portal.billing.models import AccrualDay, LedgerEntry, Option, OptionPeriod
from portal.directory.models import Employee, PhoneNumber
from portal.events import announce_config_change
from portal.tenants.models import Customer

log = logging.getLogger(__name__)

KOPECK = Decimal("0.01")
Category = LedgerEntry.Category


def daily_price(monthly: Decimal, day: dt.date) -> Decimal:
    """The charge for one day of an item costing `monthly` per month (truncated to kopecks)."""
    days_in_month = calendar.monthrange(day.year, day.month)[1]
    return (Decimal(monthly) / days_in_month).quantize(KOPECK, rounding=ROUND_DOWN)


def _day_bounds(day: dt.date, tz_name: str) -> tuple[dt.datetime, dt.datetime]:
    tz = ZoneInfo(tz_name)
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    return start, start + dt.timedelta(days=1)


# --- options ---------------------------------------------------------------------------------


def option_set(
    *, customer: Customer, code: str, enabled: bool, now: dt.datetime | None = None
) -> bool:
    """Switch option `code` on or off for `customer`. Returns True if the state changed.

    Raises ValidationError for an unknown or unavailable option code.
    """
    now = now or timezone.now()
    option = Option.objects.filter(code=code).first()
    # A withdrawn option can still be switched off (or the customer would pay for it forever),
    # but nobody can switch it on any more.
    if option is None or (enabled and not option.is_available):
        raise ValidationError(
            {"code": _("Неизвестная опция «%(code)s».") % {"code": code[:60]}}, code="unknown"
        )
    with transaction.atomic():
        # Serialise toggles of one customer: two clicks at once must not open two periods.
        Customer.objects.select_for_update().get(pk=customer.pk)
        open_period = (
            OptionPeriod.objects.select_for_update()
            .filter(customer=customer, option=option, ended_at__isnull=True)
            .first()
        )
        if enabled and open_period is None:
            OptionPeriod.objects.create(customer=customer, option=option, started_at=now)
        elif not enabled and open_period is not None:
            open_period.ended_at = now
            open_period.save(update_fields=["ended_at"])
        else:
            return False
        announce_config_change(customer_id=customer.pk, what="option")
    log.info("customer %s option %s -> %s", customer.pk, code, "on" if enabled else "off")
    return True


# --- payments --------------------------------------------------------------------------------


def payment_record(
    *, customer: Customer, amount: Decimal, reference: str, on: dt.date | None = None
) -> LedgerEntry:
    """Record a payment once per `reference` (a bank or gateway id)."""
    amount = Decimal(amount)
    if amount <= 0:
        raise ValidationError({"amount": _("Сумма платежа должна быть больше нуля.")})
    on = on or timezone.localdate()
    entry, _created = LedgerEntry.objects.get_or_create(
        customer=customer,
        source_key=f"payment:{reference}"[:120],
        defaults={
            "kind": LedgerEntry.Kind.PAYMENT,
            "category": Category.PAYMENT,
            "amount": amount.quantize(KOPECK),
            "currency": customer.currency,
            "period_start": on,
            "period_end": on,
            "description": _("Платёж %(ref)s") % {"ref": reference[:80]},
        },
    )
    if _created:
        paid_calls_reassess(customer_id=customer.pk)  # a payment may free paid calls
    return entry


# --- daily accrual ---------------------------------------------------------------------------


@dataclass
class DayCharges:
    """What one customer owes for one day, per category, with the items behind each sum."""

    amounts: dict[str, Decimal] = field(default_factory=dict)
    items: dict[str, list[dict]] = field(default_factory=dict)

    def add(self, category: str, item: str, unit: Decimal, quantity: int = 1) -> None:
        if quantity <= 0 or unit <= 0:
            return
        total = unit * quantity
        self.amounts[category] = self.amounts.get(category, Decimal("0")) + total
        self.items.setdefault(category, []).append(
            {"item": item, "unit": str(unit), "quantity": quantity, "amount": str(total)}
        )


def charges_for_day(customer: Customer, day: dt.date) -> DayCharges:
    """Pure-ish computation of a day's charges from the catalog and the customer's state."""
    tariff = customer.tariff
    start, end = _day_bounds(day, customer.time_zone)
    charges = DayCharges()

    charges.add(Category.TARIFF, f"tariff:{tariff.name}", daily_price(tariff.monthly_fee, day))

    numbers = PhoneNumber.objects.filter(customer=customer, created_at__lt=end)
    multichannel = numbers.filter(kind=PhoneNumber.Kind.MULTICHANNEL).count()
    other = numbers.exclude(kind=PhoneNumber.Kind.MULTICHANNEL).count()
    charges.add(
        Category.EXTRA_MULTICHANNEL_NUMBERS,
        "extra_multichannel_number",
        daily_price(tariff.extra_multichannel_number_price, day),
        multichannel - tariff.multichannel_numbers_included,
    )
    charges.add(
        Category.EXTRA_NUMBERS,
        "extra_number",
        daily_price(tariff.extra_number_price, day),
        other - tariff.regular_numbers_included,
    )

    employees = Employee.objects.filter(customer=customer, is_active=True, created_at__lt=end)
    charges.add(
        Category.EXTRA_SERVICES,
        "extra_employee",
        daily_price(tariff.extra_employee_price, day),
        employees.count() - tariff.employees_included,
    )
    charges.add(
        Category.EXTRA_SERVICES,
        "storage_package",
        daily_price(tariff.storage_package_price, day),
        customer.extra_storage_packages,
    )
    options_on = (
        Option.objects.filter(
            periods__customer=customer,
            periods__started_at__lt=end,
        )
        .filter(Q(periods__ended_at__isnull=True) | Q(periods__ended_at__gte=start))
        .distinct()
        .order_by("sort_order", "id")
    )
    for option in options_on:
        charges.add(
            Category.EXTRA_SERVICES, f"option:{option.code}", daily_price(option.monthly_price, day)
        )
    return charges


def accrue_customer_day(customer: Customer, day: dt.date) -> bool:
    """Write one day's charges for one customer, once. Returns False if already accrued/skipped."""
    if day < customer.activated_on or customer.status != Customer.Status.ACTIVE:
        return False
    try:
        with transaction.atomic():
            # The marker row is the idempotence key: a second run (or a second worker) fails
            # on its unique constraint and writes nothing.
            AccrualDay.objects.create(customer=customer, day=day)
            charges = charges_for_day(customer, day)
            LedgerEntry.objects.bulk_create(
                LedgerEntry(
                    customer=customer,
                    kind=LedgerEntry.Kind.CHARGE,
                    category=category,
                    amount=amount,
                    currency=customer.currency,
                    period_start=day,
                    period_end=day,
                    description=str(Category(category).label),
                    details={"items": charges.items[category]},
                    source_key=f"accrual:{day.isoformat()}:{category}",
                )
                for category, amount in charges.amounts.items()
            )
    except IntegrityError:
        return False
    paid_calls_reassess(customer_id=customer.pk)  # the day's charges may leave too little
    return True


def accrue_day(day: dt.date | str | None = None) -> int:
    """The daily job (django-q2 schedule): accrue `day` (default: each customer's today).

    Returns how many customers were charged. Safe to run any number of times.
    """
    if isinstance(day, str):
        day = dt.date.fromisoformat(day)
    charged = 0
    customers = Customer.objects.filter(status=Customer.Status.ACTIVE).select_related("tariff")
    for customer in customers.iterator(chunk_size=500):
        local_day = day or timezone.now().astimezone(ZoneInfo(customer.time_zone)).date()
        charged += accrue_customer_day(customer, local_day)
    log.info("accrual for %s: %d customers charged", day or "today", charged)
    return charged


# --- calls -----------------------------------------------------------------------------------


def call_charge(*, call_record_id: int) -> LedgerEntry | None:
    """Rate one finished call and write its ledger entry once (source `cdr:<uuid>`): the per-row
    ORM path of the rules in `portal.billing.rating` (rate decks by longest prefix, increments,
    minimum, connection fee, included minutes; without a deck: the tariff's
    `outgoing_minute_price` per started minute). Internal legs (employee phones) and inbound
    calls are free. Callback and auto-redial legs to the caller are tagged outbound by the
    call-control service, so they are billed here like any outgoing call of the customer.
    """
    from portal.billing.rating import price_call
    from portal.calls.models import CallRecord

    call = CallRecord.objects.select_related("customer__tariff").filter(pk=call_record_id).first()
    if call is None or call.customer is None or not call.ended_at:
        return None
    if call.direction != CallRecord.Direction.OUTBOUND or not call.billsec:
        return None
    if _emergency_call(call):
        return None  # emergency calls are never billed
    customer = call.customer
    priced = price_call(call)
    amount = priced.amount
    if amount <= 0 and not priced.covered:
        return None
    day = (call.started_at or call.ended_at).astimezone(ZoneInfo(customer.time_zone)).date()
    details = {
        "call": call.uuid,
        "billsec": call.billsec,
        **priced.details(),
        "flow": call.variables.get("pbx_flow", ""),
    }
    source_key = f"cdr:{call.uuid}"[:120]
    description = _("Исходящий звонок на %(number)s") % {"number": call.callee_number[:32]}
    with transaction.atomic():
        first = (
            LedgerEntry.objects.select_for_update()
            .filter(customer=customer, source_key=source_key)
            .first()
        )
        if first is not None:
            # A later CDR of the same call with a larger billsec (the merge keeps the largest):
            # the ledger stays append-only, the difference is one more entry per billsec seen.
            later = LedgerEntry.objects.filter(
                customer=customer, source_key__startswith=f"{source_key}:"
            ).values_list("kind", "amount", "details")
            charged, covered = first.amount, int(first.details.get("included_seconds", 0))
            seen = int(first.details.get("billsec") or 0)
            for kind, later_amount, later_details in later:
                charged += later_amount if kind == LedgerEntry.Kind.CHARGE else -later_amount
                covered += int((later_details or {}).get("included_seconds", 0))
                seen = max(seen, int((later_details or {}).get("billsec") or 0))
            # Only a longer call costs more here; a changed rate deck waits for an explicit
            # re-rating (`manage.py rerate`).
            if call.billsec <= seen or amount <= charged:
                return first
            details["included_seconds"] = priced.covered - covered
            entry, _created = LedgerEntry.objects.get_or_create(
                customer=customer,
                source_key=f"{source_key}:{call.billsec}s"[:120],
                defaults={
                    "kind": LedgerEntry.Kind.CHARGE,
                    "category": Category.CALLS,
                    "amount": amount - charged,
                    "currency": customer.currency,
                    "period_start": day,
                    "period_end": day,
                    "description": description,
                    "details": {**details, "rerated_from": str(charged)},
                },
            )
            return entry
    entry, _created = LedgerEntry.objects.get_or_create(
        customer=customer,
        source_key=source_key,
        defaults={
            "kind": LedgerEntry.Kind.CHARGE,
            "category": Category.CALLS,
            "amount": amount,
            "currency": customer.currency,
            "period_start": day,
            "period_end": day,
            "description": description,
            "details": details,
        },
    )
    return entry


def calls_rerate(*, minutes: int = 30) -> int:
    """Rate again the outgoing calls whose records changed in the last `minutes` (a django-q2
    schedule). CDR merges that raise billsec are written by one bulk UPDATE without a
    `cdr_ingested` signal, so this is how their charge catches up. Returns how many charges
    went up."""
    from portal.calls.models import CallRecord

    since = timezone.now() - dt.timedelta(minutes=minutes)
    changed = 0
    calls = CallRecord.objects.filter(
        updated_at__gte=since,
        direction=CallRecord.Direction.OUTBOUND,
        customer__isnull=False,
        ended_at__isnull=False,
        billsec__gt=0,
    ).values_list("pk", "uuid", "customer_id")
    for pk, uuid, customer_id in calls.iterator():
        entry = call_charge(call_record_id=pk)
        if entry is not None and entry.source_key != f"cdr:{uuid}"[:120]:  # a top-up entry
            changed += 1
            paid_calls_reassess(customer_id=customer_id)
    return changed


def _emergency_call(call) -> bool:
    """Tagged by the dialplan's emergency route (both legs). Not judged by the callee number:
    101-104 are emergency numbers in RU and also the customers' usual extensions."""
    variables = call.variables or {}
    return variables.get("pbx_flow") == "emergency"


def on_cdr_batch_ingested(sender, *, records: list[dict], **kwargs) -> None:
    """Rate the calls of a written CDR batch: one set-based statement rates the calls never
    rated before (`portal.billing.rating.calls_rate`); a call that already has its entry (a
    later CDR of it, maybe with a larger billsec) goes through `call_charge`, which adds the
    difference."""
    from portal.billing.rating import calls_rate
    from portal.calls.models import CallRecord

    complete = [r["call_record_id"] for r in records if r["complete"]]
    if not complete:
        return
    billable = list(
        CallRecord.objects.filter(
            pk__in=complete,
            direction=CallRecord.Direction.OUTBOUND,
            billsec__gt=0,
            customer__isnull=False,
            ended_at__isnull=False,
        ).values_list("pk", "uuid", "customer_id")
    )
    if not billable:
        return
    rated_before = set(
        LedgerEntry.objects.filter(
            source_key__in=[f"cdr:{uuid}"[:120] for _pk, uuid, _c in billable]
        ).values_list("customer_id", "source_key")
    )
    again = [pk for pk, uuid, c in billable if (c, f"cdr:{uuid}"[:120]) in rated_before]
    fresh = [pk for pk, uuid, c in billable if (c, f"cdr:{uuid}"[:120]) not in rated_before]
    customers: set[int] = set()
    if fresh:
        _written, customers = calls_rate(call_ids=fresh)
    for pk in sorted(again):
        entry = call_charge(call_record_id=pk)
        if entry is not None:
            customers.add(entry.customer_id)
    for customer_id in sorted(customers):
        # The spend of the day or the balance may now refuse paid calls.
        paid_calls_reassess(customer_id=customer_id)
