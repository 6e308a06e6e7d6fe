"""Queue callback ("Обратный вызов", seed 001): the telephony side.

The state of every request and attempt lives in the database (`portal.callbacks`); this module
only turns it into FreeSWITCH actions and turns FreeSWITCH events back into service calls.

1. A caller in a department's queue presses 1: mod_callcenter ends the member with
   EXIT_WITH_KEY and the dialplan hands the call to our outbound socket with
   `pbx_flow=callback_request`. `handle_session` records the request (the service refuses
   anonymous callers, duplicates and customers without the option), plays the confirmation
   and hangs up. The request becomes due only when that call has ended (its
   CHANNEL_HANGUP_COMPLETE, or the session's own hangup): a line without call waiting would
   be busy for an attempt made while the caller still listens.
2. `tick` (every second, on every connected node) claims due attempts by compare-and-swap;
   whichever node wins dials. An attempt first rings an employee (`user/<ext>@<domain>`,
   parked on answer), trying the department's employees in order until one answers. An
   employee whose phone has a call on this node (`show channels`: the phone's own channels
   carry `presence_id=<ext>@<domain>`) or whose mod_callcenter agent is logged out or on a
   break is skipped.
3. The employee answered and heard who is called back (the whisper: `callback_whisper` and the
   caller's number digit by digit, played by the originate itself before it reports
   success): the caller is dialled through the PSTN gateway showing one of the customer's
   numbers (the multichannel number when the customer and the employee have АОН), hears
   `callback_connecting` the same way, and is parked.
4. The caller answered: `uuid_bridge`. Either leg hanging up ends the other and the attempt.
   The employee hanging up before that kills the caller's leg; the attempt is not the caller's
   to lose (flow.EMPLOYEE_GONE) and is made again shortly.

Correlation is stateless: every leg carries `pbx_flow=callback`, `pbx_job=<attempt id>`,
`pbx_leg=employee|caller` and `pbx_cand=<candidate index>`. FreeSWITCH echoes them in the
channel's events and, URL-encoded, in BACKGROUND_JOB's `Job-Command-Arg`, which is the only
thing a failed originate produces. BACKGROUND_JOB decides the fate of an unanswered leg; the
hangup of an answered leg ends the attempt; services are idempotent, so a duplicated event or
a replay after an ESL reconnect changes nothing twice.
"""

from __future__ import annotations

import json
import logging
import re
import uuid as uuidlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.utils import timezone

from pbx.esl import commands
from pbx.esl.protocol import Event
from pbx.flows import Flow, NodeContext
from pbx.render import agent_name, sip_domain
from portal.billing.callpolicy import outbound_check
from portal.billing.models import Option
from portal.billing.selectors import option_enabled
from portal.callbacks import services
from portal.callbacks.dialplan import REQUEST_FLOW
from portal.callbacks.flow import EMPLOYEE_GONE
from portal.callbacks.models import CallbackAttempt
from portal.callbacks.services import (
    callback_attempt_finished,
    callback_attempt_lost,
    callback_attempt_plan,
    callback_claim_due,
    callback_no_employee_free,
    callback_request_caller_left,
    callback_request_create,
)
from portal.prompts.selectors import digit_paths, playback_arg, prompt_path, prompts_root
from portal.tenants.models import Customer

log = logging.getLogger(__name__)

FLOW = "callback"
REQUEST_SESSION = REQUEST_FLOW
EMPLOYEE_RING_SECONDS = 20
CALLER_RING_SECONDS = 30
# What an answered leg may spend on its prompt (the whisper reads the caller's number digit by
# digit) before the originate completes; the ring time is the leg's own `leg_timeout`.
PROMPT_SECONDS = 30
# mod_callcenter agent statuses of an employee who is not taking calls.
AGENT_AWAY = frozenset({"Logged Out", "On Break"})
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


@dataclass(frozen=True)
class Prompt:
    """What an answered leg hears before the originate completes: `files` relative to
    `prefix` (FreeSWITCH's `sound_prefix`; relative names keep the dial string short)."""

    prefix: str
    files: tuple[str, ...]

    @property
    def playback(self) -> str:
        if len(self.files) == 1:
            return self.files[0]
        return "file_string://" + "!".join(self.files)


