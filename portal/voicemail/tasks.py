"""django-q2 task: the e-mail about a new voicemail message, with the audio attached."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import translation
from django.utils.translation import gettext as _

from portal.voicemail.models import Message

log = logging.getLogger(__name__)


def message_email(message_id: int) -> str:
    """Send the box's e-mail about `message_id`; returns what happened (the task's result)."""
    from portal.voicemail.selectors import message_file
    from portal.voicemail.services import EMAIL_ATTACH_MAX_BYTES

    message = (
        Message.objects.select_related("mailbox__employee", "mailbox__department", "customer")
        .filter(pk=message_id)
        .first()
    )
    if message is None or not message.mailbox.email:
        return "nothing to send"
    box = message.mailbox
    with translation.override(message.customer.language or "ru"):
        caller = message.caller_number or _("неизвестного номера")
        subject = _("Голосовое сообщение от %(caller)s") % {"caller": caller}
        body = _(
            "Ящик: %(box)s\nКто звонил: %(caller)s\nКогда: %(when)s\nДлительность: %(seconds)s с\n"
        ) % {
            "box": box.owner_label,
            "caller": caller,
            "when": message.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            "seconds": message.duration_seconds,
        }
        email = EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [box.email])
        file = message_file(message)
        attached = False
        if box.attach_audio and file is not None and file.is_file():
            if file.stat().st_size <= EMAIL_ATTACH_MAX_BYTES:
                email.attach(f"voicemail-{message.pk}.wav", file.read_bytes(), "audio/wav")
                attached = True
            else:
                email.body += "\n" + _(
                    "Запись слишком большая для письма: прослушайте её в портале."
                )
        email.send()
    log.info("voicemail message %s: e-mail sent (audio %s)", message_id, attached)
    return "sent with audio" if attached else "sent"
