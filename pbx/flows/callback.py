"""Queue callback ("Обратный вызов", seed 001): the telephony side.

The state of every request and attempt lives in the database (`portal.callbacks`); this module
only turns it into FreeSWITCH actions and turns FreeSWITCH events back into service calls.

1. A caller in a department's queue presses 1: mod_callcenter ends the member with
   EXIT_WITH_KEY and the dialplan hands the call to our outbound socket with
   `pbx_flow=callback_request`. `handle_session` records the request (the service refuses
   anonymous callers, duplicates and customers without the option), plays the confirmation
   and hangs up.
2. `tick` (every second, on every connected node) claims due attempts by compare-and-swap;
   whichever node wins dials. An attempt first rings an employee (`user/<ext>@<domain>`,
   parked on answer), trying the department's employees in order until one answers.
3. The employee answered: the caller is dialled through the PSTN gateway showing the number
   the service chose (the multichannel number for employees with АОН), parked on answer.
4. The caller answered: `uuid_bridge`. Either leg hanging up ends the other and the attempt.

Correlation is stateless: every leg carries `pbx_flow=callback`, `pbx_job=<attempt id>`,
`pbx_leg=employee|caller` and `pbx_cand=<candidate index>`. FreeSWITCH echoes them in the
channel's events and, URL-encoded, in BACKGROUND_JOB's `Job-Command-Arg`, which is the only
thing a failed originate produces. BACKGROUND_JOB decides the fate of an unanswered leg; the
hangup of an answered leg ends the attempt; services are idempotent, so a duplicated event or
a replay after an ESL reconnect changes nothing twice.
"""

from __future__ import annotations

import logging
import re
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from django.conf import settings
from django.utils import timezone

from pbx.esl import commands
from pbx.esl.protocol import Event
from pbx.flows import Flow, NodeContext

log = logging.getLogger(__name__)

FLOW = "callback"
REQUEST_SESSION = "callback_request"
EMPLOYEE_RING_SECONDS = 20
CALLER_RING_SECONDS = 30
_TAG = re.compile(r"(?:^|[{,])(pbx_[a-z]+)=([A-Za-z0-9_+.-]+)")


@dataclass(frozen=True)
class Leg:
    attempt_id: int
    leg: str  # "employee" | "caller"
    candidate: int


def leg_of(tags: dict[str, str]) -> Leg | None:
    if tags.get("pbx_flow") != FLOW:
        return None
    try:
        return Leg(int(tags["pbx_job"]), tags["pbx_leg"], int(tags.get("pbx_cand", "0")))
    except (KeyError, ValueError):
        return None


def tags_of_job(event: Event) -> dict[str, str]:
    """Our channel variables, read back from a BACKGROUND_JOB's echoed originate command."""
    return dict(_TAG.findall(event.get("Job-Command-Arg") or ""))


def employee_originate(plan, index: int, leg_uuid: str, domain: str) -> str:
    candidate = plan.candidates[index]
    return commands.originate(
        commands.user_target(candidate.extension, domain),
        origination_uuid=leg_uuid,
        variables={
            "pbx_flow": FLOW,
            "pbx_job": plan.attempt_id,
            "pbx_leg": "employee",
            "pbx_cand": index,
            "pbx_customer": plan.customer_id,
            "pbx_direction": "internal",
            # The employee's phone shows who is to be called back.
            "origination_caller_id_number": plan.caller_number.lstrip("+"),
            "originate_timeout": EMPLOYEE_RING_SECONDS,
            "ignore_early_media": "true",
        },
    )


def caller_originate(plan, index: int, leg_uuid: str, gateway: str) -> str:
    candidate = plan.candidates[index]
    return commands.originate(
        commands.gateway_target(gateway, plan.caller_number),
        origination_uuid=leg_uuid,
        variables={
            "pbx_flow": FLOW,
            "pbx_job": plan.attempt_id,
            "pbx_leg": "caller",
            "pbx_cand": index,
            "pbx_customer": plan.customer_id,
            "pbx_direction": "outbound",
            "origination_caller_id_number": candidate.caller_id_to_show.lstrip("+"),
            "originate_timeout": CALLER_RING_SECONDS,
            "ignore_early_media": "true",
        },
    )


