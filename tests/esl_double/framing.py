"""The Event Socket itself (mod_event_socket): the listener, one thread per connection reading
commands, auth, event subscriptions and filters, and the frames that go back.

What a command does to the switch (``api``, ``bgapi``, ``sendmsg``) is not decided here: the
socket asks its :class:`Commands`. Every reply string is copied from real FreeSWITCH 1.10
transcripts.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid as uuid_module
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from pbx.esl.protocol import (
    DISCONNECT_NOTICE_BODY,
    encode_frame,
    encode_plain_event_body,
    url_encode_header_value,
)

if TYPE_CHECKING:
    from .outbound import OutboundSession

__all__ = [
    "Commands",
    "Connection",
    "EventSocket",
    "Subscription",
    "api_response",
    "disconnect_notice",
    "render_frame",
    "reply",
]

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


# --------------------------------------------------------------------------- frames


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


# --------------------------------------------------------------------------- connections


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

    def __init__(
        self,
        sock: socket.socket,
        kind: str = "inbound",
        *,
        on_close: Callable[[Connection], None] = lambda conn: None,
    ) -> None:
        self.sock = sock
        self.kind = kind
        self.authed = kind == "outbound"
        self.sub = Subscription()
        self.send_lock = threading.Lock()
        self.closed = threading.Event()
        self.myevents = False
        self.session: OutboundSession | None = None
        self._on_close = on_close

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
        self._on_close(self)

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


# --------------------------------------------------------------------------- the socket


class Commands(Protocol):
    """What the socket asks the switch to do."""

    def api(self, line: str) -> tuple[str | bytes, list[Callable[[], None]]]:
        """Run ``api <line>``: (response body, things to do after the reply is sent)."""

    def bgapi(self, rest: str, job: str) -> None:
        """Start ``bgapi <rest>`` as job ``job`` (the reply is already sent)."""

    def sendmsg(self, target: str, headers: dict[str, str]) -> Callable[[], None] | None:
        """What ``sendmsg`` to channel ``target`` does after its +OK; None: no such channel."""


class EventSocket:
    """mod_event_socket: listens on ``host:port`` (0: a free port), serves inbound clients,
    keeps every command received, and sends events to the connections subscribed to them."""

    def __init__(
        self, lock: threading.RLock, commands: Commands, *, password: str, host: str
    ) -> None:
        self.password = password
        self.host = host
        self.port = 0
        self.reply_delay = 0.0
        self.commands = commands
        self.lock = lock
        self.connections: set[Connection] = set()
        self._listener: socket.socket | None = None
        self._received: list[str] = []
        self._received_cond = threading.Condition(lock)

    # -- listener -----------------------------------------------------------------------------

    def listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        self._listener = sock
        threading.Thread(
            target=self._accept_loop, args=(sock,), name="esl-double-accept", daemon=True
        ).start()

    @property
    def listening(self) -> bool:
        return self._listener is not None

    def close_listener(self) -> None:
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
            conn = self.connection(sock)
            threading.Thread(target=self._serve_inbound, args=(conn,), daemon=True).start()

    # -- connections --------------------------------------------------------------------------

    def connection(self, sock: socket.socket, kind: str = "inbound") -> Connection:
        """A new connection on ``sock``, from now on among the ones events go to."""
        conn = Connection(sock, kind, on_close=self._forget)
        with self.lock:
            self.connections.add(conn)
        return conn

    def drop_connections(self) -> None:
        """Close every client socket abruptly (no disconnect-notice)."""
        with self.lock:
            conns = list(self.connections)
        for conn in conns:
            conn.close()

    def _forget(self, conn: Connection) -> None:
        with self.lock:
            self.connections.discard(conn)

    @property
    def connection_count(self) -> int:
        with self.lock:
            return sum(1 for c in self.connections if c.kind == "inbound")

    def broadcast(self, pairs: Pairs, body: str, *, only: Connection | None = None) -> None:
        """Send an event to every connection subscribed to it. Caller holds the lock."""
        cache: dict[str, bytes] = {}
        targets = [only] if only is not None else list(self.connections)
        for conn in targets:
            if conn.closed.is_set() or not conn.authed:
                continue
            if not conn.sub.wants(pairs):
                continue
            if conn.sub.fmt not in cache:
                cache[conn.sub.fmt] = render_frame(pairs, body, conn.sub.fmt)
            conn.send(cache[conn.sub.fmt])

    # -- what clients sent --------------------------------------------------------------------

    @property
    def received(self) -> list[str]:
        """Every command received so far (lines joined by LF), oldest first."""
        with self.lock:
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

    def read(self, conn: Connection) -> Iterator[list[str]]:
        """The commands ``conn`` sends, each kept (``received``) and delayed by reply_delay."""
        for lines in conn.read_commands():
            with self._received_cond:
                self._received.append("\n".join(lines))
                self._received_cond.notify_all()
            if self.reply_delay:
                time.sleep(self.reply_delay)
            yield lines

    # -- commands -----------------------------------------------------------------------------

    def _serve_inbound(self, conn: Connection) -> None:
        conn.send(encode_frame([("Content-Type", "auth/request")]))
        for lines in self.read(conn):
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
        self.handle(conn, verb, rest, headers)

    def handle(self, conn: Connection, verb: str, rest: str, headers: dict[str, str]) -> None:
        """One command of an authenticated (or outbound) connection."""
        if verb == "api":
            body, later = self.commands.api(rest)
            conn.send(api_response(body))
            for fn in later:
                fn()
        elif verb == "bgapi":
            job = headers.get("Job-UUID") or str(uuid_module.uuid4())
            conn.send(reply(f"+OK Job-UUID: {job}", ("Job-UUID", job)))
            self.commands.bgapi(rest, job)
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
            then = self.commands.sendmsg(target, headers)
            if then is None:
                conn.send(reply(f"-ERR invalid session id [{target}]"))
                return
            conn.send(reply("+OK"))
            then()
        elif verb == "sendevent":
            # An event into the core (MESSAGE_WAITING for a phone's lamp): FreeSWITCH answers
            # with the new event's UUID (mod_event_socket.c); the command stays in `received`.
            if not rest.strip():
                conn.send(reply("-ERR invalid syntax"))
                return
            conn.send(reply(f"+OK {uuid_module.uuid4()}"))
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
