"""The switch model: channels and their calls, the virtual clock, registrations, and the events
all of it produces.

Every event is a recorded event re-valued (see ``templates``). Time inside the switch is virtual:
``time_factor`` real seconds per switch second, so "no answer after originate_timeout=10" takes
0.1 s at the default factor. Events go to ``broadcast`` (the Event Socket's connections); every
method that emits expects the caller to hold ``lock`` unless it takes it itself.
"""

from __future__ import annotations

import heapq
import itertools
import re
import threading
import time
import uuid as uuid_module
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pbx.esl.protocol import Event

from . import templates as T

if TYPE_CHECKING:
    from .outbound import OutboundSession

__all__ = ["Channel", "Clock", "Switch"]

Pairs = list[tuple[str, str]]
#: sends an event (headers, body) to whoever subscribed to it; the caller holds the lock
Broadcast = Callable[[Pairs, str], None]

Q850 = {
    "NORMAL_CLEARING": "16",
    "USER_BUSY": "17",
    "NO_USER_RESPONSE": "18",
    "NO_ANSWER": "19",
    "CALL_REJECTED": "21",
    "ORIGINATOR_CANCEL": "487",
    "ALLOTTED_TIMEOUT": "602",
    "MANAGER_REQUEST": "503",
    "SUBSCRIBER_ABSENT": "20",
    "USER_NOT_REGISTERED": "606",
}

NO_ANSWER_BODY = "-ERR NO_ANSWER\n"


def new_uuid() -> str:
    return str(uuid_module.uuid4())


@dataclass
class Channel:
    uuid: str
    name: str
    destination: str
    caller: str
    direction: str = "outbound"
    variables: dict[str, str] = field(default_factory=dict)
    leg_variables: dict[str, str] = field(default_factory=dict)
    created: float = 0.0
    progress: float = 0.0
    answered: float = 0.0
    hungup: float = 0.0
    cause: str | None = None
    state: str = "ringing"  # ringing | answered | hangup
    job_uuid: str | None = None
    job_command_arg: str | None = None
    job_done: bool = False
    scenario: str = "answer"
    records: dict[str, float] = field(default_factory=dict)
    session: OutboundSession | None = None
    bridged_to: str | None = None  # set by uuid_bridge
    bridge_peer: str | None = None  # the other leg of a `bridge` application (outbound socket)
    result: threading.Event = field(default_factory=threading.Event)
    application: str = "park"
    #: how the originate ended ("+OK <uuid>" or "-ERR <cause>"), set with ``result``
    result_body: str = NO_ANSWER_BODY


# --------------------------------------------------------------------------- virtual time


