"""Outbound-socket sessions: FreeSWITCH's ``socket host:port async full`` connecting to OUR
server, then running the applications we ``sendmsg`` (recordings 05 and 05b): answer, playback,
play_and_get_digits, set/export, record_session, bridge, hangup.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterable

from pbx.esl.protocol import encode_frame, url_encode_header_value

from . import templates as T
from .framing import Connection, EventSocket, disconnect_notice
from .switch import Channel, Switch, new_uuid

__all__ = ["OutboundSession", "place_outbound_session"]

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


def place_outbound_session(
    switch: Switch,
    event_socket: EventSocket,
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
        uuid=uuid or new_uuid(),
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
    with switch.lock:
        conn = event_socket.connection(sock, kind="outbound")
        session = OutboundSession(switch, event_socket, chan, conn, list(digits))
        conn.session = session
        chan.session = session
        switch.add_channel(chan)
        chan.state = "answered"
    threading.Thread(target=session.serve, name="esl-double-outbound", daemon=True).start()
    return session


class OutboundSession:
    """FreeSWITCH's side of one outbound-socket session (recordings 05 and 05b)."""

    def __init__(
        self,
        switch: Switch,
        event_socket: EventSocket,
        chan: Channel,
        conn: Connection,
        digits: list[str],
    ) -> None:
        self.switch = switch
        self.event_socket = event_socket
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
        self.switch.hangup(self.uuid)

    def serve(self) -> None:
        threading.Thread(target=self._worker, daemon=True).start()
        for lines in self.event_socket.read(self.conn):
            verb, _, rest = lines[0].partition(" ")
            headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            if not self.connected.is_set():
                if verb != "connect":
                    continue  # FreeSWITCH waits for connect
                self.connected.set()
                self.conn.send(self._channel_data())
                continue
            self.event_socket.handle(self.conn, verb, rest, headers)
        with self._work_cond:
            self._work.append({})
            self._work_cond.notify_all()

    def _channel_data(self) -> bytes:
        with self.switch.lock:
            tpl = T.socket_event("CHANNEL_DATA")
            pairs = self.switch.channel_pairs(self.chan, tpl)
        tail = {"Content-Type", "Reply-Text", "Socket-Mode", "Control"}
        pairs = [(k, v) for k, v in pairs if k not in tail]
        pairs += [
            ("Content-Type", "command/reply"),
            ("Reply-Text", "+OK\n"),
            ("Socket-Mode", "async"),
            ("Control", "full"),
        ]
        return encode_frame((k, url_encode_header_value(v)) for k, v in pairs)

    def queue_execute(self, headers: dict[str, str]) -> None:
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
        self.switch.emit_channel(self.chan, tpl, overrides)

    def _execute(self, headers: dict[str, str]) -> None:
        app = headers.get("execute-app-name", "")
        arg = headers.get("execute-app-arg", "")
        app_uuid = headers.get("Event-UUID") or new_uuid()
        self.executed.append((app, arg))
        d = self.switch
        with d.lock:
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
                # EXECUTE_COMPLETE, UNPARK, EXECUTE_COMPLETE(socket)... (see hangup_locked)
                self._hangup_app = {**common, "Application-Response": "_none_"}
                d.after(0, lambda: d.kill(self.uuid, arg or "NORMAL_CLEARING"))
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
                    d.emit_channel(
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
            with d.lock:
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
            with d.lock:
                body = leg.result_body
                if self.chan.state != "answered":
                    pass  # the caller left while it rang: hangup_locked completed the bridge
                elif body.startswith("+OK") and leg.state == "answered":
                    self._bridged(leg)
                else:
                    self._bridge_failed(body.split()[1] if len(body.split()) > 1 else "NO_ANSWER")
        elif isinstance(leg, str):
            with d.lock:
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
        d = self.switch
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
                d.emit_channel(chan, T.inbound_call()["DTMF"], {"DTMF-Digit": ch})
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
        d = self.switch
        self._bridge_over.clear()
        m = re.match(r"^(?:\{(?P<vars>[^}]*)\})?(?P<target>\S+)$", arg)
        if not m:
            return "INVALID_GATEWAY"
        result = d.originate(arg, None, None)
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
        self.switch.after(0, lambda: self.switch.kill(self.uuid, cause))

    def _bridged(self, leg: Channel) -> None:
        """The b-leg answered: the a-leg is answered (if it was not) and CHANNEL_BRIDGE."""
        d = self.switch
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
        d = self.switch
        current = {}
        if self.current_app is not None:  # as in every event while the app runs
            current = {
                "variable_current_application": self.current_app[0],
                "variable_current_application_data": self.current_app[1],
            }
        tpl = T.socket_event("CHANNEL_EXECUTE", "playback")
        pairs = d.channel_pairs(self.chan, tpl, current)
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
        d.broadcast(pairs, "")

    def peer_hung_up(self, leg: Channel, cause: str) -> None:
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
            self.switch.after(0, lambda: self.switch.kill(self.uuid, cause))
            return
        self._emit("CHANNEL_EXECUTE_COMPLETE", "playback", self._bridge_common)
        self._bridge_over.set()

    def hangup_locked(self, *, remote: bool) -> None:
        """The channel hangs up (caller BYE or sendmsg hangup); caller holds the switch's lock."""
        d = self.switch
        last = {}
        if self.current_app is not None:  # the last app stays the channel's current one
            last = {
                "variable_current_application": self.current_app[0],
                "variable_current_application_data": self.current_app[1],
            }
        self._emit("CHANNEL_HANGUP", overrides=last)
        d.stop_records(self.chan, "success-silence")
        peer = d.channels.get(self.chan.bridge_peer or "")
        if peer is not None:  # the caller left during the bridge (or while the b-leg rang)
            self.chan.bridge_peer = None
            if peer.state == "ringing":
                self.chan.variables["originate_disposition"] = "ORIGINATOR_CANCEL"
                self.chan.variables["DIALSTATUS"] = "CANCEL"
                d.after(0, lambda: d.kill(peer.uuid, "ORIGINATOR_CANCEL"))
            else:
                self.chan.variables["bridge_hangup_cause"] = "NORMAL_CLEARING"
                self._emit_bridge_event("CHANNEL_UNBRIDGE", peer)
                d.after(0, lambda: d.kill(peer.uuid, "NORMAL_CLEARING"))
            self._hangup_app = dict(self._bridge_common)
        if self._hangup_app is not None:
            self._emit("CHANNEL_EXECUTE_COMPLETE", "playback", self._hangup_app)
            self._hangup_app = None
        self._emit("CHANNEL_UNPARK", overrides=last)
        self._emit("CHANNEL_EXECUTE_COMPLETE", "socket", last)
        for tpl in T.outbound_socket():
            if tpl.name == "CHANNEL_STATE":
                d.emit_channel(self.chan, tpl)
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
