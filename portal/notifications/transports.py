"""Notification channels, one `Transport` class each, found through `REGISTRY`.

A transport knows two things about a department: whether the channel is on (`enabled`) and whom
to send to (`targets`: one `Delivery` row each), and how to make one send (`send`). `send`
returns an external id (Twilio SID, Message-ID, ...) or raises `TransportError`; `permanent=True`
means trying again cannot help (bad address, 4xx, not configured).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from email.utils import make_msgid
from smtplib import SMTPException, SMTPRecipientsRefused
from urllib.parse import urlencode

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db.models import Q
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http import HttpClient as TwilioHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.rest import Client as TwilioClient

from portal.directory.models import Department
from portal.directory.phone import to_e164
from portal.notifications.http import (
    HttpError,
    UrlRefused,
    http_post,
    parse_http_url,
    resolve_checked,
)
from portal.notifications.models import Delivery, Notification, PortalNotice
from portal.tenants.models import User

log = logging.getLogger(__name__)

SMS_MAX_CHARS = 1600  # Twilio's limit for one message body


class TransportError(Exception):
    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent


class Transport:
    channel: str = ""
    # The Department boolean that switches this channel on.
    flag: str = ""

    @classmethod
    def enabled(cls, department: Department) -> bool:
        return bool(getattr(department, cls.flag))

    @classmethod
    def targets(cls, department: Department) -> list[str]:
        raise NotImplementedError

    def send(self, delivery: Delivery) -> str:
        raise NotImplementedError


REGISTRY: dict[str, type[Transport]] = {}


def register(cls: type[Transport]) -> type[Transport]:
    REGISTRY[cls.channel] = cls
    return cls


def transport_for(channel: str) -> Transport:
    try:
        return REGISTRY[channel]()
    except KeyError:
        raise TransportError(f"no transport for channel {channel!r}", permanent=True)


def department_users(department: Department):
    """Who reads a department's notices in the portal: its staff and the customer's admins."""
    return (
        User.objects.filter(customer_id=department.customer_id, is_active=True)
        .filter(Q(departments=department) | Q(role=User.Role.CUSTOMER_ADMIN))
        .distinct()
        .order_by("id")
    )


def _unique(items):
    seen, result = set(), []
    for item in items:
        key = item.casefold()
        if item and key not in seen:
            seen.add(key)
            result.append(item)
    return result


# --- e-mail ----------------------------------------------------------------------------------


@register
class EmailTransport(Transport):
    channel = Delivery.Channel.EMAIL
    flag = "notify_email"

    @classmethod
    def targets(cls, department):
        listed = [line.strip() for line in department.notification_emails.splitlines()]
        staff = department.staff.filter(customer_id=department.customer_id, is_active=True).exclude(
            email=""
        )
        return _unique([*listed, *staff.order_by("id").values_list("email", flat=True)])

    def send(self, delivery):
        try:
            validate_email(delivery.target)
        except ValidationError:
            raise TransportError(f"not an e-mail address: {delivery.target!r}", permanent=True)
        notification = delivery.notification
        message_id = make_msgid(domain="pbx.local")
        message = EmailMessage(
            subject=notification.title,
            body=_text(notification),
            to=[delivery.target],
            headers={"Message-ID": message_id},
        )
        try:
            message.send()
        except SMTPRecipientsRefused as exc:
            raise TransportError(f"recipient refused: {exc}", permanent=True)
        except (SMTPException, OSError) as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}")
        return message_id


# Messages to people without a portal account (the video link goes to a customer's client):
# no link to the portal's notices, which they cannot open.
OUTSIDE_KINDS = {Notification.Kind.VIDEO_LINK}


def _text(notification) -> str:
    if notification.kind in OUTSIDE_KINDS:
        return f"{notification.body}\n"
    link = f"{settings.SITE_URL.rstrip('/')}/notifications/"
    return f"{notification.body}\n\n{link}\n" if notification.body else f"{link}\n"


# --- SMS (Twilio) ----------------------------------------------------------------------------


def _e164_or_raw(number: str) -> str:
    """E.164 where the number parses (so one phone gets one SMS); else as typed, to fail visibly."""
    try:
        return to_e164(number)
    except ValidationError:
        return number.strip()


class _TwilioOverHttpPost(TwilioHttpClient):
    """The twilio library builds and parses the requests; our `http_post` sends them."""

    def __init__(self, timeout: float):
        super().__init__(logger=log, is_async=False, timeout=timeout)

    def request(self, method, url, params=None, data=None, headers=None, auth=None, **kw):
        if method.upper() != "POST" or params:
            raise TwilioException(f"only POST without query is supported, not {method} {url}")
        response = http_post(
            url,
            body=urlencode(data or {}, doseq=True).encode(),
            headers={**(headers or {}), "Content-Type": "application/x-www-form-urlencoded"},
            auth=auth,
            timeout=kw.get("timeout") or self.timeout,
        )
        return TwilioResponse(response.status, response.text, response.headers)


def twilio_client() -> TwilioClient:
    client = TwilioClient(
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        http_client=_TwilioOverHttpPost(timeout=settings.WEBHOOK_TIMEOUT),
    )
    client.api.base_url = settings.TWILIO_API_BASE
    return client


@register
class SmsTransport(Transport):
    channel = Delivery.Channel.SMS
    flag = "notify_sms"

    @classmethod
    def targets(cls, department):
        numbers = department.employees.filter(
            customer_id=department.customer_id, is_active=True
        ).exclude(mobile_number="")
        return _unique(
            [
                _e164_or_raw(n)
                for n in numbers.order_by("id").values_list("mobile_number", flat=True)
            ]
        )

    def send(self, delivery):
        if not (
            settings.TWILIO_ACCOUNT_SID
            and settings.TWILIO_AUTH_TOKEN
            and settings.TWILIO_FROM_NUMBER
        ):
            raise TransportError("SMS is not configured (TWILIO_* settings)", permanent=True)
        try:
            to = to_e164(delivery.target)
        except ValidationError as exc:
            raise TransportError(
                f"bad number {delivery.target!r}: {exc.messages[0]}", permanent=True
            )
        notification = delivery.notification
        text = f"{notification.title}. {notification.body}".strip(". ")[:SMS_MAX_CHARS]
        try:
            message = twilio_client().messages.create(
                to=to, from_=settings.TWILIO_FROM_NUMBER, body=text
            )
        except TwilioRestException as exc:
            # 4xx: our request is wrong (bad number, unverified sender, auth); retrying won't help,
            # except for 429 (rate limited). 5xx: Twilio's trouble, try later.
            permanent = 400 <= exc.status < 500 and exc.status != 429
            code = f" (Twilio error {exc.code})" if exc.code else ""
            raise TransportError(f"HTTP {exc.status}: {exc.msg}{code}", permanent=permanent)
        except HttpError as exc:
            raise TransportError(f"Twilio unreachable: {exc}")
        except TwilioException as exc:
            raise TransportError(f"Twilio: {exc}")
        return message.sid or ""


# --- live notices in the portal --------------------------------------------------------------


def user_group(user_id: int) -> str:
    """Channel-layer group of one user's open portal pages."""
    return f"notify.user.{user_id}"


