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
from collections.abc import Iterable, Iterator, Mapping
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
        buf = self._buf
        buf += data
        frames: list[Frame] = []
        pos = 0
        try:
            while True:
                if self._pending is None:
                    # FreeSWITCH never sends empty lines between frames, but tolerate them.
                    while buf[pos : pos + 1] == b"\n":
                        pos += 1
                    end = buf.find(b"\n\n", pos)
                    if end < 0:
                        if len(buf) - pos > MAX_HEADER_BLOCK:
                            raise ProtocolError("header block too large")
                        return frames
                    pairs = _envelope_pairs(bytes(buf[pos:end]))
                    pos = end + 2
                    self._pending = (pairs, _content_length(pairs))
                pairs, length = self._pending
                if len(buf) - pos < length:
                    return frames
                body = bytes(buf[pos : pos + length])
                pos += length
                self._pending = None
                frames.append(Frame(headers=_first_wins(pairs), body=body, header_list=pairs))
        finally:
            # one move of the remaining bytes per feed, not one per frame
            del buf[:pos]


_EVENT_HEAD = b"Content-Length: "
_EVENT_TAIL = b"\nContent-Type: text/event-plain"


def _envelope_pairs(block: bytes) -> tuple[tuple[str, str], ...]:
    """A frame's header block; the envelope of a plain event without a Python loop."""
    if block.startswith(_EVENT_HEAD) and block.endswith(_EVENT_TAIL):
        digits = block[len(_EVENT_HEAD) : -len(_EVENT_TAIL)]
        if digits.isdigit():
            return (("Content-Length", digits.decode()), ("Content-Type", "text/event-plain"))
    return tuple(_split_header_lines(block))


def _content_length(pairs: tuple[tuple[str, str], ...]) -> int:
    for name, value in pairs:
        if name == "Content-Length":
            try:
                length = int(value)
            except ValueError:
                raise ProtocolError(f"bad Content-Length {value!r}")
            if not 0 <= length <= MAX_BODY:
                raise ProtocolError(f"bad Content-Length {value!r}")
            return length
    return 0


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


def _split_header_text(block: str) -> tuple[list[str], list[str]]:
    """Names and raw values of a header block, in wire order, split exactly as
    :func:`_split_header_lines` splits each line (the name is what precedes the first colon,
    blanks around it stripped; the value what follows, less one leading space)."""
    text = block.strip("\n")
    columns = _fast_split(text) if text else ([], [])
    if columns is None:
        pairs = _split_header_lines(block.encode("utf-8"))
        columns = [name for name, _ in pairs], [value for _, value in pairs]
    return columns


def _fast_split(text: str) -> tuple[list[str], list[str]] | None:
    """Split a block in the usual shape with C string methods, or None if it is not in it.

    The usual shape: lines ``Name: value`` with no blank or colon in the name and one ``": "``
    per line, no empty line (what FreeSWITCH sends, since it URL-encodes values). An event has
    ~105 lines, and a Python loop over them was the cost of intake."""
    if (
        text[:1] == "\n"
        or text[-1:] == "\n"
        or "\x01" in text  # the marker below
        or "\t" in text  # blanks the careful path strips from names
        or "\r" in text
        or "\x0b" in text
        or "\x0c" in text
    ):
        return None
    count = text.count("\n") + 1
    # Each line boundary becomes a separator plus a marker that starts the next name.
    parts = text.replace("\n", ": \x01").split(": ")
    if len(parts) != 2 * count:
        return None
    joined = "".join(parts[0::2])
    names = joined.split("\x01")
    # Every marker landed on a name (so each line had exactly one ": "), and no name holds a
    # colon or a blank (so that ": " was the line's first colon).
    if len(names) != count or ":" in joined or " " in joined:
        return None
    return names, parts[1::2]


#: header lookups of one event answered by scanning the name list before it gets a dict
_SCANS_BEFORE_INDEX = 12


class _Headers(Mapping[str, str]):
    """An event's headers as a read-only first-value-wins mapping, decoded on access."""

    __slots__ = ("_event",)

    def __init__(self, event: Event) -> None:
        self._event = event

    def __getitem__(self, name: str) -> str:
        value = self._event.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return self._event.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._event

    def __iter__(self) -> Iterator[str]:
        return iter(self._event._unique_names())

    def __len__(self) -> int:
        return len(self._event._index())

    def __repr__(self) -> str:
        return repr(dict(self.items()))


