"""Integrated numbers: the write path (login by SMS code, profile, trusted persons, live calls,
chat, read state, trusted persons' notifications and links)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.billing.models import Option
from portal.billing.selectors import option_enabled
from portal.directory.models import Employee
from portal.directory.phone import to_e164
from portal.integrated.models import (
    Caller,
    ChatMessage,
    IntegratedCall,
    IntegratedService,
    LoginCode,
    Operator,
    TrustedLink,
    TrustedPerson,
)
from portal.notifications.models import Delivery, Notification
from portal.notifications.services import direct_message
from portal.web import throttle

log = logging.getLogger(__name__)

CODE_TTL = dt.timedelta(minutes=10)
CODE_ATTEMPTS = 5
CODES_PER_HOUR = 5
LINK_TTL = dt.timedelta(hours=24)
MAX_TEXT = 2000


def _hash(value: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def group(call_id: int) -> str:
    return f"integrated.{int(call_id)}"


def publish(call_id: int, message: dict) -> None:
    async_to_sync(get_channel_layer().group_send)(
        group(call_id), {"type": "integrated.message", "message": message}
    )


# -- the mark ---------------------------------------------------------------------------------


def service_of_number(number: str) -> IntegratedService | None:
    """The integrated service a number belongs to (the option on), or None."""
    try:
        e164 = to_e164(number, region="RU")
    except ValidationError:
        return None
    service = (
        IntegratedService.objects.filter(numbers__e164=e164).select_related("customer").first()
    )
    if service is None or not option_enabled(service.customer_id, Option.INTEGRATED_NUMBER):
        return None
    return service


# -- callers: login by SMS code ------------------------------------------------------------------


def code_send(*, phone: str, now=None, ip: str | None = None, session: str | None = None) -> str:
    """Text a 6-digit code to `phone`. Returns the E.164 it went to.

    Throttled (`portal.web.throttle`, atomic counters) per browser session, per client IP, per
    phone and for the whole platform per hour, in that order: a request refused by one limit
    does not use up the next ones. Against SMS pumping, the IP and session limits stop one
    client texting many numbers; the global one caps the bill if many clients do."""
    now = now or timezone.now()
    try:
        e164 = to_e164(phone, region="RU")
    except ValidationError:
        raise ValidationError(_("Номер телефона в международном формате.")) from None
    stamp = now.timestamp()
    limits = [
        (f"sms-session:{session}", "SMS_CODES_PER_SESSION_HOUR", 5, session),
        (f"sms-ip:{ip}", "SMS_CODES_PER_IP_HOUR", 10, ip),
        (f"sms-phone:{e164}", "SMS_CODES_PER_PHONE_HOUR", CODES_PER_HOUR, e164),
        ("sms-global", "SMS_CODES_PER_HOUR", 500, "all"),
    ]
    for key, setting, default, present in limits:
        if not present:
            continue
        verdict = throttle.hit(
            key, limit=int(getattr(settings, setting, default)), window=3600, now=stamp
        )
        if not verdict.allowed:
            log.warning("login code to %s refused: %s over its limit", e164, key.split(":")[0])
            raise ValidationError(
                _("Слишком много запросов кода. Попробуйте через %(n)d мин.")
                % {"n": verdict.retry_minutes},
                code="throttled",
            )
    code = f"{secrets.randbelow(10**6):06d}"
    with transaction.atomic():
        LoginCode.objects.filter(phone=e164, used=False).update(used=True)
        LoginCode.objects.create(
            phone=e164, code_hash=_hash(f"{e164}:{code}"), created_at=now, expires_at=now + CODE_TTL
        )
    _send_code(e164, _("Код входа: %(code)s") % {"code": code})
    return e164


def _send_code(e164: str, text: str) -> None:
    """Login codes go out at once (the caller is waiting), not through a customer's log."""
    from portal.notifications.transports import twilio_client

    if not settings.TWILIO_ACCOUNT_SID or not settings.TWILIO_FROM_NUMBER:
        raise ValidationError(_("SMS не настроены."))
    try:
        twilio_client().messages.create(to=e164, from_=settings.TWILIO_FROM_NUMBER, body=text)
    except Exception as exc:
        log.warning("login code to %s not sent: %s", e164, exc)
        raise ValidationError(_("Не удалось отправить SMS, попробуйте позже.")) from None


