"""Event templates taken from the real FreeSWITCH transcripts in ``tests/recordings``.

The double never invents an event layout: every event it sends is a recorded event (header names,
order, duplicates) with the values that identify the call replaced. That keeps the double and
real FreeSWITCH 1.10/1.11 from drifting apart; ``tests/test_esl_double.py`` checks it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from pbx.esl.protocol import Event, FrameParser, iter_events

RECORDINGS = Path(__file__).resolve().parent.parent / "recordings"

#: the channel variables our recorded originates set (recordings 02*): replaced by the caller's
RECORDED_ORIGINATE_VARS = (
    "origination_uuid",
    "pbx_job",
    "pbx_attempt",
    "origination_caller_id_number",
    "ignore_early_media",
    "originate_timeout",
)


@functools.cache
def frames(recording: str):
    parser = FrameParser()
    result = parser.feed((RECORDINGS / f"{recording}.server.raw").read_bytes())
    assert parser.buffered == 0, recording
    return tuple(result)


@functools.cache
def events(recording: str) -> tuple[Event, ...]:
    return tuple(iter_events(frames(recording)))


@dataclass(frozen=True)
class Template:
    """A recorded event plus the values that identified its call in the recording."""

    event: Event
    uuid: str | None
    channel_name: str | None
    destination: str | None
    caller: str | None

    @property
    def name(self) -> str:
        return self.event.name


def _template(event: Event, first: Event | None = None) -> Template:
    ref = first or event
    return Template(
        event=event,
        uuid=event.get("Unique-ID"),
        channel_name=event.get("Channel-Name"),
        destination=ref.get("Caller-Destination-Number"),
        caller=ref.get("Caller-Orig-Caller-ID-Number") or ref.get("Caller-ANI"),
    )


def _channel_templates(recording: str, first_name: str = "CHANNEL_CREATE") -> list[Template]:
    evs = [e for e in events(recording) if e.name not in ("BACKGROUND_JOB", "CUSTOM")]
    ref = next((e for e in evs if e.name == first_name), evs[0])
    return [_template(e, ref) for e in evs]


def _split_at_hangup(templates: list[Template]) -> tuple[list[Template], list[Template]]:
    i = next(i for i, t in enumerate(templates) if t.name == "CHANNEL_HANGUP")
    return templates[:i], templates[i:]


@functools.cache
def outbound_busy() -> tuple[list[Template], list[Template]]:
    """02b: before and from CHANNEL_HANGUP(USER_BUSY)."""
    return _split_at_hangup(_channel_templates("02b-originate-busy"))


@functools.cache
def outbound_no_answer() -> tuple[list[Template], list[Template]]:
    """02c: ringing (PROGRESS, CALLSTATE RINGING), then HANGUP(NO_ANSWER) onwards."""
    return _split_at_hangup(_channel_templates("02c-originate-no-answer"))


@functools.cache
def outbound_leg_timeout() -> tuple[list[Template], list[Template]]:
    """02e2: ``[leg_timeout=N]`` ends as ALLOTTED_TIMEOUT."""
    return _split_at_hangup(_channel_templates("02e2-flash-leg-timeout-1"))


@functools.cache
def outbound_killed_while_ringing() -> list[Template]:
    """02e3: uuid_kill during ringing (from CHANNEL_HANGUP)."""
    return _split_at_hangup(_channel_templates("02e3-flash-uuid-kill-0.5s"))[1]


@functools.cache
def outbound_answered() -> tuple[list[Template], list[Template], list[Template]]:
    """02d: ringing part, answer..park part, and the uuid_kill part (from CHANNEL_HANGUP)."""
    before, after = _split_at_hangup(_channel_templates("02d-originate-answer-park-kill"))
    i = next(i for i, t in enumerate(before) if t.name == "CHANNEL_ANSWER")
    return before[:i], before[i:], after


@functools.cache
def inbound_call() -> dict[str, Template]:
    """An inbound call answered and parked (04 + CHANNEL_CREATE from 08 + CHANNEL_HANGUP from
    05b, which is the caller hanging up)."""
    by_name = {t.name: t for t in _channel_templates("04-dtmf-rfc2833-event", "CHANNEL_ANSWER")}
    create = _channel_templates("08-event-json-simple-call")[0]
    hangup = next(t for t in outbound_socket_b() if t.name == "CHANNEL_HANGUP")
    return {**by_name, "CHANNEL_CREATE": create, "CHANNEL_HANGUP": hangup}


@functools.cache
def outbound_socket() -> list[Template]:
    """05: CHANNEL_DATA (the connect reply) and every event of the session."""
    evs = list(events("05-outbound-socket-session"))
    return [_template(e, evs[0]) for e in evs]


@functools.cache
def outbound_socket_b() -> list[Template]:
    """05b: the caller hangs up during playback; linger 3."""
    evs = list(events("05b-outbound-socket-caller-hangup-linger3"))
    return [_template(e, evs[0]) for e in evs]


def socket_event(name: str, application: str | None = None, recording: str = "05") -> Template:
    source = outbound_socket() if recording == "05" else outbound_socket_b()
    for t in source:
        if t.name == name and (application is None or t.event.get("Application") == application):
            return t
    raise KeyError((name, application))


@functools.cache
def record_events() -> dict[str, Template]:
    evs = [e for e in events("06-uuid-record-start-stop") if e.name.startswith("RECORD_")]
    return {e.name: _template(e) for e in evs[:2]}


@functools.cache
def registration(subclass: str) -> Event:
    recording = (
        "03b-register-expire-event"
        if subclass == "sofia::expire"
        else "03a-register-unregister-events"
    )
    return next(e for e in events(recording) if e.subclass == subclass)


@functools.cache
def background_job() -> Event:
    """BACKGROUND_JOB with Job-Command-Arg (02a)."""
    return events("02a-originate-unregistered-user")[0]


@functools.cache
def heartbeat() -> Event:
    return next(
        e for e in events("09-misc-commands-filters-heartbeat.main") if e.name == "HEARTBEAT"
    )


@functools.cache
def api_body(recording: str, index: int) -> bytes:
    """Body of the index-th api/response of a recording."""
    bodies = [f.body for f in frames(recording) if f.content_type == "api/response"]
    return bodies[index]


@functools.cache
def channel_row_template() -> dict[str, str]:
    import json

    body = api_body("01b-auth-api-bgapi-exit", 10)  # show channels as json, one call
    return json.loads(body)["rows"][0]


#: the envelope every event starts with (Event-Name .. Event-Sequence), from a BACKGROUND_JOB
ENVELOPE_NAMES = tuple(name for name, _ in background_job().pairs[:13])
