"""FreeSWITCH Event Socket (ESL) wire format: framing, event parsing, header-value encoding.

Pure: no Django, no gevent, no sockets. The call-control adapter (greenswitch) and the ESL test
double both build on it, and tests replay the real transcripts in ``tests/recordings`` through it.

Wire facts this module relies on (see ``tests/recordings/README.md``):

- A frame is a block of ``Name: value\\n`` header lines ended by an empty line. If the block has
  ``Content-Length: N``, exactly N body bytes follow (the body need not end in LF).
- Envelope header values (``Reply-Text: +OK accepted``) are sent as they are. Header values
  *inside* a ``text/event-plain`` body, and in the outbound-socket ``connect`` reply, are
  URL-encoded (upper-case ``%XX``), see :func:`url_encode_header_value`.
- A plain event body is ``Name: value\\n`` lines ended by ``\\n``; events that carry a body
  (BACKGROUND_JOB) end their headers with ``Content-Length: M\\n\\n`` followed by M bytes.
- A JSON event is one JSON object whose values are strings (multi-value variables such as
  ``variable_DP_MATCH`` are arrays of strings, ``ARRAY::a|:b`` in plain form); the body is
  under ``_body``.
  ``CHANNEL_HANGUP_COMPLETE`` carries ``Hangup-Cause`` twice, in both forms, so events keep
  every header pair in order and offer a first-value-wins mapping on top.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote

__all__ = [
    "DISCONNECT_NOTICE_BODY",
    "Event",
    "Frame",
    "FrameParser",
    "ProtocolError",
    "encode_frame",
    "encode_plain_event_body",
    "is_event_frame",
    "iter_events",
    "parse_event",
    "url_decode_header_value",
    "url_encode_header_value",
]

#: The fixed 67-byte body of ``text/disconnect-notice`` after ``exit`` or a failed ``auth``.
DISCONNECT_NOTICE_BODY = b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"

#: Refuse absurd frames instead of buffering forever (the largest recorded event is ~10 KB).
MAX_HEADER_BLOCK = 1024 * 1024
MAX_BODY = 64 * 1024 * 1024

_URL_UNSAFE = frozenset(b' "#%&+:;<=>?@[\\]^`{|}')
_UPPER_HEX = frozenset(b"0123456789ABCDEF")
_HEX_DIGITS = "0123456789ABCDEF"


class ProtocolError(ValueError):
    """The peer sent bytes that are not ESL."""


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Frame:
    """One ESL frame: envelope headers (values exactly as sent) and the raw body bytes."""

    headers: dict[str, str]
    body: bytes = b""
    #: every envelope header in wire order, duplicates included
    header_list: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)


def _split_header_lines(block: bytes) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for line in block.split(b"\n"):
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise ProtocolError(f"header line without a colon: {line[:80]!r}")
        if value.startswith(b" "):
            value = value[1:]
        pairs.append((_decode(name.strip()), _decode(value)))
    return pairs


def _first_wins(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    view: dict[str, str] = {}
    for name, value in pairs:
        view.setdefault(name, value)
    return view


class FrameParser:
    """Incremental ESL frame parser: feed it whatever ``recv`` returned, get complete frames.

    Works at any byte boundary, including in the middle of a header line, of the blank line
    that ends the headers, or of a body.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pending: tuple[tuple[tuple[str, str], ...], int] | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        while True:
            frame = self._next_frame()
            if frame is None:
                return frames
            frames.append(frame)

    def _next_frame(self) -> Frame | None:
        if self._pending is None:
            # FreeSWITCH never sends empty lines between frames, but tolerate them.
            while self._buf[:1] == b"\n":
                del self._buf[:1]
            end = self._buf.find(b"\n\n")
            if end < 0:
                if len(self._buf) > MAX_HEADER_BLOCK:
                    raise ProtocolError("header block too large")
                return None
            pairs = tuple(_split_header_lines(bytes(self._buf[:end])))
            del self._buf[: end + 2]
            length = 0
            for name, value in pairs:
                if name == "Content-Length":
                    try:
                        length = int(value)
                    except ValueError:
                        raise ProtocolError(f"bad Content-Length {value!r}")
                    if not 0 <= length <= MAX_BODY:
                        raise ProtocolError(f"bad Content-Length {value!r}")
                    break
            self._pending = (pairs, length)
        pairs, length = self._pending
        if len(self._buf) < length:
            return None
        body = bytes(self._buf[:length])
        del self._buf[:length]
        self._pending = None
        return Frame(headers=_first_wins(pairs), body=body, header_list=pairs)


