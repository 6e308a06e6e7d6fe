"""Reads of the "Статистика" page and its API: one aggregate query per chart, never a loop
over CDRs in Python.

A period is a pair of the customer's local dates, both inclusive (`Period`); every query bounds
`started_at`/`created_at` by the period's first and last instant in the customer's time zone and
groups by local day or hour in that zone (the database does the grouping).

What counts (the same rules as the exports): every CallRecord row is a call; a call is
*answered* when it has billed seconds, *missed* otherwise. The wait of an answered call is its
ring time (`duration_seconds - billsec`: FreeSWITCH's duration counts from the start, billsec
from the answer), its talk time is `billsec`. A call's department and employee are our own
channel tags (`pbx_department`, `pbx_employee`), kept in `variables`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import (
    Avg,
    CharField,
    Count,
    F,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models import Case as CaseWhen
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce, ExtractHour, TruncDate, TruncMonth
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.billing.models import LedgerEntry
from portal.callbacks.models import CallbackRequest
from portal.calls.models import CallRecord
from portal.directory.models import Department
from portal.fictive.models import FictiveCall
from portal.redial.models import RedialRequest
from portal.tenants.models import Customer
from portal.video.models import VideoSession

#: the longest period one page or API answer covers (a year and a day)
MAX_DAYS = 367
#: how many numbers the "top numbers" chart shows
TOP_NUMBERS = 10
DIRECTIONS = list(CallRecord.Direction.values)
ANSWERED = Q(billsec__gt=0)
Category = LedgerEntry.Category
LEDGER_CATEGORIES = [
    Category.TARIFF,
    Category.EXTRA_MULTICHANNEL_NUMBERS,
    Category.EXTRA_NUMBERS,
    Category.EXTRA_SERVICES,
    Category.CALLS,
]


@dataclass(frozen=True)
class Period:
    """Local dates of the customer, both inclusive."""

    date_from: dt.date
    date_to: dt.date
    tz: ZoneInfo

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.date_from, dt.time.min, tzinfo=self.tz)

    @property
    def end(self) -> dt.datetime:
        """The first instant after the period."""
        return dt.datetime.combine(self.date_to + dt.timedelta(days=1), dt.time.min, self.tz)

    @property
    def days(self) -> list[dt.date]:
        count = (self.date_to - self.date_from).days + 1
        return [self.date_from + dt.timedelta(days=n) for n in range(count)]


def customer_today(customer: Customer, *, now: dt.datetime | None = None) -> dt.date:
    return (now or timezone.now()).astimezone(ZoneInfo(customer.time_zone)).date()


def period_for(customer: Customer, date_from: dt.date, date_to: dt.date) -> Period:
    return Period(date_from, date_to, ZoneInfo(customer.time_zone))


def _calls(customer: Customer | int, period: Period):
    return CallRecord.objects.filter(
        customer=customer, started_at__gte=period.start, started_at__lt=period.end
    )


def _call_counts() -> dict:
    counts = {
        "total": Count("id"),
        "answered": Count("id", filter=ANSWERED),
        "missed": Count("id", filter=~ANSWERED),
    }
    for direction in DIRECTIONS:
        counts[direction] = Count("id", filter=Q(direction=direction))
    return counts


def _zero_counts() -> dict[str, int]:
    return {"total": 0, "answered": 0, "missed": 0, **{d: 0 for d in DIRECTIONS}}


def calls_per_day(customer: Customer | int, period: Period) -> list[dict]:
    """Every day of the period (days without calls too): total, answered, missed and per
    direction. One query grouped by the local date."""
    rows = (
        _calls(customer, period)
        .annotate(day=TruncDate("started_at", tzinfo=period.tz))
        .values("day")
        .annotate(**_call_counts())
        .order_by("day")
    )
    by_day = {row.pop("day"): row for row in rows}
    return [{"day": day, **by_day.get(day, _zero_counts())} for day in period.days]


def calls_per_hour(customer: Customer | int, period: Period) -> list[dict]:
    """Hours 0..23 of the customer's day, the period's calls counted by the hour they began."""
    rows = (
        _calls(customer, period)
        .annotate(hour=ExtractHour("started_at", tzinfo=period.tz))
        .values("hour")
        .annotate(**_call_counts())
        .order_by("hour")
    )
    by_hour = {row.pop("hour"): row for row in rows}
    return [{"hour": hour, **by_hour.get(hour, _zero_counts())} for hour in range(24)]


def calls_by_direction(customer: Customer | int, period: Period) -> list[dict]:
    """Per direction (every direction present): calls, answered, billed minutes (rounded)."""
    rows = (
        _calls(customer, period)
        .values("direction")
        .annotate(
            total=Count("id"),
            answered=Count("id", filter=ANSWERED),
            seconds=Coalesce(Sum("billsec"), 0),
        )
        .order_by()
    )
    found = {row["direction"]: row for row in rows}
    return [
        {
            "direction": value,
            "label": label,
            "total": found.get(value, {}).get("total", 0),
            "answered": found.get(value, {}).get("answered", 0),
            "minutes": round(found.get(value, {}).get("seconds", 0) / 60),
        }
        for value, label in CallRecord.Direction.choices
    ]


def department_times(customer: Customer | int, period: Period) -> list[dict]:
    """Per department of the calls (`pbx_department`): calls, answered, average wait before the
    answer and average talk of the answered calls, in seconds (one decimal). Calls without a
    department are left out; departments without calls are not listed. Busiest first."""
    tag = KeyTextTransform("pbx_department", "variables")
    answered_wait = F("duration_seconds") - F("billsec")
    rows = list(
        _calls(customer, period)
        .annotate(department=tag)
        .exclude(department__isnull=True)
        .exclude(department="")
        .values("department")
        .annotate(
            total=Count("id"),
            answered=Count("id", filter=ANSWERED),
            wait=Avg(answered_wait, filter=ANSWERED & Q(duration_seconds__isnull=False)),
            talk=Avg("billsec", filter=ANSWERED),
        )
        .order_by("-total", "department")
    )
    # The names: a second, small query over the customer's own departments (a name looked up
    # per CDR in the grouped query cost a subquery per row). A tag that is not one of this
    # customer's departments is left out.
    ids = [int(r["department"]) for r in rows if r["department"].isdigit()]
    names = dict(Department.objects.filter(customer=customer, pk__in=ids).values_list("pk", "name"))
    return [
        {
            "department": int(row["department"]),
            "name": names[int(row["department"])],
            "total": row["total"],
            "answered": row["answered"],
            "avg_wait": _seconds(row["wait"]),
            "avg_talk": _seconds(row["talk"]),
        }
        for row in rows
        if row["department"].isdigit() and int(row["department"]) in names
    ]


def _seconds(value) -> float:
    return round(float(value or 0), 1)


def top_numbers(customer: Customer | int, period: Period, *, limit: int = TOP_NUMBERS) -> list:
    """The outside numbers the customer talked with most: the caller of an inbound call, the
    callee of an outbound one (internal calls left out). Calls, answered, billed minutes."""
    other = CaseWhen(
        When(direction=CallRecord.Direction.INBOUND, then=F("caller_number")),
        When(direction=CallRecord.Direction.OUTBOUND, then=F("callee_number")),
        default=Value(""),
        output_field=CharField(),
    )
    rows = (
        _calls(customer, period)
        .annotate(number=other)
        .exclude(number="")
        .values("number")
        .annotate(
            total=Count("id"),
            answered=Count("id", filter=ANSWERED),
            seconds=Coalesce(Sum("billsec"), 0),
        )
        .order_by("-total", "-seconds", "number")[:limit]
    )
    return [
        {
            "number": row["number"],
            "total": row["total"],
            "answered": row["answered"],
            "minutes": round(row["seconds"] / 60),
        }
        for row in rows
    ]


def callback_outcomes(customer: Customer | int, period: Period) -> list[dict]:
    """Callback requests created in the period per status (every status present)."""
    rows = (
        CallbackRequest.objects.filter(
            customer=customer, created_at__gte=period.start, created_at__lt=period.end
        )
        .values("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    found = {row["status"]: row["n"] for row in rows}
    return [
        {"status": s.value, "label": str(s.label), "count": found.get(s.value, 0)}
        for s in CallbackRequest.Status
    ]


REDIAL_REFUSED = "refused"
REDIAL_OPEN = "open"


def redial_outcomes(customer: Customer | int, period: Period) -> list[dict]:
    """Auto-redial requests created in the period: every outcome, then those never offered
    (`refused`: a condition failed) and those still under way (`open`)."""
    key = CaseWhen(
        When(status=RedialRequest.Status.REFUSED, then=Value(REDIAL_REFUSED)),
        When(~Q(outcome=""), then=F("outcome")),
        default=Value(REDIAL_OPEN),
        output_field=CharField(),
    )
    rows = (
        RedialRequest.objects.filter(
            customer=customer, created_at__gte=period.start, created_at__lt=period.end
        )
        .annotate(key=key)
        .values("key")
        .annotate(n=Count("id"))
        .order_by()
    )
    found = {row["key"]: row["n"] for row in rows}
    labels = [(o.value, str(o.label)) for o in RedialRequest.Outcome]
    labels += [(REDIAL_REFUSED, _("не предложен")), (REDIAL_OPEN, _("ещё в работе"))]
    return [
        {"outcome": value, "label": label, "count": found.get(value, 0)} for value, label in labels
    ]


def fictive_calls(customer: Customer | int, period: Period) -> list[dict]:
    """Fictive-number calls begun in the period per direction: calls and connected ones."""
    rows = (
        FictiveCall.objects.filter(
            customer=customer, started_at__gte=period.start, started_at__lt=period.end
        )
        .values("direction")
        .annotate(total=Count("id"), bridged=Count("id", filter=Q(bridged=True)))
        .order_by()
    )
    found = {row["direction"]: row for row in rows}
    return [
        {
            "direction": d.value,
            "label": str(d.label),
            "total": found.get(d.value, {}).get("total", 0),
            "bridged": found.get(d.value, {}).get("bridged", 0),
        }
        for d in FictiveCall.Direction
    ]


def video_summary(customer: Customer | int, period: Period) -> dict:
    """Video-assistant sessions created in the period: created, held (a call took place),
    annotations."""
    return VideoSession.objects.filter(
        customer=customer, created_at__gte=period.start, created_at__lt=period.end
    ).aggregate(
        total=Count("id"),
        held=Count("id", filter=Q(started_at__isnull=False)),
        annotations=Coalesce(Sum("annotations"), 0),
    )


def months_back(first: dt.date, count: int) -> list[dt.date]:
    """`first` (a month's first day) and the count-1 months before it, newest first."""
    months = [first]
    while len(months) < count:
        months.append((months[-1] - dt.timedelta(days=1)).replace(day=1))
    return months


def ledger_by_month(customer: Customer, *, months: int = 12) -> list[dict]:
    """The last `months` months of the customer (this one first): charges per category, their
    total and the payments. One grouped query."""
    firsts = months_back(customer_today(customer).replace(day=1), months)
    totals = (
        LedgerEntry.objects.filter(customer=customer, period_start__gte=firsts[-1])
        .annotate(month=TruncMonth("period_start"))
        .values("month", "kind", "category")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    table: dict[dt.date, dict] = {m: {"charges": {}, "payments": Decimal(0)} for m in firsts}
    for row in totals:  # at most months x categories rows
        month = row["month"]
        if isinstance(month, dt.datetime):
            month = month.date()
        cell = table.get(month)
        if cell is None:
            continue
        if row["kind"] == LedgerEntry.Kind.PAYMENT:
            cell["payments"] += row["total"]
        else:
            charges = cell["charges"]
            charges[row["category"]] = charges.get(row["category"], 0) + row["total"]
    return [
        {
            "month": m,
            "charges": [table[m]["charges"].get(c, 0) for c in LEDGER_CATEGORIES],
            "total": sum(table[m]["charges"].values()),
            "payments": table[m]["payments"],
        }
        for m in firsts
    ]


def ledger_categories() -> list[str]:
    return [str(Category(c).label) for c in LEDGER_CATEGORIES]


def statistics(customer: Customer, period: Period) -> dict:
    """Every chart's numbers for the period (what the page draws and the API returns)."""
    return {
        "date_from": period.date_from,
        "date_to": period.date_to,
        "time_zone": str(period.tz),
        "per_day": calls_per_day(customer, period),
        "per_hour": calls_per_hour(customer, period),
        "by_direction": calls_by_direction(customer, period),
        "departments": department_times(customer, period),
        "callbacks": callback_outcomes(customer, period),
        "redial": redial_outcomes(customer, period),
        "fictive": fictive_calls(customer, period),
        "top_numbers": top_numbers(customer, period),
    }
