"""The ESL parser against every byte-exact transcript of a real FreeSWITCH."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pbx.esl.protocol import (
    DISCONNECT_NOTICE_BODY,
    Frame,
    FrameParser,
    ProtocolError,
    encode_plain_event_body,
    is_event_frame,
    iter_events,
    parse_event,
    url_decode_header_value,
    url_encode_header_value,
)

RECORDINGS = Path(__file__).parent / "recordings"
RAW_FILES = sorted(RECORDINGS.glob("*.server.raw"))

# frames per recording: a change here means the parser lost or invented a frame
EXPECTED_FRAME_COUNTS = {
    "01a-auth-wrong-password": 3,
    "01b-auth-api-bgapi-exit": 38,
    "02a-originate-unregistered-user": 7,
    "02a2-originate-unknown-user": 7,
    "02b-originate-busy": 20,
    "02c-originate-no-answer": 22,
    "02d-originate-answer-park-kill": 30,
    "02e1-flash-originate-timeout-1": 22,
    "02e2-flash-leg-timeout-1": 22,
    "02e3-flash-uuid-kill-0.5s": 23,
    "03a-register-unregister-events": 9,
    "03b-register-expire-event": 8,
    "03c-register-failure-attempt-events": 13,
    "04-dtmf-rfc2833-event": 9,
    "05-outbound-socket-session": 26,
    "05b-outbound-socket-caller-hangup-linger3": 20,
    "06-uuid-record-start-stop": 22,
    "07-callcenter-exit-key": 21,
    "08-event-json-simple-call": 13,
    "09-misc-commands-filters-heartbeat.main": 30,
    "09-misc-commands-filters-heartbeat.second": 7,
    "10-header-value-encoding": 12,
}


def frames_of(name: str) -> list[Frame]:
    parser = FrameParser()
    frames = parser.feed((RECORDINGS / f"{name}.server.raw").read_bytes())
    assert parser.buffered == 0
    return frames


def events_of(name: str):
    return list(iter_events(frames_of(name)))


def test_every_recording_is_covered():
    assert {p.name.removesuffix(".server.raw") for p in RAW_FILES} == set(EXPECTED_FRAME_COUNTS)


@pytest.mark.parametrize("path", RAW_FILES, ids=lambda p: p.name)
def test_recording_parses_into_whole_frames_in_one_read(path):
    parser = FrameParser()
    frames = parser.feed(path.read_bytes())
    assert len(frames) == EXPECTED_FRAME_COUNTS[path.name.removesuffix(".server.raw")]
    assert parser.buffered == 0
    for frame in frames:
        if "Content-Length" in frame.headers:
            assert len(frame.body) == int(frame.headers["Content-Length"])
        if is_event_frame(frame):
            assert parse_event(frame).name


@pytest.mark.parametrize("path", RAW_FILES, ids=lambda p: p.name)
def test_recording_parses_the_same_when_fed_one_byte_at_a_time(path):
    data = path.read_bytes()
    whole = FrameParser().feed(data)
    parser = FrameParser()
    pieces: list[Frame] = []
    for i in range(len(data)):
        pieces.extend(parser.feed(data[i : i + 1]))
    assert pieces == whole
    assert parser.buffered == 0


def test_partial_frame_waits_for_the_rest_of_its_body():
    parser = FrameParser()
    assert parser.feed(b"Content-Type: api/response\nContent-Length: 4\n\ntr") == []
    assert parser.feed(b"ue") == [
        Frame({"Content-Type": "api/response", "Content-Length": "4"}, b"true")
    ]


def test_garbage_header_line_is_a_protocol_error():
    with pytest.raises(ProtocolError):
        FrameParser().feed(b"no colon here\n\n")
    with pytest.raises(ProtocolError):
        FrameParser().feed(b"Content-Length: lots\n\n")


def test_envelope_values_are_kept_as_sent():
    frames = frames_of("01b-auth-api-bgapi-exit")
    assert frames[0].content_type == "auth/request"
    assert frames[1].headers == {"Content-Type": "command/reply", "Reply-Text": "+OK accepted"}
    assert frames[-1].content_type == "text/disconnect-notice"
    assert frames[-1].body == DISCONNECT_NOTICE_BODY
    assert len(DISCONNECT_NOTICE_BODY) == 67


def test_api_bodies_keep_their_exact_bytes():
    bodies = [
        f.body for f in frames_of("01b-auth-api-bgapi-exit") if f.content_type == "api/response"
    ]
    assert b"true" in bodies and b"false" in bodies
    assert b'{"row_count": 0}\n' in bodies
    assert b"last 5min 0 \n" in bodies[0]  # trailing space kept


def test_bgapi_reply_carries_the_job_uuid_header():
    reply = frames_of("01b-auth-api-bgapi-exit")[29]
    job = reply.headers["Job-UUID"]
    assert reply.headers["Reply-Text"] == f"+OK Job-UUID: {job}"
    assert [name for name, _ in reply.header_list] == ["Content-Type", "Reply-Text", "Job-UUID"]


@pytest.mark.parametrize(
    "recording, body",
    [
        ("02a-originate-unregistered-user", "-ERR USER_NOT_REGISTERED\n"),
        ("02a2-originate-unknown-user", "-ERR SUBSCRIBER_ABSENT\n"),
        ("02b-originate-busy", "-ERR USER_BUSY\n"),
        ("02c-originate-no-answer", "-ERR NO_ANSWER\n"),
        ("02e2-flash-leg-timeout-1", "-ERR ALLOTTED_TIMEOUT\n"),
        ("02e3-flash-uuid-kill-0.5s", "-ERR NORMAL_CLEARING\n"),
    ],
)
def test_background_job_body_carries_the_originate_result(recording, body):
    (job,) = [e for e in events_of(recording) if e.name == "BACKGROUND_JOB"]
    assert job.body == body
    assert job.get("Job-Command") == "originate"
    assert job.get("Job-Command-Arg").startswith("{origination_uuid=")


def test_answered_originate_reports_ok_and_the_uuid():
    events = events_of("02d-originate-answer-park-kill")
    (job,) = [e for e in events if e.name == "BACKGROUND_JOB"]
    create = next(e for e in events if e.name == "CHANNEL_CREATE")
    assert job.body == f"+OK {create.uuid}\n"


def test_hangup_complete_keeps_both_hangup_cause_headers():
    complete = next(
        e
        for e in events_of("02d-originate-answer-park-kill")
        if e.name == "CHANNEL_HANGUP_COMPLETE"
    )
    assert complete.get_all("Hangup-Cause") == ["NORMAL_CLEARING", "NORMAL_CLEARING"]
    assert complete.get("Hangup-Cause") == "NORMAL_CLEARING"
    assert complete.variables["pbx_job"] == "42"
    assert complete.variables["pbx_attempt"] == "1"
    assert complete.variables["billsec"] == "2"
    assert complete.get("Caller-Caller-ID-Number") == "100"
    assert complete.get("Caller-Orig-Caller-ID-Number") == "74950000001"
    assert complete.get("Caller-ANI") == "74950000001"
    assert complete.get("Channel-Name") == "sofia/external/100@127.0.0.1:5090"


def test_busy_hangup_variables_are_decoded():
    hangup = next(e for e in events_of("02b-originate-busy") if e.name == "CHANNEL_HANGUP")
    assert hangup.get("Hangup-Cause") == "USER_BUSY"
    assert hangup.variables["proto_specific_hangup_cause"] == "sip:486"
    assert hangup.variables["sip_term_status"] == "486"


def test_event_sequence_rises():
    seqs = [e.sequence for e in events_of("02b-originate-busy")]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_custom_event_has_name_and_subclass():
    register = events_of("03a-register-unregister-events")[0]
    assert register.name == "CUSTOM"
    assert register.subclass == "sofia::register"
    assert register.header_names()[0] == "Event-Subclass"
    assert register.get("expires") == "3600"
    assert register.uuid is None


def test_dtmf_event_has_no_channel_variables():
    dtmf = next(e for e in events_of("04-dtmf-rfc2833-event") if e.name == "DTMF")
    assert dtmf.get("DTMF-Digit") == "1"
    assert dtmf.variables == {}
    assert dtmf.uuid


def test_outbound_connect_reply_is_one_url_encoded_header_block():
    first = frames_of("05-outbound-socket-session")[0]
    assert first.body == b""
    assert first.headers["Reply-Text"] == "%2BOK%0A"
    data = parse_event(first)
    assert data.format == "connect"
    assert data.name == "CHANNEL_DATA"
    assert data.get("Reply-Text") == "+OK\n"
    assert data.get("Socket-Mode") == "async" and data.get("Control") == "full"
    assert data.header_names()[-4:] == ["Content-Type", "Reply-Text", "Socket-Mode", "Control"]
    assert data.variables["uuid"] == data.uuid


def test_play_and_get_digits_result_is_a_channel_variable():
    done = [
        e
        for e in events_of("05-outbound-socket-session")
        if e.name == "CHANNEL_EXECUTE_COMPLETE" and e.get("Application") == "play_and_get_digits"
    ]
    assert done[0].variables["pagd_digit"] == "1"
    playback = next(
        e
        for e in events_of("05-outbound-socket-session")
        if e.name == "CHANNEL_EXECUTE_COMPLETE" and e.get("Application") == "playback"
    )
    assert playback.get("Application-Response") == "FILE PLAYED"


def test_linger_disconnect_notice_has_an_empty_body():
    notice = frames_of("05-outbound-socket-session")[-1]
    assert notice.headers["Content-Disposition"] == "linger"
    assert notice.headers["Content-Length"] == "0"
    assert notice.body == b""


def test_json_events_keep_duplicate_keys_and_string_values():
    events = events_of("08-event-json-simple-call")
    complete = next(e for e in events if e.name == "CHANNEL_HANGUP_COMPLETE")
    assert complete.format == "json"
    assert len(complete.get_all("Hangup-Cause")) == 2
    assert all(isinstance(v, str) for _, v in complete.pairs)
    assert complete.sequence is not None
    job = next(e for e in events if e.name == "BACKGROUND_JOB")
    assert job.body.startswith("FreeSWITCH Version")
    assert "_body" not in job.headers


def test_json_values_are_strings_or_arrays_of_strings_for_multi_value_variables():
    arrays = []
    for frame in frames_of("08-event-json-simple-call"):
        if frame.content_type == "text/event-json":
            pairs = json.loads(frame.body, object_pairs_hook=lambda kv: kv)
            arrays += [(k, v) for k, v in pairs if not isinstance(v, str)]
            assert not frame.body.endswith(b"\n")
    assert arrays == [("variable_DP_MATCH", ["7777", "7777"])] * 2


def test_json_array_variable_reads_like_its_plain_form():
    answer = next(e for e in events_of("08-event-json-simple-call") if e.name == "CHANNEL_ANSWER")
    assert answer.variables["DP_MATCH"] == "ARRAY::7777|:7777"


ECHOED = "Привет a%41b c%zz x+y=z&q;r:s@t/u,v(w)~!*'\"<>#[]{}|^`\\ end"


def test_cyrillic_and_punctuation_round_trip_in_plain_and_json():
    plain, as_json = [
        e for e in events_of("10-header-value-encoding") if e.name == "BACKGROUND_JOB"
    ]
    assert plain.body == ECHOED
    assert as_json.body == ECHOED
    assert as_json.get("Job-Command-Arg") == ECHOED
    # a%41b was not double-encoded by FreeSWITCH, so decoding it yields "aAb" in plain form
    assert plain.get("Job-Command-Arg") == ECHOED.replace("a%41b", "aAb")


def raw_header(recording: str, name: str) -> str:
    data = (RECORDINGS / f"{recording}.server.raw").read_bytes().decode("utf-8")
    prefix = f"\n{name}: "
    start = data.index(prefix) + len(prefix)
    return data[start : data.index("\n", start)]


def test_encoder_reproduces_freeswitch_byte_for_byte():
    assert url_encode_header_value(ECHOED) == raw_header(
        "10-header-value-encoding", "Job-Command-Arg"
    )
    originate = (
        "{origination_uuid=2dd1d784-3237-4ba1-a7ea-77c8a5dd903e,pbx_job=42,pbx_attempt=1,"
        "origination_caller_id_number=74950000001,ignore_early_media=true,originate_timeout=10}"
        "user/1005 &park()"
    )
    assert url_encode_header_value(originate) == raw_header(
        "02a-originate-unregistered-user", "Job-Command-Arg"
    )


@pytest.mark.parametrize(
    "value, encoded",
    [
        ("", ""),
        ("a%41b", "a%41b"),
        ("c%zz", "c%25zz"),
        ("%4a", "%254a"),  # FreeSWITCH only recognises upper-case hex escapes
        ("%4", "%254"),
        ("50%", "50%25"),
        ("\r\n\t", "%0D%0A%09"),
        ("\x7f", "%7F"),
        ("/,()~!*'", "/,()~!*'"),
        ("sip:1001@127.0.0.1", "sip%3A1001%40127.0.0.1"),
    ],
)
def test_encoder_edge_cases(value, encoded):
    assert url_encode_header_value(value) == encoded


def test_recorded_plain_event_values_re_encode_to_the_same_bytes():
    # every value FreeSWITCH sent survives decode+encode unchanged (except already-encoded %XX)
    for recording in ("02d-originate-answer-park-kill", "03a-register-unregister-events"):
        for frame in frames_of(recording):
            if frame.content_type != "text/event-plain":
                continue
            event = parse_event(frame)
            pairs = [p for p in event.pairs if p[0] != "Content-Length"]
            assert encode_plain_event_body(pairs, event.body) == frame.body


def test_decoder_leaves_plus_alone():
    assert url_decode_header_value("1.11.3-dev%2Bgit+x") == "1.11.3-dev+git+x"


# --- lazy decoding: the fast split must agree with the line-by-line parser --------------------


def careful_pairs(block: bytes) -> list[tuple[str, str]]:
    """What the parser made of a plain event block before values were decoded lazily."""
    from pbx.esl.protocol import _split_header_lines

    return [(name, url_decode_header_value(value)) for name, value in _split_header_lines(block)]


def plain_frame(block: bytes) -> Frame:
    return Frame(headers={"Content-Type": "text/event-plain"}, body=block + b"\n\n")


@pytest.mark.parametrize(
    "block",
    [
        b"Event-Name: CHANNEL_ANSWER\nUnique-ID: abc\nvariable_x: a%3Ab%20c",
        b"A: 1\nA: 2\nB: first%0Avariable_pbx_flow%3A%20evil",  # first wins, no injection
        b"A:no-space\nB: x",  # a colon without the space
        b"A: x: y\nB: z",  # a value with ': ' (FreeSWITCH would have encoded it)
        b"garbage: \nA: x: y",  # lines that would misalign a naive split
        b" A : x\n\tB: y\nC :z",  # blanks around names are stripped
        b"A:\nB: \nC:  two",  # empty values, one leading space dropped only
        b"A: x\r\nB: y",  # CR stays in the value
        b"a:b: c\nd: e",  # the name ends at the first colon
        b"A: \x01x\nB: y",  # the fast path's own marker in a value
        "Имя: значение\nB: %D0%9F".encode(),
    ],
)
def test_events_read_the_same_as_the_line_by_line_parser(block):
    event = parse_event(plain_frame(block))
    expected = careful_pairs(block)
    assert list(event.pairs) == expected
    assert event.header_names() == [name for name, _ in expected]
    for name, _ in expected:
        first = next(v for n, v in expected if n == name)
        assert event.get(name) == first and event[name] == first and name in event
        assert event.get_all(name) == [v for n, v in expected if n == name]
    assert dict(event.headers) == {n: v for n, v in reversed(expected)}


def test_a_header_line_without_a_colon_is_refused_on_both_paths():
    for block in (b"A: x\ngarbage\nB: y", b"A: x\ngarbage\nB: y: z"):
        with pytest.raises(ProtocolError):
            parse_event(plain_frame(block))


def test_values_are_decoded_only_when_read_and_stay_decoded():
    event = parse_event(plain_frame(b"Event-Name: CUSTOM\nvariable_pbx_job: 4%32\nvariable_x: %41"))
    assert event._decoded == {}
    assert event.variables["pbx_job"] == "42"
    assert event._decoded == {"4%32": "42"}  # only what was read
    assert dict(event.variables) == {"pbx_job": "42", "x": "A"}
    assert "pbx_job" in event.variables and "pbx_nope" not in event.variables
    assert event.variables.get("nope") is None and len(event.variables) == 2


def test_a_huge_event_with_thousands_of_headers_parses_and_reads_lazily():
    lines = [f"variable_v{i}: {'%41' * 200}" for i in range(5000)]
    event = parse_event(plain_frame("\n".join(["Event-Name: HEARTBEAT", *lines]).encode()))
    assert event.name == "HEARTBEAT"
    assert event.get("variable_v4999") == "A" * 200
    assert len(event.headers) == 5001
