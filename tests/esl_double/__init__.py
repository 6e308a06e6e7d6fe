"""ESL test double: FreeSWITCH's Event Socket on 127.0.0.1:<random port>, shaped by the real
transcripts in ``tests/recordings``.

    with EslDouble(password="ClueCon") as fs:
        fs.register("1005")
        fs.answers_after("1005", 2)
        ... connect a client to fs.host:fs.port ...
        fs.wait_for_command("reloadxml", timeout=2)

Modules: ``framing`` (the socket: connections, auth, subscriptions, frames), ``switch`` (the
model: channels, calls, virtual clock, registrations, mod_callcenter's state), ``api`` (the API
commands, a table of handlers), ``outbound`` (outbound-socket sessions), ``server`` (the
:class:`EslDouble` that wires them together), ``templates`` (the recorded events).
"""

from .server import Channel, EslDouble, OutboundSession

__all__ = ["Channel", "EslDouble", "OutboundSession"]
