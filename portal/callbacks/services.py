"""Write path of the queue callback: every step locks the request row, asks flow.py, saves.

Call control (portal/callbacks/telephony.py) is the only caller of the attempt steps; the portal only
reads. Every function is keyword-only, runs under `transaction.atomic` with the request row
locked (`select_for_update`; on SQLite the IMMEDIATE transaction serialises writers), and is
idempotent: a duplicated or stale event (an older attempt, a replay after an ESL reconnect)
changes nothing.

Notifications: the `Notification` row is written in the same transaction as the state change
that caused it (nothing for a rolled-back step), and its sends start after commit
(portal.notifications enqueues them on_commit). A failing notification never undoes the
callback's own state: it runs in a savepoint and is logged.

Lock order everywhere: request row, then attempt row.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, replace

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, Max, OuterRef, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from pbx.render import outbound_number
from portal.billing.models import Option, OptionPeriod
from portal.billing.selectors import option_enabled, options_enabled
from portal.callbacks import flow
from portal.callbacks.models import CallbackAttempt, CallbackRequest
from portal.calls.models import CallRecord
from portal.calls.recordings import recording_register
from portal.directory import phone
from portal.directory.models import Department, Employee, PhoneNumber
from portal.directory.phone import display, to_e164

log = logging.getLogger(__name__)

POLICY = flow.DEFAULT_POLICY
HOUSEKEEPING_BATCH = 500


@dataclass(frozen=True)
class EmployeeCandidate:
    employee_id: int
    extension: str
    # E.164 number the caller sees when this employee calls back: always one of the customer's
    # numbers. The multichannel number the caller called when the customer has the АОН option
    # (caller_id) and the employee has it switched on; otherwise the number the employee's own
    # outside calls present (pbx.render.outbound_number), never a personal mobile.
    caller_id_to_show: str


@dataclass(frozen=True)
class AttemptPlan:
    request_id: int
    attempt_id: int
    attempt_number: int
    customer_id: int
    department_id: int
    caller_number: str  # E.164
    multichannel_number: str  # E.164
    candidates: list[EmployeeCandidate]  # ring in this order


# -- snapshots ----------------------------------------------------------------------------------


def _request_state(r: CallbackRequest) -> flow.Request:
    return flow.Request(
        id=r.pk,
        status=r.status,
        attempts_made=r.attempts_made,
        next_attempt_at=r.next_attempt_at,
        first_attempt_deadline=r.first_attempt_deadline,
        retry_deadline=r.retry_deadline,
        current_attempt_id=r.current_attempt_id,
        claim_expires_at=r.claim_expires_at,
        close_reason=r.close_reason,
        closed_at=r.closed_at,
    )


def _attempt_state(a: CallbackAttempt) -> flow.Attempt:
    return flow.Attempt(
        id=a.pk,
        number=a.number,
        status=a.status,
        employee_id=a.employee_id,
        employee_uuid=a.employee_uuid,
        caller_uuid=a.caller_uuid,
        caller_id_shown=a.caller_id_shown,
        started_at=a.started_at,
        employee_answered_at=a.employee_answered_at,
        caller_answered_at=a.caller_answered_at,
        ended_at=a.ended_at,
        cause=a.cause,
    )


_REQUEST_FIELDS = {
    "status": "status",
    "attempts_made": "attempts_made",
    "next_attempt_at": "next_attempt_at",
    "first_attempt_deadline": "first_attempt_deadline",
    "retry_deadline": "retry_deadline",
    "current_attempt_id": "current_attempt_id",
    "claim_expires_at": "claim_expires_at",
    "close_reason": "close_reason",
    "closed_at": "closed_at",
}
_ATTEMPT_FIELDS = (
    "status",
    "employee_id",
    "employee_uuid",
    "caller_uuid",
    "caller_id_shown",
    "employee_answered_at",
    "caller_answered_at",
    "ended_at",
    "cause",
)


def _save_request(r: CallbackRequest, state: flow.Request, **extra) -> bool:
    changed = []
    for attr, column in _REQUEST_FIELDS.items():
        value = getattr(state, attr)
        if attr == "close_reason":
            value = value[:200]
        if getattr(r, column) != value:
            setattr(r, column, value)
            changed.append(column)
    if state.status != flow.DIALING and r.claimed_by:
        r.claimed_by = ""
        changed.append("claimed_by")
    for column, value in extra.items():
        if getattr(r, column) != value:
            setattr(r, column, value)
            changed.append(column)
    if changed:
        r.save(update_fields=changed)
    return bool(changed)


def _save_attempt(a: CallbackAttempt, state: flow.Attempt) -> bool:
    changed = []
    for column in _ATTEMPT_FIELDS:
        value = getattr(state, column)
        if column == "cause":
            value = value[:64]
        if getattr(a, column) != value:
            setattr(a, column, value)
            changed.append(column)
    if changed:
        a.save(update_fields=changed)
    return bool(changed)


# -- notifications ------------------------------------------------------------------------------


def _notify_department(**kwargs):
    """The one call into portal.notifications (kept in one place: its signature is theirs)."""
    from portal.notifications.services import notify_department

    return notify_department(**kwargs)


_REASON_TEXT = {
    flow.REASON_WINDOW: lambda: _("ни один сотрудник не освободился за 10 минут"),
    flow.REASON_NO_ANSWER: lambda: _("абонент не ответил"),
    flow.REASON_UNREACHABLE: lambda: _("номер абонента недоступен"),
    flow.REASON_OPTION_OFF: lambda: _("опция «Обратный вызов» отключена"),
    flow.REASON_CONNECTED: lambda: _("разговор состоялся"),
    flow.REASON_STAFF_DONE: lambda: _("отмечен выполненным"),
    flow.REASON_STAFF_CANCELLED: lambda: _("отменён сотрудником"),
    flow.REASON_GOT_THROUGH: lambda: _("дозвонился сам"),
}


def reason_text(reason: str) -> str:
    text = _REASON_TEXT.get(reason)
    return str(text()) if text else reason


def _dispatch(r: CallbackRequest, commands: list) -> None:
    for command in commands:
        if isinstance(command, flow.Notify):
            _notify(r, command)


def _notify(r: CallbackRequest, command: flow.Notify) -> None:
    department = r.department
    with translation.override(r.customer.language or "ru"):
        caller = display(r.caller_number)
        if command.kind == "callback_requested":
            title = _("Запрос обратного вызова: %(caller)s") % {"caller": caller}
            body = _(
                "Абонент %(caller)s просит перезвонить (отдел «%(department)s»). "
                "Первая попытка начнётся в течение 10 минут, как только освободится сотрудник."
            ) % {"caller": caller, "department": department.name}
        else:
            title = _("Обратный вызов не состоялся: %(caller)s") % {"caller": caller}
            body = _("Абонент %(caller)s (отдел «%(department)s»): %(reason)s. Попыток: %(n)d.") % {
                "caller": caller,
                "department": department.name,
                "reason": reason_text(command.reason),
                "n": r.attempts_made,
            }
    payload = {
        "callback_request_id": r.pk,
        "caller_number": r.caller_number,
        "department_id": department.pk,
        "status": r.status,
        "attempts_made": r.attempts_made,
        "reason": command.reason,
    }
    try:
        with transaction.atomic():
            _notify_department(
                department=department, kind=command.kind, title=title, body=body, payload=payload
            )
    except Exception:
        log.exception("callback %s: could not notify department %s", r.pk, department.pk)


# -- requests -------------------------------------------------------------------------------------


def _caller_e164(raw: str) -> str | None:
    """The caller's number as E.164, or None for anonymous/withheld/garbage caller IDs."""
    return phone.caller_e164(raw)


