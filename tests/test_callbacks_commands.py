"""The ESL commands of a queue callback's legs, built without a switch (pure)."""

from __future__ import annotations

import json

import pytest

from pbx.esl import commands
from portal.callbacks.services import AttemptPlan, EmployeeCandidate
from portal.callbacks.telephony import Prompt, caller_originate, employee_originate, phones_in_use

LEG = "0f0e9d43-7d0b-4a8e-8b8f-3c2f8a1f0e11"
PLAN = AttemptPlan(
    request_id=1,
    attempt_id=7,
    attempt_number=1,
    customer_id=12,
    department_id=3,
    caller_number="+79161234567",
    multichannel_number="+74950000001",
    candidates=[EmployeeCandidate(5, "101", "+74950000001")],
)
WHISPER = Prompt(
    "/var/lib/pbx/prompts",
    ("ru/callback_whisper.wav", *(f"ru/digit_{d}.wav" for d in "79161234567")),
)


def test_the_employee_leg_plays_the_whisper_before_the_originate_reports_success():
    cmd = employee_originate(PLAN, 0, LEG, "c12.pbx.example.com", WHISPER)
    assert cmd.startswith(f"originate {{origination_uuid={LEG},pbx_flow=callback,pbx_job=7,")
    assert "group_confirm_key=exec,group_confirm_file='playback file_string://" in cmd
    assert "ru/callback_whisper.wav!ru/digit_7.wav!ru/digit_9.wav!" in cmd
    assert "sound_prefix=/var/lib/pbx/prompts," in cmd and "group_confirm_timeout=30," in cmd
    # It rings 20 s (the leg's own timeout); the whole originate may also take the prompt.
    assert "originate_timeout=50," in cmd
    assert cmd.endswith("}[leg_timeout=20]user/101@c12.pbx.example.com &park()")
    assert len(commands.bgapi(cmd, LEG)) < commands.MAX_COMMAND


def test_the_caller_leg_hears_that_the_company_calls_back_before_it_is_bridged():
    cmd = caller_originate(PLAN, 0, LEG, "pstn", Prompt("/p", ("en/callback_connecting.wav",)))
    assert "group_confirm_file='playback en/callback_connecting.wav'" in cmd
    assert "origination_caller_id_number=74950000001," in cmd
    assert cmd.endswith("}[leg_timeout=30]sofia/gateway/pstn/+79161234567 &park()")


@pytest.mark.parametrize("arg", ["a.wav,b.wav", "a.wav b.wav", "it's.wav", "${x}.wav"])
def test_an_on_answer_argument_cannot_break_out_of_its_quotes(arg):
    with pytest.raises(commands.CommandError):
        commands.originate("user/101", on_answer=("playback", arg))


def test_an_on_answer_application_must_be_on_the_allow_list():
    with pytest.raises(commands.CommandError):
        commands.originate("user/101", on_answer=("system", "/bin/true"))


def test_agent_status_command():
    assert commands.callcenter_agent_status("c12_e5") == "callcenter_config agent get status c12_e5"
    with pytest.raises(commands.CommandError):
        commands.callcenter_agent_status("c12_e5 'x'")


def test_phones_in_use_reads_presence_and_names_of_a_domain_only():
    reply = json.dumps(
        {
            "row_count": 4,
            "rows": [
                # a leg to 101's phone (the dial-string's presence_id)
                {"name": "sofia/internal/101@127.0.0.1:5080", "presence_id": "101@c12.pbx.test"},
                # a call from 102's phone
                {"name": "sofia/internal/102@c12.pbx.test", "presence_id": ""},
                # another customer's 103, and a trunk call
                {"name": "sofia/internal/103@c13.pbx.test", "presence_id": "103@c13.pbx.test"},
                {"name": "sofia/external/74951234567@10.0.0.1", "presence_id": ""},
            ],
        },
        separators=(",", ":"),
    )
    assert phones_in_use(reply, "c12.pbx.test") == {"101", "102"}
    assert phones_in_use('{"row_count": 0}\n', "c12.pbx.test") == set()
    assert phones_in_use("-ERR oops", "c12.pbx.test") == set()
