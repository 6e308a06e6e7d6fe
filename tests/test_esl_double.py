"""The ESL test double against the real FreeSWITCH transcripts in tests/recordings.

Replies are compared byte for byte (after replacing UUIDs, dates, sequence numbers and lengths);
events are compared by their header-name sequences. No sleeps: every wait has a timeout.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import uuid as uuid_module
from pathlib import Path

import pytest

from pbx.esl import commands
from pbx.esl.protocol import Frame, FrameParser, is_event_frame, parse_event
from tests.esl_double import EslDouble
from tests.esl_double import templates as T
from tests.esl_double.client import RawClient

RECORDINGS = Path(__file__).parent / "recordings"
ROOT = Path(__file__).resolve().parent.parent

ALL_CHANNEL_EVENTS = (
    "BACKGROUND_JOB CHANNEL_CREATE CHANNEL_OUTGOING CHANNEL_ORIGINATE CHANNEL_PROGRESS "
    "CHANNEL_PROGRESS_MEDIA CHANNEL_ANSWER CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE CHANNEL_PARK "
    "CHANNEL_UNPARK CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE CHANNEL_DESTROY CHANNEL_STATE "
    "CHANNEL_CALLSTATE"
)
UUID_RE = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def normalise(data: bytes) -> bytes:
    data = UUID_RE.sub(b"<uuid>", data)
    data = re.sub(rb"(Event-Date-(?:Local|GMT|Timestamp): )[^\n]*", rb"\1<date>", data)
    data = re.sub(rb"(Event-Sequence: )\d+", rb"\1<seq>", data)
    return re.sub(rb"(Content-Length: )\d+", rb"\1<n>", data)


def transcript(name: str) -> list[tuple[str, bytes]]:
    """(client command, server bytes that followed it) from an annotated .txt transcript."""
    segments: list[tuple[str, bytes]] = [("", b"")]
    command: list[str] = []
    server = bytearray()
    with open(RECORDINGS / f"{name}.txt", "rb") as fh:
        for line in fh:
            if line.startswith(b">>> "):
                if server or not command:
                    segments[-1] = (segments[-1][0], bytes(server))
                    server = bytearray()
                text = line[4:].rstrip(b"\n").decode("utf-8")
                if text:
                    command.append(text)
                else:
                    segments.append(("\n".join(command), b""))
                    command = []
            elif line.startswith(b"### "):
                if line.startswith(b"### ^ body above ends without LF"):
                    del server[-1:]
            else:
                server += line
    segments[-1] = (segments[-1][0], bytes(server))
    return segments


def replies_of(name: str) -> dict[str, bytes]:
    """First reply to each distinct command."""
    result: dict[str, bytes] = {}
    for cmd, data in transcript(name):
        if cmd:
            result.setdefault(cmd, data)
    return result


@pytest.fixture
def fs():
    with EslDouble(password="ClueCon") as double:
        yield double


@pytest.fixture
def client(fs):
    c = RawClient(fs.host, fs.port)
    assert c.login().headers["Reply-Text"] == "+OK accepted"
    yield c
    c.close()


def frame_bytes(frame: Frame) -> bytes:
    head = "".join(f"{k}: {v}\n" for k, v in frame.header_list).encode("utf-8")
    return head + b"\n" + frame.body


def test_transcript_reader_rebuilds_the_raw_stream():
    for txt in RECORDINGS.glob("*.txt"):
        name = txt.name.removesuffix(".txt")
        if name.startswith("09"):
            continue  # two connections in one transcript
        rebuilt = b"".join(data for _, data in transcript(name))
        assert rebuilt == (RECORDINGS / f"{name}.server.raw").read_bytes(), name


# --------------------------------------------------------------------------- inbound basics


def test_wrong_password_gives_the_recorded_bytes_and_a_closed_socket(fs):
    c = RawClient(fs.host, fs.port)
    c.send("auth WrongPassword")
    assert c.wait_closed(timeout=2)
    assert bytes(c.raw) == (RECORDINGS / "01a-auth-wrong-password.server.raw").read_bytes()


def test_good_password_gives_the_recorded_bytes(fs):
    c = RawClient(fs.host, fs.port)
    c.login()
    expected = replies_of("01b-auth-api-bgapi-exit")
    assert bytes(c.raw) == transcript("01b-auth-api-bgapi-exit")[0][1] + expected["auth ClueCon"]


DETERMINISTIC_01B = [
    "api version",
    "api show channels as json",
    "api show channels",
    "api show registrations as json",
    "api uuid_exists fdc82ad8-ebff-4e36-8d52-4b92172849a2",
    "api uuid_kill aa6ee49e-fdc6-4496-a571-71ca5334dc0d",
    "api reloadxml",
    "api xml_flush_cache dialplan",
    "api xml_flush_cache id 1001 127.0.0.1",
    "api xml_flush_cache",
    "api bogus_command",
    "api bogus_command with some args",
    "api ",
    "bogus_esl_command",
    "event plain BACKGROUND_JOB",
    "noevents",
    "api sofia status",
]

DETERMINISTIC_09 = [
    "event plain NO_SUCH_EVENT",
    "event plain",
    "event xml BACKGROUND_JOB",
    "event plain HEARTBEAT CHANNEL_CREATE",
    "nixevent CHANNEL_CREATE",
    "filter Unique-ID 0ce64c4e-68cd-4528-b7c2-df824e7424a1",
    "filter Event-Name HEARTBEAT",
    "filter delete Unique-ID 0ce64c4e-68cd-4528-b7c2-df824e7424a1",
    "filter delete Event-Name HEARTBEAT",
    "filter delete",
    "sendmsg 0ce64c4e-68cd-4528-b7c2-df824e7424a1\ncall-command: hangup\nhangup-cause: NORMAL_CLEARING",
    "api uuid_getvar 0ce64c4e-68cd-4528-b7c2-df824e7424a1 pbx_job",
    "api uuid_setvar 0ce64c4e-68cd-4528-b7c2-df824e7424a1 pbx_job 43",
    "api uuid_transfer 0ce64c4e-68cd-4528-b7c2-df824e7424a1 7777 XML public",
    "api hupall NORMAL_CLEARING pbx_job 42",
    "api global_getvar domain",
    "api eval ${domain}",
]


@pytest.mark.parametrize(
    "recording, command",
    [("01b-auth-api-bgapi-exit", c) for c in DETERMINISTIC_01B]
    + [("09-misc-commands-filters-heartbeat", c) for c in DETERMINISTIC_09],
)
def test_reply_is_byte_identical_to_the_recording(client, recording, command):
    expected = replies_of(recording)[command]
    assert frame_bytes(client.reply(command)) == expected


def test_commands_before_auth_are_not_found_and_the_connection_stays_open(fs):
    c = RawClient(fs.host, fs.port)
    c.next_frame()
    expected = replies_of("09-misc-commands-filters-heartbeat")
    assert frame_bytes(c.reply("api status")) == expected["api status"]
    assert frame_bytes(c.reply("event plain ALL")) == expected["event plain ALL"]
    assert c.reply("auth ClueCon").headers["Reply-Text"] == "+OK accepted"


def test_myevents_twice_is_refused_like_freeswitch(client):
    expected = replies_of("09-misc-commands-filters-heartbeat")
    u = "0ce64c4e-68cd-4528-b7c2-df824e7424a1"
    assert frame_bytes(client.reply(f"myevents {u}")) == expected[f"myevents {u}"]
    assert client.reply(f"myevents {u}").headers["Reply-Text"] == "-ERR aready enabled."


def test_exit_says_bye_sends_the_disconnect_notice_and_closes(client):
    client.send("exit")
    assert client.wait_closed(timeout=2)
    assert bytes(client.raw).endswith(replies_of("01b-auth-api-bgapi-exit")["exit"])


def test_api_status_has_the_recorded_shape(client):
    body = client.reply("api status").body.decode()
    recorded = T.api_body("01b-auth-api-bgapi-exit", 0).decode()
    shape = lambda text: re.sub(r"\d+(\.\d+)?", "N", text)  # noqa: E731
    assert shape(body) == shape(recorded)
    assert body.splitlines()[1].endswith("is ready")


def test_bgapi_honours_the_job_uuid_and_sends_background_job(client):
    client.reply("event plain BACKGROUND_JOB")
    job = str(uuid_module.uuid4())
    r = client.reply(commands.bgapi("version", job))
    assert (
        frame_bytes(r)
        == f"Content-Type: command/reply\nReply-Text: +OK Job-UUID: {job}\nJob-UUID: {job}\n\n".encode()
    )
    ev = client.next_event()
    assert ev.name == "BACKGROUND_JOB" and ev.job_uuid == job
    assert ev.body == T.api_body("01b-auth-api-bgapi-exit", 1).decode()
    recorded = next(
        e for e in T.events("01b-auth-api-bgapi-exit") if e.get("Job-Command") == "version"
    )
    assert ev.header_names() == recorded.header_names()


def test_bgapi_without_job_uuid_generates_one_and_bogus_fails_in_the_body(client):
    client.reply("event plain BACKGROUND_JOB")
    r = client.reply("bgapi bogus_command")
    job = r.headers["Job-UUID"]
    assert r.headers["Reply-Text"] == f"+OK Job-UUID: {job}"
    ev = client.next_event()
    assert (ev.job_uuid, ev.body) == (job, "-ERR bogus_command Command not found!\n")


def test_header_values_are_encoded_exactly_like_freeswitch(client):
    client.reply("event plain BACKGROUND_JOB")
    arg = "Привет a%41b c%zz x+y=z&q;r:s@t/u,v(w)~!*'\"<>#[]{}|^`\\ end"
    client.reply(f"bgapi eval {arg}")
    frame = client.next_frame()
    recorded = [
        f for f in T.frames("10-header-value-encoding") if f.content_type == "text/event-plain"
    ][0]
    assert (
        normalise(frame_bytes(frame)).split(b"Job-UUID")[1:]
        == normalise(frame_bytes(recorded)).split(b"Job-UUID")[1:]
    )


def test_json_background_job_matches_the_recording(client):
    client.reply("event json BACKGROUND_JOB")
    arg = "Привет a%41b c%zz x+y=z&q;r:s@t/u,v(w)~!*'\"<>#[]{}|^`\\ end"
    client.reply(f"bgapi eval {arg}")
    frame = client.next_frame()
    recorded = [
        f for f in T.frames("10-header-value-encoding") if f.content_type == "text/event-json"
    ][0]
    ours = json.loads(frame.body, object_pairs_hook=lambda kv: kv)
    theirs = json.loads(recorded.body, object_pairs_hook=lambda kv: kv)
    assert [k for k, _ in ours] == [k for k, _ in theirs]
    assert dict(ours)["_body"] == dict(theirs)["_body"]
    assert dict(ours)["Job-Command-Arg"] == dict(theirs)["Job-Command-Arg"]
    assert all(isinstance(v, str) for _, v in ours)
    assert [k for k, _ in frame.header_list] == ["Content-Length", "Content-Type"]
    assert "Привет".encode() in frame.body  # raw UTF-8, no \u escapes


# --------------------------------------------------------------------------- originate


def recorded_originate(name: str) -> str:
    cmd = next(c for c, _ in transcript(name) if c.startswith("bgapi originate"))
    return cmd.removeprefix("bgapi ")


def fresh(cmd: str) -> tuple[str, str]:
    new = str(uuid_module.uuid4())
    return re.sub(r"origination_uuid=[0-9a-f-]+", f"origination_uuid={new}", cmd), new


def run_originate(fs, client, recording: str):
    client.reply(f"event plain {ALL_CHANNEL_EVENTS}")
    cmd, uuid = fresh(recorded_originate(recording))
    reply = client.reply(f"bgapi {cmd}")
    assert reply.headers["Reply-Text"].startswith("+OK Job-UUID: ")
    return uuid, reply.headers["Job-UUID"]


def event_shapes(events) -> list[tuple[str, list[str]]]:
    return [(e.name, e.header_names()) for e in events]


@pytest.mark.parametrize(
    "recording, setup",
    [
        ("02a-originate-unregistered-user", lambda fs: fs.set_unregistered("1005")),
        ("02a2-originate-unknown-user", lambda fs: None),
    ],
)
def test_originate_that_never_creates_a_channel_only_sends_background_job(
    fs, client, recording, setup
):
    setup(fs)
    run_originate(fs, client, recording)
    frame = client.next_frame()
    (recorded,) = [f for f in T.frames(recording) if f.content_type == "text/event-plain"]
    assert normalise(frame_bytes(frame)) == normalise(frame_bytes(recorded))
    assert client.reply("api show channels as json").body == b'{"row_count": 0}\n'


def until_destroyed(client):
    return client.events_until(
        lambda e: e.name == "CHANNEL_STATE" and e.get("Channel-State") == "CS_DESTROY"
    )


def test_busy_callee_gives_the_recorded_event_sequence(fs, client):
    fs.set_busy("100")
    uuid, job = run_originate(fs, client, "02b-originate-busy")
    ours = until_destroyed(client)
    theirs = T.events("02b-originate-busy")
    assert event_shapes(ours) == event_shapes(theirs)
    bg = next(e for e in ours if e.name == "BACKGROUND_JOB")
    assert (bg.job_uuid, bg.body) == (job, "-ERR USER_BUSY\n")
    hangup = next(e for e in ours if e.name == "CHANNEL_HANGUP")
    assert hangup.uuid == uuid and hangup.get("Hangup-Cause") == "USER_BUSY"
    assert hangup.variables["pbx_job"] == "42" and hangup.variables["sip_term_status"] == "486"


def test_no_answer_after_originate_timeout_gives_the_recorded_event_sequence(fs, client):
    fs.never_answers("100")
    _, job = run_originate(fs, client, "02c-originate-no-answer")
    ours = until_destroyed(client)
    assert event_shapes(ours) == event_shapes(T.events("02c-originate-no-answer"))
    complete = next(e for e in ours if e.name == "CHANNEL_HANGUP_COMPLETE")
    assert complete.get_all("Hangup-Cause") == ["NO_ANSWER", "NO_ANSWER"]
    assert complete.variables["billsec"] == "0"
    assert int(complete.variables["duration"]) >= 4  # originate_timeout=5 in switch time


def test_leg_timeout_ends_as_allotted_timeout(fs, client):
    fs.never_answers("100")
    run_originate(fs, client, "02e2-flash-leg-timeout-1")
    ours = until_destroyed(client)
    assert event_shapes(ours) == event_shapes(T.events("02e2-flash-leg-timeout-1"))
    assert next(e for e in ours if e.name == "BACKGROUND_JOB").body == "-ERR ALLOTTED_TIMEOUT\n"


def test_uuid_kill_while_ringing_ends_as_normal_clearing(fs, client):
    fs.never_answers("100")
    uuid, _ = run_originate(fs, client, "02e3-flash-uuid-kill-0.5s")
    client.events_until(lambda e: e.name == "CHANNEL_CALLSTATE")
    assert client.reply(f"api {commands.uuid_kill(uuid)}").body == b"+OK\n"
    ours = until_destroyed(client)
    bg = next(e for e in ours if e.name == "BACKGROUND_JOB")
    assert bg.body == "-ERR NORMAL_CLEARING\n"
    assert [e.name for e in ours if e.name != "BACKGROUND_JOB"] == [
        e.name for e in T.events("02e3-flash-uuid-kill-0.5s") if e.name != "BACKGROUND_JOB"
    ][8:]


@pytest.mark.parametrize("position", ["before", "between", "after"])
def test_background_job_position_is_configurable(fs, client, position):
    fs.set_busy("100")
    fs.background_job_position = position
    run_originate(fs, client, "02b-originate-busy")
    names = [e.name for e in until_destroyed(client)]
    i = names.index("BACKGROUND_JOB")
    if position == "before":
        assert i < names.index("CHANNEL_HANGUP")
    elif position == "between":
        assert names.index("CHANNEL_HANGUP") < i < names.index("CHANNEL_HANGUP_COMPLETE")
    else:
        assert names.index("CHANNEL_HANGUP_COMPLETE") < i


def test_answered_call_parks_and_uuid_kill_ends_it_like_the_recording(fs, client):
    fs.answers_after("100", 2)
    uuid, job = run_originate(fs, client, "02d-originate-answer-park-kill")
    first = client.events_until(lambda e: e.name == "CHANNEL_PARK")
    assert client.reply("api uuid_exists " + uuid).body == b"true"
    rows = json.loads(client.reply("api show channels as json").body)
    assert rows["row_count"] == 1 and rows["rows"][0]["uuid"] == uuid
    assert list(rows["rows"][0]) == list(T.channel_row_template())
    assert client.reply(f"api uuid_kill {uuid}").body == b"+OK\n"
    second = until_destroyed(client)
    assert event_shapes(first + second) == event_shapes(T.events("02d-originate-answer-park-kill"))
    bg = next(e for e in first if e.name == "BACKGROUND_JOB")
    assert (bg.job_uuid, bg.body) == (job, f"+OK {uuid}\n")
    complete = next(e for e in second if e.name == "CHANNEL_HANGUP_COMPLETE")
    assert complete.get_all("Hangup-Cause") == ["NORMAL_CLEARING", "NORMAL_CLEARING"]
    assert complete.variables["pbx_job"] == "42" and complete.variables["pbx_attempt"] == "1"
    assert complete.get("Caller-Caller-ID-Number") == "100"  # flipped: the callee
    assert complete.get("Caller-Orig-Caller-ID-Number") == "74950000001"
    assert complete.get("Caller-ANI") == "74950000001"
    assert int(complete.variables["billsec"]) >= 0 and int(complete.variables["duration"]) >= 2
    assert client.reply("api uuid_exists " + uuid).body == b"false"
    assert client.reply("api show channels as json").body == b'{"row_count": 0}\n'


def test_originate_to_a_registered_user_carries_our_variables(fs, client):
    fs.register("1005")
    fs.answers_after("1005", 1)
    client.reply(f"event plain {ALL_CHANNEL_EVENTS}")
    u = str(uuid_module.uuid4())
    cmd = commands.originate(
        commands.user_target("1005"),
        origination_uuid=u,
        variables={"pbx_job": 7, "pbx_attempt": 2, "origination_caller_id_number": "74950000009"},
    )
    client.reply(commands.bgapi(cmd, str(uuid_module.uuid4())))
    events = client.events_until(lambda e: e.name == "CHANNEL_PARK")
    create = next(e for e in events if e.name == "CHANNEL_CREATE")
    assert create.uuid == u and create.get("Caller-Destination-Number") == "1005"
    assert create.variables["pbx_job"] == "7" and create.variables["pbx_attempt"] == "2"
    assert create.get("Caller-ANI") == "74950000009"


def test_blocking_api_originate_returns_ok_uuid(fs, client):
    fs.answers_after("100", 1)
    u = str(uuid_module.uuid4())
    r = client.reply(
        f"api originate {{origination_uuid={u},pbx_job=42}}sofia/external/100@127.0.0.1:5090 &park()"
    )
    assert r.body == f"+OK {u}\n".encode()


def test_hupall_hangs_up_only_the_tagged_calls(fs, client):
    fs.answers_after("100", 0)
    fs.answers_after("101", 0)
    client.reply("event plain CHANNEL_PARK CHANNEL_HANGUP_COMPLETE")
    a, b = str(uuid_module.uuid4()), str(uuid_module.uuid4())
    client.reply(
        f"bgapi originate {{origination_uuid={a},pbx_job=1}}sofia/external/100@127.0.0.1:5090 &park()"
    )
    client.reply(
        f"bgapi originate {{origination_uuid={b},pbx_job=2}}sofia/external/101@127.0.0.1:5090 &park()"
    )
    parked = {client.next_event().uuid, client.next_event().uuid}
    assert parked == {a, b}
    r = client.reply("api hupall NORMAL_CLEARING pbx_job 1")
    assert r.body == b"+OK hangup all channels matching [pbx_job]=[1] with cause: NORMAL_CLEARING\n"
    assert client.next_event().uuid == a
    assert client.reply(f"api uuid_exists {b}").body == b"true"


def test_uuid_record_start_stop_and_errors(fs, client):
    client.reply("event plain RECORD_START RECORD_STOP")
    uuid = fs.inbound_call("74951234567", "7100")
    path = "/var/lib/freeswitch/recordings/t1/a.wav"
    assert client.reply(f"api {commands.uuid_record(uuid, 'start', path)}").body == b"+OK Success\n"
    start = client.next_event()
    assert start.name == "RECORD_START" and start.get("Record-File-Path") == path
    assert client.reply(f"api {commands.uuid_record(uuid, 'stop', path)}").body == b"+OK Success\n"
    stop = client.next_event()
    assert stop.get("Record-Completion-Cause") == "success-maxtime"
    assert event_shapes([start, stop]) == event_shapes(t.event for t in T.record_events().values())
    assert (
        client.reply(f"api uuid_record {uuid} stop {path}").body
        == b"-ERR Cannot stop record session!\n"
    )
    missing = client.reply(f"api uuid_record {uuid} start").body
    assert (
        missing
        == replies_of("06-uuid-record-start-stop")[
            "api uuid_record 55c3a36f-7f1d-4767-b2ef-ae364be8e73c start"
        ].split(b"\n\n", 1)[1]
    )
    other = str(uuid_module.uuid4())
    assert (
        client.reply(f"api uuid_record {other} start {path}").body
        == b"-ERR Cannot locate session!\n"
    )


# --------------------------------------------------------------------------- other events


def test_registration_events_have_the_recorded_headers(fs, client):
    client.reply("event plain CUSTOM sofia::register sofia::unregister sofia::expire")
    fs.register("1002")
    fs.unregister("1002")
    fs.expire("1003")
    ours = [client.next_event() for _ in range(3)]
    theirs = [e for e in T.events("03a-register-unregister-events")] + list(
        T.events("03b-register-expire-event")
    )[1:]
    assert event_shapes(ours) == event_shapes(theirs)
    assert [e.subclass for e in ours] == ["sofia::register", "sofia::unregister", "sofia::expire"]
    assert ours[0].get("from-user") == "1002" and ours[2].get("user") == "1003"


def test_only_subscribed_events_arrive_and_sequence_rises(fs, client):
    client.reply("event plain CHANNEL_ANSWER DTMF")
    uuid = fs.inbound_call()
    fs.caller_presses(uuid, "1")
    answer, dtmf = client.next_event(), client.next_event()
    assert (answer.name, dtmf.name) == ("CHANNEL_ANSWER", "DTMF")
    assert dtmf.sequence > answer.sequence
    recorded = next(e for e in T.events("04-dtmf-rfc2833-event") if e.name == "DTMF")
    assert dtmf.header_names() == recorded.header_names()
    assert dtmf.variables == {} and dtmf.get("DTMF-Digit") == "1" and dtmf.uuid == uuid


def test_filter_limits_events_to_one_call(fs, client):
    client.reply("event plain CHANNEL_ANSWER")
    mine = str(uuid_module.uuid4())
    client.reply(f"filter Unique-ID {mine}")
    fs.inbound_call(uuid=str(uuid_module.uuid4()))
    fs.inbound_call(uuid=mine)
    assert client.next_event().uuid == mine


def test_json_channel_events_match_the_recorded_json(fs, client):
    client.reply("event json CHANNEL_CREATE CHANNEL_HANGUP_COMPLETE")
    uuid = fs.inbound_call("74951234567", "7777", variables={"pbx_call": "9"})
    create = client.next_frame()
    assert create.content_type == "text/event-json"
    recorded = next(e for e in T.events("08-event-json-simple-call") if e.name == "CHANNEL_CREATE")
    ours = parse_event(create)
    assert [n for n in ours.header_names() if n != "variable_pbx_call"] == recorded.header_names()
    assert ours.variables["pbx_call"] == "9"
    fs.hangup(uuid)
    complete = client.next_event()
    assert complete.format == "json" and len(complete.get_all("Hangup-Cause")) == 2
    assert complete.variables["pbx_call"] == "9"


def test_emit_sends_any_event_with_the_standard_envelope(fs, client):
    client.reply("event plain CUSTOM callcenter::info")
    fs.emit(
        "CUSTOM",
        {"Event-Subclass": "callcenter::info", "CC-Action": "members-count", "CC-Count": "1"},
    )
    ev = client.next_event()
    assert ev.subclass == "callcenter::info" and ev.get("CC-Count") == "1"
    assert ev.header_names()[:3] == ["Event-Subclass", "Event-Name", "Core-UUID"]


def test_heartbeat_matches_the_recording(fs, client):
    client.reply("event plain HEARTBEAT")
    fs.heartbeat()
    ev = client.next_event()
    assert ev.header_names() == T.heartbeat().header_names()


# --------------------------------------------------------------------------- failure modes


def test_wait_for_command_sees_what_clients_sent(fs, client):
    client.send("api reloadxml")
    assert fs.wait_for_command("reloadxml", timeout=2) == "api reloadxml"
    with pytest.raises(TimeoutError):
        fs.wait_for_command("xml_flush_cache", timeout=0.05)


def test_drop_connections_closes_sockets_abruptly(fs, client):
    fs.drop_connections()
    assert client.wait_closed(timeout=2)


def test_pause_refuses_connections_until_resume(fs, client):
    port = fs.port
    fs.pause()
    assert client.wait_closed(timeout=2)
    with pytest.raises(OSError):
        socket.create_connection((fs.host, port), timeout=1)
    fs.resume()
    assert fs.port == port
    again = RawClient(fs.host, fs.port)
    assert again.login().headers["Reply-Text"] == "+OK accepted"


def test_reply_delay_lets_clients_test_their_timeouts(fs, client):
    fs.reply_delay = 0.3
    client.send("api status")
    with pytest.raises(Exception):  # queue.Empty
        client.next_frame(timeout=0.05)
    assert client.next_frame(timeout=2).content_type == "api/response"


# --------------------------------------------------------------------------- outbound socket


class OurOutboundServer:
    """Stands in for our outbound-socket server: accepts FreeSWITCH's connection."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.accepted: list[RawClient] = []
        self._ready = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        sock, _ = self.listener.accept()
        client = RawClient.from_socket(sock)
        self.accepted.append(client)
        self._ready.set()

    def session(self) -> RawClient:
        assert self._ready.wait(2)
        return self.accepted[0]


