"""CRM card writes: the call's ring/answer/hangup (from the call-control flow), the live card
for the employee who answered, notes, settings, and the signed webhook events with retries.

The card reaches the answering employee's portal as a live notice (portal.notifications:
one logged Delivery over the portal channel, pushed to the user's open pages by Channels) that
leads to the card page. Webhook events are rows sent by a django-q2 task after commit; a failed
attempt is retried by the periodic `webhooks_retry_due` (claimed by compare-and-swap), through
the notifications' one HTTP client and its SSRF checks (portal.notifications.http).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django_q.tasks import async_task

from portal.billing.selectors import option_enabled
from portal.calls.models import CallRecord
from portal.crm.models import CallNote, CrmCall, CrmSettings, EmployeeUser, WebhookEvent
from portal.directory.models import Employee, PhoneNumber
from portal.directory.phone import caller_e164
from portal.notifications.http import (
    HttpError,
    UrlRefused,
    http_post,
    parse_http_url,
    resolve_checked,
)
from portal.notifications.models import Delivery
from portal.notifications.services import direct_message
from portal.notifications.transports import webhook_signature
from portal.tenants.models import Customer, User

log = logging.getLogger(__name__)

OPTION = "crm"  # portal.billing.models.Option.CRM
SEND_TASK = "portal.crm.services.webhook_send"
NOTICE_KIND = "crm_card"
MAX_ATTEMPTS = 5
RETRY_DELAYS = [
    dt.timedelta(seconds=30),
    dt.timedelta(minutes=2),
    dt.timedelta(minutes=10),
    dt.timedelta(minutes=30),
]
CLAIM_LEASE = dt.timedelta(minutes=5)
#: a hangup with a recording waits this long for the call's CDR (the recording link)
CDR_GRACE = dt.timedelta(minutes=10)


# --- settings --------------------------------------------------------------------------------


def crm_settings_set(*, customer: Customer, webhook_url: str) -> CrmSettings:
    url = (webhook_url or "").strip()
    if url:
        try:
            parse_http_url(url)
        except UrlRefused as exc:
            raise ValidationError(
                _("Этот адрес не подходит: %(why)s") % {"why": exc}, code="url"
            ) from None
    row, _created = CrmSettings.objects.update_or_create(
        customer=customer, defaults={"webhook_url": url}
    )
    return row


def crm_secret_rotate(*, customer: Customer) -> CrmSettings:
    from portal.crm.models import new_secret

    row, _created = CrmSettings.objects.get_or_create(customer=customer)
    row.webhook_secret = new_secret()
    row.save(update_fields=["webhook_secret"])
    return row


def employee_user_set(*, customer: Customer, employee_id: int, user_id: int | None) -> None:
    """Link an employee's phone to a portal user of the same customer (None: unlink)."""
    employee = Employee.objects.get(pk=employee_id, customer=customer)
    if user_id is None:
        EmployeeUser.objects.filter(employee=employee).delete()
        return
    user = User.objects.get(pk=user_id, customer=customer, is_active=True)
    EmployeeUser.objects.update_or_create(
        employee=employee, defaults={"customer": customer, "user": user}
    )


# --- the call --------------------------------------------------------------------------------


def _start(*, customer_id: int, uuid: str, number_id: int, caller: str, now: dt.datetime):
    """The call's row, created at its first sign (ring or answer) if the option is on."""
    found = CrmCall.objects.filter(uuid=uuid).first()
    if found is not None:
        return found, False
    if not customer_id or not option_enabled(customer_id, OPTION):
        return None, False
    number = PhoneNumber.objects.filter(pk=number_id, customer_id=customer_id).first()
    if number is None:
        return None, False
    call, created = CrmCall.objects.get_or_create(
        uuid=uuid,
        defaults={
            "customer_id": customer_id,
            "number": number,
            "caller_number": caller[:64],
            "caller_e164": caller_e164(caller) or "",
            "rang_at": now,
        },
    )
    if created:
        _event(call, WebhookEvent.Kind.RING)
    return call, created


def call_rang(
    *, customer_id: int, uuid: str, number_id: int, caller: str, now: dt.datetime
) -> CrmCall | None:
    """An employee's phone rings for an incoming call (the first ringing leg counts)."""
    with transaction.atomic():
        call, _created = _start(
            customer_id=customer_id, uuid=uuid, number_id=number_id, caller=caller, now=now
        )
    return call


