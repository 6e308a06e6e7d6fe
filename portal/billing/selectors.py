"""Billing reads: balance, month totals and the figures of the "Тариф и опции" page.

The page's query count does not depend on the number of options in the catalog.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from django.db.models import Case, DecimalField, F, Q, Sum, Value, When
from django.db.models.functions import Coalesce

from portal.billing.models import LedgerEntry, Option, OptionPeriod
from portal.calls.models import Recording
from portal.directory.models import PhoneNumber
from portal.tenants.models import Customer

ZERO = Decimal("0.00")
GB = 1024**3
Category = LedgerEntry.Category
MONTH_CATEGORIES = [
    Category.TARIFF,
    Category.EXTRA_MULTICHANNEL_NUMBERS,
    Category.EXTRA_NUMBERS,
    Category.EXTRA_SERVICES,
]


def customer_balance(customer: Customer | int) -> Decimal:
    """Payments minus charges, over the whole ledger."""
    signed = Case(
        When(kind=LedgerEntry.Kind.PAYMENT, then="amount"),
        default=-F("amount"),
        output_field=DecimalField(max_digits=14, decimal_places=2),
    )
    total = LedgerEntry.objects.filter(customer=customer).aggregate(
        balance=Coalesce(Sum(signed), Value(ZERO))
    )["balance"]
    return Decimal(total).quantize(Decimal("0.01"))


# Months a customer may ask about (?month=): beyond these there is no billing, and the year
# 9999's December has no next month to bound it (a 500 before).
MONTH_MIN_YEAR = 2000
MONTH_MAX_YEAR = 2100


def month_bounds(month: dt.date) -> tuple[dt.date, dt.date]:
    first = month.replace(day=1)
    next_first = (first + dt.timedelta(days=32)).replace(day=1)
    return first, next_first - dt.timedelta(days=1)


def month_charges(customer: Customer | int, month: dt.date) -> dict[str, Decimal]:
    """Charges per category for the month containing `month` (all categories present)."""
    first, last = month_bounds(month)
    rows = (
        LedgerEntry.objects.filter(
            customer=customer,
            kind=LedgerEntry.Kind.CHARGE,
            period_start__gte=first,
            period_start__lte=last,
        )
        .values("category")
        .annotate(total=Sum("amount"))
    )
    totals = {category.value: ZERO for category in Category if category != Category.PAYMENT}
    for row in rows:
        totals[row["category"]] = Decimal(row["total"]).quantize(Decimal("0.01"))
    return totals


@dataclass(frozen=True)
class OptionRow:
    code: str
    name: str
    description: str
    monthly_price: Decimal
    enabled: bool


@dataclass(frozen=True)
class TariffPage:
    customer: Customer
    month: dt.date
    accrued_total: Decimal
    accrued: dict[str, Decimal]
    balance: Decimal
    options: list[OptionRow]
    enabled_count: int
    options_fee: Decimal
    storage_quota_bytes: int
    storage_used_bytes: int
    storage_fee: Decimal
    multichannel_numbers: int
    callback_needs_department_flag: bool

    @property
    def storage_free_bytes(self) -> int:
        return max(0, self.storage_quota_bytes - self.storage_used_bytes)

    @property
    def storage_free_gb(self) -> Decimal:
        return (Decimal(self.storage_free_bytes) / GB).quantize(Decimal("0.01"))

    @property
    def storage_quota_gb(self) -> int:
        return self.storage_quota_bytes // GB


# --- which options a customer has on: the one place every feature asks ----------------------


def options_enabled(customer_id: int) -> frozenset[str]:
    """Codes of the options switched on for the customer right now (an open OptionPeriod)."""
    return frozenset(
        OptionPeriod.objects.filter(customer_id=customer_id, ended_at__isnull=True).values_list(
            "option__code", flat=True
        )
    )


def option_enabled(customer_id: int, code: str) -> bool:
    """Is option `code` switched on for the customer right now?"""
    return OptionPeriod.objects.filter(
        customer_id=customer_id, option__code=code, ended_at__isnull=True
    ).exists()


def customers_with_option(customer_ids, code: str) -> set[int]:
    """Which of `customer_ids` have option `code` on right now (one query)."""
    return set(
        OptionPeriod.objects.filter(
            customer_id__in=customer_ids, option__code=code, ended_at__isnull=True
        ).values_list("customer_id", flat=True)
    )


@cache
def _storage_users() -> tuple:
    """`bytes_used(customer_id)` of every installed app with a `storage` module: files a
    feature keeps for a customer outside the recordings (hold music), found by registry."""
    from django.apps import apps

    found = []
    for app in apps.get_app_configs():
        name = f"{app.name}.storage"
        if app.name.startswith("portal.") and importlib.util.find_spec(name) is not None:
            bytes_used = getattr(importlib.import_module(name), "bytes_used", None)
            if callable(bytes_used):
                found.append(bytes_used)
    return tuple(found)


def storage_used_bytes(customer: Customer | int) -> int:
    """What the storage quota is measured on: the customer's counted recordings (calls,
    voicemail, conferences: `portal.calls.Recording` rows) and the files features keep."""
    customer_id = customer if isinstance(customer, int) else customer.pk
    recordings = Recording.objects.filter(customer_id=customer_id).aggregate(
        used=Coalesce(Sum("size_bytes"), Value(0))
    )["used"]
    return int(recordings) + sum(bytes_used(customer_id) for bytes_used in _storage_users())


def tariff_page(*, customer: Customer, month: dt.date, language: str = "ru") -> TariffPage:
    """Everything the "Тариф и опции" page shows, in a fixed number of queries."""
    tariff = customer.tariff
    accrued = month_charges(customer, month)
    enabled_ids = set(
        OptionPeriod.objects.filter(customer=customer, ended_at__isnull=True).values_list(
            "option_id", flat=True
        )
    )
    options = [
        OptionRow(
            code=o.code,
            name=o.name(language),
            description=o.description(language),
            monthly_price=o.monthly_price,
            enabled=o.id in enabled_ids,
        )
        for o in Option.objects.filter(Q(is_available=True) | Q(id__in=enabled_ids))
    ]
    enabled = [o for o in options if o.enabled]
    used = storage_used_bytes(customer)
    quota_gb = tariff.recording_storage_gb + customer.extra_storage_packages * (
        tariff.storage_package_gb
    )
    callback_warning = False
    if Option.CALLBACK in {o.code for o in enabled}:
        callback_warning = not customer.departments.filter(notify_callback=True).exists()
    return TariffPage(
        customer=customer,
        month=month,
        accrued_total=sum((accrued[c] for c in MONTH_CATEGORIES), ZERO),
        accrued={c.value: accrued[c] for c in MONTH_CATEGORIES},
        balance=customer_balance(customer),
        options=options,
        enabled_count=len(enabled),
        options_fee=sum((o.monthly_price for o in enabled), ZERO),
        storage_quota_bytes=quota_gb * GB,
        storage_used_bytes=int(used),
        storage_fee=tariff.storage_package_price * customer.extra_storage_packages,
        multichannel_numbers=PhoneNumber.objects.filter(
            customer=customer, kind=PhoneNumber.Kind.MULTICHANNEL
        ).count(),
        callback_needs_department_flag=callback_warning,
    )
