"""Builders for every ESL command string the product sends to FreeSWITCH.

Pure functions: each validates and returns the exact text, *without* the blank line that ends
an ESL command (the transport adds ``\\n\\n``). API commands are returned bare (``uuid_kill <u>``),
to be sent as ``api <cmd>`` or wrapped with :func:`bgapi`; ESL verbs (``event``, ``filter``,
``sendmsg``...) are returned whole.

Why the validation is strict rather than clever escaping:

- A CR or LF in any argument ends the ESL command early; what follows would be read as a second
  command (``...\\n\\napi system rm -rf``). Every builder rejects CR/LF.
- FreeSWITCH expands ``${var}`` and ``$${var}`` in originate variables, dial strings and
  application arguments (``${system(...)}`` style expansions run APIs), so ``$`` never reaches it
  from user-influenced parts.
- Originate variables are split on ``,`` (and ``^^<c>`` changes the separator), ``{}`` / ``[]`` /
  ``<>`` delimit variable blocks, ``|`` and ``:_:`` separate dial strings, ``'``/``"`` quoting
  rules differ between the originate parser and the application parser, and the API splits
  its arguments on whitespace. Escaping all of that correctly for every path is fragile, so
  values are limited to a conservative character set and anything else raises
  :class:`CommandError`. Callers validate business input earlier; this is the last line.
"""

from __future__ import annotations

import re
import uuid as uuid_module
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath

import phonenumbers

__all__ = [
    "RECORDINGS_ROOT",
    "SENDMSG_APPS",
    "CommandError",
    "application",
    "auth",
    "bgapi",
    "bridge_dial_string",
    "callcenter_agent_status",
    "callcenter_queue_reload",
    "conference_json_list",
    "conference_member",
    "e164",
    "event_plain",
    "gateway_target",
    "linger",
    "message_waiting",
    "myevents",
    "originate",
    "recording_path",
    "sendmsg_bridge",
    "sendmsg_execute",
    "show_channels_json",
    "user_target",
    "uuid_broadcast",
    "uuid_exists",
    "uuid_kill",
    "uuid_record",
    "uuid_setvar",
    "uuid_bridge",
    "xml_flush_cache",
]

#: Where call recordings live on every FreeSWITCH node; uuid_record paths must be under it.
RECORDINGS_ROOT = PurePosixPath("/var/lib/freeswitch/recordings")

#: Max length of any single argument (a dial string with variables stays far below this).
MAX_ARG = 512
#: Max length of a whole command made of validated parts (an originate whose answered leg hears a
#: prompt first carries the prompt's file list; FreeSWITCH's event socket has no smaller limit).
MAX_COMMAND = 2048


class CommandError(ValueError):
    """An argument cannot be put into an ESL command safely."""


# --------------------------------------------------------------------------- validators

_VAR_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")
# Conservative value charset: letters/digits (Unicode letters too, e.g. a Cyrillic caller name
# without spaces), and . _ - + : @ / * #. No $ , { } [ ] ' " | ^ < > & ; = % ! ( ) or whitespace.
_VALUE_PUNCT = frozenset("._-+:@/*#")
_DIGITS = re.compile(r"[0-9]{1,20}\Z")
_EXTENSION = re.compile(r"[0-9]{2,15}\Z")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")  # gateways, profiles, contexts
_HOST = re.compile(
    r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\Z"
)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
_CAUSE = re.compile(r"[A-Z][A-Z0-9_]{1,63}\Z")
_EVENT_NAME = re.compile(r"[A-Z][A-Z0-9_]{1,63}\Z")
_SUBCLASS = re.compile(r"[a-z][a-z0-9_]*::[a-z][a-z0-9_]*\Z")
_FILE_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\Z")
_DTMF_DIGITS = re.compile(r"[0-9*#]{1,32}\Z")


