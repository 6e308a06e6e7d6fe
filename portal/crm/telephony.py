"""CRM card: incoming calls of customers with the option on, from FreeSWITCH events.

An employee's leg of an incoming call carries `pbx_customer` and `pbx_number` (exported by the
dialplan, `cc_export_vars` for queues) and `dialed_user` (the `user/` endpoint); the caller's leg
is `originating_leg_uuid` (or `Other-Leg-Unique-ID`). Its first CHANNEL_CREATE/PROGRESS is the
ring, its CHANNEL_ANSWER the answer (the card goes to that employee's portal), and the
CHANNEL_HANGUP_COMPLETE of the caller's (inbound) leg ends the call (with its recording). Whether the
option is on is read at the ring: switching it off stops the feature at the next call.
"""

from __future__ import annotations

import logging

from django.utils import timezone

from pbx.esl.protocol import Event
from pbx.flows import Flow, NodeContext

log = logging.getLogger(__name__)
RING_EVENTS = frozenset({"CHANNEL_CREATE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA"})


def _int(value) -> int:
    try:
        return int(value or "")
    except (TypeError, ValueError):
        return 0


def employee_leg(event: Event) -> dict | None:
    """What an employee's leg of an incoming call says about the call, or None."""
    variables = event.variables
    number_id = _int(variables.get("pbx_number"))
    customer_id = _int(variables.get("pbx_customer"))
    extension = variables.get("dialed_user", "")
    if not number_id or not customer_id or not extension:
        return None
    uuid = event.get("Unique-ID") or ""
    call_uuid = variables.get("originating_leg_uuid") or event.get("Other-Leg-Unique-ID") or ""
    if not call_uuid or call_uuid == uuid:
        return None
    caller = (
        event.get("Caller-Orig-Caller-ID-Number")
        or event.get("Caller-ANI")
        or event.get("Caller-Caller-ID-Number")
        or ""
    )
    return {
        "customer_id": customer_id,
        "number_id": number_id,
        "uuid": call_uuid,
        "caller": caller,
        "extension": extension,
    }


class CrmFlow(Flow):
    def on_event(self, ctx: NodeContext, event: Event) -> None:
        from portal.crm import services

        now = timezone.now()
        if event.name == "CHANNEL_HANGUP_COMPLETE":
            variables = event.variables
            # The caller's leg: the switch's inbound leg (after a bridge it carries the
            # employee's `dialed_user` too, so that does not tell the legs apart).
            if (event.get("Call-Direction") or "").lower() != "inbound" or not variables.get(
                "pbx_customer"
            ):
                return
            services.call_ended(
                uuid=event.get("Unique-ID") or "",
                cause=event.get("Hangup-Cause") or variables.get("hangup_cause", ""),
                recording_path=variables.get("pbx_recording", ""),
                now=now,
            )
            return
        leg = employee_leg(event)
        if leg is None:
            return
        if event.name == "CHANNEL_ANSWER":
            call = services.call_answered(now=now, **leg)
            if call is not None:
                log.info("crm call %s answered by %s", call.pk, leg["extension"])
        elif event.name in RING_EVENTS:
            leg.pop("extension")
            services.call_rang(now=now, **leg)


flow = CrmFlow(
    name="crm",
    events=frozenset({*RING_EVENTS, "CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE"}),
)
