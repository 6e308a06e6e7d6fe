"""Fictive numbers (seed 002): the three outbound-socket sessions of the public dialplan.

- `fictive_access`: a shopper calls the access number from their real number. The pure IVR
  (`portal.fictive.ivr`) decides; this module performs its steps: `Collect` is one
  `play_and_get_digits`, `ReadList` plays the list, `Dial` records the call (both legs,
  stereo) and bridges to the destination through the PSTN gateway showing the fictive number.
- `fictive`: a dealer calls a fictive number. The paired shopper's real number is rung showing
  the customer's return number, recorded. Not answered: a pending missed call and an SMS
  (`inbound_call_finished`); the dealer is not answered and is released with the shopper's
  cause (NO_ANSWER, USER_BUSY...), so to them it is an ordinary unanswered call.
- `fictive_return`: the shopper calls the return number and is connected to the dealer of a
  pending missed call, showing the fictive number the dealer had called.

FreeSWITCH as it behaves (1.10.12, src/switch_ivr_play_say.c, switch_ivr_originate.c):
play_and_get_digits sets `<var>` only when digits came (never empty), `<var>_invalid` when they
fail the regex, and `read_terminator_used` (never cleared, so we unset it before each ask):
digits -> the digits, "#" alone -> "", nothing -> None (timeout). A failed `bridge` hangs the
caller up unless `continue_on_fail` is set (we set it) and leaves `originate_disposition`
(the cause; "call accepted" when answered), `DIALSTATUS` and, after a conversation,
`bridge_hangup_cause`.

Every string that reaches ESL comes from a builder in `pbx.esl.commands` (E.164 validated,
no braces, commas, `$` or whitespace in values) or is a prompt path from
`portal.prompts.selectors`; what a caller types only ever reaches it as a checked E.164.
"""

from __future__ import annotations

import logging
import re
from pathlib import PurePosixPath

import gevent
import gevent.event
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from pbx.esl import commands
from pbx.flows import Flow
from portal.billing.callpolicy import outbound_check
from portal.fictive import ivr, services
from portal.fictive.ivr import P_LIST_INTRO
from portal.prompts.selectors import digit_paths, playback_arg, prompt_paths
from portal.tenants.models import Customer

log = logging.getLogger(__name__)

ACCESS_SESSION = "fictive_access"
RETURN_SESSION = "fictive_return"
INBOUND_SESSION = "fictive"
DIGITS_VAR = "fictive_digits"  # the play_and_get_digits variable (fixed)
DIGIT_TIMEOUT_MS = 3000
BAD_INPUT = "silence_stream://250"
RINGBACK = "%(2000,4000,440,480)"
OUTBOUND_RING_SECONDS = 60
INBOUND_RING_SECONDS = 30
BRIDGE_MAX_SECONDS = 4 * 3600  # the longest conversation we wait for
PROMPT_SECONDS = 120
MAX_STEPS = 60
_CAUSE = re.compile(r"[A-Z][A-Z0-9_]{1,63}\Z")


def _digits(e164: str) -> str:
    """A caller ID for the trunk: the validated E.164 without "+" (as the callback flow)."""
    return commands.e164(e164).lstrip("+")


def _int(value) -> int:
    try:
        return int(value or "")
    except (TypeError, ValueError):
        return 0