def _prompted(prompt: Prompt | None, ring_seconds: int) -> dict:
    """Originate settings for a leg that rings `ring_seconds` and then hears `prompt`."""
    if prompt is None:
        return {"variables": {"originate_timeout": ring_seconds}}
    return {
        "variables": {
            # The originate as a whole may last ring + prompt; ringing alone stops at the
            # leg's timeout (which answering replaces with group_confirm_timeout).
            "originate_timeout": ring_seconds + PROMPT_SECONDS,
            "group_confirm_timeout": PROMPT_SECONDS,
            "sound_prefix": prompt.prefix,
        },
        "leg_variables": {"leg_timeout": ring_seconds},
        "on_answer": ("playback", prompt.playback),
    }


def employee_originate(
    plan, index: int, leg_uuid: str, domain: str, whisper: Prompt | None = None
) -> str:
    candidate = plan.candidates[index]
    extra = _prompted(whisper, EMPLOYEE_RING_SECONDS)
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
            "ignore_early_media": "true",
            **extra["variables"],
        },
        leg_variables=extra.get("leg_variables"),
        on_answer=extra.get("on_answer"),
    )


def caller_originate(
    plan, index: int, leg_uuid: str, gateway: str, intro: Prompt | None = None
) -> str:
    candidate = plan.candidates[index]
    extra = _prompted(intro, CALLER_RING_SECONDS)
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
            "ignore_early_media": "true",
            **extra["variables"],
        },
        leg_variables=extra.get("leg_variables"),
        on_answer=extra.get("on_answer"),
    )


def phones_in_use(reply: str, domain: str) -> set[str]:
    """Extensions of `domain` that have a channel in a `show channels as json` reply: legs to a
    phone carry `presence_id=<ext>@<domain>` (the directory's dial-string sets it), calls from
    a phone are named `sofia/<profile>/<ext>@<domain>`."""
    try:
        rows = json.loads(reply or "{}").get("rows") or []
    except (ValueError, AttributeError):
        return set()
    suffix = f"@{domain}"
    found = set()
    for row in rows:
        if not isinstance(row, dict):
            continue
        for value in (row.get("presence_id") or "", (row.get("name") or "").rpartition("/")[2]):
            if value.endswith(suffix):
                found.add(value[: -len(suffix)])
    return found


