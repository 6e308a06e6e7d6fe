"""Auto-redial: the write path. Every function locks the request row, asks `rules` what to do
at `now`, saves it with a timeline event, and sends SMS only after commit.

Call control calls `offer_start` (the failed call reached our socket), `offer_answered`
(the caller pressed 1, something else, or nothing), `callee_back` (a registration or the end of
the callee's call), `claim_due` (each node's tick: whichever node wins the compare-and-swap
dials), `connect_finished` / `flash_finished`. Housekeeping (`redial_housekeeping`, every
minute) texts the callees of requests whose window closed and frees claims of dead nodes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from portal.billing.models import Option
from portal.billing.selectors import customer_balance, option_enabled
from portal.directory.models import Employee
from portal.notifications.models import Delivery, Notification
from portal.notifications.services import direct_message
from portal.redial import rules
from portal.redial.models import (
    PhoneRegistration,
    RedialEvent,
    RedialLimits,
    RedialRequest,
    SubscriberSettings,
)

log = logging.getLogger(__name__)

CLAIM_SECONDS = 120  # a node that claimed and died: the claim lapses after this


def _event(request: RedialRequest, now: dt.datetime, kind: str, detail: str = "") -> None:
    RedialEvent.objects.create(request=request, at=now, kind=kind, detail=detail[:200])


def _settings(employee: Employee) -> SubscriberSettings:
    return SubscriberSettings.objects.filter(employee=employee).first() or SubscriberSettings(
        employee=employee
    )


def _limits(customer_id: int) -> RedialLimits:
    return RedialLimits.objects.filter(customer_id=customer_id).first() or RedialLimits()


def _balance_ok(employee: Employee) -> bool:
    """Enough money for at least one minute of the connection on the customer's tariff."""
    tariff = getattr(employee.customer, "tariff", None)
    price = getattr(tariff, "outgoing_minute_price", None) or 0
    return customer_balance(employee.customer) >= price


def _open_requests(*, caller: Employee | None, caller_number: str):
    mine = Q(caller=caller) if caller is not None else Q(caller=None, caller_number=caller_number)
    return RedialRequest.objects.filter(
        mine, status__in=[rules.OFFERED, rules.PUSHED, *rules.WAITING, *rules.DUE]
    )


def facts(
    *, caller: Employee | None, callee: Employee, cause: str, now, caller_number: str = ""
) -> rules.Facts:
    """Eligibility from the rows. `caller` None: a call from outside (`caller_number`): the
    customer pays for calling them back; what we cannot know of another network (forwarding,
    roaming) does not refuse them."""
    customer_id = callee.customer_id
    callee_settings = _settings(callee)
    caller_settings = _settings(caller) if caller is not None else SubscriberSettings()
    limits = _limits(customer_id)
    last_minute = (
        RedialRequest.objects.filter(
            customer_id=customer_id, created_at__gt=now - dt.timedelta(minutes=1)
        )
        .exclude(status=rules.REFUSED)
        .count()
    )
    numbers = (caller.extension, caller.mobile_number) if caller is not None else (caller_number,)
    return rules.Facts(
        cause=cause,
        option_on=option_enabled(customer_id, Option.AUTO_REDIAL),
        caller_balance_ok=_balance_ok(callee),
        caller_blacklisted_by_callee=callee_settings.blocks(*numbers),
        callee_call_waiting=callee_settings.call_waiting,
        caller_forwarding=caller_settings.forwarding,
        caller_roaming=caller_settings.roaming,
        caller_open_requests=_open_requests(caller=caller, caller_number=caller_number).count(),
        customer_requests_last_minute=last_minute,
        max_open_per_caller=limits.max_open_per_caller,
        max_per_minute=limits.max_per_minute,
        same_person=caller is not None and caller.pk == callee.pk,
    )


@dataclass(frozen=True)
class Offer:
    request_id: int
    offer: bool  # False: refused, the caller just hears the failure
    push: bool  # the callee has voicemail / "always in touch": no IVR offer now
    language: str


