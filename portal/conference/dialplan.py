"""Conference rooms in the rendered dialplan (pbx.dialplan points `load_dialled`/`dialled` and
`load_inbound`/`inbound_route`).

A room is reached by its extension from the customer's phones and, when a number is given to
it, from outside. FreeSWITCH knows it as `c<customer id>_r<room id>@pbx` (profile `pbx` in
freeswitch_conf/autoload_configs/conference.conf.xml): the name is made of ids only. The PIN
goes into the application's argument (`+<pin>`), the moderator PIN and the member limit into
mod_conference's channel variables (`conference_moderator_pin`, `conference_max_members`), and
with recording wanted and the call-recording option on, `conference_auto_record` names a file
under the customer's recordings directory (counted against the storage quota when FreeSWITCH
closes it: `stop-recording`, portal/conference/telephony.py). Every value is checked again
here (digits only) before it reaches the XML. With the option off nothing is rendered: the
extension is unallocated, the number is routed by its kind.
"""

from __future__ import annotations

import re
from typing import Any

from pbx.dialplan import Contribution, DialledCall, InboundCall
from pbx.render import exact, valid_extension
from pbx.xmlbuild import action, db_id, sub
from portal.conference.selectors import RoomPlan, room_by_extension, room_by_number

CONFERENCE = "conference"  # portal.billing.models.Option.CONFERENCE
CALL_RECORDING = "call_recording"  # portal.billing.models.Option.CALL_RECORDING
PROFILE = "pbx"
_PIN = re.compile(r"[0-9]{4,8}\Z")


def conference_name(customer_id: int, room_id: int) -> str:
    return f"c{db_id(customer_id)}_r{db_id(room_id)}"


def _join(condition, plan: RoomPlan, options: frozenset[str], *, tag: bool = True) -> None:
    name = conference_name(plan.customer_id, plan.room_id)
    if tag:  # an incoming call's extension has set it already
        action(condition, "set", f"pbx_customer={db_id(plan.customer_id)}")
    action(condition, "set", f"pbx_conference_room={db_id(plan.room_id)}")
    action(condition, "set", f"conference_max_members={max(2, min(100, int(plan.max_members)))}")
    pin = plan.pin if _PIN.match(plan.pin or "") else ""
    if pin and _PIN.match(plan.moderator_pin or "") and plan.moderator_pin != pin:
        action(condition, "set", f"conference_moderator_pin={plan.moderator_pin}")
    if plan.record and CALL_RECORDING in options:
        where = f"c{db_id(plan.customer_id)}/conference/r{db_id(plan.room_id)}"
        path = f"$${{pbx_recordings_dir}}/{where}/${{uuid}}.wav"  # the first caller's uuid
        action(condition, "set", f"conference_auto_record={path}")
    action(condition, "answer")
    action(condition, "conference", f"{name}@{PROFILE}" + (f"+{pin}" if pin else ""))
    action(condition, "hangup", "NORMAL_CLEARING")


class ConferenceDialplan(Contribution):
    name = "conference"
    option = CONFERENCE

    def load_dialled(self, customer_id: int, destination: str) -> RoomPlan | None:
        extension = valid_extension(destination)
        return room_by_extension(customer_id, extension) if extension else None

    def dialled(self, call: DialledCall) -> bool:
        plan = call.data.get(self.name)
        if CONFERENCE not in call.options or not isinstance(plan, RoomPlan):
            return False
        if plan.customer_id != call.customer.pk or valid_extension(call.destination) is None:
            return False
        if plan.extension != call.destination:
            return False
        extension = sub(call.context, "extension", name=f"conference_r{db_id(plan.room_id)}")
        condition = sub(
            extension, "condition", field="destination_number", expression=exact(call.destination)
        )
        call.condition = condition
        _join(condition, plan, call.options)
        return True

    def load_inbound(self, customer_id: int, number: Any) -> RoomPlan | None:
        return room_by_number(customer_id, number.pk)

    def inbound_route(self, call: InboundCall) -> bool:
        plan = call.data.get(self.name)
        if CONFERENCE not in call.options or not isinstance(plan, RoomPlan):
            return False
        if plan.customer_id != call.customer.pk or call.condition is None:
            return False
        _join(call.condition, plan, call.options, tag=False)
        return True


dialplan = ConferenceDialplan()