def _check_common(value: str, what: str, limit: int = MAX_ARG) -> str:
    if not isinstance(value, str):
        raise CommandError(f"{what}: expected a string, got {type(value).__name__}")
    if "\r" in value or "\n" in value:
        raise CommandError(f"{what}: CR/LF would inject ESL commands")
    if "$" in value:
        raise CommandError(f"{what}: '$' would be expanded by FreeSWITCH")
    if "\x00" in value:
        raise CommandError(f"{what}: NUL byte")
    if len(value) > limit:
        raise CommandError(f"{what}: longer than {limit} characters")
    return value


def _match(pattern: re.Pattern[str], value: object, what: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    _check_common(value, what)  # type: ignore[arg-type]
    if not pattern.match(value):  # type: ignore[arg-type]
        raise CommandError(f"{what}: {value!r} is not allowed here")
    return value  # type: ignore[return-value]


def _uuid(value: object, what: str = "uuid") -> str:
    text = str(value) if isinstance(value, uuid_module.UUID) else value
    return _match(_UUID, text, what).lower()


def _var_name(name: object) -> str:
    return _match(_VAR_NAME, name, "variable name")


def _var_value(value: object, what: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, uuid_module.UUID):
        return str(value)
    _check_common(value, what)  # type: ignore[arg-type]
    assert isinstance(value, str)
    if not value:
        raise CommandError(f"{what}: empty value (omit the variable instead)")
    for ch in value:
        if not (ch.isalnum() or ch in _VALUE_PUNCT):
            raise CommandError(f"{what}: character {ch!r} is not allowed in {value!r}")
    return value


def e164(number: str) -> str:
    """Validate a phone number given as ``+<country><number>`` and return its E.164 form."""
    _check_common(number, "phone number")
    if not number.startswith("+"):
        raise CommandError(f"phone number {number!r} must start with + (E.164)")
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException as exc:
        raise CommandError(f"phone number {number!r}: {exc}")
    if not phonenumbers.is_valid_number(parsed):
        raise CommandError(f"phone number {number!r} is not a valid number")
    result = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if result != number:
        raise CommandError(f"phone number {number!r} is not in E.164 form ({result})")
    return result


def _number(number: object, what: str = "number") -> str:
    """E.164 (with +, checked by phonenumbers) or plain digits (national/short numbers)."""
    if isinstance(number, int) and not isinstance(number, bool):
        number = str(number)
    if isinstance(number, str) and number.startswith("+"):
        return e164(number)
    return _match(_DIGITS, number, what)


def _words(items: Iterable[str] | str) -> list[str]:
    return [items] if isinstance(items, str) else list(items)


# --------------------------------------------------------------------------- dial targets


def user_target(extension: str | int, domain: str | None = None) -> str:
    """``user/<ext>[@domain]``: a directory user (rings its registrations)."""
    ext = _match(_EXTENSION, extension, "extension")
    if domain is None:
        return f"user/{ext}"
    return f"user/{ext}@{_match(_HOST, domain, 'domain')}"


def gateway_target(gateway: str, number: str | int) -> str:
    """``sofia/gateway/<gw>/<number>``: the PSTN via a configured gateway."""
    return f"sofia/gateway/{_match(_NAME, gateway, 'gateway')}/{_number(number)}"


# --------------------------------------------------------------------------- originate

#: Applications an originated leg may run (``&app(arg)``) and sendmsg may execute.
SENDMSG_APPS = frozenset(
    {
        "answer",
        "bridge",
        "echo",
        "hangup",
        "park",
        "play_and_get_digits",
        "playback",
        "pre_answer",
        "record_session",
        "ring_ready",
        "set",
        "sleep",
        "socket",
        "transfer",
        "export",
        "callcenter",
    }
)

# sendmsg application arguments may contain single spaces (play_and_get_digits takes nine
# arguments), tone_stream syntax (``tone_stream://%(200,100,440);loops=20``) and a digit regex
# (``\\d``), but never what FreeSWITCH expands (``$``), quotes, variable blocks or control chars.
_APP_ARG_FORBIDDEN = frozenset("${}[]|^'\"`<>&\r\n\t")


def _app_arg(arg: object, what: str = "application argument") -> str:
    if isinstance(arg, int) and not isinstance(arg, bool):
        arg = str(arg)
    _check_common(arg, what)  # type: ignore[arg-type]
    assert isinstance(arg, str)
    for ch in arg:
        if ch in _APP_ARG_FORBIDDEN or (not ch.isprintable()):
            raise CommandError(f"{what}: character {ch!r} is not allowed in {arg!r}")
    if "  " in arg or arg != arg.strip():
        raise CommandError(f"{what}: stray whitespace in {arg!r}")
    return arg


def _app_name(app: object) -> str:
    if not isinstance(app, str) or app not in SENDMSG_APPS:
        raise CommandError(f"application {app!r} is not on the allow-list")
    return app


def application(app: str, arg: str | int = "") -> str:
    """``&app(arg)``: the application an originated leg runs once answered."""
    name = _app_name(app)
    # inline: the originate parser splits on spaces and parentheses, so only plain values
    text = _var_value(arg, "application argument") if arg != "" else ""
    return f"&{name}({text})"


_ORIGINATE_APP = re.compile(r"&[a-z_]+\([^()\s]*\)\Z|[0-9]{1,20} XML [A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_TARGET = re.compile(
    r"(?:user/[0-9]{2,15}(?:@[A-Za-z0-9.-]+)?"
    r"|sofia/gateway/[A-Za-z0-9][A-Za-z0-9_.-]*/\+?[0-9]{1,20}"
    r"|loopback/\+?[0-9]{1,20}/[A-Za-z0-9][A-Za-z0-9_.-]*"
    r"|sofia/[a-z0-9_-]+/[0-9A-Za-z_.+-]+@[A-Za-z0-9.-]+(?::[0-9]{1,5})?)\Z"
)


def channel_variables(variables: Mapping[str, object]) -> str:
    """``name=value,name=value`` for ``{...}`` / ``[...]`` blocks, validated."""
    parts = []
    for name, value in variables.items():
        if value is None:
            continue
        parts.append(f"{_var_name(name)}={_var_value(value, f'variable {name}')}")
    return ",".join(parts)


def originate(
    dial_string_target: str,
    *,
    variables: Mapping[str, object] | None = None,
    app: str = "&park()",
    origination_uuid: str | uuid_module.UUID | None = None,
    leg_variables: Mapping[str, object] | None = None,
    on_answer: tuple[str, str] | None = None,
) -> str:
    """``originate {vars}target &app()``, e.g. (recording 02a)::

        originate {origination_uuid=...,pbx_job=42,pbx_attempt=1,
                   origination_caller_id_number=74950000001,ignore_early_media=true,
                   originate_timeout=10}user/1005 &park()

    ``origination_uuid`` (if given) comes first, then ``variables`` in their order. Build the
    target with :func:`user_target` / :func:`gateway_target` and the
    app with :func:`application`. ``leg_variables`` go in ``[...]``
    right before the target (e.g. ``leg_timeout``).

    ``on_answer=(app, arg)``: the answered leg runs ``app arg`` before the originate completes
    (``group_confirm_key=exec``, ``group_confirm_file='app arg'``; switch_ivr_originate.c runs it
    on the leg and only then reports success), e.g. a prompt the callee hears first. The value
    has a space, so it is single-quoted (the API's argument splitter keeps quoted text whole
    and strips the quotes); ``arg`` may hold no quote or comma (the ``{}`` separator).
    """
    _check_common(dial_string_target, "dial target")
    if not _TARGET.match(dial_string_target):
        raise CommandError(f"dial target {dial_string_target!r}: build it with *_target()")
    _check_common(app, "application")
    if not _ORIGINATE_APP.match(app):
        raise CommandError(f"application {app!r}: build it with application()")
    if app.startswith("&"):
        _app_name(app[1 : app.index("(")])
    ordered: dict[str, object] = {}
    if origination_uuid is not None:
        ordered["origination_uuid"] = _uuid(origination_uuid, "origination_uuid")
    for name, value in (variables or {}).items():
        if name == "origination_uuid":
            if origination_uuid is not None:
                raise CommandError("origination_uuid given twice")
            value = _uuid(value, "origination_uuid")
        ordered[name] = value
    block = channel_variables(ordered)
    if on_answer is not None:
        name, arg = on_answer
        arg = _app_arg(arg, "on_answer argument")
        if "," in arg or " " in arg:
            raise CommandError(f"on_answer argument {arg!r}: no commas or spaces")
        confirm = f"group_confirm_key=exec,group_confirm_file='{_app_name(name)} {arg}'"
        block = f"{block},{confirm}" if block else confirm
    head = f"{{{block}}}" if block else ""
    leg = channel_variables(leg_variables or {})
    if leg:
        head += f"[{leg}]"
    return f"originate {head}{dial_string_target} {app}"


# --------------------------------------------------------------------------- channel commands


def uuid_kill(uuid: str, cause: str | None = None) -> str:
    """``uuid_kill <uuid> [cause]``; FreeSWITCH's default cause is NORMAL_CLEARING."""
    text = f"uuid_kill {_uuid(uuid)}"
    return f"{text} {_match(_CAUSE, cause, 'hangup cause')}" if cause else text


def uuid_exists(uuid: str) -> str:
    """Answer is ``true`` / ``false`` (no LF)."""
    return f"uuid_exists {_uuid(uuid)}"


def recording_path(*parts: str, root: PurePosixPath = RECORDINGS_ROOT) -> str:
    """A file path under the recordings root from safe path components (no ``..``)."""
    if not parts:
        raise CommandError("recording path: no components")
    for part in parts:
        _match(_FILE_PART, part, "recording path component")
        if part in (".", "..") or ".." in part:
            raise CommandError(f"recording path component {part!r}")
    return str(root.joinpath(*parts))


def uuid_record(uuid: str, action: str, path: str, *, root: PurePosixPath = RECORDINGS_ROOT) -> str:
    """``uuid_record <uuid> start|stop <path>``; the path must be under ``root``."""
    if action not in ("start", "stop"):
        raise CommandError(f"uuid_record action {action!r}")
    _check_common(path, "recording path")
    pure = PurePosixPath(path)
    if not pure.is_absolute() or ".." in pure.parts or str(pure) != path:
        raise CommandError(f"recording path {path!r} must be absolute and normalised")
    try:
        rel = pure.relative_to(root)
    except ValueError:
        raise CommandError(f"recording path {path!r} is not under {root}")
    recording_path(*rel.parts, root=root)  # validates every component
    return f"uuid_record {_uuid(uuid)} {action} {path}"


def uuid_bridge(uuid: str, other_uuid: str) -> str:
    """``uuid_bridge <uuid> <other_uuid>``: connect two live (e.g. parked) channels."""
    first, second = _uuid(uuid), _uuid(other_uuid, "other uuid")
    if first == second:
        raise CommandError("cannot bridge a channel to itself")
    return f"uuid_bridge {first} {second}"


def uuid_broadcast(uuid: str, path: str, leg: str = "aleg") -> str:
    """``uuid_broadcast <uuid> <file> aleg|bleg|both`` for a sound file or ``tone_stream``."""
    if leg not in ("aleg", "bleg", "both"):
        raise CommandError(f"uuid_broadcast leg {leg!r}")
    _match(re.compile(r"[A-Za-z0-9_./:=@+%-]+\Z"), path, "sound path")
    if ".." in path:
        raise CommandError(f"sound path {path!r}")
    return f"uuid_broadcast {_uuid(uuid)} {path} {leg}"


def uuid_setvar(uuid: str, name: str, value: object) -> str:
    """``uuid_setvar <uuid> <name> <value>``."""
    return f"uuid_setvar {_uuid(uuid)} {_var_name(name)} {_var_value(value, f'variable {name}')}"


# --------------------------------------------------------------------------- system commands


def show_channels_json() -> str:
    """Empty: ``{"row_count": 0}\\n``; with rows: compact JSON without a final LF."""
    return "show channels as json"


def xml_flush_cache(section: str | None = None) -> str:
    """``xml_flush_cache [section]`` (FreeSWITCH flushes everything with fewer than 2 args)."""
    if section is None:
        return "xml_flush_cache"
    if section not in ("dialplan", "directory", "configuration", "phrases", "chatplan"):
        raise CommandError(f"xml_flush_cache section {section!r}")
    return f"xml_flush_cache {section}"


_QUEUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}@[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")


def callcenter_agent_status(agent_name: str) -> str:
    """``callcenter_config agent get status <agent>``: the status text without LF ("Available",
    "Logged Out", "On Break", "Available (On Demand)"), or ``-ERR Agent not found!\n``."""
    return f"callcenter_config agent get status {_match(_NAME, agent_name, 'agent name')}"


def callcenter_queue_reload(queue_name: str) -> str:
    """``callcenter_config queue reload <queue@domain>`` (answer ``+OK\\n``)."""
    return f"callcenter_config queue reload {_match(_QUEUE, queue_name, 'queue name')}"


# --------------------------------------------------------------------------- ESL verbs


_API_COMMAND = re.compile(r"[a-z_][a-z0-9_]*(?: [^\s].*)?\Z")


def message_waiting(extension: str | int, domain: str, *, new: int, saved: int) -> str:
    """``sendevent MESSAGE_WAITING`` for the phones registered as ``<extension>@<domain>``:
    mod_sofia turns it into a SIP NOTIFY (message-summary), the phone's message lamp."""
    ext = _match(_EXTENSION, extension, "extension")
    host = _match(_HOST, domain, "domain")
    counts = []
    for value in (new, saved):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 99_999:
            raise CommandError(f"message count {value!r}")
        counts.append(value)
    waiting = "yes" if counts[0] else "no"
    return (
        "sendevent MESSAGE_WAITING\n"
        f"MWI-Messages-Waiting: {waiting}\n"
        f"MWI-Message-Account: sip:{ext}@{host}\n"
        f"MWI-Voice-Message: {counts[0]}/{counts[1]} (0/0)"
    )


def bgapi(cmd: str, job_uuid: str) -> str:
    """``bgapi <cmd>`` with our own ``Job-UUID`` header (FreeSWITCH honours it)."""
    _check_common(cmd, "api command", MAX_COMMAND)
    if not _API_COMMAND.match(cmd):
        raise CommandError(f"api command {cmd!r}")
    return f"bgapi {cmd}\nJob-UUID: {_uuid(job_uuid, 'job uuid')}"


def _event_names(names: Iterable[str] | str) -> str:
    words = _words(names)
    if not words:
        raise CommandError("no event names")
    out = []
    custom = False
    for word in words:
        if word == "CUSTOM":
            custom = True
            out.append(word)
        elif custom and _SUBCLASS.match(word or ""):
            out.append(_match(_SUBCLASS, word, "event subclass"))
        else:
            out.append(_match(_EVENT_NAME, word, "event name"))
    return " ".join(out)


def event_plain(names: Iterable[str] | str) -> str:
    """``event plain <NAMES>``; subclasses follow ``CUSTOM`` (``CUSTOM sofia::register``)."""
    return f"event plain {_event_names(names)}"


def myevents(uuid: str | None = None, fmt: str = "plain") -> str:
    """``myevents`` on an outbound socket; ``myevents <uuid>`` ties an inbound one to a call."""
    if fmt not in ("plain", "json"):
        raise CommandError(f"event format {fmt!r}")
    if uuid is None:
        return "myevents" if fmt == "plain" else "myevents json"
    return f"myevents {_uuid(uuid)}" + ("" if fmt == "plain" else " json")


def linger(seconds: int | None = None) -> str:
    """``linger [seconds]``: keep the outbound socket open after hangup to get the last events."""
    if seconds is None:
        return "linger"
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 0 < seconds <= 3600:
        raise CommandError(f"linger seconds {seconds!r}")
    return f"linger {seconds}"


def auth(password: str) -> str:
    """``auth <password>``."""
    if not isinstance(password, str) or not password:
        raise CommandError("empty password")
    if any(ch in password for ch in "\r\n\x00") or password != password.strip():
        raise CommandError("password contains CR/LF, NUL or surrounding whitespace")
    return f"auth {password}"


def sendmsg_execute(
    app: str,
    arg: str | int = "",
    event_uuid: str | None = None,
    *,
    uuid: str | None = None,
    lock: bool = True,
) -> str:
    """The outbound-socket ``sendmsg`` block that runs one application, e.g.::

        sendmsg
        call-command: execute
        execute-app-name: playback
        execute-app-arg: /sounds/hello.wav
        event-lock: true
        Event-UUID: <uuid>

    ``event_uuid`` comes back as ``Application-UUID`` in CHANNEL_EXECUTE(_COMPLETE).
    ``uuid`` addresses another channel (``sendmsg <uuid>``; needed on inbound sockets).
    """
    lines = ["sendmsg" if uuid is None else f"sendmsg {_uuid(uuid)}", "call-command: execute"]
    lines.append(f"execute-app-name: {_app_name(app)}")
    if arg != "":
        lines.append(f"execute-app-arg: {_app_arg(arg)}")
    if lock:
        lines.append("event-lock: true")
    if event_uuid is not None:
        lines.append(f"Event-UUID: {_uuid(event_uuid, 'event uuid')}")
    return "\n".join(lines)


def bridge_dial_string(dial_string_target: str, variables: Mapping[str, object]) -> str:
    """``{vars}target`` for the ``bridge`` application: one target (build it with
    :func:`gateway_target` / :func:`user_target`), its channel variables validated like
    :func:`originate`'s, so a caller's input can only ever be the digits of the target."""
    _check_common(dial_string_target, "dial target")
    if not _TARGET.match(dial_string_target):
        raise CommandError(f"dial target {dial_string_target!r}: build it with *_target()")
    block = channel_variables(variables)
    return f"{{{block}}}{dial_string_target}" if block else dial_string_target


def sendmsg_bridge(
    dial_string_target: str,
    *,
    variables: Mapping[str, object],
    event_uuid: str | None = None,
) -> str:
    """The outbound-socket ``sendmsg`` that runs ``bridge {vars}target`` on the call, e.g.::

        sendmsg
        call-command: execute
        execute-app-name: bridge
        execute-app-arg: {origination_caller_id_number=420234234301,pbx_flow=fictive}sofia/gateway/pstn/+420777123456
        event-lock: true

    (:func:`sendmsg_execute` refuses braces in an argument; this is the one place they are
    built, from validated parts.)
    """
    lines = ["sendmsg", "call-command: execute", "execute-app-name: bridge"]
    lines.append(f"execute-app-arg: {bridge_dial_string(dial_string_target, variables)}")
    lines.append("event-lock: true")
    if event_uuid is not None:
        lines.append(f"Event-UUID: {_uuid(event_uuid, 'event uuid')}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- conference rooms
# (portal/conference: live members listed in the portal, muted or removed from it)

#: our conference names only: c<customer id>_r<room id> (pbx: never a name a customer typed)
_CONFERENCE = re.compile(r"c[1-9][0-9]{0,17}_r[1-9][0-9]{0,17}\Z")
_MEMBER_ID = re.compile(r"[1-9][0-9]{0,9}\Z")
CONFERENCE_MEMBER_ACTIONS = frozenset({"mute", "unmute", "kick"})


def conference_member(conference: str, action: str, member_id: int | str) -> str:
    """``conference <c12_r5> mute|unmute|kick <member id>`` (answers ``+OK mute 3``,
    ``+OK kicked 3``; an unknown room ``-ERR Conference c12_r5 not found``)."""
    if action not in CONFERENCE_MEMBER_ACTIONS:
        raise CommandError(f"conference member action {action!r}")
    name = _match(_CONFERENCE, conference, "conference name")
    return f"conference {name} {action} {_match(_MEMBER_ID, member_id, 'member id')}"


def conference_json_list() -> str:
    """``conference json_list``: every conference on the node with its members, as JSON."""
    return "conference json_list"