def offer_start(
    *,
    customer_id: int,
    caller_id: int | None,
    callee_id: int,
    cause: str,
    origin_uuid: str,
    now,
    caller_number: str = "",
    called_number: str = "",
) -> Offer | None:
    """A call to one of a customer's phones failed and reached our socket: from another of
    their phones (`caller_id`), or from outside (`caller_number`, a callable E.164, calling
    the company number `called_number`). Once per call: a replay of the same `origin_uuid`
    returns the request made the first time."""
    callee = Employee.objects.filter(pk=callee_id, customer_id=customer_id).first()
    caller = None
    if caller_id:
        caller = Employee.objects.filter(pk=caller_id, customer_id=customer_id).first()
        caller_number = called_number = ""
        if caller is None:
            return None  # not two phones of this customer: nothing to offer, nothing to record
    else:
        caller_number, called_number = _e164(caller_number), _e164(called_number)
        if not (caller_number and called_number):
            return None  # anonymous or not a number we could ever call back
    if callee is None or not origin_uuid:
        return None
    with transaction.atomic():
        existing = RedialRequest.objects.filter(origin_uuid=origin_uuid).first()
        if existing is None:
            f = facts(
                caller=caller, callee=callee, cause=cause, now=now, caller_number=caller_number
            )
            reason = rules.refusal(f)
            push = _settings(callee).voicemail
            status = rules.REFUSED if reason else (rules.PUSH_WAIT if push else rules.OFFERED)
            existing = RedialRequest.objects.create(
                customer_id=customer_id,
                caller=caller,
                caller_number=caller_number,
                called_number=called_number,
                callee=callee,
                origin_uuid=origin_uuid,
                cause=cause[:40],
                kind=rules.cause_kind(cause) or "",
                status=status,
                reason=reason or "",
                created_at=now,
                due_at=rules.deadline(status, now),
                finished_at=now if reason else None,
                callee_registration=_registration_at_failure(callee, cause),
            )
            _event(existing, now, "failed_call", cause)
            _event(existing, now, status, reason or "")
            log.info("redial %s: %s %s", existing.pk, existing.status, reason or "")
    language = getattr(callee.customer, "language", "ru") or "ru"
    return Offer(
        request_id=existing.pk,
        offer=existing.status == rules.OFFERED,
        push=_settings(callee).voicemail,
        language=language,
    )


def _e164(number: str) -> str:
    from pbx.render import CALLABLE_NUMBER, e164

    if not re.match(CALLABLE_NUMBER, number or ""):
        return ""
    return e164(number, getattr(settings, "PHONE_DEFAULT_REGION", "RU")) or ""


def _registration_at_failure(callee: Employee, cause: str) -> str:
    """The Call-ID of the registration a phone that did not answer the INVITE still holds."""
    if (cause or "").strip().upper() not in rules.REGISTERED_CAUSES:
        return ""
    found = PhoneRegistration.objects.filter(employee=callee).values_list("call_id", flat=True)
    return found.first() or ""


# -- registrations ----------------------------------------------------------------------------


def registration_seen(*, employee_id: int, call_id: str, now) -> bool:
    """A `sofia::register` of a phone: True if it is a new registration, False for a refresh
    of the one it holds (same Call-ID). Written only when the Call-ID changes."""
    call_id = (call_id or "")[:200]
    current = PhoneRegistration.objects.filter(employee_id=employee_id).first()
    if current is not None and call_id and current.call_id == call_id:
        return False
    PhoneRegistration.objects.update_or_create(
        employee_id=employee_id, defaults={"call_id": call_id, "registered_at": now}
    )
    return True


def registration_ended(*, employee_id: int) -> None:
    """`sofia::unregister` / `sofia::expire`: the phone holds no registration now, so its next
    REGISTER is a new one whatever its Call-ID (a phone keeps one Call-ID per boot)."""
    PhoneRegistration.objects.filter(employee_id=employee_id).delete()
    RedialRequest.objects.filter(callee_id=employee_id, status__in=rules.WAITING).exclude(
        callee_registration=""
    ).update(callee_registration="")


def _locked(request_id: int) -> RedialRequest | None:
    return RedialRequest.objects.select_for_update().filter(pk=request_id).first()


def offer_answered(*, request_id: int, pressed: str | None, now) -> str | None:
    """The caller answered the offer ("1" accepts; anything else or nothing declines)."""
    with transaction.atomic():
        request = _locked(request_id)
        if request is None:
            return None
        status = rules.answer(request.status, pressed)
        if status is None:
            return None  # answered before (a replay)
        request.status = status
        request.decided_at = now
        request.due_at = rules.deadline(status, request.created_at)
        request.save(update_fields=["status", "decided_at", "due_at"])
        _event(request, now, status, f"pressed {pressed!r}" if pressed else "no answer")
    return status