def callback_request_create(
    *,
    customer_id: int,
    number_e164: str,
    caller_number: str,
    origin_uuid: str,
    now: dt.datetime,
    department_id: int | None = None,
) -> tuple[CallbackRequest | None, str]:
    """Record that the caller on channel `origin_uuid` pressed 1 in the queue of `number_e164`.

    `department_id`: the queue the caller was in, as the dialplan tagged the channel
    (`pbx_department`): a voice-menu key can lead a caller of any of the customer's numbers
    to any department's queue. Without it the queue is the multichannel number's own.

    Returns `(request, "created")`, `(request, "scheduled")` when it was taken outside the
    department's working hours and is due at the opening (`next_attempt_at`), or `(existing, "duplicate")` when this channel already made
    a request or the caller already has an open one for the department, or `(None, reason)`
    with reason one of "option_off", "unknown_number" (not the customer's multichannel number),
    "no_department" (the number routes to no department), "anonymous" (withheld/invalid
    caller ID), "no_origin". The department is notified ("callback_requested") on success.
    """
    origin_uuid = (origin_uuid or "").strip()
    if not origin_uuid or len(origin_uuid) > 64:
        return None, "no_origin"
    existing = CallbackRequest.objects.filter(origin_uuid=origin_uuid).first()
    if existing is not None:
        return (existing if existing.customer_id == customer_id else None), "duplicate"
    if not option_enabled(customer_id, Option.CALLBACK):
        return None, "option_off"
    try:
        number_e164 = to_e164(number_e164 if number_e164.startswith("+") else f"+{number_e164}")
    except (ValidationError, AttributeError):
        return None, "unknown_number"
    numbers = PhoneNumber.objects.filter(customer_id=customer_id, e164=number_e164)
    if department_id is None:
        numbers = numbers.filter(kind=PhoneNumber.Kind.MULTICHANNEL)
    number = numbers.select_related("department").first()
    if number is None:
        return None, "unknown_number"
    if department_id is not None:
        department = Department.objects.filter(pk=department_id, customer_id=customer_id).first()
    else:
        department = number.department
    if department is None:
        return None, "no_department"
    caller = _caller_e164(caller_number)
    if caller is None:
        return None, "anonymous"

    opens_at = _opens_at(customer_id, number, department.pk, now)
    state, commands = flow.new_request(now=now, policy=POLICY, opens_at=opens_at)
    try:
        with transaction.atomic():
            open_one = _open_request(department.pk, caller, lock=True)
            if open_one is not None:
                return open_one, "duplicate"
            with transaction.atomic():  # savepoint: a concurrent twin violates a constraint
                r = CallbackRequest.objects.create(
                    customer_id=customer_id,
                    department=department,
                    number=number,
                    caller_number=caller,
                    status=state.status,
                    next_attempt_at=state.next_attempt_at,
                    first_attempt_deadline=state.first_attempt_deadline,
                    origin_uuid=origin_uuid,
                    created_at=now,
                )
            _dispatch(r, commands)
    except IntegrityError:
        twin = CallbackRequest.objects.filter(origin_uuid=origin_uuid).first() or _open_request(
            department.pk, caller
        )
        if twin is None:
            raise
        return twin, "duplicate"
    log.info("callback %s requested by %s (department %s)", r.pk, caller, r.department_id)
    return r, ("scheduled" if opens_at is not None else "created")