class Session:
    """One outbound-socket call: prompts, digit collection and bridging, on `OutboundCall`."""

    def __init__(self, call, customer) -> None:
        self.call = call
        self.customer = customer
        self.started = timezone.now()

    # -- state of the channel -------------------------------------------------------------------

    @property
    def caller(self) -> str:
        return (self.call.session_data or {}).get("Caller-Caller-ID-Number", "")

    def gone(self) -> bool:
        try:
            self.call.raise_if_disconnected()
        except Exception:
            return True
        return False

    # -- prompts ------------------------------------------------------------------------------

    def paths(self, keys) -> list[str]:
        return prompt_paths(customer=self.customer, keys=keys)

    def digit_paths(self, digits) -> list[str]:
        return digit_paths(customer=self.customer, digits=digits)

    def play(self, paths: list[str]) -> None:
        """Play files in order, as few `playback`s as the argument limit allows."""

        chunk: list[str] = []
        for path in paths:
            if chunk and len(playback_arg([*chunk, path])) > commands.MAX_ARG:
                self.call.execute("playback", playback_arg(chunk), timeout=PROMPT_SECONDS)
                chunk = []
            chunk.append(path)
        if chunk:
            self.call.execute("playback", playback_arg(chunk), timeout=PROMPT_SECONDS)

    def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        if self.gone():
            return
        try:
            self.call.execute("hangup", cause, timeout=10)
        except Exception as exc:  # the caller left meanwhile
            log.debug("fictive %s: hangup: %s", self.call.uuid, exc)

    # -- IVR steps ----------------------------------------------------------------------------

    def collect(self, step) -> str | None:
        """One `Collect`: digits typed, "" for the terminator alone, None for nothing."""

        terminator = step.terminator if step.terminator in ("#", "*") else "#"
        prompt = playback_arg(self.paths(step.prompt_keys))
        arg = " ".join(
            [
                "1",
                str(max(1, int(step.max_digits))),
                "1",
                str(max(1000, int(step.timeout_ms))),
                terminator,
                prompt,
                BAD_INPUT,
                DIGITS_VAR,
                "\\d+",
                str(DIGIT_TIMEOUT_MS),
            ]
        )
        # Nothing from an earlier ask may be read as this one's answer (a timeout sets nothing).
        for stale in ("read_terminator_used", DIGITS_VAR, f"{DIGITS_VAR}_invalid"):
            self.call.execute("set", f"{stale}=", timeout=10)
        event = self.call.execute(
            "play_and_get_digits", arg, timeout=PROMPT_SECONDS + step.timeout_ms / 1000
        )
        headers = event.headers
        value = headers.get(f"variable_{DIGITS_VAR}") or headers.get(
            f"variable_{DIGITS_VAR}_invalid"
        )
        if value:
            return value
        if headers.get("variable_read_terminator_used") == terminator:
            return ""
        return None

    def read_list(self, step) -> None:
        paths = self.paths([P_LIST_INTRO])
        for ordinal, e164 in step.items:
            paths += self.paths(["word_id"]) + self.digit_paths(int(ordinal))
            paths += self.paths(["word_number"]) + self.digit_paths(_digits(e164))
        self.play(paths)

    def recording_path(self, kind: str) -> str:
        """The call's recording: a file of the customer under RECORDINGS_DIR."""
        root = PurePosixPath(settings.RECORDINGS_DIR)
        name = f"{self.call.uuid}.wav"
        return commands.recording_path(f"c{int(self.customer.pk)}", kind, name, root=root)

    def record(self, kind: str, *, bridged_only: bool = False) -> str:
        """Record both legs (stereo). `bridged_only`: nothing before the bridge, so a call
        never bridged leaves no file (FreeSWITCH removes a recording with nothing written and
        says so in RECORD_STOP)."""
        path = self.recording_path(kind)
        self.call.execute("set", "RECORD_STEREO=true", timeout=10)
        if bridged_only:
            self.call.execute("set", "RECORD_BRIDGE_REQ=true", timeout=10)
        self.call.execute("record_session", path, timeout=10)
        return path

    def bridge(
        self, *, destination_e164: str, show_e164: str, variables: dict, ring: int, on_answer=None
    ):
        """Bridge to `destination_e164` via the PSTN gateway showing `show_e164` on every path
        (the a-leg's effective caller ID and the b-leg's origination caller ID); `on_answer()`
        runs at CHANNEL_BRIDGE. Returns (answered, cause) once the bridge is over."""

        # The customer's outbound policy, live (classes, balance, spend of the day).
        check = outbound_check(customer_id=self.customer.pk, number=destination_e164)
        if not check.allowed:
            log.warning("fictive %s: not dialled: %s", self.call.uuid, check.reason)
            self.play(self.paths(["call_barred"]))
            return False, "OUTGOING_CALL_BARRED"
        shown = _digits(show_e164)
        target = commands.gateway_target(settings.PBX_PSTN_GATEWAY, destination_e164)
        message = commands.sendmsg_bridge(
            target,
            variables={
                "origination_caller_id_number": shown,
                "origination_caller_id_name": shown,
                "originate_timeout": ring,
                **variables,
            },
        )
        for setting in (
            f"effective_caller_id_number={shown}",
            f"effective_caller_id_name={shown}",
            "continue_on_fail=true",
            f"ringback={RINGBACK}",
        ):
            self.call.execute("set", setting, timeout=10)
        pending = gevent.event.AsyncResult()
        bridged = gevent.event.AsyncResult()
        self.call.register_expected_event(
            "CHANNEL_EXECUTE_COMPLETE", "current_application", "bridge", pending
        )
        self.call.register_expected_event(
            "CHANNEL_BRIDGE", "current_application", "bridge", bridged
        )
        self.call.send(message)
        try:
            gevent.wait([pending, bridged], count=1, timeout=(ring + 30))
            if bridged.ready() and bridged.successful() and on_answer is not None:
                on_answer()  # the callee answered: the conversation is on
            event = pending.get(timeout=BRIDGE_MAX_SECONDS)
        except gevent.Timeout:
            return False, "TIMEOUT"
        except Exception as exc:  # the session went away before the bridge completed
            log.info("fictive %s: bridge ended without its completion: %s", self.call.uuid, exc)
            return bridged.ready() and bridged.successful(), "ORIGINATOR_CANCEL"
        headers = event.headers
        disposition = headers.get("variable_originate_disposition", "")
        answered = disposition == "call accepted" or "variable_bridge_hangup_cause" in headers
        cause = headers.get("variable_bridge_hangup_cause") or disposition or "UNKNOWN"
        return answered, cause