def callee_back(
    *, customer_id: int, callee_id: int, now, source: str, registration: str = ""
) -> list[tuple[int, str]]:
    """A sign that the callee may be reachable at `now` (`source`: rules.NEW_REGISTRATION with
    the REGISTER's Call-ID as `registration`, rules.REFRESH, rules.CALL_ENDED): every waiting
    request it means "back" for (rules.counts_as_back) moves on once. Returns (request id,
    action) for what changed."""
    done: list[tuple[int, str]] = []
    ids = list(
        RedialRequest.objects.filter(
            customer_id=customer_id, callee_id=callee_id, status__in=rules.WAITING
        ).values_list("pk", flat=True)
    )
    for request_id in ids:
        with transaction.atomic():
            request = _locked(request_id)
            if request is None or not rules.counts_as_back(request.kind, source):
                continue
            if source == rules.NEW_REGISTRATION and registration == request.callee_registration:
                continue  # the registration the phone had when it did not answer
            action = rules.on_callee_back(request.status, request.created_at, now)
            if not action:
                continue  # moved on meanwhile (a duplicate event, another node)
            request.callee_back_at = now
            _event(request, now, "callee_back", source)
            _apply_back(request, action, now)
            done.append((request.pk, action))
    return done


def _apply_back(request: RedialRequest, action: str, now) -> None:
    if action == rules.SEND_SMS:
        _finish_with_sms(request, now)
    elif action == rules.PUSH:
        _push_offer(request, now)
    else:
        request.status = rules.CONNECTING if action == rules.CONNECT else rules.FLASHING
        request.due_at = now
        request.retry_at = None
        request.save(update_fields=["status", "due_at", "callee_back_at", "retry_at"])


@dataclass(frozen=True)
class Plan:
    request_id: int
    action: str  # connect / flash
    customer_id: int
    caller_extension: str  # "" for a caller from outside
    callee_extension: str
    caller_number: str = ""  # the outside caller's E.164
    called_number: str = ""  # the company number they called (shown when we call them)


def _retries_due(now) -> None:
    """Requests whose next connection attempt is due: connect now (inside the window) or text."""
    due = RedialRequest.objects.filter(status=rules.ACCEPTED, retry_at__lte=now)
    for request_id in list(due.values_list("pk", flat=True)[:100]):
        with transaction.atomic():
            request = _locked(request_id)
            if request is None or request.status != rules.ACCEPTED or not request.retry_at:
                continue
            if request.retry_at > now:
                continue
            action = rules.on_callee_back(request.status, request.created_at, now)
            _event(request, now, "retry")
            _apply_back(request, action, now)


def claim_due(*, now, worker: str, limit: int = 20, customer_id: int | None = None) -> list[Plan]:
    """Requests whose callee is back and nobody is dialling: claimed by compare-and-swap
    (`customer_id`: that customer's only, e.g. the demo's history at a past moment)."""
    _retries_due(now)
    plans = []
    free = Q(claimed_by="") | Q(claim_expires_at__lt=now)
    if customer_id is not None:
        free &= Q(customer_id=customer_id)
    candidates = RedialRequest.objects.filter(free, status__in=rules.DUE).values_list(
        "pk", flat=True
    )[:limit]
    for request_id in list(candidates):
        won = (
            RedialRequest.objects.filter(free, pk=request_id, status__in=rules.DUE)
            .exclude(claimed_by=worker, claim_expires_at__gte=now)
            .update(claimed_by=worker, claim_expires_at=now + dt.timedelta(seconds=CLAIM_SECONDS))
        )
        if not won:
            continue
        r = RedialRequest.objects.select_related("caller", "callee").get(pk=request_id)
        action = rules.CONNECT if r.status == rules.CONNECTING else rules.FLASH
        if action == rules.CONNECT:
            r.attempts += 1
            r.save(update_fields=["attempts"])
        _event(r, now, f"{action}_start", f"{worker} #{r.attempts}" if r.attempts else worker)
        plans.append(
            Plan(
                r.pk,
                action,
                r.customer_id,
                r.caller.extension if r.caller_id else "",
                r.callee.extension,
                r.caller_number,
                r.called_number,
            )
        )
    return plans


def legs_started(*, request_id: int, caller_uuid: str = "", callee_uuid: str = "") -> None:
    fields = {k: v for k, v in (("caller_uuid", caller_uuid), ("callee_uuid", callee_uuid)) if v}
    RedialRequest.objects.filter(pk=request_id).update(**fields)


def _finish(request: RedialRequest, now, outcome: str, detail: str = "") -> None:
    request.status = rules.DONE
    request.outcome = outcome
    request.finished_at = now
    request.claimed_by = ""
    request.claim_expires_at = None
    request.save()
    _event(request, now, outcome, detail)


def connect_bridged(*, request_id: int, now) -> None:
    """Caller and callee are talking; the claim no longer lapses (the call may be long)."""
    with transaction.atomic():
        request = _locked(request_id)
        if request is not None and request.status == rules.CONNECTING:
            request.claim_expires_at = None
            request.save(update_fields=["claim_expires_at"])
            _event(request, now, "bridged")