def code_verify(*, phone: str, code: str, now=None) -> Caller:
    now = now or timezone.now()
    try:
        e164 = to_e164(phone, region="RU")
    except ValidationError:
        raise ValidationError(_("Неверный код.")) from None
    with transaction.atomic():
        login = (
            LoginCode.objects.select_for_update()
            .filter(phone=e164, used=False, expires_at__gt=now)
            .order_by("-created_at")
            .first()
        )
        if login is None or login.attempts >= CODE_ATTEMPTS:
            raise ValidationError(_("Код устарел, запросите новый."))
        right = hmac.compare_digest(login.code_hash, _hash(f"{e164}:{(code or '').strip()}"))
        if not right:  # counted, and the transaction commits the count
            login.attempts += 1
            login.save(update_fields=["attempts"])
        else:
            login.used = True
            login.save(update_fields=["used"])
            caller, _created = Caller.objects.get_or_create(phone=e164)
            if caller.verified_at is None:
                caller.verified_at = now
                caller.save(update_fields=["verified_at"])
    if not right:
        raise ValidationError(_("Неверный код."))
    return caller


def location_set(caller: Caller, *, lat, lon, now=None) -> None:
    if isinstance(lat, bool) or isinstance(lon, bool):  # JSON true would pass float() as 1.0
        raise ValidationError(_("Неверные координаты."))
    try:
        lat, lon = float(lat), float(lon)
    except (TypeError, ValueError):
        raise ValidationError(_("Неверные координаты.")) from None
    if lat != lat or lon != lon or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValidationError(_("Неверные координаты."))
    Caller.objects.filter(pk=caller.pk).update(
        latitude=lat, longitude=lon, located_at=now or timezone.now()
    )


def trusted_save(caller: Caller, *, name: str, phone: str = "", email: str = "", **flags):
    name = (name or "").strip()[:120]
    if not name:
        raise ValidationError(_("Укажите имя."))
    e164 = ""
    if (phone or "").strip():
        try:
            e164 = to_e164(phone, region="RU")
        except ValidationError:
            raise ValidationError(_("Номер телефона в международном формате.")) from None
    if not e164 and not (email or "").strip():
        raise ValidationError(_("Укажите телефон или e-mail."))
    return TrustedPerson.objects.create(
        caller=caller,
        name=name,
        phone=e164,
        email=(email or "").strip(),
        notify_calls=bool(flags.get("notify_calls", True)),
        share_location=bool(flags.get("share_location", True)),
    )


# -- live calls (from call control) -------------------------------------------------------------


def call_live(
    *,
    customer_id: int,
    number_id: int,
    call_uuid: str,
    operator_uuid: str,
    caller_number: str,
    operator_extension: str,
    now=None,
) -> IntegratedCall | None:
    """An employee answered a call to an integrated number: the call is live (once)."""
    now = now or timezone.now()
    service = IntegratedService.objects.filter(
        customer_id=customer_id, numbers__pk=number_id
    ).first()
    if service is None or not option_enabled(customer_id, Option.INTEGRATED_NUMBER):
        return None
    try:
        e164 = to_e164(caller_number, region="RU")
    except ValidationError:
        e164 = ""
    with transaction.atomic():
        call, created = IntegratedCall.objects.get_or_create(
            uuid=call_uuid,
            defaults={
                "service": service,
                "number_id": number_id,
                "caller": Caller.objects.filter(phone=e164).first() if e164 else None,
                "caller_number": e164 or caller_number[:16],
                "operator": Employee.objects.filter(
                    customer_id=customer_id, extension=operator_extension
                ).first(),
                "operator_uuid": operator_uuid,
                "started_at": now,
            },
        )
        if created and call.caller is not None:
            _tell_trusted(call, now)
    if created:
        transaction.on_commit(lambda: publish(call.pk, {"type": "live"}))
    return call


