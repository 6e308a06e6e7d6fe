"""Auto-redial ("Автодозвон", seed 003): the telephony side.

The rules and every state live in `portal.redial`; this module turns them into FreeSWITCH
actions and FreeSWITCH events back into service calls.

1. **Offer.** With the option on, a call to one of a customer's phones that fails with a
   busy/unreachable cause (`continue_on_fail` lists them) goes on to our outbound socket with
   `pbx_flow=redial_offer` (pbx/render.py): from another of their phones, or from outside to
   a company number that rings that one phone. `handle_session` asks the services whether the
   caller is eligible (each refusal is recorded with its reason, and the caller just hears
   the failure), plays the offer, collects one digit: "1" accepts, anything else or nothing
   declines.
2. **The callee is back.** What counts depends on why the call failed (rules.counts_as_back):
   a busy callee is back when a call of theirs ends (`CHANNEL_HANGUP_COMPLETE` with
   `pbx_employee`, or `dialed_user`/`dialed_domain` on a leg we rang); an unreachable one also
   on a *new* registration. `sofia::register` fires on every REGISTER, a phone's routine
   refresh (same Call-ID) included: the services keep the Call-ID a phone holds
   (`registration_seen`) and a refresh is never "back"; `sofia::unregister`/`sofia::expire`
   end it, so the phone's next REGISTER is new whatever its Call-ID.
3. **Connect** (each node's tick claims due requests by compare-and-swap): the caller is rung
   first (a phone showing the callee's extension, or an outside caller through the gateway
   showing the company number they called, if the outbound policy lets us dial it) and parked
   on answer, hearing `redial_connecting`; then the callee (showing the caller's number); then
   `uuid_bridge`. Billing starts at the bridge: both legs are `pbx_direction=internal` until
   `uuid_bridge` succeeds, then the callee's leg, answered just before the bridge, becomes
   the caller's outgoing call (`uuid_setvar ... pbx_direction outbound`): its billsec is the
   conversation, and a connection that never bridged costs nothing. A leg that fails tells
   the services who was not there and why (`attempt_failed`): they wait for the callee
   again, retry later or text the callee.
4. **Flash**: the callee's phone is rung showing the caller's number and the leg is killed
   0.5 s after it was created (`CHANNEL_CREATE`), whatever the phone sends: 180, 183 early
   media (no CHANNEL_PROGRESS at all) or 200 at once. `originate_timeout` cannot go below 1 s
   and `leg_timeout=1` ends after ~2 s on a real switch (recordings 02e1/02e2), while
   `uuid_kill` ends a ringing leg at once with NORMAL_CLEARING (02e3). If our kill is lost,
   `originate_timeout=3` ends a ringing leg and an answered one hangs up after its 1 s of
   silence. The outcome is what happened: rang (a missed call), answered, or
   busy/away (waiting for the callee again).

Legs carry `pbx_flow=redial`, `pbx_job=<request id>`, `pbx_leg=caller|callee|flash`; nothing
that matters is kept in memory.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
import uuid as uuidlib

from django.conf import settings
from django.utils import timezone

from pbx.esl import commands
from pbx.esl.protocol import Event
from pbx.flows import Flow, NodeContext
from pbx.render import customer_id_from_domain, sip_domain, valid_extension
from portal.billing.callpolicy import outbound_check
from portal.directory.models import Employee
from portal.prompts.selectors import playback_arg, prompt_path
from portal.redial import rules, services
from portal.redial.models import RedialRequest
from portal.redial.services import (
    attempt_failed,
    callee_back,
    claim_due,
    claim_flash_ends,
    flash_end_due,
    legs_started,
    registration_ended,
    registration_seen,
)
from portal.tenants.models import Customer

log = logging.getLogger(__name__)

FLOW = "redial"
OFFER_SESSION = "redial_offer"
DIGIT_VAR = "redial_digit"
OFFER_TIMEOUT_MS = 6000
CALLER_RING_SECONDS = 30
CALLEE_RING_SECONDS = 30
# FreeSWITCH's own end of a ringing flash if our kill is lost. It counts from the start of the
# originate, not from the channel: with 1 s, a directory lookup that took 0.9 s on a busy box
# left the leg 0.06 s (real switch, 183 phone).
FLASH_RING_LIMIT = 3
FLASH_SECONDS = 0.5
# FreeSWITCH stamps channel times on its 20 ms timer tick: aimed at exactly 0.5 s, a flash
# measured 0.48 s by its own Created/Hangup times. One tick and a little more on top.
FLASH_SLACK = 0.03
FLASH_FALLBACK_SECONDS = 1.0  # kill from the originate, if CHANNEL_CREATE never came
# The flash is ended by a claimed row (RedialRequest.flash_end_at), checked this often; the
# other timed work (due requests, retries, windows) only every DUE_EVERY seconds.
FLASH_TICK = 0.05
DUE_EVERY = 1.0
_TAG = re.compile(r"(?:^|[{,])(pbx_[a-z]+)=([A-Za-z0-9_+.-]+)")
_CAUSE = re.compile(r"[A-Z][A-Z0-9_]{1,63}\Z")


def _int(value) -> int:
    try:
        return int(value or "")
    except (TypeError, ValueError):
        return 0


def _domain(customer_id: int) -> str:
    return sip_domain(customer_id, settings.PBX_SIP_DOMAIN)


def _extension(value: str) -> str:
    checked = valid_extension(value)
    if checked is None:
        raise commands.CommandError(f"extension {value!r}")
    return checked


def leg_of(tags: dict[str, str]) -> tuple[int, str] | None:
    if tags.get("pbx_flow") != FLOW:
        return None
    request_id, leg = _int(tags.get("pbx_job")), tags.get("pbx_leg", "")
    return (request_id, leg) if request_id and leg in ("caller", "callee", "flash") else None


def _number(value: str) -> str:
    """An extension, or an E.164 number (an outside caller's, a company number)."""
    if value.startswith("+"):
        return commands.e164(value)
    return _extension(value)


def leg_originate(plan, leg: str, leg_uuid: str, *, gateway: str = "") -> str:
    """The originate of one leg of a plan (`portal.redial.services.Plan`)."""
    to_caller = leg == "caller"
    outside = not plan.caller_extension
    if to_caller:
        if outside:
            target = commands.gateway_target(gateway, plan.caller_number)
            shown = plan.called_number
        else:
            target = commands.user_target(plan.caller_extension, _domain(plan.customer_id))
            shown = plan.callee_extension
    else:
        target = commands.user_target(plan.callee_extension, _domain(plan.customer_id))
        shown = plan.caller_number if outside else plan.caller_extension
    ring = {"caller": CALLER_RING_SECONDS, "callee": CALLEE_RING_SECONDS}.get(leg, FLASH_RING_LIMIT)
    return commands.originate(
        target,
        origination_uuid=leg_uuid,
        variables={
            "pbx_flow": FLOW,
            "pbx_job": plan.request_id,
            "pbx_leg": leg,
            "pbx_customer": plan.customer_id,
            # Nothing is billed until the bridge: then the callee's leg becomes the caller's
            # outgoing call (RedialFlow.bridge).
            "pbx_direction": "internal",
            "origination_caller_id_number": _number(shown),
            "origination_caller_id_name": _number(shown),
            "originate_timeout": ring,
            "ignore_early_media": "true",
        },
        # A flash answered at once: 1 s of silence and the leg ends even if our kill is lost.
        app=commands.application("playback", "silence_stream://1000")
        if leg == "flash"
        else "&park()",
    )


def _created_at(event: Event) -> float:
    """When the switch created the channel (seconds since the epoch), else now."""
    for name in ("Caller-Channel-Created-Time", "Event-Date-Timestamp"):
        value = _int(event.get(name))
        if value:
            return value / 1_000_000
    return time.time()


class RedialFlow(Flow):
    """See the module docstring."""

    _next_due_claim: float = 0.0  # pacing of the 1-second work inside the fast tick

    # -- 1. the offer ----------------------------------------------------------------------------

    def handle_session(self, call) -> None:
        variables = call.variables
        data = call.session_data or {}
        cause = data.get("variable_originate_disposition") or data.get("variable_DIALSTATUS", "")
        cause = cause if _CAUSE.match(cause or "") else "NORMAL_CLEARING"
        customer = Customer.objects.filter(pk=_int(variables.get("pbx_customer"))).first()
        offer = None
        if customer is not None:
            # A phone of the customer (the directory tags its leg), or a caller from outside
            # who dialled a company number (the public dialplan sets pbx_number_e164).
            offer = services.offer_start(
                customer_id=customer.pk,
                caller_id=_int(variables.get("pbx_employee")) or None,
                callee_id=_int(variables.get("pbx_redial_callee")),
                cause=cause,
                origin_uuid=call.uuid,
                now=timezone.now(),
                caller_number=data.get("Caller-Caller-ID-Number", ""),
                called_number=variables.get("pbx_number_e164", ""),
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
        for uuid in claim_flash_ends(now=timezone.now()):
            self.end_flash(ctx, uuid)
        if time.monotonic() < self._next_due_claim:
            return
        self._next_due_claim = time.monotonic() + DUE_EVERY
        for plan in claim_due(now=timezone.now(), worker=ctx.node):
            leg = "caller" if plan.action == "connect" else "flash"
            if leg == "caller" and not plan.caller_extension and not self.may_dial(plan):
                attempt_failed(
                    request_id=plan.request_id,
                    leg="caller",
                    cause="OUTGOING_CALL_BARRED",
                    now=timezone.now(),
                )
                continue
            leg_uuid = str(uuidlib.uuid4())
            if leg == "caller":
                legs_started(request_id=plan.request_id, caller_uuid=leg_uuid)
            else:
                legs_started(request_id=plan.request_id, callee_uuid=leg_uuid)
            if leg == "flash":
                fallback = timezone.now() + dt.timedelta(seconds=FLASH_FALLBACK_SECONDS)
                flash_end_due(request_id=plan.request_id, at=fallback)
            command = leg_originate(plan, leg, leg_uuid, gateway=settings.PBX_PSTN_GATEWAY)
            ctx.bgapi(command, leg_uuid)

    @staticmethod
    def may_dial(plan) -> bool:
        """An outside caller is called back through the gateway: the customer's outbound policy
        decides (a caller ID can be forged to a premium or satellite number)."""

        check = outbound_check(customer_id=plan.customer_id, number=plan.caller_number)
        if not check.allowed:
            log.warning("redial %s: caller not dialled: %s", plan.request_id, check.reason)
        return check.allowed

    @staticmethod
    def end_flash(ctx: NodeContext, uuid: str) -> None:
        try:
            ctx.api(commands.uuid_kill(uuid))  # "-ERR No such channel!" once it has ended
        except Exception:  # the node went away: originate_timeout ends the leg there
            log.warning("redial: could not end flash %s", uuid, exc_info=True)

    @staticmethod
    def schedule_flash_end(request_id: int, event: Event) -> None:
        """Kill the flash leg 0.5 s after the switch created it, whatever the phone sent (the
        tick claims it; never earlier than now, never later than 0.5 s from now)."""

        target = FLASH_SECONDS + FLASH_SLACK
        delay = min(max(_created_at(event) + target - time.time(), 0.0), target)
        flash_end_due(request_id=request_id, at=timezone.now() + dt.timedelta(seconds=delay))

    # -- events -----------------------------------------------------------------------------------

    def on_event(self, ctx: NodeContext, event: Event) -> None:
        if event.name == "CUSTOM":
            if event.subclass == "sofia::register":
                self.on_register(event)
            elif event.subclass in ("sofia::unregister", "sofia::expire"):
                self.on_registration_end(event)
        elif event.name == "BACKGROUND_JOB":
            leg = leg_of(dict(_TAG.findall(event.get("Job-Command-Arg") or "")))
            if leg is not None:
                self.on_originate_result(ctx, *leg, event.body.strip())
        elif event.name == "CHANNEL_CREATE":
            leg = leg_of(event.variables)
            if leg is not None and leg[1] == "flash":
                self.schedule_flash_end(leg[0], event)
        elif event.name == "CHANNEL_HANGUP_COMPLETE":
            leg = leg_of(event.variables)
            answered = event.get("Caller-Channel-Answered-Time", "0") not in ("", "0")
            if leg is not None:
                if answered:
                    self.on_answered_leg_hangup(ctx, *leg, event)
            elif answered:
                self.on_phone_call_ended(event)

    @staticmethod
    def _employee(event: Event):
        customer_id = customer_id_from_domain(
            event.get("realm") or event.get("from-host") or "", settings.PBX_SIP_DOMAIN
        )
        user = event.get("username") or event.get("from-user") or ""
        if not customer_id or not user:
            return None
        return Employee.objects.filter(customer_id=customer_id, extension=user).first()

    def on_register(self, event: Event) -> None:
        employee = self._employee(event)
        if employee is None:
            return
        now = timezone.now()
        call_id = event.get("call-id") or ""
        new = registration_seen(employee_id=employee.pk, call_id=call_id, now=now)
        callee_back(
            customer_id=employee.customer_id,
            callee_id=employee.pk,
            now=now,
            source=rules.NEW_REGISTRATION if new else rules.REFRESH,
            registration=call_id,
        )

    def on_registration_end(self, event: Event) -> None:
        employee = self._employee(event)
        if employee is not None:
            registration_ended(employee_id=employee.pk)

    @staticmethod
    def on_phone_call_ended(event: Event) -> None:
        """An answered call of a phone ended: that phone is free now."""

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
            source=rules.CALL_ENDED,
        )

    def on_originate_result(self, ctx: NodeContext, request_id: int, leg: str, result: str):
        now = timezone.now()
        ok, _, detail = result.partition(" ")
        cause = detail.strip() if ok != "+OK" else ""
        request = RedialRequest.objects.select_related("caller", "callee", "customer")
        request = request.filter(pk=request_id).first()
        if request is None:
            return
        if leg == "flash":
            if ok == "+OK":  # answered at once: our kill (or its 1 s of silence) ends it
                services.flash_answered(request_id=request_id, now=now)
            else:
                services.flash_finished(request_id=request_id, cause=cause or ok, now=now)
            return
        if leg == "caller":
            if ok != "+OK":  # busy, away or no answer: the services retry or text the callee
                services.attempt_failed(
                    request_id=request_id, leg="caller", cause=cause or ok, now=now
                )
                return
            self.play_connecting(ctx, request)
            plan = services.Plan(
                request.pk,
                "connect",
                request.customer_id,
                request.caller.extension if request.caller_id else "",
                request.callee.extension,
                request.caller_number,
                request.called_number,
            )
            callee_uuid = str(uuidlib.uuid4())
            services.legs_started(request_id=request_id, callee_uuid=callee_uuid)
            ctx.bgapi(leg_originate(plan, "callee", callee_uuid), callee_uuid)
            return
        # the callee's leg
        if ok != "+OK":
            if request.caller_uuid:
                ctx.api(commands.uuid_kill(request.caller_uuid))
            services.attempt_failed(request_id=request_id, leg="callee", cause=cause or ok, now=now)
            return
        reply = ctx.api(commands.uuid_bridge(request.caller_uuid, request.callee_uuid)).strip()
        if reply.startswith("+OK"):
            # Billing starts here: the callee's leg, answered just now, is the caller's call.
            ctx.api(commands.uuid_setvar(request.callee_uuid, "pbx_direction", "outbound"))
            services.connect_bridged(request_id=request_id, now=now)
            return
        ctx.api(commands.uuid_kill(request.callee_uuid))
        services.connect_finished(request_id=request_id, connected=False, cause="GONE", now=now)

    @staticmethod
    def play_connecting(ctx: NodeContext, request) -> None:
        """The caller answered: they hear that the callee is being connected while it rings."""

        path = prompt_path(customer=request.customer, key="redial_connecting")
        try:
            ctx.api(commands.uuid_broadcast(request.caller_uuid, path, "aleg"))
        except commands.CommandError:
            log.warning("redial %s: cannot play %r", request.pk, path)

    @staticmethod
    def on_answered_leg_hangup(ctx: NodeContext, request_id: int, leg: str, event: Event):
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
        {
            "BACKGROUND_JOB",
            "CHANNEL_CREATE",
            "CHANNEL_HANGUP_COMPLETE",
            "sofia::register",
            "sofia::unregister",
            "sofia::expire",
        }
    ),
    session_names=frozenset({OFFER_SESSION}),
    tick_interval=FLASH_TICK,
)