def connect_finished(*, request_id: int, connected: bool, cause: str, now) -> bool:
    """The caller-first connection ended: bridged (connected) or not; once."""
    with transaction.atomic():
        request = _locked(request_id)
        if request is None or request.status != rules.CONNECTING:
            return False
        _finish(request, now, rules.CONNECTED if connected else rules.NOT_CONNECTED, cause)
    return True


def attempt_failed(*, request_id: int, leg: str, cause: str, now) -> str | None:
    """A connection leg (`caller` / `callee`) or the flash (`flash`) did not reach its party:
    wait for the callee again, retry later, text the callee, or end (rules.after_attempt).
    Once: a stale or duplicate report finds the request moved on. Returns the step taken."""
    expected = rules.FLASHING if leg == "flash" else rules.CONNECTING
    with transaction.atomic():
        request = _locked(request_id)
        if request is None or request.status != expected:
            return None
        step = rules.after_attempt(
            status=request.status,
            leg=leg,
            cause=cause,
            attempts=request.attempts,
            created=request.created_at,
            now=now,
        )
        _event(request, now, f"{leg}_failed", cause)
        if step.action == rules.DONE:
            _finish(request, now, step.outcome, f"{leg}: {cause}")
        elif step.action == rules.SEND_SMS:
            _finish_with_sms(request, now)
        else:
            request.status = rules.DECLINED if leg == "flash" else rules.ACCEPTED
            request.due_at = rules.deadline(request.status, request.created_at)
            request.retry_at = step.retry_at
            if step.action == rules.WAIT:
                request.kind = step.kind
                request.callee_registration = _registration_at_failure(request.callee, cause)
            request.claimed_by, request.claim_expires_at = "", None
            request.caller_uuid = request.callee_uuid = ""
            request.save()
            _event(request, now, step.action, step.kind or str(step.retry_at))
    return step.action


def flash_end_due(*, request_id: int, at: dt.datetime) -> None:
    """The flash leg of the request is to be killed at `at` (set when it is originated, as a
    fallback, and again from the switch's own creation time once CHANNEL_CREATE comes)."""
    RedialRequest.objects.filter(pk=request_id).exclude(callee_uuid="").update(flash_end_at=at)


def claim_flash_ends(*, now: dt.datetime, limit: int = 50) -> list[str]:
    """The flash legs whose time is up, each handed to exactly one caller (compare-and-swap
    on the due time: two call-control services never both kill, a lost one never blocks)."""
    due = RedialRequest.objects.filter(flash_end_at__lte=now).values_list(
        "pk", "callee_uuid", "flash_end_at"
    )
    claimed = []
    for pk, uuid, at in due.order_by("flash_end_at")[:limit]:
        won = RedialRequest.objects.filter(pk=pk, flash_end_at=at).update(flash_end_at=None)
        if won and uuid:
            claimed.append(uuid)
    return claimed


def flash_finished(*, request_id: int, cause: str, now) -> bool:
    """The 0.5 s call ended while it rang (we ended it, or it rang out): a missed call."""
    return attempt_failed(request_id=request_id, leg="flash", cause=cause, now=now) is not None


def flash_answered(*, request_id: int, now) -> bool:
    """The phone answered the 0.5 s call at once: ended all the same, recorded as answered."""
    with transaction.atomic():
        request = _locked(request_id)
        if request is None or request.status != rules.FLASHING:
            return False
        _finish(request, now, rules.after_flash_answered().outcome, "answered")
    return True


# -- SMS to the callee ------------------------------------------------------------------------

SMS_TEXT_NUMBER = {
    "ru": "Вам звонили с номера {number} в {time}. Перезвоните, пожалуйста.",
    "en": "{number} called you at {time}. Please call back.",
    "kk": "Сізге {number} нөмірінен {time} қоңырау шалды. Қайта қоңырау шалыңыз.",
    "cs": "Volal vám {number} v {time}. Zavolejte prosím zpět.",
    "bg": "Търсил ви е {number} в {time}. Моля, обадете се.",
}
SMS_TEXT = {
    "ru": "Вам звонил {caller} ({ext}) в {time}. Перезвоните, пожалуйста.",
    "en": "{caller} ({ext}) called you at {time}. Please call back.",
    "kk": "Сізге {caller} ({ext}) {time} қоңырау шалды. Қайта қоңырау шалыңыз.",
    "cs": "Volal vám {caller} ({ext}) v {time}. Zavolejte prosím zpět.",
    "bg": "Търсил ви е {caller} ({ext}) в {time}. Моля, обадете се.",
}