def _opens_at(
    customer_id: int, number: PhoneNumber, department_id: int, now: dt.datetime
) -> dt.datetime | None:
    """Outside the department's working hours (portal.menus schedules), or when the first
    attempt's window would end after closing: the next opening. None: dial as usual."""
    from django.apps import apps

    if not apps.is_installed("portal.menus"):
        return None
    from portal.menus import rules as hours_rules
    from portal.menus.selectors import callback_hours

    hours = callback_hours(
        customer_id=customer_id, department_id=department_id, number_id=number.pk
    )
    timing = hours_rules.callback_timing(hours, now, POLICY.first_attempt_window)
    return timing.due_at if timing.deferred else None


def callback_request_caller_left(*, origin_uuid: str, now: dt.datetime) -> bool:
    """The call in which the caller pressed 1 (channel `origin_uuid`) has ended: the first
    attempt is due now. True when this moved the due time (False: unknown channel, already
    due, or past the first attempt)."""
    origin_uuid = (origin_uuid or "").strip()
    if not origin_uuid:
        return False
    with transaction.atomic():
        r = (
            CallbackRequest.objects.select_for_update()
            .filter(origin_uuid=origin_uuid, status=flow.PENDING)
            .first()
        )
        if r is None:
            return False
        state = _request_state(r)
        new, commands = flow.on_caller_left(state, now=now, policy=POLICY)
        if new == state:
            return False
        _save_request(r, new)
        _dispatch(r, commands)
    log.info("callback %s: the caller's call ended, due now", r.pk)
    return True


