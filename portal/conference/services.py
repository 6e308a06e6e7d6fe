"""Writes: rooms (portal), live members (call control's events) and members' commands.

Rooms change the rendered dialplan: every change announces itself (`number` when a number is
(un)assigned, so the public dialplan's answers are renewed too). Members' rows follow
FreeSWITCH's events; a mute or kick asked in the portal is a `MemberCommand` row that call
control claims by compare-and-swap on its node's tick and sends through the validated builder.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.calls.recordings import recording_closed
from portal.conference import rules
from portal.conference.models import MemberCommand, Participant, Room
from portal.directory.models import Employee, PhoneNumber
from portal.events import announce_config_change

ROOM_FIELDS = ("name", "extension", "number", "pin", "moderator_pin", "max_members", "record")
ROUTABLE_KINDS = (PhoneNumber.Kind.REGULAR, PhoneNumber.Kind.MULTICHANNEL)
#: a command that call control has not sent in this long is dropped (the member is long gone)
COMMAND_EXPIRY = dt.timedelta(minutes=2)


def _check(room: Room) -> None:
    room.full_clean(exclude=["customer"])
    errors: dict[str, list[str]] = {}
    if Employee.objects.filter(customer_id=room.customer_id, extension=room.extension).exists():
        errors.setdefault("extension", []).append(_("Этот добавочный у сотрудника."))
    if room.number_id is not None:
        number = PhoneNumber.objects.filter(pk=room.number_id, customer_id=room.customer_id).first()
        if number is None or number.kind not in ROUTABLE_KINDS:
            errors.setdefault("number", []).append(_("Этот номер нельзя отдать комнате."))
    if room.moderator_pin and not room.pin:
        errors.setdefault("moderator_pin", []).append(
            _("PIN модератора работает только вместе с PIN комнаты.")
        )
    if room.moderator_pin and room.moderator_pin == room.pin:
        errors.setdefault("moderator_pin", []).append(_("PIN модератора совпадает с PIN комнаты."))
    if errors:
        raise ValidationError(errors)


def room_save(*, customer, room: Room | None = None, **fields) -> Room:
    """Create a room for `customer` (room=None) or change one of its rooms; `ValidationError`
    for a bad or taken extension, another customer's or an unroutable number, a bad PIN."""
    unknown = set(fields) - set(ROOM_FIELDS)
    if unknown:
        raise TypeError(f"unknown room fields {sorted(unknown)}")
    if room is not None and room.customer_id != customer.pk:
        raise ValidationError(_("Нет такой комнаты."))
    with transaction.atomic():
        if room is None:
            room = Room(customer=customer)
            before = None
        else:
            room = Room.objects.select_for_update().get(pk=room.pk, customer=customer)
            before = room.number_id
        for name, value in fields.items():
            setattr(room, name, value)
        _check(room)
        try:
            with transaction.atomic():
                room.save()
        except IntegrityError:
            raise ValidationError({"extension": [_("Добавочный или номер уже занят.")]})
        what = "number" if room.number_id or before else "conference"
        announce_config_change(customer_id=customer.pk, what=what)
    return room


def room_delete(*, customer, pk: int) -> bool:
    with transaction.atomic():
        room = Room.objects.filter(customer=customer, pk=pk).first()
        if room is None:
            return False
        had_number = room.number_id is not None
        room.delete()
        announce_config_change(
            customer_id=customer.pk, what="number" if had_number else "conference"
        )
    return True


# --- live members (call control) -----------------------------------------------------------


def _room(ref: rules.RoomRef) -> Room | None:
    return Room.objects.filter(pk=ref.room_id, customer_id=ref.customer_id).first()


def conference_changed(*, node: str, change: rules.Change, now: dt.datetime | None = None) -> None:
    """Apply one event's change to the rows of `node` (unknown rooms are ignored)."""
    now = now or timezone.now()
    room = _room(change.room)
    if room is None:
        return
    members = Participant.objects.filter(room=room, node=node)
    if isinstance(change, rules.Joined):
        Participant.objects.update_or_create(
            room=room,
            node=node,
            member_id=change.member_id,
            defaults={
                "customer_id": room.customer_id,
                "uuid": change.uuid,
                "caller_number": change.number,
                "caller_name": change.name,
                "moderator": change.moderator,
                "muted": change.muted,
                "joined_at": now,
            },
        )
    elif isinstance(change, rules.Left):
        members.filter(member_id=change.member_id).delete()
    elif isinstance(change, rules.Muted):
        members.filter(member_id=change.member_id).update(muted=change.muted)
    elif isinstance(change, rules.Ended):
        members.delete()
    elif isinstance(change, rules.RecordingStopped):
        recording_closed(customer_id=room.customer_id, path=change.path, now=now)


def node_members_replace(
    *, node: str, rooms: dict[rules.RoomRef, list[rules.Joined]], now: dt.datetime | None = None
) -> int:
    """After a (re)connect: the node's members are exactly those `conference json_list` gave."""
    now = now or timezone.now()
    with transaction.atomic():
        Participant.objects.filter(node=node).delete()
        count = 0
        for ref, joined in rooms.items():
            room = _room(ref)
            if room is None:
                continue
            for change in joined:
                conference_changed(node=node, change=change, now=now)
                count += 1
    return count


# --- commands from the portal ----------------------------------------------------------------


def member_command_request(*, customer, participant_pk: int, action: str) -> MemberCommand | None:
    """Ask call control to mute, unmute or kick one of the customer's live members; None when
    there is no such member (another customer's, or gone)."""
    if action not in MemberCommand.Action.values:
        raise ValidationError(_("Нет такого действия."))
    member = Participant.objects.filter(customer=customer, pk=participant_pk).first()
    if member is None:
        return None
    return MemberCommand.objects.create(
        customer=customer,
        room_id=member.room_id,
        node=member.node,
        member_id=member.member_id,
        action=action,
        created_at=timezone.now(),
    )


def member_commands_claim(*, node: str, now: dt.datetime | None = None) -> list[MemberCommand]:
    """The node's unsent commands, each claimed by compare-and-swap (a second call control
    on the same node gets none of them); stale ones are dropped unsent."""
    now = now or timezone.now()
    pending = MemberCommand.objects.filter(node=node, sent_at=None).select_related("room")
    claimed = []
    for command in pending.order_by("id")[:50]:
        stale = command.created_at < now - COMMAND_EXPIRY
        won = MemberCommand.objects.filter(pk=command.pk, sent_at=None).update(
            sent_at=now, result="expired" if stale else ""
        )
        if won and not stale:
            claimed.append(command)
    return claimed


def member_command_result(*, command: MemberCommand, reply: str) -> None:
    MemberCommand.objects.filter(pk=command.pk).update(result=(reply or "").strip()[:200])