def test_outbound_session_speaks_like_recording_05(fs):
    ours = OurOutboundServer()
    session = fs.place_outbound_session("127.0.0.1", ours.port, {"pbx_flow": "ivr"}, digits=["1"])
    s = ours.session()
    with pytest.raises(Exception):
        s.next_frame(timeout=0.05)  # FreeSWITCH sends nothing before connect
    data = s.reply("connect")
    recorded = T.frames("05-outbound-socket-session")[0]
    assert "Content-Length" not in data.headers and data.body == b""
    ev = parse_event(data)
    assert ev.name == "CHANNEL_DATA" and ev.uuid == session.uuid
    assert ev.variables["pbx_flow"] == "ivr"
    assert [k for k, _ in data.header_list if k != "variable_pbx_flow"] == [
        k for k, _ in recorded.header_list
    ]
    assert data.headers["Reply-Text"] == "%2BOK%0A"
    assert s.reply("myevents").headers["Reply-Text"] == "+OK Events Enabled"
    assert s.reply("linger").headers["Reply-Text"] == "+OK will linger"
    app_uuid = str(uuid_module.uuid4())
    assert (
        s.reply(commands.sendmsg_execute("answer", event_uuid=app_uuid)).headers["Reply-Text"]
        == "+OK"
    )
    answer_events = s.events_until(lambda e: e.name == "CHANNEL_EXECUTE_COMPLETE")
    recorded_events = [e for e in T.events("05-outbound-socket-session")][1:]
    assert [e.name for e in answer_events] == [e.name for e in recorded_events[:5]]
    assert answer_events[-1].get("Application-UUID") == app_uuid
    s.reply(commands.sendmsg_execute("playback", "tone_stream://%(200,100,440)"))
    played = s.events_until(lambda e: e.name == "CHANNEL_EXECUTE_COMPLETE")
    assert played[-1].get("Application-Response") == "FILE PLAYED"
    pagd = "1 1 1 5000 # tone_stream://%(200,100,440) silence_stream://250 pagd_digit \\d 3000"
    s.reply(commands.sendmsg_execute("play_and_get_digits", pagd))
    got = s.events_until(lambda e: e.name == "CHANNEL_EXECUTE_COMPLETE")
    assert [e.name for e in got] == ["CHANNEL_EXECUTE", "DTMF", "CHANNEL_EXECUTE_COMPLETE"]
    assert got[-1].variables["pagd_digit"] == "1"
    assert s.reply(f"api uuid_getvar {session.uuid} pagd_digit").body == b"1"
    assert s.reply(f"api uuid_getvar {session.uuid} no_such_variable").body == b"_undef_"
    assert (
        s.reply("sendmsg\ncall-command: hangup\nhangup-cause: NORMAL_CLEARING").headers[
            "Reply-Text"
        ]
        == "+OK"
    )
    tail = []
    while True:
        frame = s.next_frame()
        tail.append(frame)
        if frame.content_type == "text/disconnect-notice":
            break
    names = [parse_event(f).name for f in tail[:-1]]
    assert names == [e.name for e in recorded_events[-6:]]
    recorded_notice = T.frames("05-outbound-socket-session")[-1]
    assert [k for k, _ in tail[-1].header_list] == [k for k, _ in recorded_notice.header_list]
    assert tail[-1].headers["Linger-Time"] == "-1"