class Clock:
    """Switch time and the scheduler thread that runs timed call progress."""

    def __init__(self, lock: threading.RLock, time_factor: float) -> None:
        self.time_factor = time_factor
        self._lock = lock
        self._stopping = threading.Event()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_seq = itertools.count()
        self._timer_cond = threading.Condition(lock)
        self._thread: threading.Thread | None = None
        self._t0 = time.monotonic()
        self.epoch0 = time.time()

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="esl-double-timers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            self._timer_cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def now(self) -> float:
        """Switch time (epoch seconds): virtual, runs 1/time_factor times faster than real."""
        return self.epoch0 + (time.monotonic() - self._t0) / self.time_factor

    def after(self, seconds: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` after ``seconds`` of switch time on the scheduler thread."""
        due = time.monotonic() + max(0.0, seconds) * self.time_factor
        with self._lock:
            heapq.heappush(self._timers, (due, next(self._timer_seq), fn))
            self._timer_cond.notify_all()

    def _run(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                if not self._timers:
                    self._timer_cond.wait(0.5)
                    continue
                due, _, fn = self._timers[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._timer_cond.wait(wait)
                    continue
                heapq.heappop(self._timers)
            try:
                fn()
            except Exception:  # a broken scenario must not kill the clock
                import traceback

                traceback.print_exc()


# --------------------------------------------------------------------------- the switch


class Switch:
    """Channels, the directory, call behaviours and mod_callcenter's state; the events they make.

    Scenario operations (thread-safe): ``register``/``unregister``/``expire``,
    ``set_unregistered``, ``set_busy``, ``answers_after``, ``early_media``, ``never_answers``,
    ``rejects``, ``caller_presses``, ``inbound_call``, ``hangup``, ``emit``, ``heartbeat``.
    """

    def __init__(
        self,
        lock: threading.RLock,
        broadcast: Broadcast,
        *,
        time_factor: float,
        default_answer_after: float,
    ) -> None:
        self.lock = lock
        self.broadcast = broadcast
        self.clock = Clock(lock, time_factor)
        self.core_uuid = new_uuid()
        #: where BACKGROUND_JOB goes relative to the hangup events of a failed originate:
        #: None (as recorded for that outcome), "before", "between" or "after"
        self.background_job_position: str | None = None
        self.default_answer_after = default_answer_after
        self._seq = itertools.count(1000)
        self.directory: dict[str, str] = {}  # ext -> "registered" | "unregistered"
        self.behaviour: dict[str, tuple[str, float]] = {}  # ext/number -> (kind, seconds)
        self.channels: dict[str, Channel] = {}
        self.sessions_since_startup = 0
        self.peak = 0
        #: False: FreeSWITCH cannot reach the portal (mod_xml_curl falls back to the files)
        self.portal_reachable = True
        #: queues a `callcenter_config queue reload|load` unloaded while the portal was away
        self.unloaded_queues: set[str] = set()
        #: mod_callcenter agent statuses (`callcenter_config agent get status`); unlisted agents
        #: are "Available"
        self.agent_status: dict[str, str] = {}
        #: how long (real seconds) a `playback` on an outbound-socket channel takes; 0: at once
        self.playback_seconds = 0.0

    # -- time ---------------------------------------------------------------------------------

    @property
    def time_factor(self) -> float:
        return self.clock.time_factor

    @time_factor.setter
    def time_factor(self, value: float) -> None:
        self.clock.time_factor = value

    def now(self) -> float:
        return self.clock.now()

    def after(self, seconds: float, fn: Callable[[], None]) -> None:
        self.clock.after(seconds, fn)

    def locked(self, fn: Callable[..., None], *args: object) -> None:
        with self.lock:
            fn(*args)

    # -- scenario -----------------------------------------------------------------------------

    def set_unregistered(self, ext: str) -> None:
        """In the directory, not registered: originate gives -ERR USER_NOT_REGISTERED."""
        with self.lock:
            self.directory[str(ext)] = "unregistered"

    def register(
        self, ext: str, expires: int = 3600, domain: str | None = None, call_id: str | None = None
    ) -> None:
        """The user registers: CUSTOM sofia::register (in `domain`, the realm of the user).
        `call_id`: the REGISTER's Call-ID (a refresh repeats the one before), else the
        recorded one."""
        ext = str(ext)
        with self.lock:
            self.directory[ext] = "registered"
            self._emit_registration("sofia::register", ext, expires, domain, call_id)

    def unregister(self, ext: str, domain: str | None = None) -> None:
        """REGISTER Expires: 0: CUSTOM sofia::unregister."""
        ext = str(ext)
        with self.lock:
            self.directory[ext] = "unregistered"
            self._emit_registration("sofia::unregister", ext, 0, domain)

    def expire(self, ext: str, domain: str | None = None) -> None:
        """The registration lapsed: CUSTOM sofia::expire."""
        ext = str(ext)
        with self.lock:
            self.directory[ext] = "unregistered"
            self._emit_registration("sofia::expire", ext, int(self.now()), domain)

    def set_busy(self, ext: str) -> None:
        """Originate to it: channel events then HANGUP(USER_BUSY) (recording 02b)."""
        self.behaviour[str(ext)] = ("busy", 0.0)

    def answers_after(self, ext: str, seconds: float) -> None:
        """Rings, then answers after ``seconds`` of switch time (02d); the leg then parks."""
        self.behaviour[str(ext)] = ("answer", float(seconds))

    def early_media(self, ext: str) -> None:
        """Sends 183 with early media and never 180, so no CHANNEL_PROGRESS (what some phones
        do instead of ringing); then rings until originate_timeout."""
        self.behaviour[str(ext)] = ("early", 0.0)

    def never_answers(self, ext: str) -> None:
        """Rings until originate_timeout: NO_ANSWER (02c)."""
        self.behaviour[str(ext)] = ("ring", 0.0)

    def rejects(self, ext: str, cause: str = "CALL_REJECTED") -> None:
        """Fails like busy, with another cause (e.g. CALL_REJECTED, NO_USER_RESPONSE)."""
        self.behaviour[str(ext)] = (f"fail:{cause}", 0.0)

    def emit(
        self,
        event_name: str,
        headers: Iterable[tuple[str, str]] | dict[str, str] = (),
        body: str = "",
    ) -> None:
        """Send any event: the standard envelope, then ``headers`` as given."""
        items = list(headers.items()) if isinstance(headers, dict) else list(headers)
        with self.lock:
            pairs = self.envelope(event_name, "mod_event_socket.c", "api_exec", "1580")
            if event_name == "CUSTOM":
                sub = dict(items).get("Event-Subclass")
                items = [(k, v) for k, v in items if k != "Event-Subclass"]
                if sub:
                    pairs.insert(0, ("Event-Subclass", sub))
            self.broadcast(pairs + items, body)

    def heartbeat(self) -> None:
        with self.lock:
            self.broadcast(self.revalue_plain(T.heartbeat()), "")

    def caller_presses(self, uuid: str, digit: str, duration: int = 2240) -> None:
        """RFC 2833 DTMF on a live channel: DTMF event (no variable_* headers, recording 04)."""
        with self.lock:
            chan = self.channels[uuid]
            tpl = T.inbound_call()["DTMF"]
            self.emit_channel(chan, tpl, {"DTMF-Digit": digit, "DTMF-Duration": str(duration)})

    def inbound_call(
        self,
        caller: str = "74951234567",
        destination: str = "7100",
        *,
        uuid: str | None = None,
        variables: dict[str, str] | None = None,
    ) -> str:
        """A PSTN call comes in, is answered and parked: CREATE, ANSWER, PARK. Returns its uuid."""
        chan = Channel(
            uuid=uuid or new_uuid(),
            name=f"sofia/external/{caller}@127.0.0.1:5081",
            destination=str(destination),
            caller=str(caller),
            direction="inbound",
            variables=dict(variables or {}),
            scenario="inbound",
        )
        tpls = T.inbound_call()
        with self.lock:
            self.add_channel(chan)
            self.emit_channel(chan, tpls["CHANNEL_CREATE"])
            chan.answered = chan.progress = self.now()
            chan.state = "answered"
            self.emit_channel(chan, tpls["CHANNEL_ANSWER"])
            self.emit_channel(chan, tpls["CHANNEL_PARK"])
        return chan.uuid

    def hangup(self, uuid: str, cause: str = "NORMAL_CLEARING") -> bool:
        """The far end hangs up (BYE) a live channel."""
        return self.kill(uuid, cause, remote=True)

    def channel(self, uuid: str) -> Channel | None:
        with self.lock:
            return self.channels.get(uuid)

    # -- events -------------------------------------------------------------------------------

    def _stamp(self, t: float) -> dict[str, str]:
        gm = time.gmtime(t)
        return {
            "Event-Date-Local": time.strftime("%Y-%m-%d %H:%M:%S", gm),
            "Event-Date-GMT": time.strftime("%a, %d %b %Y %H:%M:%S GMT", gm),
            "Event-Date-Timestamp": str(int(t * 1_000_000)),
        }

    def envelope(self, name: str, file: str, function: str, line: str) -> Pairs:
        """The headers every event starts with (Event-Name ... Event-Sequence)."""
        stamp = self._stamp(self.now())
        values = {
            "Event-Name": name,
            "Core-UUID": self.core_uuid,
            "FreeSWITCH-Hostname": "vm",
            "FreeSWITCH-Switchname": "vm",
            "FreeSWITCH-IPv4": "192.0.2.2",
            "FreeSWITCH-IPv6": "fd00::2",
            **stamp,
            "Event-Calling-File": file,
            "Event-Calling-Function": function,
            "Event-Calling-Line-Number": line,
            "Event-Sequence": str(next(self._seq)),
        }
        return [(k, values[k]) for k in T.ENVELOPE_NAMES]

    def revalue_plain(self, ev: Event) -> Pairs:
        """A recorded event that belongs to no channel, with this switch's sequence and time."""
        stamp = self._stamp(self.now())
        out: Pairs = []
        for k, v in ev.pairs:
            if k == "Content-Length":
                continue
            if k == "Event-Sequence":
                v = str(next(self._seq))
            elif k == "Core-UUID":
                v = self.core_uuid
            elif k in stamp:
                v = stamp[k]
            out.append((k, v))
        return out

    _DOMAIN_KEYS = frozenset(
        {"from-host", "to-host", "realm", "domain_name", "sip_auth_realm", "presence-hosts"}
    )

    def _emit_registration(
        self,
        subclass: str,
        ext: str,
        expires: int,
        domain: str | None = None,
        call_id: str | None = None,
    ) -> None:
        tpl = T.registration(subclass)
        recorded_user = tpl.get("from-user") or tpl.get("user") or tpl.get("username") or ""
        pairs = []
        for k, v in self.revalue_plain(tpl):
            if recorded_user:
                v = v.replace(recorded_user, ext)
            if k == "expires":
                v = str(expires)
            if domain and k in self._DOMAIN_KEYS:
                v = domain if k != "presence-hosts" else f"{domain},{domain}"
            if call_id and k == "call-id":
                v = call_id
            pairs.append((k, v))
        self.broadcast(pairs, "")

    def channel_pairs(
        self, chan: Channel, tpl: T.Template, overrides: dict[str, str] | None = None
    ) -> Pairs:
        """The recorded channel event ``tpl`` re-valued for ``chan`` (then ``overrides``)."""
        now = self.now()
        stamp = self._stamp(now)
        overrides = {f"variable_{k}": v for k, v in chan.leg_variables.items()} | (overrides or {})
        us = lambda t: str(int(t * 1_000_000)) if t else "0"  # noqa: E731
        secs = lambda t: str(int(t)) if t else "0"  # noqa: E731
        stamp_of = lambda t: time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) if t else ""  # noqa: E731
        end = chan.hungup or now
        dur = end - chan.created
        bill = (end - chan.answered) if chan.answered else 0.0
        times = {
            "Caller-Profile-Created-Time": us(chan.created),
            "Caller-Channel-Created-Time": us(chan.created),
            "Caller-Channel-Answered-Time": us(chan.answered),
            "Caller-Channel-Progress-Time": us(chan.progress),
            "Caller-Channel-Hangup-Time": us(chan.hungup),
            "variable_start_epoch": secs(chan.created),
            "variable_start_uepoch": us(chan.created),
            "variable_profile_start_epoch": secs(chan.created),
            "variable_profile_start_uepoch": us(chan.created),
            "variable_start_stamp": stamp_of(chan.created),
            "variable_profile_start_stamp": stamp_of(chan.created),
            "variable_answer_epoch": secs(chan.answered),
            "variable_answer_uepoch": us(chan.answered),
            "variable_answer_stamp": stamp_of(chan.answered),
            "variable_progress_epoch": secs(chan.progress),
            "variable_progress_uepoch": us(chan.progress),
            "variable_progress_stamp": stamp_of(chan.progress),
            "variable_end_epoch": secs(chan.hungup),
            "variable_end_uepoch": us(chan.hungup),
            "variable_end_stamp": stamp_of(chan.hungup),
            "variable_duration": str(int(dur)),
            "variable_billsec": str(int(bill)),
            "variable_flow_billsec": str(int(bill)),
            "variable_mduration": str(int(dur * 1000)),
            "variable_billmsec": str(int(bill * 1000)),
            "variable_flow_billmsec": str(int(bill * 1000)),
            "variable_uduration": str(int(dur * 1_000_000)),
            "variable_billusec": str(int(bill * 1_000_000)),
            "variable_flow_billusec": str(int(bill * 1_000_000)),
        }
        numbers = {}
        if tpl.destination:
            numbers[tpl.destination] = chan.destination
        if tpl.caller:
            numbers[tpl.caller] = chan.caller
        ours = {f"variable_{k}": v for k, v in chan.variables.items()}
        skip = (
            {f"variable_{n}" for n in T.RECORDED_ORIGINATE_VARS}
            if chan.direction == "outbound"
            else set()
        )
        skip |= set(ours)
        # where the recorded originate's variables were, else right after variable_call_uuid
        anchor = "variable_call_uuid"
        recorded_block = any(k in skip for k, _ in tpl.event.pairs)
        has_vars = any(k.startswith("variable_") for k, _ in tpl.event.pairs)
        out: Pairs = []
        inserted = not has_vars or not ours
        for k, v in tpl.event.pairs:
            if k == "Content-Length":
                continue
            if k in skip:
                if not inserted:
                    out.extend(ours.items())
                    inserted = True
                continue
            if k == "Event-Sequence":
                v = str(next(self._seq))
            elif k == "Core-UUID":
                v = self.core_uuid
            elif k in stamp:
                v = stamp[k]
            elif tpl.uuid and v == tpl.uuid:
                v = chan.uuid
            elif tpl.channel_name and v == tpl.channel_name:
                v = chan.name
            elif k in times and (
                v not in ("0", "") or k.startswith(("variable_duration", "variable_bill"))
            ):
                v = times[k]
            elif (
                k.startswith(("Caller-", "variable_sip_"))
                or k == "variable_pre_transfer_caller_id_number"
            ) and v in numbers:
                v = numbers[v]
            elif k in ("Hangup-Cause", "variable_hangup_cause") and chan.cause:
                v = chan.cause
            elif k == "variable_hangup_cause_q850" and chan.cause:
                v = Q850.get(chan.cause, v)
            if k in overrides:
                v = overrides[k]
            out.append((k, v))
            if not inserted and k == anchor and not recorded_block:
                out.extend(ours.items())
                inserted = True
        if not inserted:
            last = max(i for i, (k, _) in enumerate(out) if k.startswith("variable_"))
            out[last + 1 : last + 1] = list(ours.items())
        return out

    def emit_channel(
        self, chan: Channel, tpl: T.Template, overrides: dict[str, str] | None = None
    ) -> None:
        self.broadcast(self.channel_pairs(chan, tpl, overrides), "")

    def emit_background_job(self, job_uuid: str, command: str, arg: str | None, body: str) -> None:
        pairs = self.envelope("BACKGROUND_JOB", "mod_event_socket.c", "api_exec", "1580")
        pairs += [("Job-UUID", job_uuid), ("Job-Command", command)]
        if arg:
            pairs.append(("Job-Command-Arg", arg))
        self.broadcast(pairs, body)

    def add_channel(self, chan: Channel) -> None:
        chan.created = self.now()
        self.channels[chan.uuid] = chan
        self.sessions_since_startup += 1
        self.peak = max(self.peak, len(self.channels))

    # -- originate ----------------------------------------------------------------------------

    _ORIGINATE = re.compile(
        r"^(?:\{(?P<vars>[^}]*)\})?(?:\[(?P<leg>[^\]]*)\])?(?P<target>\S+)(?: (?P<app>.+))?$"
    )

    @staticmethod
    def _parse_vars(text: str | None) -> dict[str, str]:
        result: dict[str, str] = {}
        for part in (text or "").split(","):
            if "=" in part:
                k, v = part.split("=", 1)
                result[k] = v
        return result

    def originate(self, arg: str, job_uuid: str | None, arg_for_job: str | None) -> Channel | str:
        """Start an originate. Returns the channel, or an immediate ``-ERR CAUSE`` string."""
        m = self._ORIGINATE.match(arg.strip())
        if not m:
            return "-USAGE: <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] [<cid_name>] [<cid_num>] [<timeout_sec>]\n"
        variables = self._parse_vars(m.group("vars"))
        leg = self._parse_vars(m.group("leg"))
        target = m.group("target")
        user = re.match(r"^user/([^@]+)(?:@.*)?$", target)
        if user:
            ext = user.group(1)
            status = self.directory.get(ext)
            if status is None:
                return "-ERR SUBSCRIBER_ABSENT\n"
            if status != "registered":
                return "-ERR USER_NOT_REGISTERED\n"
            dest, name = ext, f"sofia/internal/{ext}@127.0.0.1:5072"
            if "@" in target:  # the directory's dial-string sets presence_id=<user>@<domain>
                variables.setdefault("presence_id", target[len("user/") :])
        else:
            gw = re.match(r"^sofia/gateway/([^/]+)/(.+)$", target)
            loop = re.match(r"^loopback/([^/]+)(?:/.*)?$", target)
            sofia = re.match(r"^sofia/[^/]+/([^@]+)@.+$", target)
            if gw:
                dest, name = gw.group(2), target
            elif loop:
                dest, name = loop.group(1), f"loopback/{loop.group(1)}-a"
            elif sofia:
                dest, name = sofia.group(1), target
            else:
                return (
                    "-ERR INVALID_GATEWAY\n"
                    if target.startswith("sofia/gateway")
                    else "-ERR CHAN_NOT_IMPLEMENTED\n"
                )
        uuid = variables.get("origination_uuid") or new_uuid()
        if uuid in self.channels:
            return "-ERR DESTINATION_OUT_OF_ORDER\n"
        caller = variables.get("origination_caller_id_number", "0000000000")
        kind, seconds = self.behaviour.get(dest, ("answer", self.default_answer_after))
        chan = Channel(uuid=uuid, name=name, destination=dest, caller=caller, variables=variables)
        chan.leg_variables = leg
        chan.job_uuid, chan.job_command_arg = job_uuid, arg_for_job
        timeout = float(variables.get("originate_timeout", 60))
        leg_timeout = leg.get("leg_timeout")
        self.add_channel(chan)
        if kind == "busy" or kind.startswith("fail:"):
            chan.scenario = "busy"
            before, _ = T.outbound_busy()
            for tpl in before:
                self.emit_channel(chan, tpl)
            cause = "USER_BUSY" if kind == "busy" else kind.split(":", 1)[1]
            self.after(0.01, lambda: self._fail(chan, cause, T.outbound_busy()[1], "after"))
            return chan
        use_leg = leg_timeout is not None and float(leg_timeout) < timeout
        ringing = (T.outbound_leg_timeout() if use_leg else T.outbound_no_answer())[0]
        for tpl in ringing[:6]:
            self.emit_channel(chan, tpl)
        chan.progress = self.now()
        for tpl in ringing[6:]:
            if kind == "early" and tpl.name == "CHANNEL_PROGRESS":
                continue
            self.emit_channel(chan, tpl)
        if use_leg:
            # recording 02e2: [leg_timeout=1] ended after 2.0 s as ALLOTTED_TIMEOUT
            after = T.outbound_leg_timeout()[1]
            self.after(
                float(leg_timeout) + 1, lambda: self._fail(chan, "ALLOTTED_TIMEOUT", after, "after")
            )
        else:
            after = T.outbound_no_answer()[1]
            self.after(timeout - 0.1, lambda: self._fail(chan, "NO_ANSWER", after, "between"))
        if kind == "answer" and seconds < timeout:
            chan.scenario = "answer"
            self.after(seconds, lambda: self._answer(chan))
        else:
            chan.scenario = "ring"
        return chan

    def _finish_job(self, chan: Channel, body: str) -> None:
        if chan.job_done:
            return
        chan.job_done = True
        chan.result_body = body
        chan.result.set()
        if chan.job_uuid:
            self.emit_background_job(chan.job_uuid, "originate", chan.job_command_arg, body)

    def _answer(self, chan: Channel) -> None:
        with self.lock:
            if chan.state != "ringing":
                return
            chan.state = "answered"
            chan.answered = self.now()
            _, answered, _ = T.outbound_answered()
            for tpl in answered[:2]:  # ANSWER, CALLSTATE(ACTIVE)
                self.emit_channel(chan, tpl)
            self._finish_job(chan, f"+OK {chan.uuid}\n")
            if chan.application != "park":
                return  # the b-leg of a `bridge`: the a-leg's session takes it from here
            for tpl in answered[2:]:  # STATE(EXECUTE), EXECUTE(park), PARK
                self.emit_channel(chan, tpl)

    def _fail(
        self, chan: Channel, cause: str, tail: list[T.Template], default_position: str
    ) -> None:
        """End a channel that is still ringing (busy, no answer, timeouts, kill while ringing)."""
        with self.lock:
            if chan.state != "ringing":
                return
            chan.state = "hangup"
            chan.cause = cause
            chan.hungup = self.now()
            position = self.background_job_position or default_position
            self._emit_tail(chan, tail, lambda: self._finish_job(chan, f"-ERR {cause}\n"), position)
            self.channels.pop(chan.uuid, None)

    def _emit_tail(
        self, chan: Channel, tail: list[T.Template], job: Callable[[], None], position: str
    ) -> None:
        for tpl in tail:
            if tpl.name == "CHANNEL_HANGUP" and position == "before":
                job()
            if (
                tpl.name == "CHANNEL_STATE"
                and tpl.event.get("Channel-State") == "CS_HANGUP"
                and position == "between"
            ):
                job()
            if tpl.name == "CHANNEL_DESTROY" and position == "after":
                job()
            self.emit_channel(chan, tpl)
        job()  # in case the tail had no anchor

    # -- hangup -------------------------------------------------------------------------------

    def kill(self, uuid: str, cause: str = "NORMAL_CLEARING", *, remote: bool = False) -> bool:
        """Hang a channel up (on the scheduler): False if there is no live channel ``uuid``."""
        with self.lock:
            chan = self.channels.get(uuid)
            if chan is None:
                return False
            if chan.state == "ringing":
                self.after(
                    0, lambda: self._fail(chan, cause, T.outbound_killed_while_ringing(), "between")
                )
                return True
            if chan.state != "answered":
                return False
            self.after(0, lambda: self._hangup_answered(chan, cause, remote))
            return True

    def _hangup_answered(self, chan: Channel, cause: str, remote: bool) -> None:
        with self.lock:
            if chan.state != "answered":
                return
            chan.state = "hangup"
            chan.cause = cause
            chan.hungup = self.now()
            if chan.session is not None:
                chan.session.hangup_locked(remote=remote)
                self.channels.pop(chan.uuid, None)
                return
            self.stop_records(chan, "success-silence")
            if chan.direction == "inbound":
                tpls = T.inbound_call()
                self.emit_channel(chan, tpls["CHANNEL_HANGUP"])
                self.emit_channel(chan, tpls["CHANNEL_HANGUP_COMPLETE"])
            else:
                for tpl in T.outbound_answered()[2]:
                    self.emit_channel(chan, tpl)
            self.channels.pop(chan.uuid, None)
            peer = self.channels.get(chan.bridge_peer or "")
            if peer is not None and peer.session is not None:
                peer.session.peer_hung_up(chan, cause)

    def stop_records(self, chan: Channel, cause: str) -> None:
        for path in list(chan.records):
            self.emit_channel(
                chan,
                T.record_events()["RECORD_STOP"],
                {"Record-File-Path": path, "Record-Completion-Cause": cause},
            )
            del chan.records[path]
