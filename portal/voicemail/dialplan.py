"""Voicemail in the rendered dialplan (pbx.dialplan hooks).

With the `voicemail` option on, a call nobody took (busy, no answer, not registered: the
`after_bridge` point) is answered and the caller leaves a message in a box:

- an incoming call to a regular number: the box of the number's department, else (a number
  ringing one phone) that employee's box;
- an internal call to an extension: the employee's box.

The message is written by FreeSWITCH's `record_session` to
`$${pbx_recordings_dir}/c<customer>/vm/b<box>/${uuid}.wav`; its RECORD_STOP reaches
portal/voicemail/telephony.py, which files the message (and the recordings flow counts the file
against the storage quota).

Other features send a call to a box with `leave_message(condition, box)` (a voice menu's
"voicemail" key, for instance): `box` is a `Box` from `portal.voicemail.selectors.box_for_menu`
(None when the box is gone, disabled or the option is off: render nothing then).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from pbx import render
from pbx.dialplan import Contribution, DialledCall, InboundCall
from pbx.xmlbuild import RenderError, action, db_id, sub

VOICEMAIL = "voicemail"  # portal.billing.models.Option.VOICEMAIL
#: the beep before recording (needs no file)
BEEP = "tone_stream://%(400,0,1000)"
#: the message's own recording variables (not the channel's): mono, the caller's side only
RECORD_VARIABLES = "RECORD_STEREO=false,RECORD_READ_ONLY=true,RECORD_MIN_SEC=1"
_SOUND_PATH = re.compile(r"/[A-Za-z0-9_./-]+\Z")


@dataclass(frozen=True)
class Box:
    """What the dialplan needs of a mailbox (loaded by portal.voicemail.selectors)."""

    id: int
    customer_id: int
    max_seconds: int = 120
    greeting: str = ""  # absolute path of the greeting file, empty: the beep only


def message_path(customer_id: int, box_id: int) -> str:
    return f"$${{pbx_recordings_dir}}/c{db_id(customer_id)}/vm/b{db_id(box_id)}/${{uuid}}.wav"


def leave_message(condition, box: Box) -> None:
    """Answer, play the box's greeting and the beep, record what the caller says until they
    hang up (or the box's limit).

    `record_session` (not `record`): it creates the box's folder, and its own variables keep
    the message mono and the caller's side only whatever the call's recording set on the
    channel. A message under RECORD_MIN_SEC is removed by FreeSWITCH (not filed)."""
    greeting = box.greeting or ""
    if greeting and (not _SOUND_PATH.match(greeting) or "/../" in f"{greeting}/"):
        raise RenderError(f"box {box.id}: unsafe greeting path")
    seconds = max(10, min(600, int(box.max_seconds)))
    action(condition, "set", f"pbx_vm_box={db_id(box.id)}")
    action(condition, "answer")
    action(condition, "sleep", "300")
    if greeting:
        action(condition, "playback", greeting)
    action(condition, "playback", BEEP)
    action(
        condition,
        "record_session",
        f"{message_path(box.customer_id, box.id)} +{seconds} {{{RECORD_VARIABLES}}}",
    )
    action(condition, "sleep", str(seconds * 1000))
    action(condition, "hangup", "NORMAL_CLEARING")


def _ensure_continue_on_fail(condition) -> None:
    """An internal call hangs up when the bridge fails unless `continue_on_fail` says
    otherwise: set it (before the bridge) when nothing else did (auto-redial sets its own)."""
    children = list(condition)
    for child in children:
        if child.get("application") == "set" and (child.get("data") or "").startswith(
            "continue_on_fail="
        ):
            return
    for index, child in enumerate(children):
        if child.get("application") == "bridge":
            node = ET.Element("action", {"application": "set", "data": "continue_on_fail=true"})
            condition.insert(index, node)
            return


ACCESS_CODE = "*97"
CHECK_FLOW = "voicemail_check"  # portal/voicemail/telephony.py


class VoicemailDialplan(Contribution):
    name = "voicemail"
    option = VOICEMAIL

    def load_inbound(self, customer_id, number):
        from portal.voicemail.selectors import boxes_for_number

        return boxes_for_number(customer_id, number)

    def load_dialled(self, customer_id, destination):
        from portal.voicemail.selectors import box_for_extension

        if destination == ACCESS_CODE or render.valid_extension(destination) is None:
            return None
        return box_for_extension(customer_id, destination)

    def after_bridge(self, call: InboundCall | DialledCall) -> None:
        if VOICEMAIL not in call.options or call.condition is None:
            return
        loaded = call.data.get(self.name)
        box = None
        if isinstance(call, DialledCall):
            if isinstance(loaded, Box) and call.target is not None:
                box = loaded
        elif isinstance(loaded, dict):
            box = loaded.get("department")
            if box is None and len(call.employees) == 1:
                box = loaded.get("employees", {}).get(call.employees[0].pk)
        if box is None or box.customer_id != call.customer.pk:
            return
        if isinstance(call, DialledCall):
            _ensure_continue_on_fail(call.condition)
        leave_message(call.condition, box)

    def dialled(self, call: DialledCall) -> bool:
        """*97: the phone listens to its own box, after its PIN (call control's session)."""
        if call.destination != ACCESS_CODE or VOICEMAIL not in call.options:
            return False
        extension = sub(call.context, "extension", name="voicemail_check")
        condition = sub(extension, "condition", field="destination_number", expression=r"^\*97$")
        action(condition, "set", f"pbx_customer={db_id(call.customer.pk)}")
        action(condition, "set", "pbx_direction=internal")
        action(condition, "set", f"pbx_flow={CHECK_FLOW}")
        action(condition, "answer")
        action(condition, "socket", call.settings.socket_data)
        action(condition, "hangup", "NORMAL_CLEARING")
        return True


dialplan = VoicemailDialplan()
