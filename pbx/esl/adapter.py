"""The only module that imports greenswitch: an inbound ESL connection with timeouts.

greenswitch gives us the socket, the reader greenlet and `auth`. We add what a call-control
service needs and it lacks: a reply timeout on every command (a hung switch must not hang us),
a reader that splits the stream with our own parser (`pbx.esl.protocol`: duplicate headers kept,
JSON and BACKGROUND_JOB bodies understood, event values decoded only when read), and events put
on one queue in arrival order. Handlers run
in another greenlet that reads `events`: the reader greenlet must never wait, since it is the
one that delivers replies.
Runs only inside the gevent-patched call-control process.
"""

from __future__ import annotations

import logging

import gevent
import gevent.event
import gevent.queue
import greenswitch
from greenswitch.esl import NotConnectedError

from pbx.esl.protocol import (
    Event,
    Frame,
    FrameParser,
    ProtocolError,
    parse_event,
    url_decode_header_value,
)

log = logging.getLogger(__name__)

__all__ = ["EslConnection", "EslError", "EslTimeout", "NotConnectedError"]

#: bytes asked of the socket per read (an event is ~2-10 KB)
RECV_BYTES = 256 * 1024


class EslError(Exception):
    """The connection failed: refused, closed, or authentication rejected."""


class EslTimeout(EslError):
    """No reply within the timeout. The connection is closed: replies are matched by order."""


class EslConnection(greenswitch.InboundESL):
    def __init__(
        self,
        host: str,
        port: int,
        password: str,
        *,
        connect_timeout: float = 5.0,
        reply_timeout: float = 10.0,
    ) -> None:
        super().__init__(host, port, password, timeout=connect_timeout)
        self.events: gevent.queue.Queue[Event | None] = gevent.queue.Queue()
        self.reply_timeout = reply_timeout
        self.closed = gevent.event.Event()

    # -- connection ---------------------------------------------------------------------------

    def connect(self) -> None:
        """Connect and authenticate, or raise EslError. Never waits longer than the timeouts."""
        try:
            with gevent.Timeout(self.timeout + self.reply_timeout, EslTimeout("connect timed out")):
                super().connect()
        except ValueError as exc:  # greenswitch: "Invalid password."
            self.close()
            raise EslError("authentication rejected") from exc
        except (OSError, NotConnectedError) as exc:
            self.close()
            raise EslError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        except EslTimeout:
            self.close()
            raise

    def close(self) -> None:
        self.connected = False
        self._run = False
        sock = getattr(self, "sock", None)
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass
        for pending in self._commands_sent:
            if not pending.ready():
                pending.set_exception(EslError("connection closed"))
        self._commands_sent.clear()
        if not self.closed.is_set():
            self.events.put(None)  # tells the dispatcher the stream ended
        self.closed.set()

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Block until the switch (or we) closed the socket."""
        if self._receive_events_greenlet is not None:
            self._receive_events_greenlet.join(timeout)
            if self._receive_events_greenlet.dead:
                self.close()
        return self.closed.wait(timeout)

    # -- commands -----------------------------------------------------------------------------

    def send(self, data: str, timeout: float | None = None):
        if not self.connected:
            raise NotConnectedError()
        pending = gevent.event.AsyncResult()
        self._commands_sent.append(pending)
        try:
            self.sock.sendall((data + "\n\n").encode("utf-8"))
            return pending.get(timeout=timeout or self.reply_timeout)
        except gevent.Timeout as exc:
            self.close()
            raise EslTimeout(f"no reply to {data.split()[0]!r} within the timeout") from exc
        except OSError as exc:
            self.close()
            raise EslError(f"send failed: {exc}") from exc

    def api(self, command: str, timeout: float | None = None) -> str:
        """Run `api <command>` and return the response body (e.g. "+OK ...", "-ERR ...")."""
        return self.send(f"api {command}", timeout=timeout).data

    def bgapi(self, command: str, job_uuid: str) -> str:
        """Run `bgapi` with our own Job-UUID; the result comes later as BACKGROUND_JOB."""
        from pbx.esl import commands

        reply = self.send(commands.bgapi(command, job_uuid))
        return reply.headers.get("Reply-Text", "")

    def command(self, line: str) -> str:
        """A plain ESL command (`event plain ...`, `filter ...`); returns Reply-Text."""
        return self.send(line).headers.get("Reply-Text", "")

    # -- events -------------------------------------------------------------------------------

    def receive_events(self) -> None:
        """Read the socket in large chunks and split them with our frame parser.

        greenswitch reads line by line and URL-decodes every header block; an event is ~105
        header lines, so that was most of the cost of intake. Here a chunk of frames costs a
        few buffer operations, and event values are decoded only when a flow reads them."""
        parser = FrameParser()
        try:
            while self._run:
                try:
                    data = self.sock.recv(RECV_BYTES)
                except OSError:
                    break
                if not data:
                    break
                for frame in parser.feed(data):
                    self.handle_frame(frame)
                # Let the dispatcher work through what this chunk queued before reading more:
                # a reader that always finds data waiting would never yield to it.
                gevent.sleep(0)
        except ProtocolError:
            log.exception("ESL %s:%s sent bytes that are not ESL; closing", self.host, self.port)
        finally:
            self.connected = False
            self.close()

    def handle_frame(self, frame: Frame) -> None:
        content_type = frame.content_type
        if content_type in ("text/event-plain", "text/event-json"):
            try:
                event = parse_event(frame)
            except ProtocolError:
                log.warning("ESL %s:%s: undecodable event dropped", self.host, self.port)
                return
            self.events.put(event)
        elif content_type in ("command/reply", "api/response"):
            if not self._commands_sent:
                log.warning("ESL %s:%s: a reply nobody waits for", self.host, self.port)
                return
            self._commands_sent.pop(0).set(_Reply(frame))
        elif content_type == "auth/request":
            self._auth_request_event.set()
        elif content_type == "text/disconnect-notice":
            self.connected = False
        elif content_type == "text/rude-rejection":
            self.connected = False
            self._auth_request_event.set()


class _Reply:
    """A command/reply or api/response, shaped as greenswitch's (``headers``, ``data``)."""

    __slots__ = ("headers", "data")

    def __init__(self, frame: Frame) -> None:
        self.headers = frame.headers
        if frame.content_type == "api/response":
            self.data = frame.body.decode("utf-8", errors="replace")
        else:
            self.data = frame.headers.get("Reply-Text", "")