def _tell_trusted(call: IntegratedCall, now) -> None:
    caller = call.caller
    for person in caller.trusted.filter(notify_calls=True):
        token = secrets.token_urlsafe(24)
        TrustedLink.objects.create(
            call=call, person=person, token_hash=_hash(token), expires_at=now + LINK_TTL
        )
        url = settings.SITE_URL.rstrip("/") + reverse("integrated_trusted", args=[token])
        text = _("%(name)s звонит в «%(service)s». Чат звонка: %(url)s") % {
            "name": caller.name or caller.phone,
            "service": call.service.name,
            "url": url,
        }
        if person.share_location and caller.map_url:
            # The last shared location may be old: say when it was taken.
            when = timezone.localtime(caller.located_at).strftime("%d.%m.%Y %H:%M")
            text += " " + _("Геопозиция на %(when)s: %(map)s") % {
                "when": when,
                "map": caller.map_url,
            }
        targets = [(Delivery.Channel.SMS, person.phone)] if person.phone else []
        targets += [(Delivery.Channel.EMAIL, person.email)] if person.email else []
        direct_message(
            customer_id=call.service.customer_id,
            kind=Notification.Kind.INTEGRATED,
            title=_("Звонок в «%(service)s»") % {"service": call.service.name},
            body=text,
            targets=targets,
            payload={"integrated_call": call.pk, "trusted": person.pk},
        )


def call_ended(*, uuid: str, now=None) -> IntegratedCall | None:
    now = now or timezone.now()
    call = IntegratedCall.objects.filter(ended_at__isnull=True).filter(models_q_uuid(uuid)).first()
    if call is None:
        return None
    IntegratedCall.objects.filter(pk=call.pk, ended_at__isnull=True).update(ended_at=now)
    transaction.on_commit(lambda: publish(call.pk, {"type": "ended"}))
    return call


def models_q_uuid(uuid: str):
    from django.db.models import Q

    return Q(uuid=uuid) | Q(operator_uuid=uuid)


# -- chat ----------------------------------------------------------------------------------------


def is_operator(call: IntegratedCall, user) -> bool:
    return bool(
        user is not None
        and user.is_authenticated
        and call.operator_id
        and Operator.objects.filter(employee_id=call.operator_id, user_id=user.pk).exists()
    )


def chat_enable(call: IntegratedCall, user, now=None) -> None:
    if not is_operator(call, user):
        raise ValidationError(_("Включить чат может только оператор, ответивший на звонок."))
    if not call.live:
        raise ValidationError(_("Звонок завершён."))
    updated = IntegratedCall.objects.filter(pk=call.pk, chat_enabled_at__isnull=True).update(
        chat_enabled_at=now or timezone.now()
    )
    if updated:
        transaction.on_commit(lambda: publish(call.pk, {"type": "enabled"}))


def chat_unavailable_reason(call: IntegratedCall) -> str:
    if not call.live:
        return _("Звонок завершён.")
    if call.chat_enabled_at is None:
        return _("Чат станет доступен, когда оператор его включит.")
    return ""


def message_add(call: IntegratedCall, *, author: str, text: str = "", photo: str = "", now=None):
    call.refresh_from_db()
    reason = chat_unavailable_reason(call)
    if reason:
        raise ValidationError(reason)
    text = (text or "").strip()
    if len(text) > MAX_TEXT:
        raise ValidationError(_("Сообщение слишком длинное."))
    if "\x00" in text:
        raise ValidationError(_("Недопустимый символ в сообщении."))
    if not text and not photo:
        raise ValidationError(_("Пустое сообщение."))
    message = ChatMessage.objects.create(
        call=call, author=author, text=text, photo=photo, created_at=now or timezone.now()
    )
    return message


def operator_seen(call: IntegratedCall, user, now=None):
    """The operator is online now: messages sent before this moment are seen."""
    now = now or timezone.now()
    Operator.objects.filter(user_id=user.pk).update(last_seen_at=now)
    publish(call.pk, {"type": "read", "until": now.isoformat()})
    return now


def read_until(call: IntegratedCall):
    if not call.operator_id:
        return None
    operator = Operator.objects.filter(employee_id=call.operator_id).first()
    return operator.last_seen_at if operator else None


def trusted_call(token: str, now=None) -> IntegratedCall | None:
    if not token or len(token) > 100:
        return None
    link = (
        TrustedLink.objects.select_related("call")
        .filter(token_hash=_hash(token), expires_at__gt=now or timezone.now())
        .first()
    )
    return link.call if link else None
