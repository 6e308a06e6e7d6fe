"""Write path of voicemail: boxes (PIN, greeting), messages filed from FreeSWITCH's recordings,
heard/deleted from the portal.

Box changes are announced (`portal.events.announce_config_change`): the cached dialplan that
sends callers to a box is dropped at once. A message is filed when FreeSWITCH has closed its
file (RECORD_STOP, portal/voicemail/telephony.py); its file counts against the storage quota
(`portal.calls.recordings.recording_register`) and the box's people are told after commit: an
e-mail (audio attached up to EMAIL_ATTACH_MAX_BYTES) sent by a django-q2 task, and a notice in
the portal for the customer's administrators.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import wave
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.calls.models import Recording
from portal.calls.recordings import recording_register
from portal.events import announce_config_change
from portal.voicemail.models import Mailbox, Message

log = logging.getLogger(__name__)

#: a message shorter than this (the caller hung up at the beep) is not kept
MIN_SECONDS = 1
EMAIL_ATTACH_MAX_BYTES = 10 * 1024 * 1024
EMAIL_TASK = "portal.voicemail.tasks.message_email"
_MESSAGE_PATH = re.compile(
    r"c([1-9][0-9]{0,17})/vm/b([1-9][0-9]{0,17})/([0-9A-Za-z-]{1,64})\.wav\Z"
)


class VoicemailError(ValueError):
    pass


# --------------------------------------------------------------------------- boxes


def mailbox_save(
    *,
    customer,
    box: Mailbox,
    pin: str | None = None,
) -> Mailbox:
    """Create or update `box` (already validated by the form or the serializer); `pin` given
    replaces the PIN ("" removes it)."""
    if box.customer_id != customer.pk:
        raise VoicemailError("box of another customer")
    owner = box.employee or box.department
    if owner is None or owner.customer_id != customer.pk:
        raise VoicemailError("owner of another customer")
    with transaction.atomic():
        if pin is not None:
            box.pin_hash = make_password(pin) if pin else ""
        box.save()
        announce_config_change(customer_id=customer.pk, what="voicemail")
    return box


def mailbox_delete(*, customer, box: Mailbox) -> None:
    if box.customer_id != customer.pk:
        raise VoicemailError("box of another customer")
    paths = list(box.messages.values_list("path", flat=True))
    with transaction.atomic():
        Recording.objects.filter(customer_id=customer.pk, path__in=paths).delete()
        box.delete()
        announce_config_change(customer_id=customer.pk, what="voicemail")
    for path in paths:
        _unlink(path, customer.pk)
    if box.greeting_file:
        _unlink_greeting(box.greeting_file)


def box_for_phone(*, customer_id: int, employee_id: int) -> Mailbox | None:
    """The box a phone opens with *97: its employee's, if enabled (another customer's
    employee id finds nothing)."""
    if not employee_id:
        return None
    return Mailbox.objects.filter(
        customer_id=customer_id, employee_id=employee_id, enabled=True
    ).first()


def pin_matches(box: Mailbox, pin: str) -> bool:
    return bool(box.pin_hash) and check_password(pin, box.pin_hash)


def _greetings_dir(customer_id: int) -> tuple[Path, Path]:
    from portal.prompts.selectors import prompts_root

    rel = Path("customers") / str(int(customer_id)) / "voicemail"
    return rel, prompts_root() / rel


def _set_greeting(customer, box: Mailbox, kind: str, make) -> Mailbox:
    rel, directory = _greetings_dir(customer.pk)
    directory.mkdir(parents=True, exist_ok=True)
    name = f"b{int(box.pk)}-{secrets.token_hex(6)}.wav"
    make(directory / name)
    old = box.greeting_file
    with transaction.atomic():
        Mailbox.objects.filter(pk=box.pk, customer=customer).update(
            greeting=kind, greeting_file=str(rel / name)
        )
        announce_config_change(customer_id=customer.pk, what="voicemail")
    box.greeting, box.greeting_file = kind, str(rel / name)
    if old:
        transaction.on_commit(lambda: _unlink_greeting(old))
    return box


def greeting_generate(*, customer, box: Mailbox, text: str) -> Mailbox:
    """Speak `text` (espeak-ng, the customer's language) as the box's greeting."""
    from portal.prompts import audio, catalog

    text = " ".join((text or "").split())[:300]
    if not text:
        raise VoicemailError(_("Напишите текст приветствия."))
    box.greeting_text = text
    Mailbox.objects.filter(pk=box.pk).update(greeting_text=text)
    language = customer.language if catalog.is_language(customer.language) else "ru"
    voice = catalog.ESPEAK_VOICES[language]
    return _set_greeting(
        customer,
        box,
        Mailbox.Greeting.GENERATED,
        lambda dest: audio.synthesize(text, voice=voice, dest=dest),
    )


def greeting_upload(*, customer, box: Mailbox, upload) -> Mailbox:
    """The customer's own recording (a WAV, checked and converted as voice prompts are)."""
    from portal.prompts import audio
    from portal.prompts import services as prompts

    data, _info = prompts.validate_upload(upload)  # ValidationError with the user's message

    def make(dest: Path) -> None:
        with audio.temp_file(dest.parent) as src, audio.temp_file(dest.parent) as out:
            src.write_bytes(data)
            audio.to_telephony(src, out)
            audio.install(out, dest)

    return _set_greeting(customer, box, Mailbox.Greeting.UPLOADED, make)


def greeting_reset(*, customer, box: Mailbox) -> Mailbox:
    old = box.greeting_file
    with transaction.atomic():
        Mailbox.objects.filter(pk=box.pk, customer=customer).update(
            greeting=Mailbox.Greeting.TONE, greeting_file=""
        )
        announce_config_change(customer_id=customer.pk, what="voicemail")
    box.greeting, box.greeting_file = Mailbox.Greeting.TONE, ""
    if old:
        transaction.on_commit(lambda: _unlink_greeting(old))
    return box


def _unlink_greeting(rel: str) -> None:
    from portal.prompts.selectors import prompts_root

    root = prompts_root().resolve()
    path = (root / rel).resolve()
    if path.is_relative_to(root):
        path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- messages


def owned_file(path: str, customer_id: int) -> Path | None:
    """`path` resolved, if it is a message file of `customer_id` under RECORDINGS_DIR."""
    root = Path(settings.RECORDINGS_DIR).resolve()
    try:
        resolved = Path(path).resolve()
    except (OSError, RuntimeError):
        return None
    if not resolved.is_relative_to(root):
        return None
    match = _MESSAGE_PATH.match(str(resolved.relative_to(root)))
    if match is None or int(match.group(1)) != int(customer_id):
        return None
    return resolved


def parse_message_path(path: str) -> tuple[int, int, str] | None:
    """(customer id, box id, call uuid) of a message file path under RECORDINGS_DIR."""
    root = Path(settings.RECORDINGS_DIR).resolve()
    try:
        resolved = Path(path).resolve()
    except (OSError, RuntimeError):
        return None
    if not resolved.is_relative_to(root):
        return None
    match = _MESSAGE_PATH.match(str(resolved.relative_to(root)))
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), match.group(3)