def missed_call_text(request: RedialRequest, language: str) -> str:
    local = timezone.localtime(request.created_at)
    if request.caller_id is None:
        template = SMS_TEXT_NUMBER.get(language, SMS_TEXT_NUMBER["ru"])
        return template.format(number=request.caller_number, time=local.strftime("%H:%M"))
    template = SMS_TEXT.get(language, SMS_TEXT["ru"])
    return template.format(
        caller=request.caller.name, ext=request.caller.extension, time=local.strftime("%H:%M")
    )


def _finish_with_sms(request: RedialRequest, now) -> None:
    callee = request.callee
    target = callee.mobile_number
    if not target:
        _finish(request, now, rules.SMS, "no mobile number: nothing sent")
        return
    language = getattr(request.customer, "language", "ru") or "ru"
    text = missed_call_text(request, language)
    (request.sms,) = direct_message(
        customer_id=request.customer_id,
        kind=Notification.Kind.MISSED_CALL,
        title=text,
        body="",
        targets=[(Delivery.Channel.SMS, target)],
        payload={"redial_id": request.pk, "caller": request.caller_short},
    )
    _finish(request, now, rules.SMS, target)


# -- the pushed offer (our Push USSD): a one-time link to the caller --------------------------

PUSH_TEXT = {
    "ru": "{callee} ({ext}) снова на связи. Соединить вас? {url}",
    "en": "{callee} ({ext}) is available again. Connect you? {url}",
    "kk": "{callee} ({ext}) қайта байланыста. Қосайық па? {url}",
    "cs": "{callee} ({ext}) je opět dostupný. Spojit vás? {url}",
    "bg": "{callee} ({ext}) отново е на линия. Да ви свържем ли? {url}",
}


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _push_offer(request: RedialRequest, now) -> None:
    target = request.caller.mobile_number if request.caller_id else request.caller_number
    if not target:
        _finish(request, now, rules.NOT_CONNECTED, "no mobile number to push the offer to")
        return
    token = secrets.token_urlsafe(24)
    url = settings.SITE_URL.rstrip("/") + reverse("redial_push", args=[token])
    language = getattr(request.customer, "language", "ru") or "ru"
    text = PUSH_TEXT.get(language, PUSH_TEXT["ru"]).format(
        callee=request.callee.name, ext=request.callee.extension, url=url
    )
    (delivery,) = direct_message(
        customer_id=request.customer_id,
        kind=Notification.Kind.MISSED_CALL,
        title=text,
        body="",
        targets=[(Delivery.Channel.SMS, target)],
        payload={"redial_id": request.pk, "push": True},
    )
    request.status = rules.PUSHED
    request.push_token_hash = _token_hash(token)
    request.sms = delivery
    request.save()
    _event(request, now, "pushed", target)


def push_request(token: str) -> RedialRequest | None:
    if not token or len(token) > 100:
        return None
    return (
        RedialRequest.objects.select_related("caller", "callee")
        .filter(push_token_hash=_token_hash(token))
        .first()
    )


def push_answer(*, token: str, accept: bool, now) -> str | None:
    """The caller answered the pushed offer. Once: the link is dead afterwards."""
    found = push_request(token)
    if found is None:
        return None
    with transaction.atomic():
        request = _locked(found.pk)
        status = rules.push_answer(request.status, accept, request.created_at, now)
        if status is None:
            return None
        request.push_token_hash = ""
        _event(request, now, "push_accepted" if accept else "push_declined")
        if status == rules.CONNECTING:
            request.status = rules.CONNECTING
            request.due_at = now
            request.save()
        else:
            _finish(request, now, rules.NOT_CONNECTED, "declined")
    return status


def windows_close(*, now) -> int:
    """Requests still waiting whose window has closed: the callee gets the SMS, once."""
    sent = 0
    ids = list(
        RedialRequest.objects.filter(
            status__in=(*rules.WAITING, rules.PUSHED), due_at__lte=now
        ).values_list("pk", flat=True)
    )
    for request_id in ids:
        with transaction.atomic():
            request = _locked(request_id)
            if request and rules.on_tick(request.status, request.created_at, now):
                _event(request, now, "window_closed")
                _finish_with_sms(request, now)
                sent += 1
    # An offer nobody answered (the caller hung up mid-prompt, the node died) counts as declined.
    stale = now - dt.timedelta(minutes=5)
    for request_id in RedialRequest.objects.filter(
        status=rules.OFFERED, created_at__lt=stale
    ).values_list("pk", flat=True):
        offer_answered(request_id=request_id, pressed=None, now=now)
    return sent


def redial_housekeeping() -> int:
    """django-q2 schedule, every minute."""
    return windows_close(now=timezone.now())