def _open_request(department_id: int, caller: str, *, lock: bool = False):
    qs = CallbackRequest.objects.filter(
        department_id=department_id, caller_number=caller, status__in=flow.OPEN
    )
    if lock:
        qs = qs.select_for_update()
    return qs.first()


# -- claiming -------------------------------------------------------------------------------------


def _customer_options(customer_id: int) -> frozenset[str]:
    return options_enabled(customer_id)


def _caller_id_to_show(employee: Employee, *, multichannel: str, numbers, options) -> str:
    """The customer's number the caller sees when `employee` calls back (see EmployeeCandidate)."""
    if Option.CALLER_ID in options and employee.caller_id_option:
        return multichannel
    own = outbound_number(employee, numbers, options - {Option.CALLER_ID})
    return own or multichannel


def _candidates(
    r: CallbackRequest, multichannel: str, *, as_of_attempt: int | None = None
) -> list[EmployeeCandidate]:
    """Active employees of the department, the one who least recently took a callback first.

    `as_of_attempt` rebuilds the order an attempt started with (its own answer not counted)."""
    options = _customer_options(r.customer_id)
    numbers = list(
        PhoneNumber.objects.filter(
            customer_id=r.customer_id,
            kind__in=(PhoneNumber.Kind.REGULAR, PhoneNumber.Kind.MULTICHANNEL),
        )
    )
    answered = "callback_attempts__employee_answered_at"
    last = (
        Max(answered)
        if as_of_attempt is None
        else Max(answered, filter=~Q(callback_attempts__pk=as_of_attempt))
    )
    employees = (
        Employee.objects.filter(
            customer_id=r.customer_id, department_id=r.department_id, is_active=True
        )
        .annotate(last_callback=last)
        .order_by(F("last_callback").asc(nulls_first=True), "extension", "id")
    )
    return [
        EmployeeCandidate(
            e.pk,
            e.extension,
            _caller_id_to_show(e, multichannel=multichannel, numbers=numbers, options=options),
        )
        for e in employees
    ]


def callback_claim_due(
    *,
    now: dt.datetime,
    worker: str,
    limit: int = 20,
    claim_ttl: dt.timedelta = POLICY.claim_ttl,
    customer_id: int | None = None,
) -> list[AttemptPlan]:
    """Claim up to `limit` due requests for `worker` and start one attempt on each.

    Each request is taken by compare-and-swap (pending and due -> dialing), so of two workers
    exactly one wins it. At that moment the windows and the option are checked again: a request
    that must not be dialled any more is closed instead (failed or cancelled, department told).
    The claim lasts `claim_ttl` plus 30 s per candidate employee (they are rung one by one) and
    is extended by every step call control reports; an expired claim is recovered by
    `callbacks_housekeeping`.
    """
    policy = replace(POLICY, claim_ttl=claim_ttl)
    due_rows = CallbackRequest.objects.filter(status=flow.PENDING, next_attempt_at__lte=now)
    if customer_id is not None:  # one customer's only (the demo's history replays its own)
        due_rows = due_rows.filter(customer_id=customer_id)
    due = list(
        due_rows.order_by("next_attempt_at", "id").values_list("id", flat=True)[: max(limit, 0)]
    )
    plans = []
    for request_id in due:
        plan = _claim_one(request_id, now=now, worker=worker[:100], policy=policy)
        if plan is not None:
            plans.append(plan)
    return plans


