"""The ESL double's outbound-socket applications the fictive-number flows use, as FreeSWITCH
1.10.12 behaves (src/switch_ivr_play_say.c, switch_ivr_originate.c, mod_dptools bridge):
play_and_get_digits with a `#` terminator and timeouts, `set`, `record_session`, and `bridge`
with its b-leg, CHANNEL_BRIDGE/UNBRIDGE and the variables a failed bridge leaves.
"""

from __future__ import annotations

import socket
import threading

import pytest

from pbx.esl import commands
from tests.esl_double import EslDouble
from tests.esl_double.client import RawClient

PAGD = "1 17 1 5000 # /p/enter.wav silence_stream://250 fictive_digits \\d+ 3000"
DEALER = "+420777123456"


class Ours:
    """Our outbound-socket server: accepts FreeSWITCH's connection."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.client: RawClient | None = None
        self._ready = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        sock, _ = self.listener.accept()
        self.client = RawClient.from_socket(sock)
        self._ready.set()

    def session(self) -> RawClient:
        assert self._ready.wait(2)
        assert self.client is not None
        self.client.reply("connect")
        self.client.reply("myevents")
        self.client.reply("linger 5")
        return self.client


@pytest.fixture
def fs():
    with EslDouble(password="ClueCon", time_factor=0.001) as double:
        yield double


def start(fs, digits=(), **variables):
    ours = Ours()
    session = fs.place_outbound_session(
        "127.0.0.1",
        ours.port,
        {"pbx_flow": "fictive_access", "hangup_after_bridge": "true", **variables},
        caller="420601000001",
        digits=digits,
    )
    return session, ours.session()


def run(s: RawClient, app: str, arg: str = ""):
    """Execute one application; the events up to its EXECUTE_COMPLETE."""
    assert s.reply(commands.sendmsg_execute(app, arg)).headers["Reply-Text"] == "+OK"
    return s.events_until(
        lambda e: e.name == "CHANNEL_EXECUTE_COMPLETE" and e.get("Application") == app
    )


@pytest.mark.parametrize(
    "pressed, value, result",
    [
        ("12#", "12", "success"),  # digits and the terminator
        ("420777123456", "420777123456", "timeout"),  # no #: the digit timeout ends it, kept
        ("#", None, "failure"),  # the terminator alone is too few digits
        ("", None, "failure"),  # nothing at all: a timeout, too few digits as well
    ],
)
def test_play_and_get_digits_sets_the_variable_only_for_digits(fs, pressed, value, result):
    _, s = start(fs, [pressed])
    events = run(s, "play_and_get_digits", PAGD)
    done = events[-1]
    assert done.variables.get("fictive_digits") == value
    assert done.variables["read_result"] == result
    dtmf = [e.get("DTMF-Digit") for e in events if e.name == "DTMF"]
    assert "".join(dtmf) == pressed


def test_each_play_and_get_digits_takes_the_next_digit_string(fs):
    _, s = start(fs, ["0#", "2#"])
    assert run(s, "play_and_get_digits", PAGD)[-1].variables["fictive_digits"] == "0"
    second = run(s, "play_and_get_digits", PAGD)[-1]
    assert second.variables["fictive_digits"] == "2"
    assert second.variables["read_terminator_used"] == "#"


def test_digits_failing_the_regex_land_in_the_invalid_variable(fs):
    _, s = start(fs, ["*9#"])
    done = run(s, "play_and_get_digits", PAGD.replace("\\d+", "\\d\\d"))[-1]
    assert "fictive_digits" not in done.variables
    assert done.variables["fictive_digits_invalid"] == "*9"


def test_set_and_record_session(fs):
    session, s = start(fs)
    run(s, "set", "RECORD_STEREO=true")
    events = run(s, "record_session", "/rec/c1/fictive/x.wav")
    assert [e for e in events if e.name == "RECORD_START"][0].get(
        "Record-File-Path"
    ) == "/rec/c1/fictive/x.wav"
    assert events[-1].variables["RECORD_STEREO"] == "true"
    assert session.recordings == ["/rec/c1/fictive/x.wav"]
    session.caller_hangs_up()
    stop = s.events_until(lambda e: e.name == "RECORD_STOP")
    assert stop[-1].get("Record-File-Path") == "/rec/c1/fictive/x.wav"


def dial(fs, s, **extra):
    message = commands.sendmsg_bridge(
        commands.gateway_target("pstn", DEALER),
        variables={"origination_caller_id_number": "420234234301", "pbx_flow": "fictive", **extra},
    )
    assert s.reply(message).headers["Reply-Text"] == "+OK"


def test_an_answered_bridge_shows_the_callers_id_we_chose_and_ends_with_the_callee(fs):
    fs.answers_after(DEALER, 2)
    session, s = start(fs)
    dial(fs, s, pbx_fictive_call=7)
    bridge = s.events_until(lambda e: e.name == "CHANNEL_BRIDGE")[-1]
    leg = session.bridge_legs[0]
    assert bridge.get("Bridge-A-Unique-ID") == session.uuid
    assert bridge.get("Bridge-B-Unique-ID") == leg.uuid
    assert bridge.get("Other-Leg-Caller-ID-Number") == "420234234301"
    assert leg.caller == "420234234301" and leg.destination == DEALER
    assert leg.variables["pbx_fictive_call"] == "7" and leg.variables["pbx_flow"] == "fictive"
    assert bridge.variables["originate_disposition"] == "call accepted"
    assert bridge.variables["current_application"] == "bridge"
    fs.hangup(leg.uuid, "NORMAL_CLEARING")  # the callee hangs up
    tail = s.events_until(
        lambda e: e.name == "CHANNEL_EXECUTE_COMPLETE" and e.get("Application") == "bridge"
    )
    names = [e.name for e in tail]
    # hangup_after_bridge: the caller is hung up inside the bridge, then the app completes
    assert names[:3] == ["CHANNEL_UNBRIDGE", "CHANNEL_HANGUP", "CHANNEL_EXECUTE_COMPLETE"]
    assert tail[-1].variables["bridge_hangup_cause"] == "NORMAL_CLEARING"


def test_the_caller_hanging_up_ends_the_callees_leg(fs):
    fs.answers_after(DEALER, 1)
    session, s = start(fs)
    dial(fs, s)
    s.events_until(lambda e: e.name == "CHANNEL_BRIDGE")
    leg = session.bridge_legs[0]
    session.caller_hangs_up()
    done = s.events_until(
        lambda e: e.name == "CHANNEL_EXECUTE_COMPLETE" and e.get("Application") == "bridge"
    )[-1]
    assert done.variables["bridge_hangup_cause"] == "NORMAL_CLEARING"
    assert session.wait_closed(5)
    for _ in range(200):
        if fs.channel(leg.uuid) is None:
            break
        threading.Event().wait(0.01)
    assert fs.channel(leg.uuid) is None


@pytest.mark.parametrize(
    "behaviour, cause, dialstatus, caller_stays",
    [
        ("never_answers", "NO_ANSWER", "NOANSWER", True),  # always a reason to continue
        ("set_busy", "USER_BUSY", "BUSY", False),  # hangs the caller up...
        ("rejects", "CALL_REJECTED", "DONTCALL", False),
    ],
)
def test_a_failed_bridge_leaves_the_originate_variables(
    fs, behaviour, cause, dialstatus, caller_stays
):
    getattr(fs, behaviour)(DEALER)
    session, s = start(fs)
    dial(fs, s, originate_timeout=5)
    events = s.events_until(
        lambda e: e.name == "CHANNEL_EXECUTE_COMPLETE" and e.get("Application") == "bridge"
    )
    done = events[-1]
    assert done.variables["originate_disposition"] == cause
    assert done.variables["DIALSTATUS"] == dialstatus
    assert done.variables["originate_failed_cause"] == cause
    assert "bridge_hangup_cause" not in done.variables
    assert ("CHANNEL_HANGUP" in [e.name for e in events]) is not caller_stays


def test_continue_on_fail_keeps_a_busy_caller(fs):
    fs.set_busy(DEALER)
    session, s = start(fs, continue_on_fail="true")
    dial(fs, s)
    events = s.events_until(
        lambda e: e.name == "CHANNEL_EXECUTE_COMPLETE" and e.get("Application") == "bridge"
    )
    assert "CHANNEL_HANGUP" not in [e.name for e in events]
    assert events[-1].variables["DIALSTATUS"] == "BUSY"
    run(s, "playback", "/p/goodbye.wav")  # the channel is still ours