def call_answered(
    *,
    customer_id: int,
    uuid: str,
    number_id: int,
    caller: str,
    extension: str,
    now: dt.datetime,
) -> CrmCall | None:
    """An employee (`extension`) answered: the card goes to their portal, the webhook hears
    "answer". A second answer of the same call (another leg) changes nothing."""
    with transaction.atomic():
        call, _created = _start(
            customer_id=customer_id, uuid=uuid, number_id=number_id, caller=caller, now=now
        )
        if call is None:
            return None
        call = CrmCall.objects.select_for_update().get(pk=call.pk)
        if call.answered_at is not None:
            return call
        employee = Employee.objects.filter(
            customer_id=call.customer_id, extension=extension
        ).first()
        link = EmployeeUser.objects.filter(employee=employee).select_related("user").first()
        call.employee = employee
        call.answered_by = link.user if link and link.user.is_active else None
        call.answered_at = now
        call.save(update_fields=["employee", "answered_by", "answered_at"])
        _event(call, WebhookEvent.Kind.ANSWER)
        if call.answered_by is not None:
            _push_card(call)
    return call


def call_ended(*, uuid: str, cause: str, recording_path: str, now: dt.datetime) -> CrmCall | None:
    with transaction.atomic():
        call = CrmCall.objects.select_for_update().filter(uuid=uuid, ended_at__isnull=True).first()
        if call is None:
            return None
        call.ended_at = now
        call.hangup_cause = cause[:64]
        call.recording_path = recording_path[:500]
        call.save(update_fields=["ended_at", "hangup_cause", "recording_path"])
        _event(call, WebhookEvent.Kind.HANGUP)
    return call


def card_path(call: CrmCall) -> str:
    return reverse("crm:card", args=[call.pk])


def _push_card(call: CrmCall) -> None:
    from portal.crm import selectors

    name = selectors.caller_name(call.customer_id, call.caller_e164)
    who = call.caller_e164 or call.caller_number or _("скрытый номер")
    history = selectors.history_counts(call.customer_id, call.caller_e164, exclude_uuid=call.uuid)
    body = (name + ". " if name else "") + _(
        "Звонков раньше: %(calls)s, заметок: %(notes)s."
    ) % history
    direct_message(
        customer_id=call.customer_id,
        kind=NOTICE_KIND,
        title=_("Звонок: %(who)s") % {"who": who},
        body=body,
        targets=[(Delivery.Channel.PORTAL, str(call.answered_by_id))],
        payload={"url": card_path(call), "crm_call": call.pk},
    )


def note_add(*, customer: Customer, call_id: int, user, text: str) -> CallNote:
    text = (text or "").strip()
    if not text:
        raise ValidationError(_("Заметка пуста."), code="empty")
    if len(text) > 4000:
        raise ValidationError(_("Заметка длиннее 4000 знаков."), code="too_long")
    call = CrmCall.objects.get(pk=call_id, customer=customer)
    return CallNote.objects.create(customer=customer, call=call, author=user, text=text)


# --- webhook ---------------------------------------------------------------------------------


def _event(call: CrmCall, kind: str) -> WebhookEvent | None:
    """A webhook event for the call, sent after commit (nothing without a webhook URL)."""
    url = (
        CrmSettings.objects.filter(customer_id=call.customer_id)
        .values_list("webhook_url", flat=True)
        .first()
    )
    if not url:
        return None
    event, created = WebhookEvent.objects.get_or_create(
        call=call,
        kind=kind,
        defaults={"customer_id": call.customer_id, "url": url, "next_attempt_at": timezone.now()},
    )
    if created:
        transaction.on_commit(lambda: _enqueue(event.pk))
    return event


def _enqueue(event_id: int) -> None:
    try:
        async_task(SEND_TASK, event_id, task_name=f"crm-webhook-{event_id}")
    except Exception:  # the broker is down: the row stays due, the periodic task sends it
        log.exception("could not enqueue CRM webhook event %s", event_id)


def _claim(event_id: int, now: dt.datetime) -> bool:
    return (
        WebhookEvent.objects.filter(
            pk=event_id, status=WebhookEvent.Status.PENDING, next_attempt_at__lte=now
        )
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM_LEASE))
        .update(claimed_at=now, attempts=F("attempts") + 1)
        == 1
    )


def _absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def recording_url(call: CrmCall) -> str | None:
    """The API link of the call's recording (GET with the customer's API token)."""
    if not call.recording_path:
        return None
    record = (
        CallRecord.objects.filter(uuid=call.uuid, customer_id=call.customer_id)
        .values_list("pk", flat=True)
        .first()
    )
    if record is None:
        return None
    return _absolute(reverse("call_history:api_recording", args=[record]))