@register
class PortalTransport(Transport):
    channel = Delivery.Channel.PORTAL
    flag = "notify_portal"

    @classmethod
    def targets(cls, department):
        return [str(pk) for pk in department_users(department).values_list("id", flat=True)]

    def send(self, delivery):
        notification = delivery.notification
        user = User.objects.filter(
            pk=delivery.target, customer_id=notification.customer_id, is_active=True
        ).first()
        if user is None:
            raise TransportError("user no longer in this customer's portal", permanent=True)
        notice, _ = PortalNotice.objects.get_or_create(notification=notification, user=user)
        # The notice is on the notices page from now on; the push makes it appear without a
        # reload on the pages the user has open.
        try:
            async_to_sync(get_channel_layer().group_send)(
                user_group(user.pk), {"type": "notify.notice", "notice": notice.as_message()}
            )
        except Exception as exc:  # the channel layer (Redis) is down: push again later
            raise TransportError(f"channel layer: {type(exc).__name__}: {exc}")
        return f"notice:{notice.pk}"


# --- webhook ---------------------------------------------------------------------------------


def webhook_signature(secret: str, body: bytes) -> str:
    """`X-PBX-Signature` header value: HMAC-SHA256 of the raw body with the department's secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@register
class WebhookTransport(Transport):
    channel = Delivery.Channel.WEBHOOK
    flag = "notify_webhook"

    @classmethod
    def targets(cls, department):
        return [department.webhook_url] if department.webhook_url else []

    def send(self, delivery):
        url = delivery.target
        # One lookup, every address checked, and the connection goes to the checked address.
        try:
            target = parse_http_url(url)
            address = resolve_checked(
                target, allow_private=bool(getattr(settings, "WEBHOOK_ALLOW_PRIVATE", False))
            )
        except UrlRefused as exc:
            raise TransportError(str(exc), permanent=True) from None
        except HttpError as exc:
            raise TransportError(str(exc)) from None
        notification = delivery.notification
        department = notification.department
        if department is None:
            raise TransportError("the department was deleted (no signing secret)", permanent=True)
        timestamp = str(int(time.time()))
        body = json.dumps(webhook_payload(delivery, timestamp), ensure_ascii=False).encode()
        try:
            response = http_post(
                url,
                body=body,
                headers={
                    "Content-Type": "application/json",
                    "X-PBX-Event": notification.kind,
                    "X-PBX-Delivery": str(delivery.pk),
                    "X-PBX-Timestamp": timestamp,
                    "X-PBX-Signature": webhook_signature(department.webhook_secret, body),
                },
                timeout=settings.WEBHOOK_TIMEOUT,
                connect_to=address,
            )
        except HttpError as exc:
            raise TransportError(str(exc))
        if response.ok:
            return f"HTTP {response.status}"
        detail = f"HTTP {response.status}: {response.text[:200]}".strip()
        if 300 <= response.status < 400:
            raise TransportError(f"{detail} (redirects are not followed)", permanent=True)
        if 400 <= response.status < 500 and response.status not in (408, 429):
            raise TransportError(detail, permanent=True)
        raise TransportError(detail)


def webhook_payload(delivery: Delivery, timestamp: str) -> dict:
    """The JSON body. `timestamp` (also the X-PBX-Timestamp header) is covered by the signature."""
    n = delivery.notification
    return {
        "event": n.kind,
        "notification_id": n.pk,
        "delivery_id": delivery.pk,
        "timestamp": int(timestamp),
        "created_at": n.created_at.isoformat(),
        "customer_id": n.customer_id,
        "department": {"id": n.department_id, "name": n.department.name}
        if n.department_id
        else None,
        "title": n.title,
        "body": n.body,
        "data": n.payload,
    }