def encode_frame(headers: Iterable[tuple[str, str]], body: bytes = b"") -> bytes:
    """Serialise a frame. Headers are written in the given order, values as they are.

    The caller decides where ``Content-Length`` goes (FreeSWITCH puts it first for events and
    second for ``api/response``), so this function does not add one.
    """
    head = "".join(f"{name}: {value}\n" for name, value in headers)
    return head.encode("utf-8") + b"\n" + body


# --------------------------------------------------------------------------- header values


def url_encode_header_value(value: str) -> str:
    """Encode a header value exactly as FreeSWITCH's ``switch_url_encode`` does for events.

    Escapes bytes < 0x20 and > 0x7E and ``space " # % & + : ; < = > ? @ [ \\ ] ^ ` { | }`` as
    upper-case ``%XX`` (UTF-8 bytes one by one); leaves ``/ , ( ) ~ ! * '`` and alphanumerics
    alone; and does not encode the ``%`` of an existing escape (``%`` followed by two
    *upper-case* hex digits, as FreeSWITCH checks against ``"0123456789ABCDEF"``).
    """
    raw = value.encode("utf-8")
    out: list[str] = []
    n = len(raw)
    for i, byte in enumerate(raw):
        if byte == 0x25 and i + 2 < n and raw[i + 1] in _UPPER_HEX and raw[i + 2] in _UPPER_HEX:
            out.append("%")
        elif byte < 0x20 or byte > 0x7E or byte in _URL_UNSAFE:
            out.append("%" + _HEX_DIGITS[byte >> 4] + _HEX_DIGITS[byte & 0xF])
        else:
            out.append(chr(byte))
    return "".join(out)


def url_decode_header_value(value: str) -> str:
    """Undo :func:`url_encode_header_value` (``+`` stays ``+``, as FreeSWITCH never uses it)."""
    return unquote(value, encoding="utf-8", errors="replace")


def encode_plain_event_body(headers: Iterable[tuple[str, str]], body: str | bytes = b"") -> bytes:
    """The body of a ``text/event-plain`` frame: encoded header lines, then the event body.

    With a body, the header lines end with ``Content-Length: M`` (M bytes of body follow the
    blank line), exactly like BACKGROUND_JOB.
    """
    if isinstance(body, str):
        body = body.encode("utf-8")
    lines = "".join(f"{name}: {url_encode_header_value(value)}\n" for name, value in headers)
    if body:
        lines += f"Content-Length: {len(body)}\n"
    return lines.encode("utf-8") + b"\n" + body


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class Event:
    """A decoded FreeSWITCH event: every header pair in order (values decoded) plus the body."""

    pairs: tuple[tuple[str, str], ...]
    body: str = ""
    #: ``plain``, ``json`` or ``connect`` (the outbound-socket CHANNEL_DATA reply)
    format: str = "plain"
    headers: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", _first_wins(self.pairs))

    @property
    def name(self) -> str:
        """``Event-Name`` (``CUSTOM`` for custom events: see :attr:`subclass`)."""
        return self.headers.get("Event-Name", "")

    @property
    def subclass(self) -> str | None:
        """``Event-Subclass`` of CUSTOM events, e.g. ``sofia::register``."""
        return self.headers.get("Event-Subclass")

    @property
    def uuid(self) -> str | None:
        """The channel's ``Unique-ID`` (None for events that are not about a channel)."""
        return self.headers.get("Unique-ID")

    @property
    def job_uuid(self) -> str | None:
        return self.headers.get("Job-UUID")

    @property
    def sequence(self) -> int | None:
        value = self.headers.get("Event-Sequence")
        return int(value) if value and value.isdigit() else None

    def get(self, name: str, default: str | None = None) -> str | None:
        """First value of a header."""
        return self.headers.get(name, default)

    def get_all(self, name: str) -> list[str]:
        """Every value of a header, in wire order (``Hangup-Cause`` appears twice)."""
        return [value for key, value in self.pairs if key == name]

    def __contains__(self, name: object) -> bool:
        return name in self.headers

    def __getitem__(self, name: str) -> str:
        return self.headers[name]

    @property
    def variables(self) -> dict[str, str]:
        """Channel variables: ``variable_pbx_job: 42`` becomes ``{"pbx_job": "42"}``."""
        prefix = "variable_"
        return {
            key[len(prefix) :]: value
            for key, value in self.headers.items()
            if key.startswith(prefix)
        }

    def header_names(self) -> list[str]:
        return [key for key, _ in self.pairs]