def _claim_one(request_id: int, *, now, worker: str, policy: flow.Policy) -> AttemptPlan | None:
    with transaction.atomic():
        won = (
            CallbackRequest.objects.filter(
                id=request_id, status=flow.PENDING, next_attempt_at__lte=now
            ).update(
                status=flow.DIALING, claimed_by=worker, claim_expires_at=now + policy.claim_ttl
            )
            == 1
        )
        if not won:
            return None
        r = (
            CallbackRequest.objects.select_for_update(of=("self",))
            .select_related("customer", "department", "number")
            .get(pk=request_id)
        )
        state = replace(_request_state(r), status=flow.PENDING)
        option_on = option_enabled(r.customer_id, Option.CALLBACK)
        new, commands = flow.claimable(state, now=now, option_on=option_on, policy=policy)
        if new.status in flow.OPEN and r.number is None:
            new, commands = flow.fail(state, "multichannel number removed", now)
        if new.status not in flow.OPEN:
            _save_request(r, new)
            _dispatch(r, commands)
            log.info("callback %s not dialled: %s %s", r.pk, new.status, new.close_reason)
            return None
        if not commands:  # not due after all (cannot happen after the CAS; keep it pending)
            _save_request(r, state)
            return None
        (start,) = [c for c in commands if isinstance(c, flow.StartAttempt)]
        multichannel = r.number.e164
        candidates = _candidates(r, multichannel)
        attempt = CallbackAttempt.objects.create(
            request=r, number=start.number, worker=worker, started_at=now
        )
        new = flow.attempt_started(
            new, attempt_id=attempt.pk, now=now, candidates=len(candidates), policy=policy
        )
        _save_request(r, new, claimed_by=worker)
    log.info("callback %s attempt %s claimed by %s", r.pk, start.number, worker)
    return AttemptPlan(
        request_id=r.pk,
        attempt_id=attempt.pk,
        attempt_number=start.number,
        customer_id=r.customer_id,
        department_id=r.department_id,
        caller_number=r.caller_number,
        multichannel_number=multichannel,
        candidates=candidates,
    )


def callback_attempt_plan(*, attempt_id: int) -> AttemptPlan | None:
    """The plan of an attempt still being dialled, rebuilt from the database (for a call-control
    process that restarted, or another node's events); None once the attempt is finished."""
    attempt = (
        CallbackAttempt.objects.select_related("request__number")
        .filter(pk=attempt_id, request__status=flow.DIALING, request__current_attempt_id=attempt_id)
        .exclude(status=flow.FINISHED)
        .first()
    )
    if attempt is None or attempt.request.number is None:
        return None
    r = attempt.request
    return AttemptPlan(
        request_id=r.pk,
        attempt_id=attempt.pk,
        attempt_number=attempt.number,
        customer_id=r.customer_id,
        department_id=r.department_id,
        caller_number=r.caller_number,
        multichannel_number=r.number.e164,
        candidates=_candidates(r, r.number.e164, as_of_attempt=attempt.pk),
    )


# -- attempt steps ----------------------------------------------------------------------------------


def _step(attempt_id: int, step, **kwargs) -> tuple[CallbackRequest | None, bool]:
    """Lock the attempt's request and the attempt, apply a flow step, save, dispatch.

    Returns the request and whether the rules took the step: a step they refuse (the attempt
    ended, the request was cancelled or done meanwhile, a duplicate) changes nothing, and the
    telephony must not act on it (not dial the caller after a late "employee answered")."""
    with transaction.atomic():
        request_id = (
            CallbackAttempt.objects.filter(pk=attempt_id)
            .values_list("request_id", flat=True)
            .first()
        )
        if request_id is None:
            log.warning("callback attempt %s: no such attempt", attempt_id)
            return None, False
        r = (
            CallbackRequest.objects.select_for_update(of=("self",))
            .select_related("customer", "department")
            .get(pk=request_id)
        )
        a = CallbackAttempt.objects.select_for_update().get(pk=attempt_id)
        old_r, old_a = _request_state(r), _attempt_state(a)
        new_r, new_a, commands = step(old_r, old_a, policy=POLICY, **kwargs)
        applied = (new_r, new_a) != (old_r, old_a) or bool(commands)
        _save_attempt(a, new_a)
        extra = {}
        if new_r.status == flow.COMPLETED and r.status != flow.COMPLETED:
            extra["employee_id"] = new_a.employee_id
        _save_request(r, new_r, **extra)
        _dispatch(r, commands)
    return r, applied


