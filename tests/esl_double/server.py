"""An Event Socket test double: a real TCP server that speaks ESL the way FreeSWITCH does.

Thread-based (one thread per connection, one scheduler thread for timed call progress), so it
works from plain pytest tests and from a gevent client in another thread or process. Every
event is a recorded event re-valued (see ``templates``), every reply string is copied from the
recordings. Time inside the switch is virtual: ``time_factor`` real seconds per switch second,
so "no answer after originate_timeout=10" takes 0.1 s at the default factor.
"""

from __future__ import annotations

import heapq
import itertools
import json
import re
import socket
import threading
import time
import uuid as uuid_module
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pbx.esl.protocol import (
    DISCONNECT_NOTICE_BODY,
    Event,
    encode_frame,
    encode_plain_event_body,
    url_encode_header_value,
)

from . import templates as T

__all__ = ["EslDouble", "OutboundSession"]

Pairs = list[tuple[str, str]]

KNOWN_EVENTS = frozenset(
    """CUSTOM CLONE CHANNEL_CREATE CHANNEL_DESTROY CHANNEL_STATE CHANNEL_CALLSTATE CHANNEL_ANSWER
    CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE CHANNEL_HOLD
    CHANNEL_UNHOLD CHANNEL_BRIDGE CHANNEL_UNBRIDGE CHANNEL_PROGRESS CHANNEL_PROGRESS_MEDIA
    CHANNEL_OUTGOING CHANNEL_PARK CHANNEL_UNPARK CHANNEL_APPLICATION CHANNEL_ORIGINATE
    CHANNEL_UUID CHANNEL_DATA API LOG INBOUND_CHAN OUTBOUND_CHAN STARTUP SHUTDOWN PUBLISH
    UNPUBLISH TALK NOTALK SESSION_CRASH MODULE_LOAD MODULE_UNLOAD DTMF MESSAGE PRESENCE_IN
    NOTIFY_IN PRESENCE_OUT PRESENCE_PROBE MESSAGE_WAITING MESSAGE_QUERY ROSTER CODEC
    BACKGROUND_JOB DETECTED_SPEECH DETECTED_TONE PRIVATE_COMMAND HEARTBEAT TRAP ADD_SCHEDULE
    DEL_SCHEDULE EXE_SCHEDULE RE_SCHEDULE RELOADXML NOTIFY PHONE_FEATURE PHONE_FEATURE_SUBSCRIBE
    SEND_MESSAGE RECV_MESSAGE REQUEST_PARAMS CHANNEL_HANGUP_COMPLETE RECORD_START RECORD_STOP
    PLAYBACK_START PLAYBACK_STOP CALL_UPDATE FAILURE SOCKET_DATA MEDIA_BUG_START MEDIA_BUG_STOP
    CONFERENCE_DATA_QUERY CONFERENCE_DATA CALL_SETUP_REQ CALL_SETUP_RESULT CALL_DETAIL
    DEVICE_STATE TEXT SHUTDOWN_REQUESTED ALL""".split()
)

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

#: switch_ivr_originate.c: DIALSTATUS of a failed originate (else the cause's name)
DIALSTATUS = {
    "ORIGINATOR_CANCEL": "CANCEL",
    "USER_BUSY": "BUSY",
    "NO_ANSWER": "NOANSWER",
    "DESTINATION_OUT_OF_ORDER": "INVALIDARGS",
    "INVALID_PROFILE": "INVALIDARGS",
    "CALL_REJECTED": "DONTCALL",
}
#: switch_channel_handle_cause: a failed bridge never hangs the caller up for these
CONTINUE_ALWAYS = frozenset({"NO_ANSWER", "NO_USER_RESPONSE", "ORIGINATOR_CANCEL"})

VERSION_BODY = T.api_body("01b-auth-api-bgapi-exit", 1)
NOT_FOUND = "-ERR No such channel!\n"

#: `xml_locate configuration configuration name callcenter.conf` on a real 1.10.12 node, with
#: the portal up (abridged: the queues, agents and tiers follow) and with the portal down
#: (freeswitch_conf/autoload_configs/callcenter.conf.xml)
PORTAL_CALLCENTER = (
    '<configuration name="callcenter.conf" description="CallCenter">\n        <settings>\n'
    '            <param name="truncate-agents-on-load" value="true"></param>\n\n'
    "      </settings>\n\n        <queues>\n      </queues>\n\n</configuration>\n"
)
FALLBACK_CALLCENTER = (
    '<configuration name="callcenter.conf" description="CallCenter (fallback)">\n  \n'
    '    <settings>\n        <param name="truncate-agents-on-load" value="true"></param>\n\n'
    "  </settings>\n\n    <queues>\n  </queues>\n\n    <agents>\n  </agents>\n\n"
    "    <tiers>\n  </tiers>\n\n</configuration>\n"
)


def _u() -> str:
    return str(uuid_module.uuid4())


# --------------------------------------------------------------------------- model


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


@dataclass
class Subscription:
    fmt: str = "plain"
    names: set[str] = field(default_factory=set)
    subclasses: set[str] = field(default_factory=set)
    all: bool = False
    filters: list[tuple[str, str]] = field(default_factory=list)
    bound_uuid: str | None = None

    def wants(self, ev: Pairs) -> bool:
        headers = dict(reversed(ev))  # first value wins
        if self.bound_uuid is not None:
            return headers.get("Unique-ID") == self.bound_uuid
        name = headers.get("Event-Name", "")
        if not self.all:
            if name == "CUSTOM":
                if headers.get("Event-Subclass") not in self.subclasses:
                    return False
            elif name not in self.names:
                return False
        if self.filters:
            return any(headers.get(k) == v for k, v in self.filters)
        return True