def _parse_plain_body(raw: bytes) -> tuple[list[tuple[str, str]], str]:
    end = raw.find(b"\n\n")
    block, rest = (raw, b"") if end < 0 else (raw[:end], raw[end + 2 :])
    pairs = [(name, url_decode_header_value(value)) for name, value in _split_header_lines(block)]
    body = b""
    for name, value in pairs:
        if name == "Content-Length":
            try:
                body = rest[: int(value)]
            except ValueError:
                raise ProtocolError(f"bad inner Content-Length {value!r}")
            break
    return pairs, _decode(body)


def _json_pairs(raw: bytes) -> tuple[list[tuple[str, str]], str]:
    try:
        obj = json.loads(raw.decode("utf-8"), object_pairs_hook=lambda kv: kv)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"bad event-json body: {exc}")
    if not isinstance(obj, list):
        raise ProtocolError("event-json body is not an object")
    pairs: list[tuple[str, str]] = []
    body = ""
    for key, value in obj:
        if isinstance(value, str):
            text = value
        elif isinstance(value, list):
            # multi-value variables (variable_DP_MATCH) are JSON arrays; plain form is ARRAY::a|:b
            text = "ARRAY::" + "|:".join(str(item) for item in value)
        else:
            text = json.dumps(value, ensure_ascii=False)
        if key == "_body":
            body = text
        else:
            pairs.append((key, text))
    return pairs, body


def is_event_frame(frame: Frame) -> bool:
    """True for frames :func:`parse_event` understands."""
    ctype = frame.content_type
    if ctype in ("text/event-plain", "text/event-json"):
        return True
    return ctype == "command/reply" and "Event-Name" in frame.headers


def parse_event(frame: Frame) -> Event:
    """Decode an event frame: ``text/event-plain``, ``text/event-json``, or the ``connect``
    reply of an outbound socket (a ``command/reply`` whose header block is the channel data)."""
    ctype = frame.content_type
    if ctype == "text/event-plain":
        pairs, body = _parse_plain_body(frame.body)
        return Event(pairs=tuple(pairs), body=body, format="plain")
    if ctype == "text/event-json":
        pairs, body = _json_pairs(frame.body)
        return Event(pairs=tuple(pairs), body=body, format="json")
    if ctype == "command/reply" and "Event-Name" in frame.headers:
        pairs = tuple((k, url_decode_header_value(v)) for k, v in frame.header_list)
        return Event(pairs=pairs, body=_decode(frame.body), format="connect")
    raise ProtocolError(f"not an event frame: Content-Type {ctype!r}")


def iter_events(frames: Iterable[Frame]) -> Iterator[Event]:
    """The events among ``frames``, decoded; replies and notices are skipped."""
    for frame in frames:
        if is_event_frame(frame):
            yield parse_event(frame)
