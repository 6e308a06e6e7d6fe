"""Auto-redial ("Автодозвон", seed 003): the telephony side.

The rules and every state live in `portal.redial`; this module turns them into FreeSWITCH
actions and FreeSWITCH events back into service calls.

1. **Offer.** With the option on, a call from one phone of a customer to another that fails
   with a busy/unreachable cause (`continue_on_fail` lists them) goes on to our outbound socket
   with `pbx_flow=redial_offer` (pbx/render.py). `handle_session` asks the services whether
   the caller is eligible (each refusal is recorded with its reason, and the caller just hears
   the failure), plays the offer, collects one digit: "1" accepts, anything else or nothing
   declines.
2. **The callee is back.** `sofia::register` of the callee's phone (username + realm
   `c<customer>.<domain>`), or the end of an answered call of theirs (`CHANNEL_HANGUP_COMPLETE`
   with `pbx_employee`, or `dialed_user`/`dialed_domain` on a leg we rang), moves every waiting
   request for them on once: connect, flash, or text (the services decide by the window).
3. **Connect** (each node's tick claims due requests by compare-and-swap): the caller is rung
   first (showing the callee's extension) and parked on answer; then the callee (showing the
   caller's extension); then `uuid_bridge`. The caller's leg is tagged `pbx_direction=outbound`,
   so its CDR bills the connection as the caller's outgoing call.
4. **Flash**: the callee's phone is rung showing the caller's extension and the leg is killed
   0.5 s after it starts ringing (`CHANNEL_PROGRESS`): `originate_timeout` cannot go below 1 s
   and `leg_timeout=1` ends after ~2 s on a real switch (recordings 02e1/02e2), while
   `uuid_kill` of a ringing leg ends it at once with NORMAL_CLEARING (02e3). If no progress
   comes, `originate_timeout=5` ends it anyway.

Legs carry `pbx_flow=redial`, `pbx_job=<request id>`, `pbx_leg=caller|callee|flash`; nothing
that matters is kept in memory.
"""

from __future__ import annotations

import logging
import re
import uuid as uuidlib

import gevent
from django.conf import settings
from django.utils import timezone

from pbx.esl import commands
from pbx.esl.protocol import Event
from pbx.flows import Flow, NodeContext

log = logging.getLogger(__name__)

FLOW = "redial"
OFFER_SESSION = "redial_offer"
DIGIT_VAR = "redial_digit"
OFFER_TIMEOUT_MS = 6000
CALLER_RING_SECONDS = 30
CALLEE_RING_SECONDS = 30
FLASH_RING_LIMIT = 5
FLASH_SECONDS = 0.5
_TAG = re.compile(r"(?:^|[{,])(pbx_[a-z]+)=([A-Za-z0-9_+.-]+)")
_CAUSE = re.compile(r"[A-Z][A-Z0-9_]{1,63}\Z")


def _int(value) -> int:
    try:
        return int(value or "")
    except (TypeError, ValueError):
        return 0


def _domain(customer_id: int) -> str:
    from pbx.render import sip_domain

    return sip_domain(customer_id, settings.PBX_SIP_DOMAIN)


def _extension(value: str) -> str:
    from pbx.render import valid_extension

    checked = valid_extension(value)
    if checked is None:
        raise commands.CommandError(f"extension {value!r}")
    return checked


def leg_of(tags: dict[str, str]) -> tuple[int, str] | None:
    if tags.get("pbx_flow") != FLOW:
        return None
    request_id, leg = _int(tags.get("pbx_job")), tags.get("pbx_leg", "")
    return (request_id, leg) if request_id and leg in ("caller", "callee", "flash") else None


def leg_originate(plan, leg: str, leg_uuid: str) -> str:
    """The originate of one leg of a plan (`portal.redial.services.Plan`)."""
    to_caller = leg == "caller"
    extension = plan.caller_extension if to_caller else plan.callee_extension
    shown = plan.callee_extension if to_caller else plan.caller_extension
    ring = {"caller": CALLER_RING_SECONDS, "callee": CALLEE_RING_SECONDS}.get(leg, FLASH_RING_LIMIT)
    return commands.originate(
        commands.user_target(extension, _domain(plan.customer_id)),
        origination_uuid=leg_uuid,
        variables={
            "pbx_flow": FLOW,
            "pbx_job": plan.request_id,
            "pbx_leg": leg,
            "pbx_customer": plan.customer_id,
            # The caller pays for the connection: their leg is their outgoing call.
            "pbx_direction": "outbound" if to_caller else "internal",
            "origination_caller_id_number": _extension(shown),
            "origination_caller_id_name": _extension(shown),
            "originate_timeout": ring,
            "ignore_early_media": "true",
        },
    )