class Connection:
    """One client socket (inbound ESL) or our side of an outbound-socket session."""

    def __init__(self, double: EslDouble, sock: socket.socket, kind: str = "inbound") -> None:
        self.double = double
        self.sock = sock
        self.kind = kind
        self.authed = kind == "outbound"
        self.sub = Subscription()
        self.send_lock = threading.Lock()
        self.closed = threading.Event()
        self.myevents = False
        self.session: OutboundSession | None = None

    def send(self, data: bytes) -> None:
        if self.closed.is_set():
            return
        try:
            with self.send_lock:
                self.sock.sendall(data)
        except OSError:
            self.close()

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.double._forget(self)

    def read_commands(self) -> Iterable[list[str]]:
        buf = b""
        while not self.closed.is_set():
            while b"\n\n" not in buf:
                try:
                    chunk = self.sock.recv(65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    self.close()
                    return
                buf += chunk.replace(b"\r\n", b"\n")
            raw, buf = buf.split(b"\n\n", 1)
            lines = raw.decode("utf-8", errors="replace").split("\n")
            while lines and not lines[0]:
                lines.pop(0)
            if lines:
                yield lines


def reply(text: str, *extra: tuple[str, str]) -> bytes:
    return encode_frame([("Content-Type", "command/reply"), ("Reply-Text", text), *extra])


def api_response(body: str | bytes) -> bytes:
    data = body.encode("utf-8") if isinstance(body, str) else body
    return encode_frame(
        [("Content-Type", "api/response"), ("Content-Length", str(len(data)))], data
    )


def disconnect_notice(*headers: tuple[str, str], body: bytes = DISCONNECT_NOTICE_BODY) -> bytes:
    return encode_frame(
        [("Content-Type", "text/disconnect-notice"), *headers, ("Content-Length", str(len(body)))],
        body,
    )


def render_frame(pairs: Pairs, body: str, fmt: str) -> bytes:
    if fmt == "json":
        items = []
        for k, v in pairs:
            if v.startswith("ARRAY::"):
                value = json.dumps(
                    v[len("ARRAY::") :].split("|:"), ensure_ascii=False, separators=(",", ":")
                )
            else:
                value = json.dumps(v, ensure_ascii=False)
            items.append(f"{json.dumps(k, ensure_ascii=False)}:{value}")
        if body:
            items.append(f'"Content-Length":"{len(body.encode("utf-8"))}"')
            items.append(f'"_body":{json.dumps(body, ensure_ascii=False)}')
        data = ("{" + ",".join(items) + "}").encode("utf-8")
        ctype = "text/event-json"
    elif fmt == "xml":
        from xml.sax.saxutils import escape

        lines = ["<event>", "  <headers>"]
        lines += [f"    <{k}>{escape(url_encode_header_value(v))}</{k}>" for k, v in pairs]
        lines.append("  </headers>")
        if body:
            lines.append(f"  <Content-Length>{len(body.encode('utf-8'))}</Content-Length>")
            lines.append(f"  <body>{escape(body)}  </body>")
        data = ("\n".join(lines) + "\n</event>").encode("utf-8")
        ctype = "text/event-xml"
    else:
        data = encode_plain_event_body(pairs, body)
        ctype = "text/event-plain"
    return encode_frame([("Content-Length", str(len(data))), ("Content-Type", ctype)], data)


# --------------------------------------------------------------------------- the double


class EslDouble:
    """FreeSWITCH as far as the Event Socket can tell. See the module docstring.

    Scenario API (thread-safe): ``register``/``unregister``/``expire``, ``set_unregistered``,
    ``set_busy``, ``answers_after``, ``never_answers``, ``caller_presses``, ``inbound_call``,
    ``hangup``, ``emit``, ``drop_connections``, ``pause``/``resume``, ``reply_delay``,
    ``received``/``wait_for_command``, ``place_outbound_session``.
    """

    def __init__(
        self,
        password: str = "ClueCon",
        *,
        time_factor: float = 0.01,
        host: str = "127.0.0.1",
        default_answer_after: float = 1.0,
    ) -> None:
        self.password = password
        self.time_factor = time_factor
        self.host = host
        self.port = 0
        self.reply_delay = 0.0
        self.core_uuid = _u()
        #: where BACKGROUND_JOB goes relative to the hangup events of a failed originate:
        #: None (as recorded for that outcome), "before", "between" or "after"
        self.background_job_position: str | None = None
        self.default_answer_after = default_answer_after
        self._lock = threading.RLock()
        self._received: list[str] = []
        self._received_cond = threading.Condition(self._lock)
        self._connections: set[Connection] = set()
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._seq = itertools.count(1000)
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_seq = itertools.count()
        self._timer_cond = threading.Condition(self._lock)
        self._scheduler: threading.Thread | None = None
        self._t0 = time.monotonic()
        self._epoch0 = time.time()
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

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> EslDouble:
        self._stopping.clear()
        self._listen()
        self._scheduler = threading.Thread(
            target=self._run_timers, name="esl-double-timers", daemon=True
        )
        self._scheduler.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._close_listener()
        self.drop_connections()
        with self._lock:
            self._timer_cond.notify_all()
        if self._scheduler is not None:
            self._scheduler.join(timeout=2)

    def __enter__(self) -> EslDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        self._listener = sock
        threading.Thread(
            target=self._accept_loop, args=(sock,), name="esl-double-accept", daemon=True
        ).start()

    def _close_listener(self) -> None:
        sock, self._listener = self._listener, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            conn = Connection(self, sock)
            with self._lock:
                self._connections.add(conn)
            threading.Thread(target=self._serve_inbound, args=(conn,), daemon=True).start()

    def pause(self) -> None:
        """The switch goes down: existing connections drop, new ones are refused."""
        self._close_listener()
        self.drop_connections()

    def resume(self) -> None:
        """The switch is back on the same port."""
        if self._listener is None:
            self._listen()

    def drop_connections(self) -> None:
        """Close every client socket abruptly (no disconnect-notice)."""
        with self._lock:
            conns = list(self._connections)
        for conn in conns:
            conn.close()

    def _forget(self, conn: Connection) -> None:
        with self._lock:
            self._connections.discard(conn)

    @property
    def connection_count(self) -> int:
        with self._lock:
            return sum(1 for c in self._connections if c.kind == "inbound")

    # -- what clients sent --------------------------------------------------------------------

    @property
    def received(self) -> list[str]:
        """Every command received so far (lines joined by LF), oldest first."""
        with self._lock:
            return list(self._received)

    def wait_for_command(self, prefix: str, timeout: float = 2.0, *, since: int = 0) -> str:
        """Block until a command starting with ``prefix`` arrived (``api ``/``bgapi `` ignored)."""
        deadline = time.monotonic() + timeout
        with self._received_cond:
            while True:
                for cmd in self._received[since:]:
                    bare = re.sub(r"^(api|bgapi) ", "", cmd)
                    if cmd.startswith(prefix) or bare.startswith(prefix):
                        return cmd
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"no command {prefix!r} within {timeout}s; got {self._received!r}"
                    )
                self._received_cond.wait(left)

    def _record(self, lines: list[str]) -> None:
        with self._received_cond:
            self._received.append("\n".join(lines))
            self._received_cond.notify_all()

    # -- time ---------------------------------------------------------------------------------

    def now(self) -> float:
        """Switch time (epoch seconds): virtual, runs 1/time_factor times faster than real."""
        return self._epoch0 + (time.monotonic() - self._t0) / self.time_factor

    def after(self, seconds: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` after ``seconds`` of switch time on the scheduler thread."""
        due = time.monotonic() + max(0.0, seconds) * self.time_factor
        with self._lock:
            heapq.heappush(self._timers, (due, next(self._timer_seq), fn))
            self._timer_cond.notify_all()

    def _run_timers(self) -> None:
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

    # -- scenario API -------------------------------------------------------------------------

    def set_unregistered(self, ext: str) -> None:
        """In the directory, not registered: originate gives -ERR USER_NOT_REGISTERED."""
        with self._lock:
            self.directory[str(ext)] = "unregistered"

    def register(
        self, ext: str, expires: int = 3600, domain: str | None = None, call_id: str | None = None
    ) -> None:
        """The user registers: CUSTOM sofia::register (in `domain`, the realm of the user).
        `call_id`: the REGISTER's Call-ID (a refresh repeats the one before), else the
        recorded one."""
        ext = str(ext)
        with self._lock:
            self.directory[ext] = "registered"
            self._emit_registration("sofia::register", ext, expires, domain, call_id)

    def unregister(self, ext: str, domain: str | None = None) -> None:
        """REGISTER Expires: 0: CUSTOM sofia::unregister."""
        ext = str(ext)
        with self._lock:
            self.directory[ext] = "unregistered"
            self._emit_registration("sofia::unregister", ext, 0, domain)

    def expire(self, ext: str, domain: str | None = None) -> None:
        """The registration lapsed: CUSTOM sofia::expire."""
        ext = str(ext)
        with self._lock:
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
        with self._lock:
            pairs = self._envelope(event_name, "mod_event_socket.c", "api_exec", "1580")
            if event_name == "CUSTOM":
                sub = dict(items).get("Event-Subclass")
                items = [(k, v) for k, v in items if k != "Event-Subclass"]
                if sub:
                    pairs.insert(0, ("Event-Subclass", sub))
            self._broadcast(pairs + items, body)

    def heartbeat(self) -> None:
        with self._lock:
            self._broadcast(self._revalue_plain(T.heartbeat()), "")

    def caller_presses(self, uuid: str, digit: str, duration: int = 2240) -> None:
        """RFC 2833 DTMF on a live channel: DTMF event (no variable_* headers, recording 04)."""
        with self._lock:
            chan = self.channels[uuid]
            tpl = T.inbound_call()["DTMF"]
            self._emit_channel(chan, tpl, {"DTMF-Digit": digit, "DTMF-Duration": str(duration)})

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
            uuid=uuid or _u(),
            name=f"sofia/external/{caller}@127.0.0.1:5081",
            destination=str(destination),
            caller=str(caller),
            direction="inbound",
            variables=dict(variables or {}),
            scenario="inbound",
        )
        tpls = T.inbound_call()
        with self._lock:
            self._add_channel(chan)
            self._emit_channel(chan, tpls["CHANNEL_CREATE"])
            chan.answered = chan.progress = self.now()
            chan.state = "answered"
            self._emit_channel(chan, tpls["CHANNEL_ANSWER"])
            self._emit_channel(chan, tpls["CHANNEL_PARK"])
        return chan.uuid

    def hangup(self, uuid: str, cause: str = "NORMAL_CLEARING") -> bool:
        """The far end hangs up (BYE) a live channel."""
        return self._kill(uuid, cause, remote=True)

    def channel(self, uuid: str) -> Channel | None:
        with self._lock:
            return self.channels.get(uuid)

    # -- event plumbing -----------------------------------------------------------------------

    def _stamp(self, t: float) -> dict[str, str]:
        gm = time.gmtime(t)
        return {
            "Event-Date-Local": time.strftime("%Y-%m-%d %H:%M:%S", gm),
            "Event-Date-GMT": time.strftime("%a, %d %b %Y %H:%M:%S GMT", gm),
            "Event-Date-Timestamp": str(int(t * 1_000_000)),
        }

    def _envelope(self, name: str, file: str, function: str, line: str) -> Pairs:
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

    def _revalue_plain(self, ev: Event) -> Pairs:
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

    def _broadcast(self, pairs: Pairs, body: str, *, only: Connection | None = None) -> None:
        """Send an event to every connection subscribed to it. Caller holds the lock."""
        cache: dict[str, bytes] = {}
        targets = [only] if only is not None else list(self._connections)
        for conn in targets:
            if conn.closed.is_set() or not conn.authed:
                continue
            if not conn.sub.wants(pairs):
                continue
            if conn.sub.fmt not in cache:
                cache[conn.sub.fmt] = render_frame(pairs, body, conn.sub.fmt)
            conn.send(cache[conn.sub.fmt])

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
        for k, v in self._revalue_plain(tpl):
            if recorded_user:
                v = v.replace(recorded_user, ext)
            if k == "expires":
                v = str(expires)
            if domain and k in self._DOMAIN_KEYS:
                v = domain if k != "presence-hosts" else f"{domain},{domain}"
            if call_id and k == "call-id":
                v = call_id
            pairs.append((k, v))
        self._broadcast(pairs, "")

    def _channel_pairs(
        self, chan: Channel, tpl: T.Template, overrides: dict[str, str] | None = None
    ) -> Pairs:
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

    def _emit_channel(
        self, chan: Channel, tpl: T.Template, overrides: dict[str, str] | None = None
    ) -> None:
        self._broadcast(self._channel_pairs(chan, tpl, overrides), "")

    def _emit_background_job(self, job_uuid: str, command: str, arg: str | None, body: str) -> None:
        pairs = self._envelope("BACKGROUND_JOB", "mod_event_socket.c", "api_exec", "1580")
        pairs += [("Job-UUID", job_uuid), ("Job-Command", command)]
        if arg:
            pairs.append(("Job-Command-Arg", arg))
        self._broadcast(pairs, body)

    def _add_channel(self, chan: Channel) -> None:
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

    def _originate(self, arg: str, job_uuid: str | None, arg_for_job: str | None) -> Channel | str:
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
        uuid = variables.get("origination_uuid") or _u()
        if uuid in self.channels:
            return "-ERR DESTINATION_OUT_OF_ORDER\n"
        caller = variables.get("origination_caller_id_number", "0000000000")
        kind, seconds = self.behaviour.get(dest, ("answer", self.default_answer_after))
        chan = Channel(uuid=uuid, name=name, destination=dest, caller=caller, variables=variables)
        chan.leg_variables = leg
        chan.job_uuid, chan.job_command_arg = job_uuid, arg_for_job
        timeout = float(variables.get("originate_timeout", 60))
        leg_timeout = leg.get("leg_timeout")
        self._add_channel(chan)
        if kind == "busy" or kind.startswith("fail:"):
            chan.scenario = "busy"
            before, _ = T.outbound_busy()
            for tpl in before:
                self._emit_channel(chan, tpl)
            cause = "USER_BUSY" if kind == "busy" else kind.split(":", 1)[1]
            self.after(0.01, lambda: self._fail(chan, cause, T.outbound_busy()[1], "after"))
            return chan
        use_leg = leg_timeout is not None and float(leg_timeout) < timeout
        ringing = (T.outbound_leg_timeout() if use_leg else T.outbound_no_answer())[0]
        for tpl in ringing[:6]:
            self._emit_channel(chan, tpl)
        chan.progress = self.now()
        for tpl in ringing[6:]:
            if kind == "early" and tpl.name == "CHANNEL_PROGRESS":
                continue
            self._emit_channel(chan, tpl)
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
        chan.result_body = body  # type: ignore[attr-defined]
        chan.result.set()
        if chan.job_uuid:
            self._emit_background_job(chan.job_uuid, "originate", chan.job_command_arg, body)

    def _answer(self, chan: Channel) -> None:
        with self._lock:
            if chan.state != "ringing":
                return
            chan.state = "answered"
            chan.answered = self.now()
            _, answered, _ = T.outbound_answered()
            for tpl in answered[:2]:  # ANSWER, CALLSTATE(ACTIVE)
                self._emit_channel(chan, tpl)
            self._finish_job(chan, f"+OK {chan.uuid}\n")
            if chan.application != "park":
                return  # the b-leg of a `bridge`: the a-leg's session takes it from here
            for tpl in answered[2:]:  # STATE(EXECUTE), EXECUTE(park), PARK
                self._emit_channel(chan, tpl)

    def _fail(
        self, chan: Channel, cause: str, tail: list[T.Template], default_position: str
    ) -> None:
        """End a channel that is still ringing (busy, no answer, timeouts, kill while ringing)."""
        with self._lock:
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
            self._emit_channel(chan, tpl)
        job()  # in case the tail had no anchor

    def _kill(self, uuid: str, cause: str = "NORMAL_CLEARING", *, remote: bool = False) -> bool:
        with self._lock:
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
        with self._lock:
            if chan.state != "answered":
                return
            chan.state = "hangup"
            chan.cause = cause
            chan.hungup = self.now()
            if chan.session is not None:
                chan.session._hangup_locked(remote=remote)
                self.channels.pop(chan.uuid, None)
                return
            self._stop_records(chan, "success-silence")
            if chan.direction == "inbound":
                tpls = T.inbound_call()
                self._emit_channel(chan, tpls["CHANNEL_HANGUP"])
                self._emit_channel(chan, tpls["CHANNEL_HANGUP_COMPLETE"])
            else:
                for tpl in T.outbound_answered()[2]:
                    self._emit_channel(chan, tpl)
            self.channels.pop(chan.uuid, None)
            peer = self.channels.get(chan.bridge_peer or "")
            if peer is not None and peer.session is not None:
                peer.session._peer_hung_up(chan, cause)

    def _stop_records(self, chan: Channel, cause: str) -> None:
        for path in list(chan.records):
            self._emit_channel(
                chan,
                T.record_events()["RECORD_STOP"],
                {"Record-File-Path": path, "Record-Completion-Cause": cause},
            )
            del chan.records[path]

    # -- api ------------------------------------------------------------------------------------

    def _status_body(self) -> str:
        up = self.now() - self._epoch0
        with self._lock:
            live = len(self.channels)
            since = self.sessions_since_startup
            peak = self.peak
        minutes, sec = divmod(int(up), 60)
        hours, minutes = divmod(minutes, 60)
        days, hours = divmod(hours, 24)
        ms = int((up - int(up)) * 1000)
        return (
            f"UP 0 years, {days} days, {hours} hours, {minutes} minutes, {sec} seconds, {ms} milliseconds, 0 microseconds\n"
            "FreeSWITCH (Version 1.11.3-dev git cc93a68 2026-08-21 14:10:14Z 64bit) is ready\n"
            f"{since} session(s) since startup\n"
            f"{live} session(s) - peak {peak}, last 5min {peak} \n"
            f"0 session(s) per Sec out of max 30, peak {min(peak, 30)}, last 5min {min(peak, 30)} \n"
            "1000 session(s) max\n"
            "min idle cpu 0.00/99.40\n"
            "Current Stack Size/Max 240K/8192K\n"
        )

    def _channel_rows(self) -> list[dict[str, str]]:
        rows = []
        for chan in self.channels.values():
            row = dict(T.channel_row_template())
            created = time.gmtime(chan.created)
            row.update(
                uuid=chan.uuid,
                call_uuid=chan.uuid,
                direction=chan.direction,
                created=time.strftime("%Y-%m-%d %H:%M:%S", created),
                created_epoch=str(int(chan.created)),
                name=chan.name,
                state="CS_EXECUTE" if chan.state == "answered" else "CS_CONSUME_MEDIA",
                callstate="ACTIVE" if chan.state == "answered" else "RINGING",
                cid_num=chan.destination if chan.direction == "outbound" else chan.caller,
                dest=chan.destination,
                initial_dest=chan.destination,
                application=chan.application if chan.state == "answered" else "",
                presence_id=chan.variables.get("presence_id", ""),
            )
            rows.append(row)
        return rows

    def api(self, line: str) -> tuple[str | bytes, list[Callable[[], None]]]:
        """Run one ``api`` command: (response body, things to do after the reply is sent)."""
        cmd, _, arg = line.partition(" ")
        arg = arg.strip()
        later: list[Callable[[], None]] = []
        with self._lock:
            if cmd == "status":
                return self._status_body(), later
            if cmd == "version":
                return VERSION_BODY, later
            if cmd == "show":
                what = arg.split()
                rows = self._channel_rows() if what[:1] in (["channels"], ["calls"]) else []
                if what[:1] == ["registrations"]:
                    rows = [
                        {"reg_user": ext, "realm": "127.0.0.1", "token": f"{ext}@127.0.0.1"}
                        for ext, s in self.directory.items()
                        if s == "registered"
                    ]
                if what[-2:] == ["as", "json"]:
                    if not rows:
                        return '{"row_count": 0}\n', later
                    return json.dumps(
                        {"row_count": len(rows), "rows": rows}, separators=(",", ":")
                    ), later
                if not rows:
                    return "\n0 total.\n", later
                keys = list(rows[0])
                text = (
                    ",".join(keys)
                    + "\n"
                    + "".join(",".join(r[k] for k in keys) + "\n" for r in rows)
                )
                return f"{text}\n{len(rows)} total.\n", later
            if cmd == "uuid_exists":
                return ("true" if arg in self.channels else "false"), later
            if cmd == "uuid_kill":
                parts = arg.split()
                if not parts or parts[0] not in self.channels:
                    return NOT_FOUND, later
                cause = parts[1] if len(parts) > 1 else "NORMAL_CLEARING"
                later.append(lambda: self._kill(parts[0], cause))
                return "+OK\n", later
            if cmd == "uuid_getvar":
                parts = arg.split()
                chan = self.channels.get(parts[0]) if parts else None
                if chan is None:
                    return NOT_FOUND, later
                return chan.variables.get(parts[1], "_undef_") if len(
                    parts
                ) > 1 else "_undef_", later
            if cmd == "uuid_setvar":
                parts = arg.split(" ", 2)
                chan = self.channels.get(parts[0]) if parts else None
                if chan is None:
                    return NOT_FOUND, later
                if len(parts) == 3:
                    chan.variables[parts[1]] = parts[2]
                elif len(parts) == 2:
                    chan.variables.pop(parts[1], None)
                return "+OK\n", later
            if cmd == "uuid_bridge":
                # Real answers: "+OK <other uuid>\n"; "-ERR no such channel" for an unknown
                # first leg, "-ERR Invalid uuid <u>" style for the second (we use the first).
                parts = arg.split()
                if len(parts) != 2 or parts[0] not in self.channels:
                    return "-ERR no such channel\n", later
                if parts[1] not in self.channels:
                    return f"-ERR Invalid uuid {parts[1]}\n", later
                self.channels[parts[0]].bridged_to = parts[1]
                self.channels[parts[1]].bridged_to = parts[0]
                return f"+OK {parts[1]}\n", later
            if cmd in ("uuid_transfer", "uuid_broadcast"):
                parts = arg.split()
                if not parts or parts[0] not in self.channels:
                    return NOT_FOUND, later
                return ("+OK\n" if cmd == "uuid_transfer" else "+OK Message queued\n"), later
            if cmd == "uuid_record":
                return self._uuid_record(arg.split(), later), later
            if cmd == "hupall":
                parts = arg.split()
                cause = parts[0] if parts else "NORMAL_CLEARING"
                var, val = (parts[1], parts[2]) if len(parts) >= 3 else (None, None)
                for chan in list(self.channels.values()):
                    if var is None or chan.variables.get(var) == val:
                        later.append(lambda u=chan.uuid: self._kill(u, cause))
                if var is None:
                    return f"+OK hangup all channels with cause {cause}\n", later
                return (
                    f"+OK hangup all channels matching [{var}]=[{val}] with cause: {cause}\n",
                    later,
                )
            if cmd == "reloadxml":
                return "+OK [Success]\n", later
            if cmd == "xml_flush_cache":
                return "+OK cleared 0 entries\n", later
            if cmd == "xml_locate":
                # mod_xml_curl asks the portal; when it cannot, the file fallback answers
                if arg == "configuration configuration name callcenter.conf":
                    return (
                        PORTAL_CALLCENTER if self.portal_reachable else FALLBACK_CALLCENTER
                    ), later
                return "", later
            if cmd == "callcenter_config":
                agent = re.match(r"^agent get status (\S+)$", arg)
                if agent:
                    return self.agent_status.get(agent.group(1), "Available"), later
                m = re.match(r"^queue (reload|load|unload) (\S+)$", arg)
                if m and not self.portal_reachable and m.group(1) != "unload":
                    # reload = unload + load from the portal; the fallback has no queues
                    self.unloaded_queues.add(m.group(2))
                    return "-ERR Invalid Queue not found!\n", later
                if m:
                    self.unloaded_queues.discard(m.group(2))
                return "+OK\n", later
            if cmd == "sofia":
                if arg == "status":
                    return T.api_body("01b-auth-api-bgapi-exit", 7), later
                m = re.match(
                    r"^profile (\S+) (rescan|killgw \S+|restart|flush_inbound_reg.*)$", arg
                )
                if m:
                    if m.group(2) == "rescan":
                        return "+OK scan complete\n", later
                    if m.group(2).startswith("killgw"):
                        return "+OK\n", later
                    if m.group(2).startswith("flush_inbound_reg"):
                        return "+OK flushing all registrations matching specified call_id\n", later
                    return "Reload XML [Success]\nrestarting: internal\n", later
                return "-ERR Unknown command!\n", later
            if cmd == "global_getvar":
                return ("127.0.0.1" if arg == "domain" else ""), later
            if cmd == "eval":
                return arg.replace("${domain}", "127.0.0.1"), later
            if cmd == "originate":
                result = self._originate(arg, None, None)
                if isinstance(result, str):
                    return result, later
                chan = result
            elif cmd == "":
                return "-ERR  Command not found!\n", later
            else:
                return f"-ERR {cmd} Command not found!\n", later
        # blocking originate: wait (outside the lock) for answer or failure
        chan.result.wait(
            timeout=(float(chan.variables.get("originate_timeout", 60)) + 5) * self.time_factor + 5
        )
        return getattr(chan, "result_body", "-ERR NO_ANSWER\n"), later

    def _uuid_record(self, parts: list[str], later: list[Callable[[], None]]) -> str:
        usage = "-USAGE: <uuid> [start|stop|mask|unmask] <path> [<limit>] [<recording_vars>]\n"
        if len(parts) < 3:
            return usage
        chan = self.channels.get(parts[0])
        if chan is None:
            return "-ERR Cannot locate session!\n"
        action, path = parts[1], parts[2]
        tpl = T.record_events()
        if action == "start":
            if path.startswith("/dev/null/"):
                return "-ERR Cannot record session!\n"
            chan.records[path] = self.now()
            later.append(
                lambda: self._record_event(chan, tpl["RECORD_START"], {"Record-File-Path": path})
            )
            return "+OK Success\n"
        if action == "stop":
            if path not in chan.records and not (path == "all" and chan.records):
                return "-ERR Cannot stop record session!\n"
            paths = list(chan.records) if path == "all" else [path]
            for p in paths:
                chan.records.pop(p, None)
                later.append(
                    lambda p=p: self._record_event(
                        chan,
                        tpl["RECORD_STOP"],
                        {"Record-File-Path": p, "Record-Completion-Cause": "success-maxtime"},
                    )
                )
            return "+OK Success\n"
        return usage

    def _record_event(self, chan: Channel, tpl: T.Template, overrides: dict[str, str]) -> None:
        with self._lock:
            self._emit_channel(chan, tpl, overrides)

    # -- inbound connections ------------------------------------------------------------------

    def _serve_inbound(self, conn: Connection) -> None:
        conn.send(encode_frame([("Content-Type", "auth/request")]))
        for lines in conn.read_commands():
            self._record(lines)
            if self.reply_delay:
                time.sleep(self.reply_delay)
            self._handle_inbound(conn, lines)
            if conn.closed.is_set():
                return

    def _handle_inbound(self, conn: Connection, lines: list[str]) -> None:
        first = lines[0]
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        verb, _, rest = first.partition(" ")
        if not conn.authed:
            if verb == "auth":
                if rest == self.password:
                    conn.authed = True
                    conn.send(reply("+OK accepted"))
                else:
                    conn.send(reply("-ERR invalid") + disconnect_notice())
                    conn.close()
            else:
                conn.send(reply("-ERR command not found"))
            return
        self._handle_common(conn, verb, rest, headers)

    def _handle_common(
        self, conn: Connection, verb: str, rest: str, headers: dict[str, str]
    ) -> None:
        if verb == "api":
            body, later = self.api(rest)
            conn.send(api_response(body))
            for fn in later:
                fn()
        elif verb == "bgapi":
            job = headers.get("Job-UUID") or _u()
            conn.send(reply(f"+OK Job-UUID: {job}", ("Job-UUID", job)))
            self._bgapi(rest, job)
        elif verb == "event":
            self._event_command(conn, rest)
        elif verb == "noevents":
            conn.sub = Subscription(fmt=conn.sub.fmt, bound_uuid=conn.sub.bound_uuid)
            conn.send(reply("+OK no longer listening for events"))
        elif verb == "nixevent":
            for word in rest.split():
                conn.sub.names.discard(word)
                conn.sub.subclasses.discard(word)
                if word == "ALL":
                    conn.sub.all = False
            conn.send(reply("+OK events nixed"))
        elif verb == "filter":
            parts = rest.split(" ", 2)
            if parts[:1] == ["delete"]:
                if len(parts) < 2 or not parts[1]:
                    conn.send(reply("-ERR invalid syntax"))
                    return
                name, _, value = (
                    parts[1].partition(" ") if len(parts) == 2 else (parts[1], " ", parts[2])
                )
                conn.sub.filters = [f for f in conn.sub.filters if f != (name, value)]
                conn.send(reply(f"+OK filter deleted. [{name}][{value}]"))
            elif len(parts) >= 2 and parts[0]:
                value = " ".join(parts[1:])
                conn.sub.filters.append((parts[0], value))
                conn.send(reply(f"+OK filter added. [{parts[0]}]=[{value}]"))
            else:
                conn.send(reply("-ERR invalid syntax"))
        elif verb == "myevents":
            if conn.myevents:
                conn.send(reply("-ERR aready enabled."))
                return
            words = rest.split()
            uuid = words[0] if words and words[0] not in ("plain", "json", "xml") else None
            fmt = next((w for w in words if w in ("plain", "json", "xml")), "plain")
            if conn.kind == "outbound":
                uuid = conn.session.uuid if conn.session else uuid
            if uuid is None:
                conn.send(reply("-ERR invalid syntax"))
                return
            conn.myevents = True
            conn.sub = Subscription(fmt=fmt, bound_uuid=uuid)
            conn.send(reply("+OK Events Enabled"))
        elif verb == "linger":
            seconds = rest.strip()
            if conn.session is not None:
                conn.session.linger = int(seconds) if seconds.isdigit() else -1
            conn.send(reply(f"+OK will linger {seconds} seconds" if seconds else "+OK will linger"))
        elif verb == "nolinger":
            if conn.session is not None:
                conn.session.linger = None
            conn.send(reply("+OK will not linger"))
        elif verb == "sendmsg":
            target = rest.strip() or (conn.session.uuid if conn.session else "")
            with self._lock:
                chan = self.channels.get(target)
            if chan is None:
                conn.send(reply(f"-ERR invalid session id [{target}]"))
                return
            conn.send(reply("+OK"))
            self._sendmsg(chan, headers)
        elif verb == "exit":
            conn.send(reply("+OK bye") + disconnect_notice())
            conn.close()
        else:
            conn.send(reply("-ERR command not found"))

    def _event_command(self, conn: Connection, rest: str) -> None:
        words = rest.split()
        fmt = words[0] if words else ""
        names = words[1:]
        valid = [w for w in names if w in KNOWN_EVENTS or "::" in w]
        if fmt not in ("plain", "json", "xml") or not valid:
            conn.send(reply("-ERR no keywords supplied"))
            return
        conn.sub.fmt = fmt
        custom = False
        for word in names:
            if word == "ALL":
                conn.sub.all = True
            elif word == "CUSTOM":
                custom = True
            elif custom and "::" in word:
                conn.sub.subclasses.add(word)
            elif word in KNOWN_EVENTS:
                conn.sub.names.add(word)
        conn.send(reply(f"+OK event listener enabled {fmt}"))

    def _bgapi(self, rest: str, job: str) -> None:
        cmd, _, arg = rest.partition(" ")
        if cmd == "originate":
            with self._lock:
                result = self._originate(arg, job, arg)
                if isinstance(result, str):
                    self.after(
                        0, lambda: self._locked(self._emit_background_job, job, cmd, arg, result)
                    )
            return

        def run() -> None:
            body, later = self.api(rest)
            text = body.decode("utf-8") if isinstance(body, bytes) else body
            with self._lock:
                self._emit_background_job(job, cmd, arg or None, text)
            for fn in later:
                fn()

        self.after(0, run)

    def _locked(self, fn: Callable[..., None], *args: object) -> None:
        with self._lock:
            fn(*args)

    def _sendmsg(self, chan: Channel, headers: dict[str, str]) -> None:
        command = headers.get("call-command", "")
        if command == "hangup":
            cause = headers.get("hangup-cause", "NORMAL_CLEARING")
            self._kill(chan.uuid, cause)
        elif command == "execute" and chan.session is not None:
            chan.session._queue_execute(headers)

    # -- outbound sockets ------------------------------------------------------------------------

    def place_outbound_session(
        self,
        host: str,
        port: int,
        channel_vars: dict[str, str] | None = None,
        *,
        caller: str = "74951234567",
        destination: str = "8888",
        digits: Iterable[str] = (),
        uuid: str | None = None,
        connect_timeout: float = 5.0,
    ) -> OutboundSession:
        """Act like FreeSWITCH's ``socket host:port async full``: connect to OUR server and
        wait for ``connect``. ``digits`` are what the caller will press, one per
        play_and_get_digits."""
        chan = Channel(
            uuid=uuid or _u(),
            name=f"sofia/external/{caller}@127.0.0.1:5077",
            destination=str(destination),
            caller=str(caller),
            direction="inbound",
            variables=dict(channel_vars or {}),
            scenario="socket",
            application="socket",
        )
        sock = socket.create_connection((host, port), timeout=connect_timeout)
        sock.settimeout(None)
        conn = Connection(self, sock, kind="outbound")
        session = OutboundSession(self, chan, conn, list(digits))
        conn.session = session
        chan.session = session
        with self._lock:
            self._add_channel(chan)
            chan.state = "answered"
            self._connections.add(conn)
        threading.Thread(target=session._serve, name="esl-double-outbound", daemon=True).start()
        return session


class OutboundSession:
    """FreeSWITCH's side of one outbound-socket session (recordings 05 and 05b)."""

    def __init__(
        self, double: EslDouble, chan: Channel, conn: Connection, digits: list[str]
    ) -> None:
        self.double = double
        self.chan = chan
        self.conn = conn
        self.digits = digits
        self.linger: int | None = None
        self.connected = threading.Event()
        self.closed = conn.closed
        self.parked = False
        self.answered_media = False
        self._work: list[dict[str, str]] = []
        self._work_cond = threading.Condition()
        self.executed: list[tuple[str, str]] = []
        self.current_app: tuple[str, str] | None = None
        self._hangup_app: dict[str, str] | None = None  # a `hangup` app waiting to complete
        self._bridge_common: dict[str, str] = {}  # EXECUTE_COMPLETE headers of a `bridge`
        self._bridge_over = threading.Event()
        #: b-legs the `bridge` application created, paths `record_session` started, tries
        #: of play_and_get_digits (one per digit string)
        self.bridge_legs: list[Channel] = []
        self.recordings: list[str] = []
        self.prompts_played = 0

    @property
    def uuid(self) -> str:
        return self.chan.uuid

    def wait_closed(self, timeout: float = 2.0) -> bool:
        return self.closed.wait(timeout)

    def caller_hangs_up(self) -> None:
        """The caller sends BYE (05b): HANGUP, EXECUTE_COMPLETE of a running app, UNPARK..."""
        self.double.hangup(self.uuid)

    def _serve(self) -> None:
        threading.Thread(target=self._worker, daemon=True).start()
        for lines in self.conn.read_commands():
            self.double._record(lines)
            if self.double.reply_delay:
                time.sleep(self.double.reply_delay)
            verb, _, rest = lines[0].partition(" ")
            headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            if not self.connected.is_set():
                if verb != "connect":
                    continue  # FreeSWITCH waits for connect
                self.connected.set()
                self.conn.send(self._channel_data())
                continue
            self.double._handle_common(self.conn, verb, rest, headers)
        with self._work_cond:
            self._work.append({})
            self._work_cond.notify_all()

    def _channel_data(self) -> bytes:
        with self.double._lock:
            tpl = T.socket_event("CHANNEL_DATA")
            pairs = self.double._channel_pairs(self.chan, tpl)
        tail = {"Content-Type", "Reply-Text", "Socket-Mode", "Control"}
        pairs = [(k, v) for k, v in pairs if k not in tail]
        pairs += [
            ("Content-Type", "command/reply"),
            ("Reply-Text", "+OK\n"),
            ("Socket-Mode", "async"),
            ("Control", "full"),
        ]
        return encode_frame((k, url_encode_header_value(v)) for k, v in pairs)

    def _queue_execute(self, headers: dict[str, str]) -> None:
        with self._work_cond:
            self._work.append(headers)
            self._work_cond.notify_all()

    def _worker(self) -> None:
        while True:
            with self._work_cond:
                while not self._work:
                    self._work_cond.wait()
                headers = self._work.pop(0)
            if not headers or self.closed.is_set():
                return
            self._execute(headers)

    def _emit(
        self,
        name: str,
        app: str | None = None,
        overrides: dict[str, str] | None = None,
        recording: str = "05",
    ) -> None:
        tpl = T.socket_event(name, app, recording)
        self.double._emit_channel(self.chan, tpl, overrides)

    def _execute(self, headers: dict[str, str]) -> None:
        app = headers.get("execute-app-name", "")
        arg = headers.get("execute-app-arg", "")
        app_uuid = headers.get("Event-UUID") or _u()
        self.executed.append((app, arg))
        d = self.double
        with d._lock:
            if self.chan.state != "answered" or self.chan.hungup:
                return
            if not self.parked:
                self.parked = True
                self._emit("CHANNEL_PARK")
            # A real switch sets variable_current_application(_data) to the app it runs, in its
            # EXECUTE/EXECUTE_COMPLETE and every later event (greenswitch matches on it).
            self.current_app = (app, arg)
            common = {
                "Application-UUID": app_uuid,
                "Application": app,
                "Application-Data": arg,
                "variable_current_application": app,
                "variable_current_application_data": arg,
            }
            known = app in ("answer", "playback", "play_and_get_digits")
            tpl_app = app if known else "playback"
            self._emit("CHANNEL_EXECUTE", tpl_app, common)
            if app == "answer":
                self._emit("CHANNEL_PROGRESS_MEDIA")
                self.chan.answered = self.chan.answered or d.now()
                self._emit("CHANNEL_ANSWER")
                self._emit(
                    "CHANNEL_EXECUTE_COMPLETE",
                    "answer",
                    {**common, "Application-Response": "_none_"},
                )
                return
            if app == "play_and_get_digits":
                self._play_and_get_digits(arg)
                self._emit(
                    "CHANNEL_EXECUTE_COMPLETE",
                    "play_and_get_digits",
                    {**common, "Application-Response": "_none_"},
                )
                return
            if app == "hangup":
                # as recorded on 1.10.12: EXECUTE(hangup), CHANNEL_HANGUP, then its
                # EXECUTE_COMPLETE, UNPARK, EXECUTE_COMPLETE(socket)... (see _hangup_locked)
                self._hangup_app = {**common, "Application-Response": "_none_"}
                d.after(0, lambda: d._kill(self.uuid, arg or "NORMAL_CLEARING"))
                return
            if app in ("set", "export"):
                name, sep, value = arg.partition("=")
                if sep and name:
                    if value:
                        self.chan.variables[name] = value
                    else:  # `set name=` unsets, as in FreeSWITCH
                        self.chan.variables.pop(name, None)
            if app == "record_session":
                path = arg.split(" ")[0]
                if path:
                    self.chan.records[path] = d.now()
                    self.recordings.append(path)
                    d._emit_channel(
                        self.chan, T.record_events()["RECORD_START"], {"Record-File-Path": path}
                    )
            if app == "bridge":
                self._bridge_common = {**common, "Application-Response": "_none_"}
                leg = self._bridge_start(arg)
            elif app == "playback" and d.playback_seconds > 0:
                leg = None  # the prompt plays on: completed below, outside the lock
            else:
                response = "FILE PLAYED" if app == "playback" else "_none_"
                self._emit(
                    "CHANNEL_EXECUTE_COMPLETE",
                    tpl_app,
                    {**common, "Application-Response": response},
                )
                return
        if app == "playback":
            time.sleep(d.playback_seconds)
            with d._lock:
                if self.chan.state == "answered" and not self.chan.hungup:
                    self._emit(
                        "CHANNEL_EXECUTE_COMPLETE",
                        "playback",
                        {**common, "Application-Response": "FILE PLAYED"},
                    )
            return
        # `bridge` blocks the channel (later sendmsg executes wait) until it ends.
        if isinstance(leg, Channel):
            leg.result.wait(timeout=float(leg.variables.get("originate_timeout", 60)) + 30)
            with d._lock:
                body = getattr(leg, "result_body", "-ERR NO_ANSWER\n")
                if self.chan.state != "answered":
                    pass  # the caller left while it rang: _hangup_locked completed the bridge
                elif body.startswith("+OK") and leg.state == "answered":
                    self._bridged(leg)
                else:
                    self._bridge_failed(body.split()[1] if len(body.split()) > 1 else "NO_ANSWER")
        elif isinstance(leg, str):
            with d._lock:
                self._bridge_failed(leg)
        self._bridge_over.wait(timeout=600)

    # -- play_and_get_digits (switch_play_and_get_digits / switch_ivr_read, 1.10.12) -----------

    def _play_and_get_digits(self, arg: str) -> None:
        """What the caller presses for each try is the next string of ``digits``: "12#" (two
        digits, then the terminator), "#" (the terminator alone), "" (nothing: the timeout), "123"
        (no terminator: the inter-digit timeout ends it). Variables as FreeSWITCH sets them:
        ``<var>`` only when digits matched (never set empty), ``<var>_invalid`` for a regex
        mismatch, ``read_result`` success|timeout|failure, ``read_terminator_used`` (never
        cleared, as in FreeSWITCH)."""
        d = self.double
        chan = self.chan
        words = arg.split(" ")
        try:
            min_digits, max_digits, tries = int(words[0]), int(words[1]), int(words[2])
        except (IndexError, ValueError):
            return  # FreeSWITCH logs the usage and returns
        max_digits = max(max_digits, min_digits)
        terminators = words[4] if len(words) > 4 else ""
        var = words[7] if len(words) > 7 else ""
        regex = words[8] if len(words) > 8 else ""
        if var and regex:
            chan.variables.pop(f"{var}_invalid", None)
        while tries > 0:
            script = self.digits.pop(0) if self.digits else ""
            self.prompts_played += 1
            chan.variables.pop("read_result", None)
            if var:
                chan.variables.pop(var, None)
            buffer, terminator = "", ""
            for ch in script:
                d._emit_channel(chan, T.inbound_call()["DTMF"], {"DTMF-Digit": ch})
                if ch in terminators:
                    terminator = ch
                    break
                buffer += ch
                if len(buffer) >= max_digits:
                    break
            status = "success" if terminator or len(buffer) >= max_digits else "timeout"
            if terminator:
                chan.variables["read_terminator_used"] = terminator
            if min_digits and len(buffer) < min_digits:
                status = "too_small"
            chan.variables["read_result"] = {"success": "success", "timeout": "timeout"}.get(
                status, "failure"
            )
            if var and buffer:
                chan.variables[var] = buffer
            if status == "timeout" and len(buffer) >= min_digits:
                status = "success"
            if min_digits == 0 and not buffer and "read_terminator_used" in chan.variables:
                return
            if status == "success" and buffer:
                if not regex or re.search(regex, buffer):
                    return
                chan.variables.pop(var, None)
                if var:
                    chan.variables[f"{var}_invalid"] = buffer
            tries -= 1  # FreeSWITCH plays the invalid-input file here

    # -- bridge (mod_dptools audio_bridge_function, switch_ivr_originate.c, 1.10.12) ------------

    def _bridge_start(self, arg: str) -> Channel | str | None:
        """Originate the b-leg from ``{vars}target``; a failure string is the cause."""
        d = self.double
        self._bridge_over.clear()
        m = re.match(r"^(?:\{(?P<vars>[^}]*)\})?(?P<target>\S+)$", arg)
        if not m:
            return "INVALID_GATEWAY"
        result = d._originate(arg, None, None)
        if isinstance(result, str):
            return result.split()[1] if len(result.split()) > 1 else "DESTINATION_OUT_OF_ORDER"
        leg = result
        leg.application = "bridge"
        leg.bridge_peer = self.uuid
        self.chan.bridge_peer = leg.uuid
        if "origination_caller_id_number" not in leg.variables:
            # without it the b-leg shows the a-leg's effective caller ID, else the caller's
            leg.caller = self.chan.variables.get("effective_caller_id_number", self.chan.caller)
        self.bridge_legs.append(leg)
        return leg

    def _bridge_failed(self, cause: str) -> None:
        """The b-leg never answered. Caller holds the lock."""
        chan = self.chan
        chan.bridge_peer = None
        chan.variables["originate_disposition"] = cause
        chan.variables["DIALSTATUS"] = DIALSTATUS.get(cause, cause)
        chan.variables["originate_failed_cause"] = cause
        complete = dict(self._bridge_common)
        # switch_channel_handle_cause: the caller is hung up with the cause unless
        # continue_on_fail allows it; no answer is always a reason to continue
        keep = chan.variables.get("continue_on_fail", "")
        goes_on = cause in CONTINUE_ALWAYS or keep.lower() in ("true", "yes", "on", "1")
        goes_on = goes_on or cause.lower() in [c.strip().lower() for c in keep.split(",")]
        if goes_on:
            self._emit("CHANNEL_EXECUTE_COMPLETE", "playback", complete)
            self._bridge_over.set()
            return
        self._hangup_app = complete
        self.double.after(0, lambda: self.double._kill(self.uuid, cause))

    def _bridged(self, leg: Channel) -> None:
        """The b-leg answered: the a-leg is answered (if it was not) and CHANNEL_BRIDGE."""
        d = self.double
        chan = self.chan
        chan.variables["originate_disposition"] = "call accepted"
        # switch_ivr_originate.c sets DIALSTATUS to EARLY when the peer *is* answered (sic)
        chan.variables["DIALSTATUS"] = "EARLY"
        if not chan.answered:
            chan.answered = d.now()
            self._emit("CHANNEL_ANSWER")
        self._emit_bridge_event("CHANNEL_BRIDGE", leg)

    def _emit_bridge_event(self, name: str, leg: Channel) -> None:
        """CHANNEL_BRIDGE / CHANNEL_UNBRIDGE of the a-leg. No recording has one yet: the layout
        is the a-leg's channel event with the headers switch_core_state_machine adds
        (Bridge-A/B-Unique-ID after the envelope, Other-Leg-* before the variables)."""
        d = self.double
        current = {}
        if self.current_app is not None:  # as in every event while the app runs
            current = {
                "variable_current_application": self.current_app[0],
                "variable_current_application_data": self.current_app[1],
            }
        tpl = T.socket_event("CHANNEL_EXECUTE", "playback")
        pairs = d._channel_pairs(self.chan, tpl, current)
        pairs = [(k, v) for k, v in pairs if not k.startswith("Application")]
        pairs = [(k, name if k == "Event-Name" else v) for k, v in pairs]
        n = len(T.ENVELOPE_NAMES)
        pairs[n:n] = [("Bridge-A-Unique-ID", self.uuid), ("Bridge-B-Unique-ID", leg.uuid)]
        other = [
            ("Other-Type", "originatee"),
            ("Other-Leg-Direction", "outbound"),
            ("Other-Leg-Caller-ID-Number", leg.caller),
            ("Other-Leg-Orig-Caller-ID-Number", leg.caller),
            ("Other-Leg-Destination-Number", leg.destination),
            ("Other-Leg-Unique-ID", leg.uuid),
            ("Other-Leg-Channel-Name", leg.name),
        ]
        first_var = next(i for i, (k, _) in enumerate(pairs) if k.startswith("variable_"))
        pairs[first_var:first_var] = other
        d._broadcast(pairs, "")

    def _peer_hung_up(self, leg: Channel, cause: str) -> None:
        """The b-leg hung up first (caller holds the lock): UNBRIDGE, and the bridge completes;
        with hangup_after_bridge the a-leg follows with the b-leg's cause."""
        chan = self.chan
        if chan.bridge_peer != leg.uuid or chan.state != "answered":
            return
        chan.bridge_peer = None
        chan.variables["bridge_hangup_cause"] = cause
        chan.variables["last_bridge_hangup_cause"] = cause
        self._emit_bridge_event("CHANNEL_UNBRIDGE", leg)
        if chan.variables.get("hangup_after_bridge", "").lower() in ("true", "yes", "on", "1"):
            self._hangup_app = dict(self._bridge_common)
            self.double.after(0, lambda: self.double._kill(self.uuid, cause))
            return
        self._emit("CHANNEL_EXECUTE_COMPLETE", "playback", self._bridge_common)
        self._bridge_over.set()

    def _hangup_locked(self, *, remote: bool) -> None:
        """The channel hangs up (caller BYE or sendmsg hangup); caller holds the double's lock."""
        d = self.double
        last = {}
        if self.current_app is not None:  # the last app stays the channel's current one
            last = {
                "variable_current_application": self.current_app[0],
                "variable_current_application_data": self.current_app[1],
            }
        self._emit("CHANNEL_HANGUP", overrides=last)
        d._stop_records(self.chan, "success-silence")
        peer = d.channels.get(self.chan.bridge_peer or "")
        if peer is not None:  # the caller left during the bridge (or while the b-leg rang)
            self.chan.bridge_peer = None
            if peer.state == "ringing":
                self.chan.variables["originate_disposition"] = "ORIGINATOR_CANCEL"
                self.chan.variables["DIALSTATUS"] = "CANCEL"
                d.after(0, lambda: d._kill(peer.uuid, "ORIGINATOR_CANCEL"))
            else:
                self.chan.variables["bridge_hangup_cause"] = "NORMAL_CLEARING"
                self._emit_bridge_event("CHANNEL_UNBRIDGE", peer)
                d.after(0, lambda: d._kill(peer.uuid, "NORMAL_CLEARING"))
            self._hangup_app = dict(self._bridge_common)
        if self._hangup_app is not None:
            self._emit("CHANNEL_EXECUTE_COMPLETE", "playback", self._hangup_app)
            self._hangup_app = None
        self._emit("CHANNEL_UNPARK", overrides=last)
        self._emit("CHANNEL_EXECUTE_COMPLETE", "socket", last)
        for tpl in T.outbound_socket():
            if tpl.name == "CHANNEL_STATE":
                d._emit_channel(self.chan, tpl)
        self._emit("CHANNEL_HANGUP_COMPLETE", overrides=last)
        if self.linger is None:
            self.conn.send(
                disconnect_notice(
                    ("Controlled-Session-UUID", self.uuid), ("Content-Disposition", "disconnect")
                )
            )
            self.conn.close()
            self._bridge_over.set()
            return
        self._bridge_over.set()
        self.conn.send(
            disconnect_notice(
                ("Controlled-Session-UUID", self.uuid),
                ("Content-Disposition", "linger"),
                ("Channel-Name", self.chan.name),
                ("Linger-Time", str(self.linger)),
                body=b"",
            )
        )
        if self.linger > 0:

            def finish() -> None:
                self.conn.send(
                    disconnect_notice(
                        ("Controlled-Session-UUID", self.uuid),
                        ("Content-Disposition", "disconnect"),
                    )
                )
                self.conn.close()

            d.after(self.linger, finish)