class _Variables(Mapping[str, str]):
    """``variable_*`` headers without the prefix, decoded on access."""

    __slots__ = ("_event",)

    def __init__(self, event: Event) -> None:
        self._event = event

    def __getitem__(self, name: str) -> str:
        value = self._event.get("variable_" + name)
        if value is None:
            raise KeyError(name)
        return value

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return self._event.get("variable_" + name, default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and "variable_" + name in self._event

    def __iter__(self) -> Iterator[str]:
        return (name[9:] for name in self._event._unique_names() if name.startswith("variable_"))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return repr(dict(self.items()))


class Event:
    """A FreeSWITCH event: every header pair in order plus the body.

    Parsing is lazy: the header block is split into names and *raw* values once, and a value is
    URL-decoded only when somebody reads it (a CHANNEL_HANGUP_COMPLETE has about 105 headers
    and a flow reads a handful). :attr:`pairs` decodes everything, for the few callers that
    want every header. Build one with :func:`parse_event`; ``Event(pairs=...)`` takes decoded
    pairs, as before.
    """

    __slots__ = (
        "_names",
        "_values",
        "_raw",
        "_lookups",
        "_encoded",
        "_decoded",
        "_pairs",
        "_views",
        "body",
        "format",
    )

    def __init__(
        self,
        pairs: Iterable[tuple[str, str]] = (),
        body: str = "",
        format: str = "plain",
        *,
        encoded: bool = False,
    ) -> None:
        pairs = tuple(pairs)
        self._init([name for name, _ in pairs], [value for _, value in pairs], encoded)
        if not encoded:
            self._pairs = pairs
        self.body = body
        #: ``plain``, ``json`` or ``connect`` (the outbound-socket CHANNEL_DATA reply)
        self.format = format

    @classmethod
    def _from_columns(
        cls, names: list[str], values: list[str], *, body: str = "", format: str, encoded: bool
    ) -> Event:
        event = cls.__new__(cls)
        event._init(names, values, encoded)
        event.body = body
        event.format = format
        return event

    def _init(self, names: list[str], values: list[str], encoded: bool) -> None:
        self._names: list[str] = names
        self._values: list[str] = values
        # Name -> first raw value, built only once a flow reads many headers: until then a
        # lookup is a scan of the name list in C (no hashing of ~105 fresh strings per event).
        self._raw: dict[str, str] | None = None
        self._lookups = 0
        #: values still URL-encoded (plain events, connect replies)
        self._encoded = encoded
        self._decoded: dict[str, str] = {}
        self._pairs: tuple[tuple[str, str], ...] | None = None
        self._views: tuple[_Headers, _Variables] | None = None

    def _index(self) -> dict[str, str]:
        if self._raw is None:
            # first value wins: later duplicates are written first and overwritten by earlier
            self._raw = dict(zip(reversed(self._names), reversed(self._values), strict=True))
        return self._raw

    # -- values -------------------------------------------------------------------------------

    def _decode_value(self, raw: str) -> str:
        if not self._encoded or "%" not in raw:
            return raw
        value = self._decoded.get(raw)
        if value is None:
            value = self._decoded[raw] = url_decode_header_value(raw)
        return value

    def _unique_names(self) -> list[str]:
        """Header names in wire order of their first appearance."""
        return list(dict.fromkeys(self._names))

    def get(self, name: str, default: str | None = None) -> str | None:
        """First value of a header."""
        if self._raw is not None:
            raw = self._raw.get(name)
        else:
            self._lookups += 1
            if self._lookups > _SCANS_BEFORE_INDEX:
                raw = self._index().get(name)
            else:
                names = self._names
                # no exception for a miss: most lookups of pbx_* tags miss
                raw = self._values[names.index(name)] if name in names else None
        if raw is None:
            return default
        if self._encoded and "%" in raw:
            return self._decode_value(raw)
        return raw

    def get_all(self, name: str) -> list[str]:
        """Every value of a header, in wire order (``Hangup-Cause`` appears twice)."""
        return [
            self._decode_value(value)
            for key, value in zip(self._names, self._values, strict=True)
            if key == name
        ]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        """Every header pair in wire order, values decoded (decodes them all: avoid on hot paths)."""
        if self._pairs is None:
            decode = self._decode_value
            self._pairs = tuple(zip(self._names, map(decode, self._values), strict=True))
        return self._pairs

    def _view(self) -> tuple[_Headers, _Variables]:
        if self._views is None:
            self._views = (_Headers(self), _Variables(self))
        return self._views

    @property
    def headers(self) -> Mapping[str, str]:
        """First value of every header, as a read-only mapping decoded on access."""
        return self._view()[0]

    @property
    def variables(self) -> Mapping[str, str]:
        """Channel variables: ``variable_pbx_job: 42`` reads as ``{"pbx_job": "42"}``."""
        return self._view()[1]

    def subset(self, names: Iterable[str], prefix: str | None = None) -> dict[str, str]:
        """First values of `names` that are present, and of every header whose name starts
        with `prefix`, decoded: what a flow that needs a few dozen headers reads in one go."""
        raw = self._index()
        decode = self._decode_value
        picked = {name: decode(raw[name]) for name in names if name in raw}
        if prefix:
            for name in self._names:
                if name.startswith(prefix) and name not in picked:
                    picked[name] = decode(raw[name])
        return picked

    def header_names(self) -> list[str]:
        return list(self._names)

    # -- well-known headers --------------------------------------------------------------------

    @property
    def name(self) -> str:
        """``Event-Name`` (``CUSTOM`` for custom events: see :attr:`subclass`)."""
        return self.get("Event-Name") or ""

    @property
    def subclass(self) -> str | None:
        """``Event-Subclass`` of CUSTOM events, e.g. ``sofia::register``."""
        return self.get("Event-Subclass")

    @property
    def uuid(self) -> str | None:
        """The channel's ``Unique-ID`` (None for events that are not about a channel)."""
        return self.get("Unique-ID")

    @property
    def job_uuid(self) -> str | None:
        return self.get("Job-UUID")

    @property
    def sequence(self) -> int | None:
        value = self.get("Event-Sequence")
        return int(value) if value and value.isdigit() else None

    # -- value semantics (as the frozen dataclass this used to be) -----------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return (self.pairs, self.body, self.format) == (other.pairs, other.body, other.format)

    def __hash__(self) -> int:
        return hash((self.pairs, self.body, self.format))

    def __repr__(self) -> str:
        return f"Event(pairs={self.pairs!r}, body={self.body!r}, format={self.format!r})"


def _parse_plain_body(raw: bytes) -> Event:
    columns = None
    if raw.endswith(b"\n\n"):
        # Usually the block is all there is (no inner body): if it splits in the usual shape it
        # has no empty line, so it does end at the first blank line, and no search is needed.
        columns = _fast_split(_decode(raw[:-2]))
        rest = b""
    if columns is None:
        end = raw.find(b"\n\n")
        block, rest = (raw, b"") if end < 0 else (raw[:end], raw[end + 2 :])
        columns = _split_header_text(_decode(block))
    event = Event._from_columns(*columns, format="plain", encoded=True)
    length = event.get("Content-Length")
    if length is not None:
        try:
            event.body = _decode(rest[: int(length)])
        except ValueError:
            raise ProtocolError(f"bad inner Content-Length {length!r}")
    return event


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
        return _parse_plain_body(frame.body)
    if ctype == "text/event-json":
        pairs, body = _json_pairs(frame.body)
        return Event(pairs=tuple(pairs), body=body, format="json")
    if ctype == "command/reply" and "Event-Name" in frame.headers:
        return Event(frame.header_list, body=_decode(frame.body), format="connect", encoded=True)
    raise ProtocolError(f"not an event frame: Content-Type {ctype!r}")


def iter_events(frames: Iterable[Frame]) -> Iterator[Event]:
    """The events among ``frames``, decoded; replies and notices are skipped."""
    for frame in frames:
        if is_event_frame(frame):
            yield parse_event(frame)