class _SafeHeaders(greenswitch.esl.ESLEvent):
    """greenswitch's ESLEvent URL-decodes a whole header block *before* splitting it into
    lines, so a value carrying a literal `%0A` (FreeSWITCH does not re-encode an existing
    `%XX`: a caller ID name "x%0Avariable_pbx_flow: evil" arrives as `x%0Avariable_pbx_flow%3A
    %20evil`) became a header line of its own and overrode our `pbx_*` variables. Here each
    line is split first and only its value is decoded; the first of a repeated name wins."""

    def parse_data(self, data: str) -> None:
        for line in data.split("\n"):
            name, sep, value = line.partition(": ")
            if sep and name.strip():
                self.headers.setdefault(name.strip(), url_decode_header_value(value.rstrip("\r")))


class OutboundCall(greenswitch.esl.OutboundSession):
    """One call FreeSWITCH handed to our outbound socket (dialplan `socket ... async full`).

    Every wait has a timeout; a caller who hangs up ends the session with EslError.
    """

    def __init__(self, sock, address, *, reply_timeout: float = 10.0) -> None:
        super().__init__(address, sock)
        self.reply_timeout = reply_timeout
        self.variables: dict[str, str] = {}

    def receive_events(self) -> None:
        """greenswitch's reader loop, with each header block parsed by `_SafeHeaders`.

        At the end of the stream the handler greenlet keeps running (`close` stops it): it
        still delivers what was read before (greenswitch's own loop stops on the flag and drops
        them: a bridge's completion read together with the close was lost), and then a
        disconnect-notice of our own fails whatever still waits on this session."""
        buf = ""
        while self._run:
            try:
                line = self.sock_file.readline()
            except Exception:
                line = b""
            if not line:
                self.connected = False
                gone = _SafeHeaders("Content-Type: text/disconnect-notice")
                self._esl_event_queue.put(gone)
                break
            text = line.decode("utf-8", errors="replace")
            if text == "\n":
                if buf:
                    event = _SafeHeaders(buf)
                    if event.headers.get("Content-Type") == "text/disconnect-notice":
                        # the final notice has a body ("Disconnected, goodbye. ..."), which
                        # greenswitch leaves to be read as a header block of its own
                        length = int(event.headers.get("Content-Length") or 0)
                        if length:
                            self._read_socket(self.sock_file, length)
                    self.handle_event(event)
                buf = ""
                continue
            buf += text

    def on_disconnect(self, event) -> None:
        """greenswitch fails every wait at any disconnect-notice. The linger notice only says
        the channel hung up: mod_event_socket writes it as soon as it sees the hangup, often
        before the session's queued events (a bridge's completion), which still come; so
        waits end with them, and the final notice (or the end of the stream) fails the rest."""
        if event.headers.get("Content-Disposition") == "linger":
            self._outbound_connected = False
            return
        super().on_disconnect(event)

    def start(self) -> None:
        """`connect` (the channel's data comes back), `myevents`, `linger`."""
        with gevent.Timeout(self.reply_timeout, EslTimeout("no reply to connect")):
            self.connect()
        data = self.session_data or {}
        self.variables = {k[9:]: v for k, v in data.items() if k.startswith("variable_")}
        self.send("myevents")
        self.send("linger 5")

    @property
    def uuid(self) -> str:
        return (self.session_data or {}).get("Unique-ID", "")

    def send(self, data: str, timeout: float | None = None):
        if not self.connected:
            raise EslError("caller gone")
        pending = gevent.event.AsyncResult()
        self._commands_sent.append(pending)
        try:
            self.sock.sendall((data + "\n\n").encode("utf-8"))
            return pending.get(timeout=timeout or self.reply_timeout)
        except gevent.Timeout as exc:
            raise EslTimeout(f"no reply to {data.split()[0]!r}") from exc
        except greenswitch.esl.OutboundSessionHasGoneAway as exc:
            raise EslError("caller gone") from exc
        except OSError as exc:
            raise EslError(f"send failed: {exc}") from exc

    def execute(self, app: str, arg: str = "", *, timeout: float = 60.0):
        """Run a dialplan application and wait for its CHANNEL_EXECUTE_COMPLETE."""
        from pbx.esl import commands

        message = commands.sendmsg_execute(app, arg)
        pending = gevent.event.AsyncResult()
        self.register_expected_event(
            "CHANNEL_EXECUTE_COMPLETE", "current_application", app, pending
        )
        self.send(message)
        try:
            return pending.get(timeout=timeout)
        except gevent.Timeout as exc:
            raise EslTimeout(f"{app} did not complete within {timeout}s") from exc
        except greenswitch.esl.OutboundSessionHasGoneAway as exc:
            raise EslError("caller gone") from exc

    def unavailable(self) -> None:
        """End a call we cannot serve, with a cause the caller's network understands."""
        try:
            self.execute("hangup", "SERVICE_UNAVAILABLE", timeout=self.reply_timeout)
        except EslError:
            pass

    def close(self) -> None:
        self._run = False
        try:
            self.sock.close()
        except OSError:
            pass