class _Later(Exception):
    """Not an error of the endpoint: try again later (the CDR with the recording is not in)."""


def webhook_payload(event: WebhookEvent, timestamp: int) -> dict:
    call = event.call
    employee = call.employee
    recording = recording_url(call)
    if (
        event.kind == WebhookEvent.Kind.HANGUP
        and call.recording_path
        and recording is None
        and timezone.now() - (call.ended_at or timezone.now()) < CDR_GRACE
    ):
        raise _Later("the call's CDR has not arrived yet (recording link)")
    return {
        "event": f"call.{event.kind}",
        "event_id": event.pk,
        "timestamp": timestamp,
        "customer_id": call.customer_id,
        "call": {
            "id": call.pk,
            "uuid": call.uuid,
            "caller_number": call.caller_e164 or call.caller_number,
            "number": call.number.e164 if call.number_id else None,
            "employee": (
                {"id": employee.pk, "extension": employee.extension, "name": employee.name}
                if employee
                else None
            ),
            "rang_at": call.rang_at.isoformat(),
            "answered_at": call.answered_at.isoformat() if call.answered_at else None,
            "ended_at": call.ended_at.isoformat() if call.ended_at else None,
            "hangup_cause": call.hangup_cause or None,
            "recording_url": recording,
            "card_url": _absolute(card_path(call)),
        },
    }


def webhook_send(event_id: int, now: dt.datetime | None = None) -> str:
    """One attempt of one webhook event (a django-q2 task). Returns the resulting status."""
    now = now or timezone.now()
    if not _claim(event_id, now):
        return "not-claimed"
    event = WebhookEvent.objects.select_related("call", "call__employee", "call__number").get(
        pk=event_id
    )
    secret = (
        CrmSettings.objects.filter(customer_id=event.customer_id)
        .values_list("webhook_secret", flat=True)
        .first()
    )
    try:
        if not secret:
            raise UrlRefused("the CRM settings were deleted")
        target = parse_http_url(event.url)
        address = resolve_checked(
            target, allow_private=bool(getattr(settings, "WEBHOOK_ALLOW_PRIVATE", False))
        )
        timestamp = int(time.time())
        body = json.dumps(webhook_payload(event, timestamp), ensure_ascii=False).encode()
        response = http_post(
            event.url,
            body=body,
            headers={
                "Content-Type": "application/json",
                "X-PBX-Event": f"call.{event.kind}",
                "X-PBX-Delivery": f"crm-{event.pk}",
                "X-PBX-Timestamp": str(timestamp),
                "X-PBX-Signature": webhook_signature(secret, body),
            },
            timeout=settings.WEBHOOK_TIMEOUT,
            connect_to=address,
        )
    except UrlRefused as exc:
        return _failed(event, str(exc), permanent=True)
    except (HttpError, _Later) as exc:
        return _failed(event, str(exc), permanent=False)
    if response.ok:
        WebhookEvent.objects.filter(pk=event.pk).update(
            status=WebhookEvent.Status.SENT,
            sent_at=timezone.now(),
            last_error="",
            claimed_at=None,
            next_attempt_at=None,
        )
        return WebhookEvent.Status.SENT
    detail = f"HTTP {response.status}: {response.text[:200]}".strip()
    permanent = 300 <= response.status < 500 and response.status not in (408, 429)
    return _failed(event, detail, permanent=permanent)


def _failed(event: WebhookEvent, error: str, *, permanent: bool) -> str:
    gives_up = permanent or event.attempts >= MAX_ATTEMPTS
    fields = {"last_error": error[:500], "claimed_at": None}
    if gives_up:
        fields.update(status=WebhookEvent.Status.FAILED, next_attempt_at=None)
    else:
        delay = RETRY_DELAYS[min(event.attempts, len(RETRY_DELAYS)) - 1]
        fields.update(next_attempt_at=timezone.now() + delay)
    WebhookEvent.objects.filter(pk=event.pk).update(**fields)
    log.warning(
        "CRM webhook event %s attempt %d failed%s: %s",
        event.pk,
        event.attempts,
        " for good" if gives_up else ", will retry",
        error,
    )
    return WebhookEvent.Status.FAILED if gives_up else WebhookEvent.Status.PENDING


def webhooks_retry_due(now: dt.datetime | None = None) -> int:
    """Periodic (every minute): send the events that are due again."""
    now = now or timezone.now()
    due = list(
        WebhookEvent.objects.filter(status=WebhookEvent.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:500]
    )
    for event_id in due:
        webhook_send(event_id, now=now)
    return len(due)