def _duration(file: Path) -> int:
    try:
        with wave.open(str(file)) as wav:
            return round(wav.getnframes() / max(wav.getframerate(), 1))
    except (wave.Error, EOFError, OSError):
        return 0


def _unlink(path: str, customer_id: int) -> None:
    file = owned_file(path, customer_id)
    if file is not None:
        file.unlink(missing_ok=True)


def message_recorded(
    *, path: str, caller_number: str = "", caller_name: str = "", customer_tag: int | None = None
) -> Message | None:
    """FreeSWITCH closed a message file (RECORD_STOP): file it in its box. Idempotent on the
    call (a RECORD_STOP delivered twice files one message). A file that is not a message of an
    existing box of that customer, or shorter than MIN_SECONDS, is not filed (a too short one
    is removed)."""
    parsed = parse_message_path(path)
    if parsed is None:
        return None
    customer_id, box_id, call_uuid = parsed
    if customer_tag is not None and customer_tag != customer_id:
        log.warning("voicemail %s: tagged customer %s, not filed", path, customer_tag)
        return None
    box = Mailbox.objects.filter(pk=box_id, customer_id=customer_id).first()
    file = owned_file(path, customer_id)
    if box is None or file is None:
        log.warning("voicemail %s: no such box of customer %s", path, customer_id)
        return None
    if not file.is_file():
        return None
    seconds = _duration(file)
    if seconds < MIN_SECONDS:
        Recording.objects.filter(customer_id=customer_id, path=path).delete()
        file.unlink(missing_ok=True)
        return None
    with transaction.atomic():
        message, created = Message.objects.get_or_create(
            call_uuid=call_uuid,
            defaults={
                "customer_id": customer_id,
                "mailbox": box,
                "caller_number": (caller_number or "")[:64],
                "caller_name": (caller_name or "")[:120],
                "path": path,
                "size_bytes": file.stat().st_size,
                "duration_seconds": seconds,
            },
        )
        if not created:
            return message
        message.recording = recording_register(customer_id=customer_id, path=path)
        Message.objects.filter(pk=message.pk).update(recording=message.recording)
        mwi_due(box_id=box.pk)
        transaction.on_commit(lambda: _tell(message.pk))
    log.info("voicemail: message %s in box %s (%s s)", message.pk, box.pk, seconds)
    return message


