"""Reads of conference rooms: the portal's lists and the dialplan's one-room lookups."""

from __future__ import annotations

from dataclasses import dataclass

from portal.billing.models import Option
from portal.billing.selectors import option_enabled
from portal.conference.models import Participant, Room


@dataclass(frozen=True)
class RoomPlan:
    """What the dialplan renders for one room (plain data: the answer is cached)."""

    customer_id: int
    room_id: int
    extension: str
    pin: str
    moderator_pin: str
    max_members: int
    record: bool


def _plan(room: Room) -> RoomPlan:
    return RoomPlan(
        customer_id=room.customer_id,
        room_id=room.pk,
        extension=room.extension,
        pin=room.pin,
        moderator_pin=room.moderator_pin,
        max_members=room.max_members,
        record=room.record,
    )


def room_by_extension(customer_id: int, extension: str) -> RoomPlan | None:
    """The room a phone of the customer dialled, while the conference option is on."""
    if not option_enabled(customer_id, Option.CONFERENCE):
        return None
    room = Room.objects.filter(customer_id=customer_id, extension=extension).first()
    return _plan(room) if room else None


def room_by_number(customer_id: int, number_id: int) -> RoomPlan | None:
    """The room one of the customer's numbers leads to, while the option is on."""
    if not option_enabled(customer_id, Option.CONFERENCE):
        return None
    room = Room.objects.filter(customer_id=customer_id, number_id=number_id).first()
    return _plan(room) if room else None


def rooms(customer_id: int) -> list[Room]:
    return list(Room.objects.filter(customer_id=customer_id).select_related("number"))


def live_members(customer_id: int, room_id: int | None = None) -> list[Participant]:
    members = Participant.objects.filter(customer_id=customer_id).select_related("room")
    if room_id is not None:
        members = members.filter(room_id=room_id)
    return list(members)