@dataclass
class CallbackFlow(Flow):
    """See the module docstring."""

    # Plans of attempts being dialled here, by attempt id: a cache of what
    # `callback_attempt_plan` rebuilds from the database, so a restarted process carries on.
    plans: dict = field(default_factory=dict)

    def plan(self, attempt_id: int):
        from portal.callbacks.services import callback_attempt_plan

        if attempt_id not in self.plans:
            plan = callback_attempt_plan(attempt_id=attempt_id)
            if plan is None:
                return None
            self.plans[attempt_id] = plan
        return self.plans[attempt_id]

    @staticmethod
    def legs(attempt_id: int) -> tuple[str, str]:
        """(employee uuid, caller uuid) of an attempt, as the services recorded them."""
        from portal.callbacks.models import CallbackAttempt

        row = CallbackAttempt.objects.filter(pk=attempt_id).values_list(
            "employee_uuid", "caller_uuid"
        )
        return row.first() or ("", "")

    # -- settings -----------------------------------------------------------------------------

    @staticmethod
    def domain(customer_id: int) -> str:
        from pbx.render import sip_domain

        return sip_domain(customer_id, settings.PBX_SIP_DOMAIN)

    @staticmethod
    def gateway() -> str:
        return settings.PBX_PSTN_GATEWAY

    # -- 1. the caller pressed 1 in the queue -----------------------------------------------------

    def handle_session(self, call) -> None:
        from portal.callbacks.services import callback_request_create
        from portal.prompts.selectors import prompt_path
        from portal.tenants.models import Customer

        variables = call.variables
        customer = Customer.objects.filter(pk=_int(variables.get("pbx_customer"))).first()
        if customer is None:
            call.unavailable()
            return
        caller = (call.session_data or {}).get("Caller-Caller-ID-Number", "")
        request, reason = callback_request_create(
            customer_id=customer.pk,
            number_e164=variables.get("pbx_number_e164", ""),
            caller_number=caller,
            origin_uuid=call.uuid,
            now=timezone.now(),
        )
        if request is not None and reason == "duplicate":
            key = "callback_already_requested"
        elif request is not None:
            key = "callback_confirmed"
        else:
            log.info("callback refused for %s: %s", call.uuid, reason)
            key = "service_unavailable"
        call.execute("playback", prompt_path(customer=customer, key=key), timeout=60)
        call.execute("hangup", "NORMAL_CLEARING", timeout=10)

    # -- 2. claim due attempts and ring an employee ----------------------------------------------

    def tick(self, ctx: NodeContext) -> None:
        from portal.callbacks.services import callback_claim_due

        for plan in callback_claim_due(now=timezone.now(), worker=ctx.node):
            if not self.caller_may_be_dialled(plan):
                continue
            self.plans[plan.attempt_id] = plan
            self.ring_employee(ctx, plan, 0)

    @staticmethod
    def caller_may_be_dialled(plan) -> bool:
        """The call back goes to an outside number: the customer's outbound policy decides
        (a caller ID can be forged to a premium or satellite number), before any employee is
        rung. Refused: the attempt ends unanswered with OUTGOING_CALL_BARRED."""
        from portal.billing.callpolicy import outbound_check
        from portal.callbacks.services import callback_attempt_finished

        check = outbound_check(customer_id=plan.customer_id, number=plan.caller_number)
        if check.allowed:
            return True
        log.warning("callback attempt %s not dialled: %s", plan.attempt_id, check.reason)
        callback_attempt_finished(
            attempt_id=plan.attempt_id,
            caller_answered=False,
            bridged=False,
            cause="OUTGOING_CALL_BARRED",
            now=timezone.now(),
        )
        return False

    def ring_employee(self, ctx: NodeContext, plan, index: int) -> None:
        from portal.callbacks.services import callback_no_employee_free

        if index >= len(plan.candidates):
            self.plans.pop(plan.attempt_id, None)
            callback_no_employee_free(attempt_id=plan.attempt_id, now=timezone.now())
            return
        leg_uuid = str(uuidlib.uuid4())
        command = employee_originate(plan, index, leg_uuid, self.domain(plan.customer_id))
        ctx.bgapi(command, leg_uuid)

    # -- 3./4. events ------------------------------------------------------------------------------

    def on_event(self, ctx: NodeContext, event: Event) -> None:
        if event.name == "BACKGROUND_JOB":
            leg = leg_of(tags_of_job(event))
            if leg is not None:
                self.on_originate_result(ctx, leg, event.body.strip())
        elif event.name == "CHANNEL_HANGUP_COMPLETE":
            leg = leg_of(event.variables)
            if leg is not None and event.get("Caller-Channel-Answered-Time", "0") != "0":
                self.on_answered_leg_hangup(ctx, leg, event)

    def on_originate_result(self, ctx: NodeContext, leg: Leg, result: str) -> None:
        from portal.callbacks import services

        now = timezone.now()
        plan = self.plan(leg.attempt_id)
        if plan is None:
            return  # finished meanwhile (or not ours to dial): the database decides
        ok, _, detail = result.partition(" ")
        if leg.leg == "employee":
            if ok != "+OK":
                self.ring_employee(ctx, plan, leg.candidate + 1)
                return
            employee_uuid = detail.strip()
            services.callback_attempt_employee_answered(
                attempt_id=plan.attempt_id,
                employee_id=plan.candidates[leg.candidate].employee_id,
                employee_uuid=employee_uuid,
                now=now,
            )
            caller_uuid = str(uuidlib.uuid4())
            services.callback_attempt_caller_dialing(
                attempt_id=plan.attempt_id,
                caller_uuid=caller_uuid,
                caller_id_shown=plan.candidates[leg.candidate].caller_id_to_show,
                now=now,
            )
            ctx.bgapi(
                caller_originate(plan, leg.candidate, caller_uuid, self.gateway()), caller_uuid
            )
            return
        employee_uuid, caller_uuid = self.legs(plan.attempt_id)
        if ok != "+OK":  # the caller did not answer: the employee is told goodbye
            if employee_uuid:
                ctx.api(commands.uuid_kill(employee_uuid))
            self.plans.pop(plan.attempt_id, None)
            services.callback_attempt_finished(
                attempt_id=plan.attempt_id,
                caller_answered=False,
                bridged=False,
                cause=detail.strip() or "UNKNOWN",
                now=now,
            )
            return
        reply = ctx.api(commands.uuid_bridge(employee_uuid, caller_uuid)).strip()
        if reply.startswith("+OK"):
            services.callback_attempt_bridged(
                attempt_id=plan.attempt_id,
                now=now,
                recording_path=self.record(ctx, plan, employee_uuid, caller_uuid),
            )
            return
        # The employee left while the caller's phone rang.
        ctx.api(commands.uuid_kill(caller_uuid))
        self.plans.pop(plan.attempt_id, None)
        services.callback_attempt_finished(
            attempt_id=plan.attempt_id,
            caller_answered=True,
            bridged=False,
            cause="EMPLOYEE_GONE",
            now=now,
        )

    @staticmethod
    def record(ctx: NodeContext, plan, employee_uuid: str, caller_uuid: str) -> str:
        """Record the conversation when the customer has call recording on; the file's path."""
        from portal.billing.models import Option
        from portal.callbacks.selectors import option_enabled

        if not option_enabled(plan.customer_id, Option.CALL_RECORDING):
            return ""
        root = PurePosixPath(settings.RECORDINGS_DIR)
        name = f"{int(plan.attempt_id)}-{caller_uuid}.wav"
        path = commands.recording_path(f"c{int(plan.customer_id)}", "callback", name, root=root)
        reply = ctx.api(commands.uuid_record(employee_uuid, "start", path, root=root)).strip()
        if not reply.startswith("+OK"):
            log.warning("callback %s: recording refused: %s", plan.attempt_id, reply)
            return ""
        return path

    def on_answered_leg_hangup(self, ctx: NodeContext, leg: Leg, event: Event) -> None:
        from portal.callbacks import services
        from portal.callbacks.models import CallbackAttempt

        attempt = CallbackAttempt.objects.filter(pk=leg.attempt_id).first()
        if attempt is None or attempt.status != "bridged":
            return  # not bridged: the BACKGROUND_JOB of the other leg decides
        self.plans.pop(leg.attempt_id, None)
        other = attempt.caller_uuid if leg.leg == "employee" else attempt.employee_uuid
        if other:
            ctx.api(commands.uuid_kill(other))  # "-ERR No such channel!" if it left first
        services.callback_attempt_finished(
            attempt_id=leg.attempt_id,
            caller_answered=True,
            bridged=True,
            cause=event.get("Hangup-Cause") or "NORMAL_CLEARING",
            now=timezone.now(),
        )

    def on_lost_hangup(self, ctx: NodeContext, call) -> None:
        from portal.callbacks.services import callback_attempt_lost

        leg = leg_of(call.variables)
        if leg is not None:
            self.plans.pop(leg.attempt_id, None)
            callback_attempt_lost(attempt_id=leg.attempt_id, now=timezone.now())


def _int(value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError:
        return 0


flow = CallbackFlow(
    name=FLOW,
    events=frozenset({"BACKGROUND_JOB", "CHANNEL_HANGUP_COMPLETE"}),
    session_names=frozenset({REQUEST_SESSION}),
    tick_interval=1.0,
)