def _tell(message_id: int) -> None:
    """After commit: the e-mail (a task) and the portal notice."""
    from django_q.tasks import async_task

    message = Message.objects.select_related("mailbox").filter(pk=message_id).first()
    if message is None:
        return
    if message.mailbox.email:
        try:
            async_task(EMAIL_TASK, message_id, task_name=f"voicemail-email-{message_id}")
        except Exception:
            log.exception("voicemail message %s: e-mail not enqueued", message_id)
    _portal_notice(message)


def _portal_notice(message: Message) -> None:
    from portal.notifications.models import Delivery
    from portal.notifications.services import direct_message
    from portal.tenants.models import User

    users = User.objects.filter(
        customer_id=message.customer_id, is_active=True, role=User.Role.CUSTOMER_ADMIN
    ).values_list("pk", flat=True)
    targets = [(Delivery.Channel.PORTAL, str(pk)) for pk in users]
    if not targets:
        return
    title = _("Голосовое сообщение от %(caller)s") % {
        "caller": message.caller_number or _("неизвестного номера")
    }
    with transaction.atomic():
        direct_message(
            customer_id=message.customer_id,
            kind="voicemail",
            title=title,
            body=_("Ящик: %(box)s, %(seconds)s с.")
            % {"box": message.mailbox.owner_label, "seconds": message.duration_seconds},
            targets=targets,
            payload={"voicemail_message": message.pk, "box": message.mailbox_id},
        )


def message_mark_heard(*, customer, message: Message, heard: bool = True) -> Message:
    if message.customer_id != customer.pk:
        raise VoicemailError("message of another customer")
    message.heard_at = timezone.now() if heard else None
    Message.objects.filter(pk=message.pk).update(heard_at=message.heard_at)
    mwi_due(box_id=message.mailbox_id)
    return message


def message_delete(*, customer, message: Message) -> None:
    """The row, its quota row and its file."""
    if message.customer_id != customer.pk:
        raise VoicemailError("message of another customer")
    path = message.path
    with transaction.atomic():
        Recording.objects.filter(customer_id=customer.pk, path=path).delete()
        mwi_due(box_id=message.mailbox_id)
        message.delete()
    _unlink(path, customer.pk)


# -- the phone's message lamp (MWI) -------------------------------------------------------------


@dataclass(frozen=True)
class Lamp:
    """What one phone's message lamp is told: `extension`@`domain` has `new`/`saved` messages."""

    extension: str
    customer_id: int
    new: int
    saved: int


def mwi_due(*, box_id: int, now: dt.datetime | None = None) -> None:
    """The box's counts changed (or its phone asked): its lamp is to be told, by whichever call
    control claims it first. Only an employee's box has a lamp (a department has no phone)."""
    Mailbox.objects.filter(pk=box_id, employee__isnull=False).update(
        mwi_due_at=now or timezone.now()
    )


def mwi_asked(*, customer_id: int, extension: str, now: dt.datetime | None = None) -> bool:
    """A phone registered and FreeSWITCH asked for its counts (MESSAGE_QUERY)."""
    return bool(
        Mailbox.objects.filter(
            customer_id=customer_id,
            employee__extension=extension,
            employee__is_active=True,
            enabled=True,
        ).update(mwi_due_at=now or timezone.now())
    )


def mwi_claim_due(*, now: dt.datetime, limit: int = 100) -> list[Lamp]:
    """Lamps to tell now, each claimed by exactly one caller (compare-and-swap on the due time),
    with the counts read after the claim (a change meanwhile makes the box due again)."""
    due = Mailbox.objects.filter(mwi_due_at__lte=now, employee__isnull=False).values_list(
        "pk", "mwi_due_at"
    )
    lamps = []
    for pk, at in due.order_by("mwi_due_at")[:limit]:
        if not Mailbox.objects.filter(pk=pk, mwi_due_at=at).update(mwi_due_at=None):
            continue
        box = Mailbox.objects.select_related("employee").get(pk=pk)
        counts = Message.objects.filter(mailbox_id=pk).aggregate(
            new=Count("pk", filter=Q(heard_at__isnull=True)),
            saved=Count("pk", filter=Q(heard_at__isnull=False)),
        )
        if box.employee.extension:
            lamps.append(
                Lamp(box.employee.extension, box.customer_id, counts["new"], counts["saved"])
            )
    return lamps
