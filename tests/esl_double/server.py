"""An Event Socket test double: a real TCP server that speaks ESL the way FreeSWITCH does.

Thread-based (one thread per connection, one scheduler thread for timed call progress), so it
works from plain pytest tests and from a gevent client in another thread or process. Every
event is a recorded event re-valued (see ``templates``), every reply string is copied from the
recordings. Time inside the switch is virtual: ``time_factor`` real seconds per switch second,
so "no answer after originate_timeout=10" takes 0.1 s at the default factor.

The parts: ``framing`` (the socket, its connections, subscriptions and frames), ``switch`` (the
model: channels, calls, clock, registrations, mod_callcenter's state), ``api`` (the API
commands, one handler each), ``outbound`` (outbound-socket sessions). :class:`EslDouble` wires
them together and is the scenario API tests use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from . import api as api_commands
from .framing import Connection, EventSocket, api_response, disconnect_notice, render_frame, reply
from .outbound import OutboundSession, place_outbound_session
from .switch import Channel, Pairs, Switch

__all__ = [
    "Channel",
    "EslDouble",
    "OutboundSession",
    "api_response",
    "disconnect_notice",
    "render_frame",
    "reply",
]


class _Part:
    """An attribute of the double that is one of a part's: ``_Part("switch")`` on a class
    reads and writes ``self.switch.<same name>`` (scenario methods and settings alike)."""

    def __init__(self, part: str) -> None:
        self.part = part

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return getattr(getattr(obj, self.part), self.name)

    def __set__(self, obj: object, value: Any) -> None:
        setattr(getattr(obj, self.part), self.name, value)


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
        lock = threading.RLock()
        self.event_socket = EventSocket(lock, self, password=password, host=host)
        self.switch = Switch(
            lock,
            self.event_socket.broadcast,
            time_factor=time_factor,
            default_answer_after=default_answer_after,
        )

    # -- the Event Socket ---------------------------------------------------------------------

    password = _Part("event_socket")
    host = _Part("event_socket")
    port = _Part("event_socket")
    #: real seconds the switch waits before it handles each command
    reply_delay = _Part("event_socket")
    received = _Part("event_socket")
    wait_for_command = _Part("event_socket")
    drop_connections = _Part("event_socket")
    connection_count = _Part("event_socket")

    @property
    def _connections(self) -> set[Connection]:  # benchmarks/esl_intake.py sends on one
        return self.event_socket.connections

    # -- the switch ---------------------------------------------------------------------------

    time_factor = _Part("switch")
    core_uuid = _Part("switch")
    background_job_position = _Part("switch")
    default_answer_after = _Part("switch")
    directory = _Part("switch")
    behaviour = _Part("switch")
    channels = _Part("switch")
    sessions_since_startup = _Part("switch")
    peak = _Part("switch")
    portal_reachable = _Part("switch")
    unloaded_queues = _Part("switch")
    agent_status = _Part("switch")
    playback_seconds = _Part("switch")

    now = _Part("switch")
    after = _Part("switch")
    set_unregistered = _Part("switch")
    register = _Part("switch")
    unregister = _Part("switch")
    expire = _Part("switch")
    set_busy = _Part("switch")
    answers_after = _Part("switch")
    early_media = _Part("switch")
    never_answers = _Part("switch")
    rejects = _Part("switch")
    emit = _Part("switch")
    heartbeat = _Part("switch")
    caller_presses = _Part("switch")
    inbound_call = _Part("switch")
    hangup = _Part("switch")
    channel = _Part("switch")

    def _envelope(self, name: str, file: str, function: str, line: str) -> Pairs:
        # benchmarks/esl_intake.py renders its events from the double's own envelope
        return self.switch.envelope(name, file, function, line)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> EslDouble:
        self.event_socket.listen()
        self.switch.clock.start()
        return self

    def stop(self) -> None:
        self.event_socket.close_listener()
        self.event_socket.drop_connections()
        self.switch.clock.stop()

    def __enter__(self) -> EslDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def pause(self) -> None:
        """The switch goes down: existing connections drop, new ones are refused."""
        self.event_socket.close_listener()
        self.event_socket.drop_connections()

    def resume(self) -> None:
        """The switch is back on the same port."""
        if not self.event_socket.listening:
            self.event_socket.listen()

    # -- what the socket's commands do (framing.Commands) -------------------------------------

    def api(self, line: str) -> tuple[str | bytes, list[Callable[[], None]]]:
        """Run one ``api`` command: (response body, things to do after the reply is sent)."""
        return api_commands.api(self.switch, line)

    def bgapi(self, rest: str, job: str) -> None:
        api_commands.bgapi(self.switch, rest, job)

    def sendmsg(self, target: str, headers: dict[str, str]) -> Callable[[], None] | None:
        with self.switch.lock:
            chan = self.switch.channels.get(target)
        if chan is None:
            return None

        def run() -> None:
            command = headers.get("call-command", "")
            if command == "hangup":
                self.switch.kill(chan.uuid, headers.get("hangup-cause", "NORMAL_CLEARING"))
            elif command == "execute" and chan.session is not None:
                chan.session.queue_execute(headers)

        return run

    # -- outbound sockets ---------------------------------------------------------------------

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
        return place_outbound_session(
            self.switch,
            self.event_socket,
            host,
            port,
            channel_vars,
            caller=caller,
            destination=destination,
            digits=digits,
            uuid=uuid,
            connect_timeout=connect_timeout,
        )
