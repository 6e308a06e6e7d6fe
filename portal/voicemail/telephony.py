"""Voicemail's call-control flows: a message is filed when FreeSWITCH closes its file, and a
phone listens to its box (*97, PIN) over the outbound socket.

The phone's message lamp (MWI): a box whose counts changed (a message filed, heard or deleted,
here or in the portal) or whose phone registered (FreeSWITCH asks with MESSAGE_QUERY) is due;
the tick claims due boxes and sends MESSAGE_WAITING, which mod_sofia turns into a NOTIFY
(message-summary) to the phone.

The dialplan (portal/voicemail/dialplan.py) records with `record` into
`<recordings>/c<customer>/vm/b<box>/<uuid>.wav`; FreeSWITCH fires RECORD_STOP once the file is
closed (when the caller hangs up, at silence or at the box's limit). This flow keeps the few
headers it needs in `on_event` and files the messages in `flush` (never writing on the event
dispatcher), as the recordings flow does; a batch the database refused is kept for the next
flush.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone

from pbx.esl import commands
from pbx.esl.protocol import Event
from pbx.flows import Flow, NodeContext
from pbx.render import customer_id_from_domain, sip_domain

log = logging.getLogger(__name__)


def _int(value: str | None) -> int | None:
    try:
        return int(value or "")
    except ValueError:
        return None


_ACCOUNT = re.compile(r"(?:sips?:)?([0-9]{2,15})@([A-Za-z0-9.-]{1,253})\Z")


@dataclass
class VoicemailFlow(Flow):
    max_pending: int = 10_000
    pending: dict[str, list[dict]] = field(default_factory=dict, repr=False)
    queries: dict[str, list[tuple[int, str]]] = field(default_factory=dict, repr=False)

    def on_event(self, ctx: NodeContext, event: Event) -> None:
        if event.name == "MESSAGE_QUERY":
            self.on_query(ctx, event)
            return
        path = event.get("Record-File-Path") or ""
        if "/vm/b" not in path or not event.get("variable_pbx_vm_box"):
            return
        self.pending.setdefault(ctx.node, []).append(
            {
                "path": path,
                "caller_number": event.get("Caller-Caller-ID-Number") or "",
                "caller_name": event.get("Caller-Caller-ID-Name") or "",
                "customer_tag": _int(event.get("variable_pbx_customer")),
            }
        )

    def on_query(self, ctx: NodeContext, event: Event) -> None:
        """A phone registered: FreeSWITCH asks what its lamp should show."""
        match = _ACCOUNT.match(event.get("Message-Account") or "")
        if not match:
            return
        customer_id = customer_id_from_domain(match[2], settings.PBX_SIP_DOMAIN)
        if customer_id is not None:
            asked = self.queries.setdefault(ctx.node, [])
            if len(asked) < self.max_pending:
                asked.append((customer_id, match[1]))

    def tick(self, ctx: NodeContext) -> None:
        from portal.voicemail.services import mwi_claim_due

        for lamp in mwi_claim_due(now=timezone.now()):
            domain = sip_domain(lamp.customer_id, settings.PBX_SIP_DOMAIN)
            try:
                line = commands.message_waiting(
                    lamp.extension, domain, new=lamp.new, saved=lamp.saved
                )
            except commands.CommandError:
                log.warning("voicemail: no lamp for %r@%s", lamp.extension, domain)
                continue
            if ctx.command is not None:
                ctx.command(line)

    def flush(self, ctx: NodeContext) -> None:
        from portal.voicemail.services import message_recorded, mwi_asked

        for customer_id, extension in self.queries.pop(ctx.node, []):
            mwi_asked(customer_id=customer_id, extension=extension)
        batch = self.pending.pop(ctx.node, None)
        while batch:
            try:
                message_recorded(**batch[0])
            except (OperationalError, InterfaceError):
                kept = (batch + self.pending.get(ctx.node, []))[-self.max_pending :]
                self.pending[ctx.node] = kept
                connection.close()
                raise
            except Exception:
                log.exception("voicemail %s: not filed", batch[0]["path"])
            batch.pop(0)


CHECK_SESSION = "voicemail_check"  # `pbx_flow` of the *97 extension (portal/voicemail/dialplan.py)
DIGITS_VAR = "pbx_vm_digits"
PIN_TIMEOUT_MS = 10_000
MENU_TIMEOUT_MS = 5_000
DIGIT_TIMEOUT_MS = 3_000
PROMPT_SECONDS = 120
MESSAGE_SECONDS = 660  # the longest message (600 s) and some
MAX_STEPS = 400


class CheckSession:
    """One *97 call: the pure steps of portal/voicemail/check.py performed on `OutboundCall`."""

    def __init__(self, call, customer) -> None:
        self.call, self.customer = call, customer

    def paths(self, keys) -> list[str]:
        from portal.prompts.selectors import prompt_paths

        return prompt_paths(customer=self.customer, keys=keys)

    def play(self, paths: list[str], *, timeout: float = PROMPT_SECONDS) -> None:
        from pbx.esl import commands
        from portal.prompts.selectors import playback_arg

        chunk: list[str] = []
        for path in paths:
            if chunk and len(playback_arg([*chunk, path])) > commands.MAX_ARG:
                self.call.execute("playback", playback_arg(chunk), timeout=timeout)
                chunk = []
            chunk.append(path)
        if chunk:
            self.call.execute("playback", playback_arg(chunk), timeout=timeout)

    def collect(self, keys: list[str], *, max_digits: int, timeout_ms: int) -> str | None:
        """Digits typed (without the #), or None for nothing."""
        from portal.prompts.selectors import playback_arg

        arg = " ".join(
            [
                "1",
                str(max_digits),
                "1",
                str(timeout_ms),
                "#",
                playback_arg(self.paths(keys)),
                "silence_stream://250",
                DIGITS_VAR,
                "\\d+",
                str(DIGIT_TIMEOUT_MS),
            ]
        )
        for stale in (DIGITS_VAR, f"{DIGITS_VAR}_invalid"):
            self.call.execute("set", f"{stale}=", timeout=10)
        event = self.call.execute(
            "play_and_get_digits", arg, timeout=PROMPT_SECONDS + timeout_ms / 1000
        )
        headers = event.headers
        return headers.get(f"variable_{DIGITS_VAR}") or None

    def hangup(self) -> None:
        try:
            self.call.execute("hangup", "NORMAL_CLEARING", timeout=10)
        except Exception as exc:  # the caller left meanwhile
            log.debug("voicemail check %s: hangup: %s", self.call.uuid, exc)


@dataclass
class VoicemailCheckFlow(Flow):
    """*97: the phone's own box, after its PIN (see portal/voicemail/check.py)."""

    def handle_session(self, call) -> None:
        from pbx.esl.adapter import EslError
        from portal.tenants.models import Customer
        from portal.voicemail import check, selectors, services

        customer = Customer.objects.filter(pk=_int(call.variables.get("pbx_customer"))).first()
        if customer is None:
            call.unavailable()
            return
        box = services.box_for_phone(
            customer_id=customer.pk, employee_id=_int(call.variables.get("pbx_employee"))
        )
        s = CheckSession(call, customer)
        state, step = check.start(has_box=box is not None, has_pin=bool(box and box.pin_hash))
        try:
            for _ in range(MAX_STEPS):
                if isinstance(step, check.AskPin):
                    keys = (
                        [check.P_WRONG_PIN, check.P_ENTER_PIN]
                        if step.wrong
                        else [check.P_ENTER_PIN]
                    )
                    pin = s.collect(keys, max_digits=8, timeout_ms=PIN_TIMEOUT_MS)
                    ok = bool(pin) and services.pin_matches(box, pin)
                    state, step = check.on_pin(
                        state, ok=ok, messages=selectors.box_queue(box) if ok else []
                    )
                elif isinstance(step, check.Announce):
                    if step.empty:
                        s.play(s.paths([check.P_NONE]))
                    else:
                        from portal.prompts.selectors import digit_paths

                        s.play(
                            s.paths([check.P_NEW]) + digit_paths(customer=customer, digits=step.new)
                        )
                    state, step = check.after_announce(state)
                elif isinstance(step, check.Play):
                    message = selectors.message_of_box(box, step.message_id)
                    file = selectors.message_file(message) if message is not None else None
                    if file is not None and file.is_file():
                        s.play([str(file)], timeout=MESSAGE_SECONDS)
                    state, step = check.after_play(state)
                elif isinstance(step, check.Menu):
                    digit = s.collect([check.P_MENU], max_digits=1, timeout_ms=MENU_TIMEOUT_MS)
                    state, step, effects = check.on_menu(state, digit)
                    for effect in effects:
                        message = selectors.message_of_box(box, effect.message_id)
                        if message is None:
                            continue
                        if isinstance(effect, check.Delete):
                            services.message_delete(customer=customer, message=message)
                            s.play(s.paths([check.P_DELETED]))
                        elif message.heard_at is None:
                            services.message_mark_heard(customer=customer, message=message)
                else:
                    s.play(s.paths([step.prompt]))
                    s.hangup()
                    return
        except EslError as exc:  # the caller hung up
            log.info("voicemail check %s: %s", call.uuid, exc)
            return
        s.hangup()


flow = VoicemailFlow(
    name="voicemail", events=frozenset({"RECORD_STOP", "MESSAGE_QUERY"}), tick_interval=1.0
)
check_flow = VoicemailCheckFlow(name=CHECK_SESSION, session_names=frozenset({CHECK_SESSION}))
flows = [flow, check_flow]