@dataclass
class CallbackFlow(Flow):
    """See the module docstring."""

    @staticmethod
    def plan(attempt_id: int):
        """The attempt's plan as the database has it now; None once it is finished. Read on
        every event, never kept: a decision the database took meanwhile (the attempt ended, the
        option went off) is never overruled by what this process remembered."""

        return callback_attempt_plan(attempt_id=attempt_id)

    @staticmethod
    def legs(attempt_id: int) -> tuple[str, str]:
        """(employee uuid, caller uuid) of an attempt, as the services recorded them."""

        row = CallbackAttempt.objects.filter(pk=attempt_id).values_list(
            "employee_uuid", "caller_uuid"
        )
        return row.first() or ("", "")

    # -- settings -----------------------------------------------------------------------------

    @staticmethod
    def domain(customer_id: int) -> str:
        return sip_domain(customer_id, settings.PBX_SIP_DOMAIN)

    @staticmethod
    def gateway() -> str:
        return settings.PBX_PSTN_GATEWAY

    # -- 1. the caller pressed 1 in the queue -----------------------------------------------------

    def handle_session(self, call) -> None:
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
            department_id=_int(variables.get("pbx_department")) or None,
        )
        paths = []
        if request is not None and reason == "duplicate":
            key = "callback_already_requested"
        elif request is not None and reason == "scheduled":
            # Outside working hours: the caller hears when the call will come (local time).
            key = "callback_scheduled"
            when = timezone.localtime(request.next_attempt_at, _zone(customer.time_zone))
            paths = digit_paths(customer=customer, digits=when.strftime("%H%M"))
        elif request is not None:
            key = "callback_confirmed"
        else:
            log.info("callback refused for %s: %s", call.uuid, reason)
            key = "service_unavailable"
        paths.insert(0, prompt_path(customer=customer, key=key))
        call.execute("playback", playback_arg(paths), timeout=60)
        call.execute("hangup", "NORMAL_CLEARING", timeout=10)
        if request is not None:  # hung up: the caller's line is free (the hangup event says so too)
            self.caller_left(call.uuid)

    @staticmethod
    def caller_left(origin_uuid: str) -> None:
        callback_request_caller_left(origin_uuid=origin_uuid, now=timezone.now())

    # -- 2. claim due attempts and ring an employee ----------------------------------------------

    def tick(self, ctx: NodeContext) -> None:
        for plan in callback_claim_due(now=timezone.now(), worker=ctx.node):
            if not self.caller_may_be_dialled(plan):
                continue
            self.ring_employee(ctx, plan, 0)

    @staticmethod
    def caller_may_be_dialled(plan) -> bool:
        """The call back goes to an outside number: the customer's outbound policy decides
        (a caller ID can be forged to a premium or satellite number), before any employee is
        rung. Refused: the attempt ends unanswered with OUTGOING_CALL_BARRED."""

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
        domain = self.domain(plan.customer_id)
        in_use = None
        while index < len(plan.candidates):
            candidate = plan.candidates[index]
            if in_use is None:
                in_use = self.phones_in_use(ctx, domain)
            if candidate.extension in in_use:
                log.info("callback %s: %s is on a call", plan.attempt_id, candidate.extension)
            elif self.agent_away(ctx, plan.customer_id, candidate.employee_id):
                log.info(
                    "callback %s: %s is not in the queue", plan.attempt_id, candidate.extension
                )
            else:
                break
            index += 1
        if index >= len(plan.candidates):
            callback_no_employee_free(attempt_id=plan.attempt_id, now=timezone.now())
            return
        leg_uuid = str(uuidlib.uuid4())
        whisper = self.whisper(plan)
        command = employee_originate(plan, index, leg_uuid, domain, whisper)
        ctx.bgapi(command, leg_uuid)

    @staticmethod
    def phones_in_use(ctx: NodeContext, domain: str) -> set[str]:
        """Extensions with a call on this node; nothing known (an error) means nobody busy:
        the originate then finds out itself (USER_BUSY)."""
        try:
            return phones_in_use(ctx.api(commands.show_channels_json()), domain)
        except Exception:
            log.exception("callback: could not list channels")
            return set()

    @staticmethod
    def agent_away(ctx: NodeContext, customer_id: int, employee_id: int) -> bool:
        """Has the employee left the department's queue (mod_callcenter agent status)? An agent
        the node does not know (-ERR) counts as present: the queue decides nothing then."""

        try:
            reply = ctx.api(commands.callcenter_agent_status(agent_name(customer_id, employee_id)))
        except Exception:
            log.exception("callback: could not read agent status")
            return False
        return reply.strip() in AGENT_AWAY

    # -- prompts ------------------------------------------------------------------------------

    @staticmethod
    def _prompt(customer_id: int, keys: list[str], digits: str = "") -> Prompt | None:
        """The customer's prompts (own recording, else generated, in their language) as paths
        relative to the prompts root; None if the customer is gone."""

        customer = Customer.objects.filter(pk=customer_id).first()
        if customer is None:
            return None
        root = prompts_root()
        paths = [prompt_path(customer=customer, key=key) for key in keys]
        if digits:
            paths += digit_paths(customer=customer, digits=digits)
        files = []
        for path in paths:
            try:
                files.append(str(Path(path).relative_to(root)))
            except ValueError:
                files.append(path)
        return Prompt(prefix=str(root), files=tuple(files))

    def whisper(self, plan) -> Prompt | None:
        """What the employee hears on answering: a callback, and to which number."""
        return self._prompt(plan.customer_id, ["callback_whisper"], plan.caller_number.lstrip("+"))

    def intro(self, plan) -> Prompt | None:
        """What the caller hears on answering: the company is calling back."""
        return self._prompt(plan.customer_id, ["callback_connecting"])

    # -- 3./4. events ------------------------------------------------------------------------------

    def on_event(self, ctx: NodeContext, event: Event) -> None:
        if event.name == "BACKGROUND_JOB":
            leg = leg_of(tags_of_job(event))
            if leg is not None:
                self.on_originate_result(ctx, leg, event.body.strip())
        elif event.name == "CHANNEL_HANGUP_COMPLETE":
            variables = event.variables
            if variables.get("pbx_flow") == REQUEST_SESSION and event.uuid:
                self.caller_left(event.uuid)  # the call in which they pressed 1 has ended
                return
            leg = leg_of(variables)
            if leg is not None and event.get("Caller-Channel-Answered-Time", "0") != "0":
                self.on_answered_leg_hangup(ctx, leg, event)

    @staticmethod
    def let_go(ctx: NodeContext, attempt_id: int, employee_uuid: str) -> None:
        """The employee answered an attempt that is over (staff closed the request, the caller
        got through meanwhile, the attempt ended): their leg is hung up, not left parked."""
        log.info("callback attempt %s: the employee answered too late", attempt_id)
        try:
            ctx.api(commands.uuid_kill(employee_uuid))
        except commands.CommandError:
            log.warning("callback attempt %s: bad employee leg %r", attempt_id, employee_uuid)

    def on_originate_result(self, ctx: NodeContext, leg: Leg, result: str) -> None:
        now = timezone.now()
        plan = self.plan(leg.attempt_id)
        ok, _, detail = result.partition(" ")
        if plan is None:  # finished meanwhile (or not ours to dial): the database decides
            if leg.leg == "employee" and ok == "+OK":
                self.let_go(ctx, leg.attempt_id, detail.strip())
            return
        if leg.leg == "employee":
            if ok != "+OK":
                self.ring_employee(ctx, plan, leg.candidate + 1)
                return
            employee_uuid = detail.strip()
            caller_uuid = str(uuidlib.uuid4())
            taken = services.callback_attempt_employee_answered(
                attempt_id=plan.attempt_id,
                employee_id=plan.candidates[leg.candidate].employee_id,
                employee_uuid=employee_uuid,
                now=now,
            ) and services.callback_attempt_caller_dialing(
                attempt_id=plan.attempt_id,
                caller_uuid=caller_uuid,
                caller_id_shown=plan.candidates[leg.candidate].caller_id_to_show,
                now=now,
            )
            if not taken:  # the rules refused the step: nobody is dialled
                self.let_go(ctx, plan.attempt_id, employee_uuid)
                return
            command = caller_originate(
                plan, leg.candidate, caller_uuid, self.gateway(), self.intro(plan)
            )
            ctx.bgapi(command, caller_uuid)
            return
        employee_uuid, caller_uuid = self.legs(plan.attempt_id)
        if ok != "+OK":  # the caller did not answer: the employee is told goodbye
            if employee_uuid:
                ctx.api(commands.uuid_kill(employee_uuid))
            cause = detail.strip() or "UNKNOWN"
            if cause == "ALLOTTED_TIMEOUT":  # the leg_timeout we set: rang out unanswered
                cause = "NO_ANSWER"
            services.callback_attempt_finished(
                attempt_id=plan.attempt_id,
                caller_answered=False,
                bridged=False,
                cause=cause,
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
        # The employee left while the caller's phone rang: not the caller's attempt to lose.
        ctx.api(commands.uuid_kill(caller_uuid))
        services.callback_attempt_finished(
            attempt_id=plan.attempt_id,
            caller_answered=True,
            bridged=False,
            cause=EMPLOYEE_GONE,
            now=now,
        )

    @staticmethod
    def record(ctx: NodeContext, plan, employee_uuid: str, caller_uuid: str) -> str:
        """Record the conversation when the customer has call recording on; the file's path."""

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
        attempt = CallbackAttempt.objects.filter(pk=leg.attempt_id).first()
        if attempt is None:
            return
        if attempt.status != "bridged":
            if (
                leg.leg == "employee"
                and attempt.status in ("dialing_employee", "dialing_caller")
                and attempt.employee_uuid
                and attempt.employee_uuid == event.uuid
            ):
                self.on_employee_left_early(ctx, attempt)
            return  # otherwise the BACKGROUND_JOB of the ringing leg decides
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

    def on_employee_left_early(self, ctx: NodeContext, attempt) -> None:
        """The employee who took the callback hung up before the caller was connected: stop
        ringing the caller (or their prompt); the attempt is ours to repeat, not theirs."""

        if attempt.caller_uuid:
            ctx.api(commands.uuid_kill(attempt.caller_uuid))  # -ERR if it already ended
        services.callback_attempt_finished(
            attempt_id=attempt.pk,
            caller_answered=False,
            bridged=False,
            cause=EMPLOYEE_GONE,
            now=timezone.now(),
        )

    def on_lost_hangup(self, ctx: NodeContext, call) -> None:
        leg = leg_of(call.variables)
        if leg is not None:
            callback_attempt_lost(attempt_id=leg.attempt_id, now=timezone.now())


def _zone(name: str):
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


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
