"""Operator alerts of integrated numbers: a live portal notice on any page they have open.

A new call answered by an operator, and every message its caller writes in the call's chat,
becomes a notification to the operator's portal user (channel "portal", one logged Delivery
each), pushed over the same websocket as every other notice (`static/js/notifications.js`).
The integrated pages keep their own banner; this is what reaches an operator who is on the
tariff page, the callback list or anywhere else in the portal.

Hooked on the rows (post_save of IntegratedCall and ChatMessage), so whoever writes them (the
call-control process answering a call, the caller's page posting a message) raises the alert
in the same transaction: a rolled-back write alerts nobody, and the send starts after commit.
"""

from __future__ import annotations

import logging

from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from portal.directory.phone import display
from portal.integrated.models import ChatMessage, IntegratedCall, Operator
from portal.notifications.models import Delivery, Notification
from portal.notifications.services import direct_message

log = logging.getLogger(__name__)
PREVIEW_CHARS = 120


def _operator_user_ids(call: IntegratedCall) -> list[int]:
    if not call.operator_id:
        return []
    return list(
        Operator.objects.filter(
            employee_id=call.operator_id,
            employee__customer_id=call.service.customer_id,
            user__is_active=True,
        ).values_list("user_id", flat=True)
    )


def _who(call: IntegratedCall) -> str:
    name = call.caller.name if call.caller_id and call.caller else ""
    number = display(call.caller_number) if call.caller_number else _("номер скрыт")
    return f"{name} ({number})" if name else number


def _alert(call: IntegratedCall, *, title: str, body: str, payload: dict) -> list[Delivery]:
    users = _operator_user_ids(call)
    if not users:
        return []
    return direct_message(
        customer_id=call.service.customer_id,
        kind=Notification.Kind.INTEGRATED,
        title=title,
        body=body,
        targets=[(Delivery.Channel.PORTAL, str(pk)) for pk in users],
        payload={
            **payload,
            "integrated_call": call.pk,
            "url": reverse("integrated:operator_call", args=[call.pk]),
        },
    )


def operator_alert_call(call: IntegratedCall) -> list[Delivery]:
    """Tell the operator who answered that the call is theirs (with the caller's name)."""
    with translation.override(call.service.customer.language or "ru"):
        title = _("Звонок на интегрированный номер: %(who)s") % {"who": _who(call)}
        body = _("Служба «%(service)s». Карточка и чат звонка открыты для вас.") % {
            "service": call.service.name
        }
    return _alert(call, title=title, body=body, payload={"event": "call"})


def operator_alert_message(message: ChatMessage) -> list[Delivery]:
    """Tell the operator that the caller wrote in the chat (the text's beginning, or a photo)."""
    call = message.call
    with translation.override(call.service.customer.language or "ru"):
        title = _("Сообщение в чате звонка: %(who)s") % {"who": _who(call)}
        text = (message.text or "").strip()
        if len(text) > PREVIEW_CHARS:
            text = text[: PREVIEW_CHARS - 1] + "…"
        body = text or _("Фотография")
    return _alert(call, title=title, body=body, payload={"event": "message", "message": message.pk})


def on_call_saved(sender, instance: IntegratedCall, created: bool, raw: bool = False, **kwargs):
    if created and not raw:
        operator_alert_call(instance)


def on_message_saved(sender, instance: ChatMessage, created: bool, raw: bool = False, **kwargs):
    if created and not raw and instance.author == "caller":
        operator_alert_message(instance)
