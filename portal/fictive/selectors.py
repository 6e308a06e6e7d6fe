"""Reads of fictive numbers for the portal pages and the API (always scoped to one customer)."""

from __future__ import annotations

from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery

from portal.calls.models import CallRecord
from portal.directory.models import PhoneNumber
from portal.fictive.models import FictiveCall, FictiveNumber, PendingMissedCall, Project, Shopper
from portal.notifications.models import Delivery, Notification
from portal.tenants.models import Customer


def projects(customer: Customer | int) -> QuerySet[Project]:
    return Project.objects.filter(customer=customer)


def shoppers(customer: Customer | int, *, project_id: int | None = None) -> QuerySet[Shopper]:
    """The customer's shoppers with their project and fictive numbers (in ID order)."""
    qs = Shopper.objects.filter(customer=customer).select_related("project")
    if project_id:
        qs = qs.filter(project_id=project_id)
    pairs = FictiveNumber.objects.select_related("number").order_by("ordinal")
    return qs.prefetch_related(Prefetch("fictive_numbers", queryset=pairs))


def service_numbers(customer: Customer | int) -> QuerySet[PhoneNumber]:
    """The customer's access and return numbers."""
    return PhoneNumber.objects.filter(
        customer=customer, kind__in=[PhoneNumber.Kind.ACCESS, PhoneNumber.Kind.RETURN]
    ).order_by("kind", "e164")


def free_fictive_numbers(customer: Customer | int) -> QuerySet[PhoneNumber]:
    """The customer's PhoneNumbers of kind fictive not yet paired with a shopper."""
    return PhoneNumber.objects.filter(customer=customer, kind=PhoneNumber.Kind.FICTIVE).filter(
        fictive_pairings__isnull=True
    )


def fictive_calls(
    customer: Customer | int,
    *,
    project_id: int | None = None,
    shopper_id: int | None = None,
    direction: str | None = None,
) -> QuerySet[FictiveCall]:
    """Calls newest first, with the talk time and duration of the CDR of the same uuid (when
    FreeSWITCH has reported it; None until then)."""
    qs = FictiveCall.objects.filter(customer=customer)
    if project_id:
        qs = qs.filter(project_id=project_id)
    if shopper_id:
        qs = qs.filter(shopper_id=shopper_id)
    if direction:
        qs = qs.filter(direction=direction)
    cdr = CallRecord.objects.filter(uuid=OuterRef("uuid")).filter(
        Q(customer_id=OuterRef("customer_id")) | Q(customer__isnull=True)
    )
    return qs.select_related("project", "shopper").annotate(
        cdr_billsec=Subquery(cdr.values("billsec")[:1]),
        cdr_duration=Subquery(cdr.values("duration_seconds")[:1]),
    )


def pending_calls(
    customer: Customer | int, *, status: str | None = None
) -> QuerySet[PendingMissedCall]:
    qs = PendingMissedCall.objects.filter(customer=customer)
    if status:
        qs = qs.filter(status=status)
    return qs.select_related("shopper", "sms")


def sms_log(customer: Customer | int) -> QuerySet[Delivery]:
    """Every missed-call SMS sent (or tried) to the customer's shoppers, newest first."""
    return (
        Delivery.objects.filter(
            notification__customer=customer,
            notification__kind=Notification.Kind.MISSED_CALL,
            notification__payload__has_key="fictive_pending_id",
            channel=Delivery.Channel.SMS,
        )
        .select_related("notification")
        .order_by("-created_at", "-id")
    )
