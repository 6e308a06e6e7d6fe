"""Write path of notifications: create a notification, send its deliveries, retry failures.

    notify_department(department=..., kind=..., title=..., body=..., payload=...)

creates one `Notification` and one pending `Delivery` per enabled channel and target, then,
after the transaction commits, enqueues one django-q task per delivery. Each send is isolated:
a failing channel never stops the others. Temporary failures stay pending with a due time;
the periodic task `deliveries_retry_due` (every minute, see migration 0002) sends them again.
A worker owns a delivery only after claiming it by compare-and-swap, so two workers never send
the same attempt; a claim older than CLAIM_LEASE (a worker died mid-send) may be taken over.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django_q.tasks import async_task

from portal.directory.models import Department
from portal.notifications import transports
from portal.notifications.models import Delivery, Notification
from portal.notifications.transports import TransportError

log = logging.getLogger(__name__)

# Delay before attempt 2, 3, 4, 5; after the last attempt a delivery is failed for good.
RETRY_DELAYS = (
    dt.timedelta(minutes=1),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=15),
    dt.timedelta(hours=1),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
CLAIM_LEASE = dt.timedelta(minutes=5)
RETRY_BATCH = 200

SEND_TASK = "portal.notifications.services.delivery_send"


def notify_department(
    *,
    department: Department,
    kind: str,
    title: str,
    body: str = "",
    payload: dict | None = None,
    only_if_flag: str | None = "notify_callback",
) -> Notification | None:
    """Notify a department's people over its enabled channels.

    With `only_if_flag` (default: the "Оповещать об обратном вызове" flag) a department whose
    flag is off gets nothing and None is returned. Sends start after the caller's transaction
    commits; nothing is sent for a rolled-back request.
    """
    if only_if_flag and not getattr(department, only_if_flag):
        log.info("department %s: %s is off, %s not sent", department.pk, only_if_flag, kind)
        return None
    now = timezone.now()
    with transaction.atomic():
        notification = Notification.objects.create(
            customer_id=department.customer_id,
            department=department,
            kind=kind,
            title=title[:200],
            body=body,
            payload=payload or {},
        )
        deliveries = [
            Delivery(
                notification=notification,
                channel=transport.channel,
                target=target[:500],
                next_attempt_at=now,
            )
            for transport in transports.REGISTRY.values()
            if transport.enabled(department)
            for target in transport.targets(department)
        ]
        Delivery.objects.bulk_create(deliveries)
        ids = [d.pk for d in deliveries]
        transaction.on_commit(lambda: _enqueue(ids))
    log.info("notification %s (%s): %d deliveries", notification.pk, kind, len(ids))
    return notification


def direct_message(
    *,
    customer_id: int,
    kind: str,
    title: str,
    body: str,
    targets: list[tuple[str, str]],
    payload: dict | None = None,
) -> list[Delivery]:
    """A message to given people rather than a department (a shopper, a callee, a customer's
    client): one logged Delivery per (channel, target), sent after the transaction commits."""
    notification = Notification.objects.create(
        customer_id=customer_id,
        department=None,
        kind=kind,
        title=title[:200],
        body=body,
        payload=payload or {},
    )
    deliveries = [
        Delivery.objects.create(
            notification=notification,
            channel=channel,
            target=target,
            next_attempt_at=timezone.now(),
        )
        for channel, target in targets
    ]
    ids = [d.pk for d in deliveries]
    transaction.on_commit(lambda: _enqueue(ids))
    return deliveries


def _enqueue(delivery_ids: list[int]) -> None:
    for delivery_id in delivery_ids:
        try:
            async_task(SEND_TASK, delivery_id, task_name=f"notify-delivery-{delivery_id}")
        except Exception:
            # The broker is down: the row stays pending and due, the periodic task sends it.
            log.exception("could not enqueue delivery %s", delivery_id)


def _claim(delivery_id: int, now: dt.datetime) -> bool:
    """Take a due pending delivery for one attempt. True for exactly one caller."""
    return (
        Delivery.objects.filter(id=delivery_id, status=Delivery.Status.PENDING)
        .filter(next_attempt_at__lte=now)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM_LEASE))
        .update(claimed_at=now, attempts=F("attempts") + 1)
        == 1
    )


def delivery_send(delivery_id: int) -> str:
    """Make one attempt of one delivery (a django-q task). Returns the resulting status."""
    now = timezone.now()
    if not _claim(delivery_id, now):
        return "not-claimed"
    delivery = Delivery.objects.select_related("notification", "notification__department").get(
        pk=delivery_id
    )
    try:
        external_id = transports.transport_for(delivery.channel).send(delivery)
    except TransportError as exc:
        return _record_failure(delivery, exc.message, permanent=exc.permanent)
    except Exception as exc:  # a bug in a transport must not lose the delivery
        log.exception("delivery %s: transport %s crashed", delivery.pk, delivery.channel)
        return _record_failure(delivery, f"{type(exc).__name__}: {exc}", permanent=False)
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.SENT,
        sent_at=timezone.now(),
        external_id=(external_id or "")[:100],
        last_error="",
        permanent=False,
        claimed_at=None,
        next_attempt_at=None,
    )
    log.info("delivery %s (%s → %s) sent", delivery.pk, delivery.channel, delivery.target)
    return Delivery.Status.SENT


def _record_failure(delivery: Delivery, error: str, *, permanent: bool) -> str:
    gives_up = permanent or delivery.attempts >= MAX_ATTEMPTS
    fields = {"last_error": error[:2000], "permanent": permanent, "claimed_at": None}
    if gives_up:
        fields.update(status=Delivery.Status.FAILED, next_attempt_at=None)
    else:
        delay = RETRY_DELAYS[min(delivery.attempts, len(RETRY_DELAYS)) - 1]
        fields.update(next_attempt_at=timezone.now() + delay)
    Delivery.objects.filter(pk=delivery.pk).update(**fields)
    log.warning(
        "delivery %s (%s → %s) attempt %d failed%s: %s",
        delivery.pk,
        delivery.channel,
        delivery.target,
        delivery.attempts,
        " for good" if gives_up else ", will retry",
        error,
    )
    return fields.get("status", Delivery.Status.PENDING)


def deliveries_retry_due() -> int:
    """Periodic task: send every pending delivery whose due time has come. Returns how many."""
    now = timezone.now()
    due = list(
        Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM_LEASE))
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:RETRY_BATCH]
    )
    _enqueue(due)
    return len(due)
