"""Integrated numbers (seed 000): which calls are live, for the caller's chat.

A call to an integrated number rings the service's employees; the dialplan exports
`pbx_customer` and `pbx_number` to the legs it creates (`export`, and `cc_export_vars` for
queues), so the CHANNEL_ANSWER of the leg an employee answered carries them together with
`dialed_user` (the employee's extension, set by the `user/` endpoint). That answer makes the
call live; the hangup of either leg ends it. The caller's number on an answered outbound leg is
in `Caller-Orig-Caller-ID-Number`/`Caller-ANI` (`Caller-Caller-ID-Number` is the callee there).
"""

from __future__ import annotations

import logging

from django.utils import timezone

from pbx.esl.protocol import Event
from pbx.flows import Flow, NodeContext

log = logging.getLogger(__name__)


def _int(value) -> int:
    try:
        return int(value or "")
    except (TypeError, ValueError):
        return 0


class IntegratedFlow(Flow):
    def on_event(self, ctx: NodeContext, event: Event) -> None:
        from portal.integrated import services

        variables = event.variables
        if event.name == "CHANNEL_ANSWER":
            number_id = _int(variables.get("pbx_number"))
            extension = variables.get("dialed_user", "")
            if not number_id or not extension:
                return
            uuid = event.get("Unique-ID") or ""
            call_uuid = (
                variables.get("originating_leg_uuid") or event.get("Other-Leg-Unique-ID") or uuid
            )
            caller = (
                event.get("Caller-Orig-Caller-ID-Number")
                or event.get("Caller-ANI")
                or event.get("Caller-Caller-ID-Number")
                or ""
            )
            call = services.call_live(
                customer_id=_int(variables.get("pbx_customer")),
                number_id=number_id,
                call_uuid=call_uuid,
                operator_uuid=uuid,
                caller_number=caller,
                operator_extension=extension,
                now=timezone.now(),
            )
            if call is not None:
                log.info("integrated call %s live: %s -> %s", call.pk, caller, extension)
        elif event.name == "CHANNEL_HANGUP_COMPLETE":
            uuid = event.get("Unique-ID") or ""
            if uuid:
                services.call_ended(uuid=uuid, now=timezone.now())


flow = IntegratedFlow(
    name="integrated", events=frozenset({"CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE"})
)
