"""The generic IVR engine (pbx/ivr): steps refuse what must never reach the switch, and the
runner performs them on a real outbound-socket session with the ESL double (FreeSWITCH's side,
over TCP on 127.0.0.1) exactly as FreeSWITCH expects them."""

from __future__ import annotations

import gevent
import gevent.event
import gevent.server
import pytest

from pbx.esl.adapter import OutboundCall
from pbx.esl.commands import CommandError, user_target
from pbx.ivr import Bridge, Collect, Hangup, Play, Record, Runner, Transfer
from pbx.ivr.steps import StepError
from tests.esl_double import EslDouble

HELLO = "/var/lib/pbx/prompts/ru/hello.wav"
BYE = "/var/lib/pbx/prompts/ru/goodbye.wav"


@pytest.mark.parametrize(
    "make",
    [
        lambda: Play(("/tmp/a b.wav",)),
        lambda: Play(("relative.wav",)),
        lambda: Play(("/x/../../etc/passwd",)),
        lambda: Play(("/x/${uuid}.wav",)),
        lambda: Play(()),
        lambda: Collect((HELLO,), max_digits=0),
        lambda: Collect((HELLO,), terminators="1"),
        lambda: Collect((HELLO,), timeout_ms=100),
        lambda: Transfer("101 XML public", "customer_1"),
        lambda: Transfer("101", "customer_1 XML"),
        lambda: Transfer("+7495${x}", "customer_1"),
        lambda: Transfer("101", "customer_1", {"a": "b,c"}),
        lambda: Transfer("101", "customer_1", {"A B": "1"}),
        lambda: Hangup(cause="NORMAL CLEARING"),
        lambda: Record("/rec/${uuid}.wav"),
    ],
)
def test_unsafe_steps_are_refused_when_they_are_made(make):
    with pytest.raises((StepError, CommandError)):
        make()


def test_a_bridge_takes_only_a_validated_target():
    assert Bridge(user_target("101", "c1.pbx.local")).target == "user/101@c1.pbx.local"
    with pytest.raises(CommandError):
        Bridge("user/101@c1.pbx.local,user/102")
    with pytest.raises(CommandError):
        Bridge("sofia/gateway/pstn/+7495", {"x": "${system}"})


class Ours:
    """Call control's side: one outbound-socket session, handed to a Runner."""

    def __init__(self, script) -> None:
        self.script = script
        self.results: list = []
        self.done = gevent.event.AsyncResult()
        self.server = gevent.server.StreamServer(("127.0.0.1", 0), self.handle)
        self.server.start()

    def handle(self, sock, address) -> None:
        call = OutboundCall(sock, address, reply_timeout=5)
        try:
            call.start()
            steps = iter(self.script)

            def advance(result):
                self.results.append(result)
                return next(steps)

            self.done.set(Runner(call).run(next(steps), advance))
        except Exception as exc:
            self.done.set_exception(exc)
        finally:
            call.close()


@pytest.fixture
def fs():
    with EslDouble(password="ClueCon", time_factor=0.001) as double:
        yield double


def run(fs, script, digits):
    ours = Ours(script)
    session = fs.place_outbound_session(
        "127.0.0.1", ours.server.server_port, {"pbx_flow": "menu"}, digits=digits
    )
    last = ours.done.get(timeout=20)
    ours.server.stop()
    return ours, session, last


def test_the_runner_collects_keys_plays_and_transfers(fs):
    script = [
        Collect((HELLO,), max_digits=1, timeout_ms=4000),
        Collect((HELLO, BYE), max_digits=3, timeout_ms=4000, digit_timeout_ms=1500),
        Collect((HELLO,)),
        Play((BYE,)),
        Record("/rec/c1/call.wav"),
        Transfer("+74951234567", "customer_1", {"outbound_caller_id_number": "+74957770011"}),
    ]
    ours, session, last = run(fs, script, ["#", "101", ""])
    assert isinstance(last, Transfer)
    # "#" is a key (no terminator), "101" three digits, then silence (None)
    assert ours.results == ["#", "101", None, None, None]
    asked = [arg for app, arg in session.executed if app == "play_and_get_digits"]
    assert asked[0] == f"1 1 1 4000 none {HELLO} silence_stream://250 pbx_ivr_digits .+ 2000"
    assert asked[1] == (
        f"1 3 1 4000 none file_string://{HELLO}!{BYE} silence_stream://250 pbx_ivr_digits .+ 1500"
    )
    tail = session.executed[-5:]
    assert tail == [
        ("playback", BYE),
        ("set", "RECORD_STEREO=true"),
        ("record_session", "/rec/c1/call.wav"),
        ("set", "outbound_caller_id_number=+74957770011"),
        ("transfer", "+74951234567 XML customer_1"),
    ]
    assert not any(app == "hangup" for app, _ in session.executed)  # a transfer never hangs up


def test_an_earlier_answer_never_leaks_into_the_next_question(fs):
    ours, session, _ = run(fs, [Collect((HELLO,)), Collect((HELLO,)), Hangup((BYE,))], ["7", ""])
    assert ours.results == ["7", None]
    unsets = [arg for app, arg in session.executed if app == "set"]
    assert unsets.count("pbx_ivr_digits=") == 2


def test_a_hangup_plays_its_prompt_then_hangs_up_with_its_cause(fs):
    _, session, last = run(fs, [Hangup((BYE,), "NORMAL_TEMPORARY_FAILURE")], [])
    assert isinstance(last, Hangup)
    assert session.executed[-2:] == [("playback", BYE), ("hangup", "NORMAL_TEMPORARY_FAILURE")]
    assert session.wait_closed(timeout=10)
