"""Video assistant: the write path (sessions, the link, consent, location, chat, the call)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.directory.phone import to_e164
from portal.notifications.models import Delivery, Notification
from portal.notifications.services import direct_message
from portal.video.models import VideoMessage, VideoSession, VideoSettings
from portal.web.photos import store_photo

log = logging.getLogger(__name__)

MAX_TEXT = 2000
BOUND_GRACE = dt.timedelta(hours=2)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def video_settings(customer_id: int) -> VideoSettings:
    found = VideoSettings.objects.filter(customer_id=customer_id).first()
    return found or VideoSettings(customer_id=customer_id)


@dataclass(frozen=True)
class Created:
    session: VideoSession
    url: str


def session_create(*, specialist, name: str, phone: str = "", email: str = "", now=None) -> Created:
    """A specialist opens a session; the link goes to the customer by SMS and/or e-mail."""
    now = now or timezone.now()
    name = (name or "").strip()[:120]
    if not name:
        raise ValidationError({"name": _("Укажите имя клиента.")})
    phone_e164 = ""
    if (phone or "").strip():
        try:
            phone_e164 = to_e164(phone.strip(), region="RU")
        except ValidationError:
            raise ValidationError({"phone": _("Номер телефона в международном формате.")}) from None
    email = (email or "").strip()
    if not phone_e164 and not email:
        raise ValidationError({"phone": _("Укажите телефон или e-mail для ссылки.")})
    token = secrets.token_urlsafe(32)
    conf = video_settings(specialist.customer_id)
    with transaction.atomic():
        session = VideoSession.objects.create(
            customer_id=specialist.customer_id,
            specialist=specialist,
            client_name=name,
            client_phone=phone_e164 or "",
            client_email=email,
            token_hash=digest(token),
            expires_at=now + dt.timedelta(hours=conf.link_hours),
        )
        url = link_url(token)
        _send_link(session, url)
    return Created(session, url)


def _send_link(session: VideoSession, url: str) -> None:
    targets = []
    if session.client_phone:
        targets.append((Delivery.Channel.SMS, session.client_phone))
    if session.client_email:
        targets.append((Delivery.Channel.EMAIL, session.client_email))
    direct_message(
        customer_id=session.customer_id,
        kind=Notification.Kind.VIDEO_LINK,
        title=_("Ссылка на видеозвонок"),
        body=_("Видеозвонок со специалистом: %(url)s") % {"url": url},
        targets=targets,
        payload={"video_session": session.pk},
    )


class Refused(Exception):
    """The link cannot be used: `code` is the HTTP status, `reason` the text to show."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def open_link(
    *, token: str, browser_key: str | None, bind: bool = False, now=None
) -> tuple[VideoSession, str | None]:
    """The customer's link. Returns (session, new browser key or None).

    A plain GET binds nothing: mail scanners and chat apps fetch links to preview them, and
    binding on the first GET locked the customer out of their own link. The browser is bound
    when it accepts the policy (`bind=True`, the consent's POST); from then on only that
    browser (its key in a cookie) may use the link. An unbound session comes back with key
    None and `browser_hash` empty: the caller shows the policy and nothing else.
    """
    now = now or timezone.now()
    if not token or len(token) > 100:
        raise Refused(404, _("Ссылка не найдена."))
    session = VideoSession.objects.filter(token_hash=digest(token)).first()
    if session is None:
        raise Refused(404, _("Ссылка не найдена."))
    if session.status == VideoSession.Status.ENDED:
        raise Refused(410, _("Этот видеозвонок уже завершён."))
    if session.browser_hash:
        if browser_key and secrets.compare_digest(session.browser_hash, digest(browser_key)):
            if now >= usable_until(session):  # the bound browser does not outlive the link
                raise Refused(410, _("Срок действия ссылки истёк."))
            return session, None
        raise Refused(403, _("Ссылка уже использована на другом устройстве."))
    if now >= session.expires_at:
        raise Refused(410, _("Срок действия ссылки истёк."))
    if not bind:
        return session, None
    key = secrets.token_urlsafe(32)
    bound = VideoSession.objects.filter(pk=session.pk, browser_hash="").update(
        browser_hash=digest(key), opened_at=now, status=VideoSession.Status.OPENED, consent_at=now
    )
    if not bound:  # another browser won the race
        raise Refused(403, _("Ссылка уже использована на другом устройстве."))
    session.refresh_from_db()
    return session, key