class RedialFlow(Flow):
    """See the module docstring."""

    # -- 1. the offer ----------------------------------------------------------------------------

    def handle_session(self, call) -> None:
        from portal.prompts.selectors import playback_arg, prompt_path
        from portal.redial import services
        from portal.tenants.models import Customer

        variables = call.variables
        data = call.session_data or {}
        cause = data.get("variable_originate_disposition") or data.get("variable_DIALSTATUS", "")
        cause = cause if _CAUSE.match(cause or "") else "NORMAL_CLEARING"
        customer = Customer.objects.filter(pk=_int(variables.get("pbx_customer"))).first()
        offer = None
        if customer is not None:
            offer = services.offer_start(
                customer_id=customer.pk,
                caller_id=_int(variables.get("pbx_employee")),
                callee_id=_int(variables.get("pbx_redial_callee")),
                cause=cause,
                origin_uuid=call.uuid,
                now=timezone.now(),
            )
        if offer is None or not offer.offer or offer.push:
            # Refused (recorded with its reason), or the callee has voicemail: the caller
            # hears the failure as if we were not here.
            call.execute("hangup", cause, timeout=10)
            return
        call.execute("answer", timeout=10)
        for stale in (DIGIT_VAR, f"{DIGIT_VAR}_invalid"):
            call.execute("set", f"{stale}=", timeout=10)
        prompt = playback_arg([prompt_path(customer=customer, key="redial_offer")])
        arg = f"1 1 1 {OFFER_TIMEOUT_MS} # {prompt} silence_stream://250 {DIGIT_VAR} \\d 3000"
        event = call.execute("play_and_get_digits", arg, timeout=120)
        pressed = event.headers.get(f"variable_{DIGIT_VAR}") or None
        status = services.offer_answered(
            request_id=offer.request_id, pressed=pressed, now=timezone.now()
        )
        key = "redial_accepted" if status == "accepted" else "goodbye"
        call.execute("playback", prompt_path(customer=customer, key=key), timeout=60)
        call.execute("hangup", "NORMAL_CLEARING", timeout=10)

    # -- 3./4. due requests --------------------------------------------------------------------

    def tick(self, ctx: NodeContext) -> None:
        from portal.redial.services import claim_due, legs_started

        for plan in claim_due(now=timezone.now(), worker=ctx.node):
            leg = "caller" if plan.action == "connect" else "flash"
            leg_uuid = str(uuidlib.uuid4())
            if leg == "caller":
                legs_started(request_id=plan.request_id, caller_uuid=leg_uuid)
            else:
                legs_started(request_id=plan.request_id, callee_uuid=leg_uuid)
            ctx.bgapi(leg_originate(plan, leg, leg_uuid), leg_uuid)

    # -- events -----------------------------------------------------------------------------------

    def on_event(self, ctx: NodeContext, event: Event) -> None:
        if event.name == "CUSTOM" and event.subclass == "sofia::register":
            self.on_register(event)
        elif event.name == "BACKGROUND_JOB":
            leg = leg_of(dict(_TAG.findall(event.get("Job-Command-Arg") or "")))
            if leg is not None:
                self.on_originate_result(ctx, *leg, event.body.strip())
        elif event.name == "CHANNEL_PROGRESS":
            leg = leg_of(event.variables)
            if leg is not None and leg[1] == "flash":
                uuid = event.get("Unique-ID") or ""
                gevent.spawn_later(FLASH_SECONDS, ctx.api, commands.uuid_kill(uuid))
        elif event.name == "CHANNEL_HANGUP_COMPLETE":
            leg = leg_of(event.variables)
            answered = event.get("Caller-Channel-Answered-Time", "0") not in ("", "0")
            if leg is not None:
                if answered:
                    self.on_answered_leg_hangup(ctx, *leg, event)
            elif answered:
                self.on_phone_call_ended(event)

    @staticmethod
    def on_register(event: Event) -> None:
        from pbx.render import customer_id_from_domain
        from portal.directory.models import Employee
        from portal.redial.services import callee_back

        customer_id = customer_id_from_domain(
            event.get("realm") or event.get("from-host") or "", settings.PBX_SIP_DOMAIN
        )
        user = event.get("username") or event.get("from-user") or ""
        if not customer_id or not user:
            return
        employee = Employee.objects.filter(customer_id=customer_id, extension=user).first()
        if employee is not None:
            callee_back(
                customer_id=customer_id,
                callee_id=employee.pk,
                now=timezone.now(),
                source="register",
            )

    @staticmethod
    def on_phone_call_ended(event: Event) -> None:
        """An answered call of a phone ended: that phone is free now."""
        from pbx.render import customer_id_from_domain
        from portal.directory.models import Employee
        from portal.redial import rules
        from portal.redial.models import RedialRequest
        from portal.redial.services import callee_back

        variables = event.variables
        employee = None
        employee_id = _int(variables.get("pbx_employee"))
        if employee_id:
            employee = Employee.objects.filter(pk=employee_id).first()
        elif variables.get("dialed_user"):
            customer_id = customer_id_from_domain(
                variables.get("dialed_domain", ""), settings.PBX_SIP_DOMAIN
            )
            employee = Employee.objects.filter(
                customer_id=customer_id, extension=variables["dialed_user"]
            ).first()
        if employee is None:
            return
        if not RedialRequest.objects.filter(callee=employee, status__in=rules.WAITING).exists():
            return
        callee_back(
            customer_id=employee.customer_id,
            callee_id=employee.pk,
            now=timezone.now(),
            source="call ended",
        )

    def on_originate_result(self, ctx: NodeContext, request_id: int, leg: str, result: str):
        from portal.redial import services
        from portal.redial.models import RedialRequest

        now = timezone.now()
        ok, _, detail = result.partition(" ")
        request = RedialRequest.objects.select_related("caller", "callee").filter(pk=request_id)
        request = request.first()
        if request is None:
            return
        if leg == "flash":
            services.flash_finished(request_id=request_id, cause=detail.strip() or ok, now=now)
            return
        if leg == "caller":
            if ok != "+OK":  # the caller did not answer: nothing to connect
                services.connect_finished(
                    request_id=request_id, connected=False, cause=detail.strip(), now=now
                )
                return
            plan = services.Plan(
                request.pk,
                "connect",
                request.customer_id,
                request.caller.extension,
                request.callee.extension,
            )
            callee_uuid = str(uuidlib.uuid4())
            services.legs_started(request_id=request_id, callee_uuid=callee_uuid)
            ctx.bgapi(leg_originate(plan, "callee", callee_uuid), callee_uuid)
            return
        # the callee's leg
        if ok != "+OK":
            if request.caller_uuid:
                ctx.api(commands.uuid_kill(request.caller_uuid))
            services.connect_finished(
                request_id=request_id, connected=False, cause=detail.strip(), now=now
            )
            return
        reply = ctx.api(commands.uuid_bridge(request.caller_uuid, request.callee_uuid)).strip()
        if reply.startswith("+OK"):
            services.connect_bridged(request_id=request_id, now=now)
            return
        ctx.api(commands.uuid_kill(request.callee_uuid))
        services.connect_finished(request_id=request_id, connected=False, cause="GONE", now=now)

    @staticmethod
    def on_answered_leg_hangup(ctx: NodeContext, request_id: int, leg: str, event: Event):
        from portal.redial import services
        from portal.redial.models import RedialRequest

        if leg == "flash":
            return  # BACKGROUND_JOB decides
        request = RedialRequest.objects.filter(pk=request_id).first()
        if request is None or request.status != "connecting":
            return
        if leg == "caller" and not request.callee_uuid:
            return  # the caller hung up before we rang the callee: the callee's job decides
        other = request.callee_uuid if leg == "caller" else request.caller_uuid
        if other:
            ctx.api(commands.uuid_kill(other))
        services.connect_finished(
            request_id=request_id,
            connected=request.events.filter(kind="bridged").exists(),
            cause=event.get("Hangup-Cause") or "NORMAL_CLEARING",
            now=timezone.now(),
        )


flow = RedialFlow(
    name=FLOW,
    events=frozenset(
        {"BACKGROUND_JOB", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_PROGRESS", "sofia::register"}
    ),
    session_names=frozenset({OFFER_SESSION}),
    tick_interval=1.0,
)