def callback_attempt_employee_answered(
    *, attempt_id: int, employee_id: int, employee_uuid: str, now: dt.datetime
) -> bool:
    """The employee took the call. False: the attempt is not going on any more (cancelled,
    done, ended, or this answer was already recorded): do not dial the caller."""
    return _step(
        attempt_id,
        flow.on_employee_answered,
        employee_id=employee_id,
        employee_uuid=(employee_uuid or "")[:64],
        now=now,
    )[1]


def callback_attempt_caller_dialing(
    *, attempt_id: int, caller_uuid: str, caller_id_shown: str, now: dt.datetime
) -> bool:
    """The caller's leg is about to be dialled. False: the rules refused it: do not dial."""
    return _step(
        attempt_id,
        flow.on_caller_dialing,
        caller_uuid=(caller_uuid or "")[:64],
        caller_id_shown=(caller_id_shown or "")[:16],
        now=now,
    )[1]


def callback_attempt_bridged(
    *, attempt_id: int, now: dt.datetime, recording_path: str = ""
) -> None:
    """Both legs are connected. `recording_path`: where the call is recorded, if it is."""
    r, _ = _step(attempt_id, flow.on_bridged, now=now)
    if r is not None and recording_path:
        CallbackAttempt.objects.filter(pk=attempt_id, recording_path="").update(
            recording_path=recording_path[:500]
        )
        recording_register(customer_id=r.customer_id, path=recording_path)  # storage quota


def callback_attempt_finished(
    *, attempt_id: int, caller_answered: bool, bridged: bool, cause: str, now: dt.datetime
) -> str:
    """The attempt is over. Returns the request's status afterwards ("" for an unknown attempt)."""
    r, _ = _step(
        attempt_id,
        flow.on_attempt_finished,
        caller_answered=caller_answered,
        bridged=bridged,
        cause=cause,
        now=now,
    )
    return r.status if r is not None else ""


def callback_no_employee_free(*, attempt_id: int, now: dt.datetime) -> str:
    """Nobody of the department answered: again in 30 s, or failed if the window has passed."""
    r, _ = _step(attempt_id, flow.on_no_employee_free, now=now)
    return r.status if r is not None else ""


def callback_attempt_lost(*, attempt_id: int, now: dt.datetime) -> str:
    """Call control lost track of the attempt (its channels are gone): finished, cause LOST.

    Counted as a missed attempt if the caller's phone was dialled; a bridged attempt counts as
    the completed callback it was.
    """
    r, _ = _step(attempt_id, flow.on_attempt_lost, now=now)
    return r.status if r is not None else ""


# -- housekeeping -----------------------------------------------------------------------------------