def is_bound_to(session: VideoSession, browser_key: str | None) -> bool:
    return bool(
        browser_key
        and session.browser_hash
        and secrets.compare_digest(session.browser_hash, digest(browser_key))
    )


def link_renew(session: VideoSession, *, now=None) -> str:
    """A new link for a session no browser has taken yet (the specialist lost the first one or
    it went to a wrong address): the old link stops working. Returns the new URL."""
    now = now or timezone.now()
    token = secrets.token_urlsafe(32)
    conf = video_settings(session.customer_id)
    renewed = VideoSession.objects.filter(
        pk=session.pk, browser_hash="", status=VideoSession.Status.NEW
    ).update(token_hash=digest(token), expires_at=now + dt.timedelta(hours=conf.link_hours))
    if not renewed:
        raise ValidationError(_("Клиент уже открыл ссылку: новую выдать нельзя."))
    return link_url(token)


def link_url(token: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("video_join", args=[token])


def usable_until(session: VideoSession) -> dt.datetime:
    """The link's expiry binds the browser that opened it too; a call opened shortly before the
    expiry still gets BOUND_GRACE from its opening, so it is not cut off mid-conversation."""
    if session.opened_at is None:
        return session.expires_at
    return max(session.expires_at, session.opened_at + BOUND_GRACE)


def client_session(*, session_id: int, browser_key: str | None, now=None) -> VideoSession | None:
    """The session this browser is bound to (and may still use), or None."""
    if not browser_key:
        return None
    session = VideoSession.objects.filter(pk=session_id).first()
    if (
        session
        and session.browser_hash
        and secrets.compare_digest(session.browser_hash, digest(browser_key))
        and (now or timezone.now()) < usable_until(session)
    ):
        return session
    return None


def consent(session: VideoSession, *, now=None) -> None:
    VideoSession.objects.filter(pk=session.pk, consent_at__isnull=True).update(
        consent_at=now or timezone.now()
    )


def location(session: VideoSession, *, lat=None, lon=None, refused: bool = False, now=None):
    """The customer's answer about location: coordinates, or a refusal (recorded too)."""
    if refused:
        lat = lon = None
    else:
        try:
            lat, lon = float(lat), float(lon)
        except (TypeError, ValueError):
            raise ValidationError(_("Неверные координаты.")) from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180) or lat != lat or lon != lon:
            raise ValidationError(_("Неверные координаты."))
    VideoSession.objects.filter(pk=session.pk).update(
        latitude=lat, longitude=lon, location_answered_at=now or timezone.now()
    )


def call_started(session_id: int, *, now=None) -> None:
    VideoSession.objects.filter(pk=session_id, started_at__isnull=True).update(
        started_at=now or timezone.now(), status=VideoSession.Status.LIVE
    )


def call_ended(session_id: int, *, now=None) -> None:
    now = now or timezone.now()
    VideoSession.objects.filter(pk=session_id, ended_at__isnull=True).update(
        ended_at=now, status=VideoSession.Status.ENDED
    )
    VideoSession.objects.filter(pk=session_id, started_at__isnull=True).update(started_at=now)


def annotated(session_id: int) -> None:
    VideoSession.objects.filter(pk=session_id).update(annotations=F("annotations") + 1)


def photo_store(data: bytes, *, session_id: int) -> str:
    """A chat photo of the session (portal.web.photos: decoded, re-encoded, no metadata)."""
    return store_photo(data, folder=f"video/{int(session_id)}")


def message_add(
    session: VideoSession, *, author: str, text: str = "", photo: str = "", reply_to=None
) -> VideoMessage:
    text = (text or "").strip()
    if len(text) > MAX_TEXT:
        raise ValidationError(_("Сообщение слишком длинное."))
    if not text and not photo:
        raise ValidationError(_("Пустое сообщение."))
    if "\x00" in text:
        raise ValidationError(_("Недопустимый символ в сообщении."))
    if session.status == VideoSession.Status.ENDED:
        raise ValidationError(_("Звонок завершён."))
    reply = None
    if reply_to not in (None, ""):
        # an id of a message of this call, or a 400 (never a database error on "abc" or 2**63)
        if not re.fullmatch(r"[1-9][0-9]{0,17}", str(reply_to)):
            raise ValidationError(_("Сообщение, на которое вы отвечаете, не найдено."))
        reply = VideoMessage.objects.filter(pk=int(reply_to), session=session).first()
        if reply is None:
            raise ValidationError(_("Сообщение, на которое вы отвечаете, не найдено."))
    return VideoMessage.objects.create(
        session=session, author=author, text=text, photo=photo, reply_to=reply
    )