class FictiveFlow(Flow):
    """See the module docstring."""

    def handle_session(self, call) -> None:
        customer = Customer.objects.filter(pk=_int(call.variables.get("pbx_customer"))).first()
        name = call.variables.get("pbx_flow", "")
        if customer is None:
            call.unavailable()
            return
        session = Session(call, customer)
        if name == ACCESS_SESSION:
            self.access(session)
        elif name == RETURN_SESSION:
            self.returned(session)
        else:
            self.inbound(session)

    # -- the access number ----------------------------------------------------------------------

    def access(self, s: Session) -> None:
        ctx, reason = services.access_context(
            access_e164=s.call.variables.get("pbx_number_e164", ""), caller_number=s.caller
        )
        if ctx is not None and ctx.customer_id != s.customer.pk:
            ctx, reason = None, ivr.UNKNOWN_ACCESS  # the dialplan and the database disagree
        s.call.execute("answer", timeout=10)
        state, step = ivr.start_access(ctx, reason=reason)
        if ctx is None:
            log.info("fictive access %s refused: %s", s.call.uuid, reason)
        self.run(s, state, step, ctx)

    def run(self, s: Session, state, step, ctx) -> None:
        """Perform IVR steps until one ends the call."""

        for _ in range(MAX_STEPS):
            if isinstance(step, ivr.ReadList):
                s.read_list(step)
                step = step.then or ivr.Hangup(ivr.P_GOODBYE)
                continue
            if isinstance(step, ivr.Collect):
                digits = s.collect(step)
                state, step = ivr.on_input(state, digits, ctx=ctx)
                continue
            if isinstance(step, ivr.Dial):
                self.dial(s, ctx, step)
            elif isinstance(step, ivr.Connect):
                self.connect(s, ctx, step)
            else:
                s.play(s.paths([step.prompt_key]))
            s.hangup()
            return
        s.hangup()

    def dial(self, s: Session, ctx, step) -> None:
        uuid = s.call.uuid
        path = s.recording_path("fictive")
        try:
            call_id = services.outbound_call_started(
                ctx=ctx,
                fictive_id=step.fictive_id,
                destination_e164=step.destination_e164,
                uuid=uuid,
                recording_path=path,
                now=timezone.now(),
            )
        except ValidationError as exc:
            log.warning("fictive access %s: not dialled: %s", uuid, exc)
            s.play(s.paths([ivr.P_BAD_DESTINATION, ivr.P_GOODBYE]))
            return
        answered, cause = False, "ORIGINATOR_CANCEL"  # unless the bridge says otherwise
        try:
            # Recorded from here (the dealer's early media is evidence too), listed with the call.
            s.record("fictive")
            answered, cause = s.bridge(
                destination_e164=step.destination_e164,
                show_e164=step.fictive_e164,
                variables={
                    "pbx_flow": INBOUND_SESSION,
                    "pbx_customer": ctx.customer_id,
                    "pbx_direction": "outbound",
                    "pbx_fictive_call": call_id,
                },
                ring=OUTBOUND_RING_SECONDS,
            )
        finally:  # the call's row is closed even when the shopper left halfway
            log.info("fictive outbound %s: answered=%s cause=%s", call_id, answered, cause)
            services.fictive_call_finished(
                uuid=uuid, bridged=answered, cause=cause, now=timezone.now()
            )

    # -- a dealer calls a fictive number ---------------------------------------------------------

    def inbound(self, s: Session) -> None:
        dealer = s.caller
        ctx, reason = services.inbound_context(
            fictive_e164=s.call.variables.get("pbx_number_e164", ""), dealer_number=dealer
        )
        if ctx is None or ctx.customer_id != s.customer.pk:
            log.info("fictive inbound %s refused: %s", s.call.uuid, reason)
            s.call.unavailable()
            return
        # Only the conversation: an unanswered call (a missed call) leaves no recording.
        path = s.record("fictive", bridged_only=True)
        answered, cause = s.bridge(
            destination_e164=ctx.shopper_real_e164,
            show_e164=ctx.return_e164,
            variables={
                "pbx_flow": INBOUND_SESSION,
                "pbx_customer": ctx.customer_id,
                "pbx_direction": "outbound",
                "pbx_fictive_inbound": ctx.fictive_id,
            },
            ring=INBOUND_RING_SECONDS,
        )
        pending = services.inbound_call_finished(
            ctx=ctx,
            dealer_number=dealer,
            uuid=s.call.uuid,
            answered=answered,
            recording_path=path if answered else "",
            now=timezone.now(),
            started_at=s.started,
            cause=cause,
        )
        log.info(
            "fictive inbound %s: answered=%s cause=%s pending=%s",
            s.call.uuid,
            answered,
            cause,
            getattr(pending, "sequence", None),
        )
        # Not answered: released unanswered with the shopper's cause (a missed call to them).
        failed = cause if not answered and _CAUSE.match(cause or "") else ""
        s.hangup(failed or "NORMAL_CLEARING")

    # -- the return number ----------------------------------------------------------------------

    def returned(self, s: Session) -> None:
        ctx, reason = services.return_context(
            return_e164=s.call.variables.get("pbx_number_e164", ""), caller_number=s.caller
        )
        if ctx is not None and ctx.customer_id != s.customer.pk:
            ctx, reason = None, ivr.UNKNOWN_RETURN
        s.call.execute("answer", timeout=10)
        state, step = ivr.start_return(ctx, reason=reason)
        self.run(s, state, step, ctx)

    def connect(self, s: Session, ctx, step) -> None:
        s.play(s.paths([step.prompt_key]))
        path = s.record("fictive")

        def connected() -> None:
            services.pending_connected(
                pending_id=step.pending_id,
                uuid=s.call.uuid,
                answered=True,
                now=timezone.now(),
                recording_path=path,
            )

        answered, cause = s.bridge(
            destination_e164=step.dealer_e164,
            show_e164=step.fictive_e164,
            variables={
                "pbx_flow": INBOUND_SESSION,
                "pbx_customer": ctx.customer_id,
                "pbx_direction": "outbound",
                "pbx_fictive_pending": step.pending_id,
            },
            ring=OUTBOUND_RING_SECONDS,
            on_answer=connected,
        )
        now = timezone.now()
        if not answered:  # the attempt is logged (recorded: the dealer's line may have
            # said something); the pending call stays open
            services.pending_connected(
                pending_id=step.pending_id,
                uuid=s.call.uuid,
                answered=False,
                now=now,
                recording_path=path,
            )
        services.fictive_call_finished(uuid=s.call.uuid, bridged=answered, cause=cause, now=now)
        log.info("fictive return %s: answered=%s cause=%s", step.pending_id, answered, cause)


flow = FictiveFlow(
    name="fictive",
    session_names=frozenset({ACCESS_SESSION, RETURN_SESSION, INBOUND_SESSION}),
)
