"""Write path of fictive numbers: what call control asks and reports, and the portal's edits.

Call control (portal/fictive/telephony.py) asks for a context (`access_context`, `inbound_context`,
`return_context`), drives the pure IVR (`ivr.py`) with it and reports what happened
(`outbound_call_started`, `fictive_call_finished`, `inbound_call_finished`,
`pending_connected`). All of them are keyword-only, and every lookup is scoped to the customer
that owns the number that was called, so a shopper never reaches another customer's (or
another shopper's) fictive numbers.

A missed call from a dealer becomes a `PendingMissedCall` with the next sequence number of the
shopper (the shopper row is locked, so concurrent missed calls get distinct numbers) and an
SMS to the shopper, logged as a notifications `Delivery` and sent after commit.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.billing.models import Option
from portal.billing.selectors import option_enabled
from portal.calls.recordings import recording_register
from portal.directory import phone
from portal.directory.models import PhoneNumber
from portal.directory.phone import to_e164
from portal.fictive import ivr, sms
from portal.fictive.ivr import (
    AccessContext,
    FictiveChoice,
    PendingChoice,
    ReturnContext,
)
from portal.fictive.models import (
    FictiveCall,
    FictiveNumber,
    PendingMissedCall,
    Project,
    Shopper,
)
from portal.notifications.models import Delivery, Notification
from portal.notifications.services import direct_message
from portal.tenants.models import Customer

log = logging.getLogger(__name__)

# Refusal reasons of inbound_context (the access/return ones are in ivr.py).
UNKNOWN_FICTIVE = "unknown_fictive"
NOT_PAIRED = "not_paired"
NO_RETURN_NUMBER = "no_return_number"

# A pending missed call nobody returned is closed as expired after this long.
PENDING_MAX_AGE = dt.timedelta(days=7)


@dataclass(frozen=True)
class InboundContext:
    """What call control needs to ring the shopper for a call to one of their fictive numbers."""

    customer_id: int
    language: str
    shopper_id: int
    fictive_id: int
    fictive_e164: str
    shopper_real_e164: str
    return_e164: str
    project_id: int | None = None


# -- numbers -------------------------------------------------------------------------------------


def _number_e164(raw: str) -> str | None:
    value = (raw or "").strip()
    if not value:
        return None
    try:
        return to_e164(value if value.startswith("+") else f"+{value}")
    except ValidationError:
        return None


def _region_of(e164: str) -> str:
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        region = None
    return region or getattr(settings, "PHONE_DEFAULT_REGION", "RU")


def caller_e164(raw: str, *, region: str) -> str | None:
    """A caller ID as E.164 (see portal.directory.phone.caller_e164)."""
    return phone.caller_e164(raw, region=region)


def _kind_number(e164: str, kind: str) -> PhoneNumber | None:
    number = _number_e164(e164)
    if number is None:
        return None
    return PhoneNumber.objects.filter(e164=number, kind=kind).select_related("customer").first()


def _option_on(customer_id: int) -> bool:
    return option_enabled(customer_id, Option.FICTIVE_NUMBERS)


def _shopper(customer_id: int, caller: str | None) -> Shopper | None:
    if caller is None:
        return None
    return (
        Shopper.objects.filter(customer_id=customer_id, real_number=caller)
        .select_related("project")
        .first()
    )


def _choices(shopper: Shopper) -> tuple[FictiveChoice, ...]:
    rows = (
        FictiveNumber.objects.filter(
            customer_id=shopper.customer_id,
            shopper=shopper,
            number__customer_id=shopper.customer_id,
            number__kind=PhoneNumber.Kind.FICTIVE,
        )
        .select_related("number")
        .order_by("ordinal")
    )
    return tuple(FictiveChoice(f.pk, f.ordinal, f.number.e164) for f in rows)


# -- access number (outbound) --------------------------------------------------------------------


def access_context(*, access_e164: str, caller_number: str) -> tuple[AccessContext | None, str]:
    """Who is calling the access number and which fictive numbers they may call from.

    Refusals: "unknown_access", "option_off", "unknown_caller" (the caller is no shopper of the
    customer owning this access number), "no_fictive".
    """
    access = _kind_number(access_e164, PhoneNumber.Kind.ACCESS)
    if access is None:
        return None, ivr.UNKNOWN_ACCESS
    customer = access.customer
    if not _option_on(customer.pk):
        return None, ivr.OPTION_OFF
    region = _region_of(access.e164)
    caller = caller_e164(caller_number, region=region)
    shopper = _shopper(customer.pk, caller)
    if shopper is None:
        log.info("fictive access %s: caller %r is no shopper", access.e164, caller_number)
        return None, ivr.UNKNOWN_CALLER
    choices = _choices(shopper)
    if not choices:
        return None, ivr.NO_FICTIVE
    return (
        AccessContext(
            customer_id=customer.pk,
            language=customer.language,
            shopper_id=shopper.pk,
            project_id=shopper.project_id,
            allowed_prefixes=shopper.project.prefixes,
            fictive=choices,
            region=region,
            access_e164=access.e164,
            caller_e164=caller,
        ),
        "ok",
    )


def _record(customer_id: int, path: str) -> None:
    """The recording counts against the storage quota (sized now or by recordings_measure)."""
    if path:
        try:
            recording_register(customer_id=customer_id, path=path)
        except Exception:
            log.exception("fictive: could not register recording %s", path)


def outbound_call_started(
    *,
    ctx: AccessContext,
    fictive_id: int,
    destination_e164: str,
    uuid: str,
    recording_path: str,
    now: dt.datetime,
) -> int:
    """Log an outbound call the IVR is about to dial. Returns the FictiveCall id.

    Raises ValidationError when the fictive number is not the shopper's (of this customer) or
    the destination fails `check_destination` for the shopper's project; the adapter must not
    dial then. Replaying the same `uuid` returns the same row.
    """
    fictive = (
        FictiveNumber.objects.filter(
            pk=fictive_id,
            customer_id=ctx.customer_id,
            shopper_id=ctx.shopper_id,
            number__customer_id=ctx.customer_id,
            number__kind=PhoneNumber.Kind.FICTIVE,
        )
        .select_related("number", "shopper__project")
        .first()
    )
    if fictive is None:
        raise ValidationError(
            "fictive number %(id)s is not this shopper's", params={"id": fictive_id}
        )
    destination, reason = ivr.check_destination(
        destination_e164, allowed_prefixes=fictive.shopper.project.prefixes, region=ctx.region
    )
    if destination is None or destination != destination_e164:
        raise ValidationError(
            "destination %(d)r refused: %(r)s", params={"d": destination_e164, "r": reason}
        )
    uuid = (uuid or "")[:64]
    if not uuid:
        raise ValidationError("uuid is required")
    with transaction.atomic():
        call, created = FictiveCall.objects.get_or_create(
            uuid=uuid,
            defaults={
                "customer_id": ctx.customer_id,
                "project_id": fictive.shopper.project_id,
                "shopper_id": ctx.shopper_id,
                "fictive": fictive,
                "fictive_e164": fictive.number.e164,
                "direction": FictiveCall.Direction.OUTBOUND,
                "other_number": destination,
                "recording_path": (recording_path or "")[:500],
                "started_at": now,
            },
        )
        if call.customer_id != ctx.customer_id:
            raise ValidationError("uuid belongs to another customer's call")
        if created:
            _record(ctx.customer_id, call.recording_path)
    log.info("fictive outbound %s: %s -> %s", call.pk, call.fictive_e164, destination)
    return call.pk


def fictive_call_finished(*, uuid: str, bridged: bool, cause: str, now: dt.datetime) -> bool:
    """A fictive call (any direction) is over. False for an unknown uuid; idempotent (the first
    report wins for the end time, `bridged` only ever turns on)."""
    call = FictiveCall.objects.filter(uuid=(uuid or "")[:64]).first()
    if call is None:
        return False
    fields = {}
    if call.ended_at is None:
        fields.update(ended_at=now, cause=(cause or "")[:64])
    if bridged and not call.bridged:
        fields["bridged"] = True
    if fields:
        FictiveCall.objects.filter(pk=call.pk).update(**fields)
    return True


# -- a dealer calls a fictive number (inbound) ---------------------------------------------------


def _return_number(customer_id: int) -> PhoneNumber | None:
    return (
        PhoneNumber.objects.filter(customer_id=customer_id, kind=PhoneNumber.Kind.RETURN)
        .order_by("e164")
        .first()
    )


def inbound_context(*, fictive_e164: str, dealer_number: str) -> tuple[InboundContext | None, str]:
    """Whom to ring for a call to a fictive number, and which number to show them.

    Refusals: "unknown_fictive", "option_off", "not_paired", "no_return_number".
    """
    number = _kind_number(fictive_e164, PhoneNumber.Kind.FICTIVE)
    if number is None:
        return None, UNKNOWN_FICTIVE
    customer = number.customer
    if not _option_on(customer.pk):
        return None, ivr.OPTION_OFF
    fictive = (
        FictiveNumber.objects.filter(
            number=number, customer_id=customer.pk, shopper__customer_id=customer.pk
        )
        .select_related("shopper")
        .first()
    )
    if fictive is None:
        return None, NOT_PAIRED
    ret = _return_number(customer.pk)
    if ret is None:
        return None, NO_RETURN_NUMBER
    return (
        InboundContext(
            customer_id=customer.pk,
            language=customer.language,
            shopper_id=fictive.shopper_id,
            fictive_id=fictive.pk,
            fictive_e164=number.e164,
            shopper_real_e164=fictive.shopper.real_number,
            return_e164=ret.e164,
            project_id=fictive.shopper.project_id,
        ),
        "ok",
    )


def inbound_call_finished(
    *,
    ctx: InboundContext,
    dealer_number: str,
    uuid: str,
    answered: bool,
    recording_path: str,
    now: dt.datetime,
    started_at: dt.datetime | None = None,
    cause: str = "",
) -> PendingMissedCall | None:
    """The dealer's call to a fictive number is over.

    Answered: logged (with its recording). Not answered: logged, and a pending missed call with
    the shopper's next sequence number is opened and the shopper gets an SMS (after commit)
    naming the dealer, the sequence number and the return number. An anonymous dealer cannot be
    called back: no pending call then. Replaying the same `uuid` changes nothing and returns the
    pending call it opened the first time.
    """
    uuid = (uuid or "")[:64]
    region = _region_of(ctx.fictive_e164)
    dealer = caller_e164(dealer_number, region=region)
    with transaction.atomic():
        # The shopper row is the lock that orders the shopper's sequence numbers.
        shopper = (
            Shopper.objects.select_for_update()
            .filter(pk=ctx.shopper_id, customer_id=ctx.customer_id)
            .first()
        )
        if shopper is None:
            log.warning("fictive inbound %s: shopper %s is gone", uuid, ctx.shopper_id)
            return None
        existing = FictiveCall.objects.filter(uuid=uuid).first()
        if existing is not None:
            return PendingMissedCall.objects.filter(call=existing).first()
        fictive = FictiveNumber.objects.filter(pk=ctx.fictive_id, shopper=shopper).first()
        call = FictiveCall.objects.create(
            customer_id=ctx.customer_id,
            project_id=shopper.project_id,
            shopper=shopper,
            fictive=fictive,
            fictive_e164=ctx.fictive_e164,
            direction=FictiveCall.Direction.INBOUND,
            other_number=dealer or "",
            uuid=uuid,
            bridged=answered,
            recording_path=(recording_path or "")[:500] if answered else "",
            started_at=started_at or now,
            ended_at=now,
            cause=(cause or "")[:64],
        )
        _record(ctx.customer_id, call.recording_path)
        if answered or dealer is None:
            return None
        sequence = (
            PendingMissedCall.objects.filter(
                shopper=shopper, status=PendingMissedCall.Status.OPEN
            ).aggregate(m=Max("sequence"))["m"]
            or 0
        ) + 1
        pending = PendingMissedCall.objects.create(
            customer_id=ctx.customer_id,
            shopper=shopper,
            fictive=fictive,
            fictive_e164=ctx.fictive_e164,
            dealer_number=dealer,
            sequence=sequence,
            call=call,
            created_at=now,
        )
        pending.sms = _sms_to_shopper(pending, ctx=ctx)
        PendingMissedCall.objects.filter(pk=pending.pk).update(sms=pending.sms)
    log.info("fictive missed call %s: shopper %s no. %s", pending.pk, shopper.pk, sequence)
    return pending


def _sms_to_shopper(pending: PendingMissedCall, *, ctx: InboundContext) -> Delivery:
    title, body = sms.missed_call_text(
        language=ctx.language,
        sequence=pending.sequence,
        dealer=pending.dealer_number,
        fictive=pending.fictive_e164,
        return_number=ctx.return_e164,
    )
    (delivery,) = direct_message(
        customer_id=ctx.customer_id,
        kind=Notification.Kind.MISSED_CALL,
        title=title,
        body=body,
        targets=[(Delivery.Channel.SMS, ctx.shopper_real_e164)],
        payload={
            "fictive_pending_id": pending.pk,
            "shopper_id": pending.shopper_id,
            "sequence": pending.sequence,
            "dealer": pending.dealer_number,
            "fictive": pending.fictive_e164,
            "return": ctx.return_e164,
        },
    )
    return delivery


# -- return number -------------------------------------------------------------------------------


def return_context(*, return_e164: str, caller_number: str) -> tuple[ReturnContext | None, str]:
    """The caller's open pending missed calls (oldest sequence first).

    Refusals: "unknown_return", "option_off", "unknown_caller". A shopper with nothing pending
    gets a context with `pending=()` (the IVR says so).
    """
    ret = _kind_number(return_e164, PhoneNumber.Kind.RETURN)
    if ret is None:
        return None, ivr.UNKNOWN_RETURN
    customer = ret.customer
    if not _option_on(customer.pk):
        return None, ivr.OPTION_OFF
    caller = caller_e164(caller_number, region=_region_of(ret.e164))
    shopper = _shopper(customer.pk, caller)
    if shopper is None:
        return None, ivr.UNKNOWN_CALLER
    pending = PendingMissedCall.objects.filter(
        customer_id=customer.pk, shopper=shopper, status=PendingMissedCall.Status.OPEN
    ).order_by("sequence")
    return (
        ReturnContext(
            customer_id=customer.pk,
            language=customer.language,
            shopper_id=shopper.pk,
            pending=tuple(
                PendingChoice(p.pk, p.sequence, p.dealer_number, p.fictive_e164) for p in pending
            ),
            return_e164=ret.e164,
            caller_e164=caller,
        ),
        "ok",
    )


def pending_connected(
    *,
    pending_id: int,
    uuid: str,
    answered: bool,
    now: dt.datetime,
    recording_path: str = "",
) -> PendingMissedCall | None:
    """The shopper's return call to a pending missed call: logged once per `uuid`; answered ->
    the pending call is closed as connected. Idempotent (replays and late reports change
    nothing)."""
    uuid = (uuid or "")[:64]
    with transaction.atomic():
        pending = PendingMissedCall.objects.select_for_update().filter(pk=pending_id).first()
        if pending is None:
            return None
        if uuid:
            call, created = FictiveCall.objects.get_or_create(
                uuid=uuid,
                defaults={
                    "customer_id": pending.customer_id,
                    "project_id": Shopper.objects.filter(pk=pending.shopper_id)
                    .values_list("project_id", flat=True)
                    .first(),
                    "shopper_id": pending.shopper_id,
                    "fictive_id": pending.fictive_id,
                    "fictive_e164": pending.fictive_e164,
                    "direction": FictiveCall.Direction.RETURN,
                    "other_number": pending.dealer_number,
                    "bridged": answered,
                    "recording_path": (recording_path or "")[:500],
                    "started_at": now,
                },
            )
            if not created and answered and call.customer_id == pending.customer_id:
                fields = {"bridged": True}
                if recording_path and not call.recording_path:
                    fields["recording_path"] = recording_path[:500]
                    _record(pending.customer_id, recording_path)
                FictiveCall.objects.filter(pk=call.pk).update(**fields)
            elif created:
                _record(pending.customer_id, call.recording_path)
        if answered and pending.status == PendingMissedCall.Status.OPEN:
            pending.status = PendingMissedCall.Status.CONNECTED
            pending.closed_at = now
            pending.save(update_fields=["status", "closed_at"])
            log.info("fictive pending %s connected", pending.pk)
    return pending


def pending_expire(*, now: dt.datetime, max_age: dt.timedelta = PENDING_MAX_AGE) -> int:
    """Housekeeping: close open pending missed calls older than `max_age`. Returns how many."""
    return PendingMissedCall.objects.filter(
        status=PendingMissedCall.Status.OPEN, created_at__lt=now - max_age
    ).update(status=PendingMissedCall.Status.EXPIRED, closed_at=now)


def pending_expire_task() -> int:
    return pending_expire(now=timezone.now())


# -- portal edits ----------------------------------------------------------------------------------


def _clean_prefixes(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    bad = [line for line in lines if not ivr.normalize_prefixes([line])]
    if bad:
        raise ValidationError(
            {"allowed_prefixes": _("Префикс «%(p)s»: только цифры, можно с +.") % {"p": bad[0]}}
        )
    return "\n".join(ivr.normalize_prefixes(lines))


def project_save(
    *, customer: Customer, name: str, allowed_prefixes: str = "", project: Project | None = None
) -> Project:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("Укажите название.")})
    prefixes = _clean_prefixes(allowed_prefixes)
    if project is not None and project.customer_id != customer.pk:
        raise ValidationError("project of another customer")
    if (
        Project.objects.filter(customer=customer, name=name)
        .exclude(pk=project.pk if project else None)
        .exists()
    ):
        raise ValidationError({"name": _("Проект с таким названием уже есть.")})
    with transaction.atomic():
        if project is None:
            project = Project.objects.create(
                customer=customer, name=name, allowed_prefixes=prefixes
            )
        else:
            project.name, project.allowed_prefixes = name, prefixes
            project.save(update_fields=["name", "allowed_prefixes"])
    return project


def shopper_save(
    *,
    customer: Customer,
    name: str,
    real_number: str,
    project: Project,
    shopper: Shopper | None = None,
) -> Shopper:
    errors = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = _("Укажите имя.")
    try:
        number = to_e164(real_number)
    except ValidationError as exc:
        errors["real_number"] = exc.messages[0]
        number = ""
    if project is None or project.customer_id != customer.pk:
        errors["project"] = _("Выберите проект.")
    if shopper is not None and shopper.customer_id != customer.pk:
        raise ValidationError("shopper of another customer")
    if (
        number
        and Shopper.objects.filter(customer=customer, real_number=number)
        .exclude(pk=shopper.pk if shopper else None)
        .exists()
    ):
        errors["real_number"] = _("Покупатель с номером %(n)s уже есть.") % {"n": number}
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            if shopper is None:
                shopper = Shopper.objects.create(
                    customer=customer, project=project, name=name, real_number=number
                )
            else:
                shopper.name, shopper.real_number, shopper.project = name, number, project
                shopper.save(update_fields=["name", "real_number", "project"])
    except IntegrityError:
        raise ValidationError(
            {"real_number": _("Покупатель с номером %(n)s уже есть.") % {"n": number}}
        )
    return shopper


def shopper_delete(*, customer: Customer, shopper: Shopper) -> None:
    if shopper.customer_id != customer.pk:
        raise ValidationError("shopper of another customer")
    shopper.delete()


def fictive_pair(
    *,
    customer: Customer,
    shopper: Shopper,
    number: PhoneNumber,
    ordinal: int | None = None,
) -> FictiveNumber:
    """Pair a fictive PhoneNumber of the customer with a shopper; the ID is the shopper's next
    free ordinal unless given."""
    if shopper.customer_id != customer.pk:
        raise ValidationError({"shopper": _("Выберите покупателя.")})
    if number.customer_id != customer.pk or number.kind != PhoneNumber.Kind.FICTIVE:
        raise ValidationError({"number": _("Выберите фиктивный номер клиента.")})
    if ordinal is not None and ordinal < 1:
        raise ValidationError({"ordinal": _("ID — целое число от 1.")})
    try:
        with transaction.atomic():
            Shopper.objects.select_for_update().filter(pk=shopper.pk).first()
            if FictiveNumber.objects.filter(number=number).exists():
                raise ValidationError({"number": _("Этот номер уже закреплён за покупателем.")})
            taken = set(
                FictiveNumber.objects.filter(shopper=shopper).values_list("ordinal", flat=True)
            )
            if ordinal is None:
                ordinal = next(i for i in range(1, len(taken) + 2) if i not in taken)
            elif ordinal in taken:
                raise ValidationError(
                    {"ordinal": _("ID %(n)s уже занят у этого покупателя.") % {"n": ordinal}}
                )
            return FictiveNumber.objects.create(
                customer=customer, shopper=shopper, number=number, ordinal=ordinal
            )
    except IntegrityError:
        raise ValidationError({"ordinal": _("ID или номер уже заняты, попробуйте ещё раз.")})


def fictive_unpair(*, customer: Customer, fictive: FictiveNumber) -> None:
    if fictive.customer_id != customer.pk:
        raise ValidationError("fictive number of another customer")
    fictive.delete()