def callbacks_housekeeping(*, now: dt.datetime) -> dict[str, int]:
    """Recover abandoned claims and close requests that can no longer be dialled. Never dials.

    - dialing with an expired claim: the worker went silent. The attempt ends as LOST: with no
      progress (no employee answered yet) the request is due again in 30 s; once the caller was
      dialled the attempt counts (retry in 5 min or failed); a bridged one completes.
    - pending past its window (nothing ran in time): failed, department told.
    - pending while the customer's callback option is off: cancelled, department told.
    """
    counts = {"recovered": 0, "failed": 0, "cancelled": 0}
    expired = list(
        CallbackRequest.objects.filter(status=flow.DIALING, claim_expires_at__lt=now)
        .order_by("claim_expires_at")
        .values_list("id", flat=True)[:HOUSEKEEPING_BATCH]
    )
    for request_id in expired:
        if _recover(request_id, now=now):
            counts["recovered"] += 1
    option_on = OptionPeriod.objects.filter(
        customer_id=OuterRef("customer_id"), option__code=Option.CALLBACK, ended_at__isnull=True
    )
    stale = list(
        CallbackRequest.objects.filter(status=flow.PENDING)
        .filter(
            Q(attempts_made=0, first_attempt_deadline__lte=now)
            | Q(attempts_made__gt=0, retry_deadline__lte=now)
            | ~Exists(option_on)
        )
        .values_list("id", flat=True)[:HOUSEKEEPING_BATCH]
    )
    for request_id in stale:
        status = _expire(request_id, now=now)
        if status in counts:
            counts[status] += 1
    return counts


def _locked_request(request_id: int) -> CallbackRequest | None:
    """The request, locked for the rest of the caller's transaction (None if it is gone)."""
    return (
        CallbackRequest.objects.select_for_update(of=("self",))
        .select_related("customer", "department")
        .filter(pk=request_id)
        .first()
    )


def _recover(request_id: int, *, now: dt.datetime) -> bool:
    with transaction.atomic():
        r = _locked_request(request_id)
        if r is None or r.current_attempt_id is None:
            return False
        state = _request_state(r)
        a = CallbackAttempt.objects.select_for_update().get(pk=r.current_attempt_id)
        if not flow.abandoned(state, _attempt_state(a), now=now):
            return False  # another housekeeper (or the worker) got there first
        new_r, new_a, commands = flow.on_attempt_lost(
            state, _attempt_state(a), now=now, policy=POLICY
        )
        if not _save_attempt(a, new_a):
            return False
        extra = {"employee_id": new_a.employee_id} if new_r.status == flow.COMPLETED else {}
        worker = r.claimed_by
        _save_request(r, new_r, claimed_by="", **extra)
        _dispatch(r, commands)
    log.warning("callback %s: claim of %s expired, attempt %s lost", r.pk, worker, a.pk)
    return True


def _expire(request_id: int, *, now: dt.datetime) -> str:
    with transaction.atomic():
        r = _locked_request(request_id)
        if r is None:
            return ""
        state = _request_state(r)
        new, commands = flow.expire(
            state, now=now, option_on=option_enabled(r.customer_id, Option.CALLBACK), policy=POLICY
        )
        if new == state:
            return ""
        _save_request(r, new)
        _dispatch(r, commands)
    log.info("callback %s %s: %s", r.pk, new.status, new.close_reason)
    return new.status


# -- staff in the portal ----------------------------------------------------------------------

STAFF_ACTIONS = ("call_now", "done", "cancel")


def callback_request_act(
    *, customer_id: int, request_id: int, action: str, user, now: dt.datetime
) -> CallbackRequest:
    """A person of the customer acts on a request: "call_now" (due now; call control's next
    tick claims it by compare-and-swap, the web process never dials), "done" or "cancel".

    The row is locked, so an action and a claim never both win: a request call control took
    in the meantime is "dialing" and moves no more. Records who acted and when. Raises
    CallbackRequest.DoesNotExist for another customer's request and ValidationError (with a
    message for the person) when the request cannot move that way now."""
    if action not in STAFF_ACTIONS:
        raise ValidationError(_("Неизвестное действие."), code="unknown_action")
    with transaction.atomic():
        r = _locked_request_of(customer_id, request_id)
        state = _request_state(r)
        if action == "call_now":
            if not option_enabled(customer_id, Option.CALLBACK):
                raise ValidationError(
                    _("Опция «Обратный вызов» отключена: позвонить нельзя."), code="option_off"
                )
            if state.status in flow.CLOSED:
                twin = _open_request(r.department_id, r.caller_number, lock=True)
                if twin is not None and twin.pk != r.pk:
                    raise ValidationError(
                        _("У этого абонента уже есть открытая заявка в отдел."), code="twin"
                    )
            new, _commands = flow.staff_call_now(state, now=now, policy=POLICY)
        else:
            new, _commands = flow.staff_close(state, done=action == "done", now=now)
        if new == state:
            raise ValidationError(_refusal(r), code="not_now")
        _save_request(r, new, handled_by=user, handled_at=now)
    log.info("callback %s: %s by user %s", r.pk, action, getattr(user, "pk", None))
    return r


