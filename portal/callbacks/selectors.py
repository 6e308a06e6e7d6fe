"""Reads of the callback feature: the option switch, the portal's list and the statistics."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Prefetch, QuerySet

from portal.callbacks.models import CallbackAttempt, CallbackRequest
from portal.tenants.models import Customer


def callback_requests(
    customer: Customer | int,
    *,
    status: str | None = None,
    department_id: int | None = None,
    date_from: dt.datetime | dt.date | None = None,
    date_to: dt.datetime | dt.date | None = None,
) -> QuerySet[CallbackRequest]:
    """The customer's requests, newest first, with department, number, employee and attempts.

    `date_from`/`date_to` bound `created_at`; a date bound is inclusive of that whole day
    (`created_at__date`, in the current time zone).
    """
    qs = CallbackRequest.objects.filter(customer=customer)
    if status:
        qs = qs.filter(status=status)
    if department_id:
        qs = qs.filter(department_id=department_id)
    if date_from is not None:
        if isinstance(date_from, dt.datetime):
            qs = qs.filter(created_at__gte=date_from)
        else:
            qs = qs.filter(created_at__date__gte=date_from)
    if date_to is not None:
        if isinstance(date_to, dt.datetime):
            qs = qs.filter(created_at__lt=date_to)
        else:
            qs = qs.filter(created_at__date__lte=date_to)
    attempts = CallbackAttempt.objects.select_related("employee").order_by("started_at", "id")
    return qs.select_related("department", "number", "employee", "handled_by").prefetch_related(
        Prefetch("attempts", queryset=attempts)
    )


def callback_stats(customer: Customer | int, *, since: dt.datetime) -> dict[str, int]:
    """Requests created since `since`, counted per status (every status present) plus "total"."""
    counts = {status.value: 0 for status in CallbackRequest.Status}
    rows = (
        CallbackRequest.objects.filter(customer=customer, created_at__gte=since)
        .values("status")
        .annotate(n=Count("id"))
    )
    for row in rows:
        counts[row["status"]] = row["n"]
    counts["total"] = sum(counts.values())
    return counts
