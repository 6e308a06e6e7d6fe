"""Reads of voicemail: boxes as the dialplan needs them, messages for the pages and the API.

Every read is scoped by the customer: another tenant's box or message is never returned.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.db.models import Count, Q, QuerySet

from portal.billing.models import Option
from portal.billing.selectors import option_enabled
from portal.voicemail.dialplan import Box
from portal.voicemail.models import Mailbox, Message

log = logging.getLogger(__name__)


def greeting_path(box: Mailbox) -> str:
    """Absolute path of the box's greeting file, empty for the beep only."""
    if box.greeting == Mailbox.Greeting.TONE or not box.greeting_file:
        return ""
    from portal.prompts.selectors import prompts_root

    return str(prompts_root() / box.greeting_file)


def as_box(box: Mailbox) -> Box:
    return Box(
        id=box.pk,
        customer_id=box.customer_id,
        max_seconds=box.max_seconds,
        greeting=greeting_path(box),
    )


def boxes_for_number(customer_id: int, number) -> dict:
    """The enabled boxes a call to `number` may end in: its department's and those of the
    department's employees (one query)."""
    if not number.department_id:
        return {}
    rows = Mailbox.objects.filter(customer_id=customer_id, enabled=True).filter(
        Q(department_id=number.department_id)
        | Q(employee__department_id=number.department_id, employee__is_active=True)
    )
    found: dict = {"department": None, "employees": {}}
    for row in rows:
        if row.department_id:
            found["department"] = as_box(row)
        else:
            found["employees"][row.employee_id] = as_box(row)
    return found


def box_for_extension(customer_id: int, extension: str) -> Box | None:
    row = (
        Mailbox.objects.filter(
            customer_id=customer_id,
            enabled=True,
            employee__extension=extension,
            employee__is_active=True,
        )
        .only("id", "customer_id", "max_seconds", "greeting", "greeting_file")
        .first()
    )
    return as_box(row) if row is not None else None


def box_for_menu(customer_id: int, box_id: int) -> Box | None:
    """For another feature's dialplan (a voice menu's "leave a message" key): the box to hand
    to `portal.voicemail.dialplan.leave_message`, or None when it must not be used (another
    customer's box, disabled, or the voicemail option off). Changes of boxes and of the option
    are announced config changes, so a cached answer built from it is dropped in time."""
    if not option_enabled(customer_id, Option.VOICEMAIL):
        return None
    row = Mailbox.objects.filter(pk=box_id, customer_id=customer_id, enabled=True).first()
    return as_box(row) if row is not None else None


def mailboxes(customer) -> QuerySet[Mailbox]:
    return (
        Mailbox.objects.filter(customer=customer)
        .select_related("employee", "department")
        .annotate(
            total=Count("messages"),
            new=Count("messages", filter=Q(messages__heard_at__isnull=True)),
        )
        .order_by("department__name", "employee__extension", "id")
    )


def messages(customer, *, box_id: int | None = None) -> QuerySet[Message]:
    rows = Message.objects.filter(customer=customer).select_related(
        "mailbox__employee", "mailbox__department"
    )
    if box_id is not None:
        rows = rows.filter(mailbox_id=box_id)
    return rows


def message_file(message: Message) -> Path | None:
    """The message's audio file if it is still under RECORDINGS_DIR in the customer's folder."""
    from portal.voicemail.services import owned_file

    return owned_file(message.path, message.customer_id)


def box_queue(box: Mailbox) -> list[tuple[int, bool, float]]:
    """The box's messages as the phone access plays them: (id, heard, created timestamp)."""
    rows = Message.objects.filter(mailbox=box).values_list("id", "heard_at", "created_at")
    return [(pk, heard is not None, created.timestamp()) for pk, heard, created in rows]


def message_of_box(box: Mailbox, message_id: int) -> Message | None:
    return Message.objects.filter(pk=message_id, mailbox=box, customer_id=box.customer_id).first()