def test_outbound_session_with_linger_n_gets_a_second_disconnect_notice(fs):
    ours = OurOutboundServer()
    session = fs.place_outbound_session("127.0.0.1", ours.port)
    s = ours.session()
    s.reply("connect")
    s.reply("myevents")
    assert s.reply("linger 3").headers["Reply-Text"] == "+OK will linger 3 seconds"
    s.reply(commands.sendmsg_execute("answer"))
    s.events_until(lambda e: e.name == "CHANNEL_EXECUTE_COMPLETE")
    session.caller_hangs_up()
    notices = []
    while len(notices) < 2:
        frame = s.next_frame()
        if frame is not None and frame.content_type == "text/disconnect-notice":
            notices.append(frame)
    recorded = [
        f
        for f in T.frames("05b-outbound-socket-caller-hangup-linger3")
        if f.content_type == "text/disconnect-notice"
    ]
    assert [[k for k, _ in n.header_list] for n in notices] == [
        [k for k, _ in r.header_list] for r in recorded
    ]
    assert notices[1].body == recorded[1].body
    assert s.wait_closed(timeout=2)


# --------------------------------------------------------------------------- greenswitch


GREENSWITCH_CLIENT = r"""
import sys, gevent, greenswitch
got = gevent.event.Event()
esl = greenswitch.InboundESL(host=sys.argv[1], port=int(sys.argv[2]), password="ClueCon")
esl.connect()
esl.register_handle("BACKGROUND_JOB", lambda ev: (print("EVENT", ev.headers["Job-UUID"]), got.set()))
print("STATUS", esl.send("api status").data.splitlines()[1])
print("REPLY", esl.send("event plain BACKGROUND_JOB").data)
print("BGAPI", esl.send("bgapi version\nJob-UUID: 6f1d1f1e-0000-4000-8000-000000000001").data)
print("GOT", got.wait(5))
sys.stdout.flush()
esl.stop()
"""


def test_greenswitch_connects_authenticates_and_receives_an_event(fs):
    out = subprocess.run(
        [sys.executable, "-c", GREENSWITCH_CLIENT, fs.host, str(fs.port)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert (
        "STATUS FreeSWITCH (Version 1.11.3-dev git cc93a68 2026-08-21 14:10:14Z 64bit) is ready"
        in lines
    )
    assert "REPLY +OK event listener enabled plain" in lines
    assert "BGAPI +OK Job-UUID: 6f1d1f1e-0000-4000-8000-000000000001" in lines
    assert "EVENT 6f1d1f1e-0000-4000-8000-000000000001" in lines
    assert "GOT True" in lines
    assert fs.wait_for_command("exit", timeout=5) == "exit"


def test_frame_parser_reads_everything_the_double_sent(fs, client):
    client.reply("event plain ALL")
    fs.register("1005")
    fs.inbound_call()
    client.reply("api status")
    parser = FrameParser()
    frames = parser.feed(bytes(client.raw))
    assert parser.buffered == 0
    assert sum(1 for f in frames if is_event_frame(f)) >= 4