def _refusal(r: CallbackRequest) -> str:
    if r.status == flow.DIALING:
        return _("Сейчас идёт вызов: дождитесь его окончания.")
    if r.status == flow.COMPLETED:
        return _("Заявка уже выполнена.")
    return _("С заявкой в этом состоянии так поступить нельзя.")


def _locked_request_of(customer_id: int, request_id: int) -> CallbackRequest:
    return (
        CallbackRequest.objects.select_for_update(of=("self",))
        .select_related("customer", "department")
        .get(pk=request_id, customer_id=customer_id)
    )


def callbacks_close_got_through(*, call_record_ids: list[int]) -> int:
    """Close the pending requests whose caller got through on their own: an answered inbound
    call from the caller's number to one of the department's numbers, started after the request
    was made. Returns how many requests closed ("дозвонился сам").

    Set-based: a batch costs one query when none of its customers has a pending request (the
    usual case), else three (its calls, the pending requests of those callers, the numbers they
    called) plus one locked update per request that closes."""
    calls = []
    rows = (
        CallRecord.objects.filter(
            pk__in=call_record_ids,
            direction=CallRecord.Direction.INBOUND,
            customer__isnull=False,
            answered_at__isnull=False,
            billsec__gt=0,
            customer__callback_requests__status=flow.PENDING,
        )
        .distinct()
        .values_list(
            "customer_id", "caller_number", "callee_number", "variables", "started_at", "ended_at"
        )
    )
    for customer_id, caller_raw, callee_raw, variables, started_at, ended_at in rows:
        caller = _caller_e164(caller_raw)
        called = _caller_e164((variables or {}).get("pbx_number") or callee_raw)
        if caller and called and started_at:
            calls.append((customer_id, caller, called, started_at, ended_at))
    if not calls:
        return 0
    customers = {c[0] for c in calls}
    pending = list(
        CallbackRequest.objects.filter(
            status=flow.PENDING,
            customer_id__in=customers,
            caller_number__in={c[1] for c in calls},
        ).values_list("id", "customer_id", "caller_number", "department_id", "created_at")
    )
    if not pending:
        return 0
    department_of = {
        (customer_id, e164): department_id
        for customer_id, e164, department_id in PhoneNumber.objects.filter(
            customer_id__in=customers, e164__in={c[2] for c in calls}
        ).values_list("customer_id", "e164", "department_id")
    }
    closed = 0
    for request_id, customer_id, caller, department_id, created_at in pending:
        through = [
            ended_at
            for c_customer, c_caller, called, started_at, ended_at in calls
            if (c_customer, c_caller) == (customer_id, caller)
            and department_of.get((customer_id, called)) == department_id
            and started_at >= created_at
        ]
        if not through:
            continue
        with transaction.atomic():
            r = _locked_request(request_id)
            if r is None:
                continue
            state = _request_state(r)
            new, _commands = flow.caller_got_through(state, now=through[0] or timezone.now())
            if new != state:
                _save_request(r, new)
                closed += 1
                log.info("callback %s: the caller got through on their own", r.pk)
    return closed


def on_cdr_batch_ingested(sender, *, records: list[dict], **kwargs) -> None:
    """A written CDR batch may hold the caller's own call that got through (see above)."""
    complete = [r["call_record_id"] for r in records if r["complete"]]
    if not complete:
        return
    try:
        callbacks_close_got_through(call_record_ids=complete)
    except Exception:  # never the CDR intake's failure: the request is dialled as planned
        log.exception(
            "callbacks: could not check %d CDRs for callers who got through", len(complete)
        )
