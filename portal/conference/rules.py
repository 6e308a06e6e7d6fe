"""What a FreeSWITCH conference event means for our rows: pure, no Django, no ESL.

mod_conference fires `CUSTOM conference::maintenance` with an `Action` header: `add-member`,
`del-member`, `mute-member`, `unmute-member`, `kick-member`, `conference-destroy`,
`stop-recording` (with `Path`), and many we ignore (talking, energy, floor...). Only rooms
named as we name them (`c<customer id>_r<room id>`) are ours; any other conference on the
node is none of our business.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_NAME = re.compile(r"c([1-9][0-9]{0,17})_r([1-9][0-9]{0,17})\Z")
_MEMBER = re.compile(r"[1-9][0-9]{0,9}\Z")


@dataclass(frozen=True)
class RoomRef:
    customer_id: int
    room_id: int


def room_of(name: str | None) -> RoomRef | None:
    """`c12_r5` (or `c12_r5@pbx`) -> RoomRef(12, 5); anything else -> None."""
    match = _NAME.match((name or "").split("@", 1)[0])
    return RoomRef(int(match[1]), int(match[2])) if match else None


@dataclass(frozen=True)
class Joined:
    room: RoomRef
    member_id: int
    uuid: str
    number: str
    name: str
    moderator: bool
    muted: bool


@dataclass(frozen=True)
class Left:
    room: RoomRef
    member_id: int


@dataclass(frozen=True)
class Muted:
    room: RoomRef
    member_id: int
    muted: bool


@dataclass(frozen=True)
class Ended:
    room: RoomRef


@dataclass(frozen=True)
class RecordingStopped:
    room: RoomRef
    path: str


Change = Joined | Left | Muted | Ended | RecordingStopped


def _clean(text: str | None, limit: int) -> str:
    return "".join(ch for ch in (text or "") if ch.isprintable())[:limit]


def _member(headers: Mapping[str, str]) -> int | None:
    text = headers.get("Member-ID") or ""
    return int(text) if _MEMBER.match(text) else None


def change_of(headers: Mapping[str, str]) -> Change | None:
    """The change a `conference::maintenance` event's headers describe, or None."""
    room = room_of(headers.get("Conference-Name"))
    if room is None:
        return None
    action = headers.get("Action") or ""
    if action == "conference-destroy":
        return Ended(room)
    if action == "stop-recording":
        path = headers.get("Path") or ""
        return RecordingStopped(room, path) if path.startswith("/") else None
    member = _member(headers)
    if member is None:
        return None
    if action == "add-member":
        return Joined(
            room=room,
            member_id=member,
            uuid=_clean(headers.get("Unique-ID"), 64),
            number=_clean(headers.get("Caller-Caller-ID-Number"), 64),
            name=_clean(headers.get("Caller-Caller-ID-Name"), 80),
            moderator=headers.get("Member-Type") == "moderator",
            muted=headers.get("Speak") == "false",
        )
    if action in ("del-member", "kick-member"):
        return Left(room, member)
    if action in ("mute-member", "unmute-member"):
        return Muted(room, member, muted=action == "mute-member")
    return None


def members_of_json_list(data: object) -> dict[RoomRef, list[Joined]]:
    """`conference json_list`'s answer (parsed JSON): the members of our rooms, by room."""
    out: dict[RoomRef, list[Joined]] = {}
    for conf in data if isinstance(data, list) else []:
        room = room_of(conf.get("conference_name")) if isinstance(conf, dict) else None
        if room is None:
            continue
        members = out.setdefault(room, [])
        for m in conf.get("members") or []:
            if not isinstance(m, dict) or m.get("type") != "caller":
                continue
            member_id = m.get("id")
            if not isinstance(member_id, int) or member_id <= 0:
                continue
            flags = m.get("flags") if isinstance(m.get("flags"), dict) else {}
            members.append(
                Joined(
                    room=room,
                    member_id=member_id,
                    uuid=_clean(str(m.get("uuid") or ""), 64),
                    number=_clean(str(m.get("caller_id_number") or ""), 64),
                    name=_clean(str(m.get("caller_id_name") or ""), 80),
                    moderator=bool(flags.get("is_moderator")),
                    muted=flags.get("can_speak") is False,
                )
            )
    return out
