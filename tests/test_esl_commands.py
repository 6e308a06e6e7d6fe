"""ESL command builders: exact strings for good input, CommandError for anything hostile."""

from __future__ import annotations

import pytest

from pbx.esl import commands as c
from pbx.esl.commands import CommandError

U = "2dd1d784-3237-4ba1-a7ea-77c8a5dd903e"
J = "31330985-ce56-4690-9768-3fbd4ed2b1c8"


def test_originate_matches_the_recorded_command_byte_for_byte():
    cmd = c.originate(
        c.user_target("1005"),
        origination_uuid=U,
        variables={
            "pbx_job": 42,
            "pbx_attempt": 1,
            "origination_caller_id_number": "74950000001",
            "ignore_early_media": True,
            "originate_timeout": 10,
        },
    )
    assert cmd == (
        "originate {origination_uuid=2dd1d784-3237-4ba1-a7ea-77c8a5dd903e,pbx_job=42,"
        "pbx_attempt=1,origination_caller_id_number=74950000001,ignore_early_media=true,"
        "originate_timeout=10}user/1005 &park()"
    )
    assert c.bgapi(cmd, J) == f"bgapi {cmd}\nJob-UUID: {J}"


def test_originate_with_leg_variables_and_an_app():
    cmd = c.originate(
        c.gateway_target("pstn-1", "+74951234567"),
        variables={"origination_uuid": U.upper()},
        leg_variables={"leg_timeout": 1},
        app=c.application("park"),
    )
    assert (
        cmd
        == f"originate {{origination_uuid={U}}}[leg_timeout=1]sofia/gateway/pstn-1/+74951234567 &park()"
    )


def test_originate_without_variables_and_with_an_inline_app():
    assert (
        c.originate(c.user_target(100, "t1.example"), app=c.application("playback", "/tmp/a.wav"))
        == "originate user/100@t1.example &playback(/tmp/a.wav)"
    )


def test_targets():
    assert c.user_target(1005, "tenant-1.pbx.example") == "user/1005@tenant-1.pbx.example"
    assert c.gateway_target("gw", "84951234567") == "sofia/gateway/gw/84951234567"


def test_e164_is_checked_by_phonenumbers():
    assert c.e164("+74950000001") == "+74950000001"
    for bad in ("+7495", "+7 495 000 00 01", "74950000001", "+999123456789", "+7495000000１"):
        with pytest.raises(CommandError):
            c.e164(bad)


def test_channel_commands():
    assert c.uuid_kill(U) == f"uuid_kill {U}"
    assert c.uuid_kill(U, "USER_BUSY") == f"uuid_kill {U} USER_BUSY"
    assert c.uuid_exists(U) == f"uuid_exists {U}"
    path = c.recording_path("tenant-1", "2026", f"{U}.wav")
    assert path == f"/var/lib/freeswitch/recordings/tenant-1/2026/{U}.wav"
    assert c.uuid_record(U, "start", path) == f"uuid_record {U} start {path}"
    assert c.uuid_record(U, "stop", path) == f"uuid_record {U} stop {path}"
    assert (
        c.uuid_broadcast(U, "/usr/share/freeswitch/sounds/ru/callback.wav")
        == f"uuid_broadcast {U} /usr/share/freeswitch/sounds/ru/callback.wav aleg"
    )
    assert c.uuid_setvar(U, "pbx_job", 43) == f"uuid_setvar {U} pbx_job 43"


def test_system_commands():
    assert c.show_channels_json() == "show channels as json"
    assert c.xml_flush_cache() == "xml_flush_cache"
    assert c.xml_flush_cache("dialplan") == "xml_flush_cache dialplan"
    assert (
        c.callcenter_queue_reload("support@default")
        == "callcenter_config queue reload support@default"
    )


def test_esl_verbs():
    assert c.auth("ClueCon") == "auth ClueCon"
    assert c.event_plain(["BACKGROUND_JOB", "CHANNEL_HANGUP_COMPLETE"]) == (
        "event plain BACKGROUND_JOB CHANNEL_HANGUP_COMPLETE"
    )
    assert c.event_plain("ALL") == "event plain ALL"
    assert c.event_plain(["CUSTOM", "sofia::register", "sofia::unregister", "sofia::expire"]) == (
        "event plain CUSTOM sofia::register sofia::unregister sofia::expire"
    )
    assert c.myevents() == "myevents"
    assert c.myevents(U) == f"myevents {U}"
    assert c.linger() == "linger"
    assert c.linger(3) == "linger 3"


def test_sendmsg_blocks_match_the_recorded_shape():
    assert c.sendmsg_execute("answer", event_uuid=J) == (
        f"sendmsg\ncall-command: execute\nexecute-app-name: answer\nevent-lock: true\nEvent-UUID: {J}"
    )
    # the exact arguments used against the real FreeSWITCH (recording 05/05b)
    assert c.sendmsg_execute("playback", "tone_stream://%(1000,0,440);loops=20", lock=False) == (
        "sendmsg\ncall-command: execute\nexecute-app-name: playback\n"
        "execute-app-arg: tone_stream://%(1000,0,440);loops=20"
    )
    pagd = "1 1 1 5000 # tone_stream://%(200,100,440) silence_stream://250 pagd_digit \\d 3000"
    assert (
        c.sendmsg_execute("play_and_get_digits", pagd).splitlines()[3] == f"execute-app-arg: {pagd}"
    )
    assert c.sendmsg_execute("hangup", uuid=U).startswith(f"sendmsg {U}\n")


HOSTILE = [
    "${system(touch /tmp/x)}",
    "$${sound_prefix}",
    "]]>",
    '"<&',
    "a\r\nb",
    "a\nb",
    "a\rb",
    "{}[],|^",
    "x" * 10_000,
    "1005,originate_timeout=999",
    "1005}user/1006",
    "a b",
    "'quoted'",
    "a\x00b",
    "",
]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(
    "builder",
    [
        pytest.param(lambda v: c.user_target(v), id="user_target.ext"),
        pytest.param(lambda v: c.user_target("1005", v), id="user_target.domain"),
        pytest.param(lambda v: c.gateway_target(v, "+74951234567"), id="gateway_target.gw"),
        pytest.param(lambda v: c.gateway_target("gw", v), id="gateway_target.number"),
        pytest.param(lambda v: c.originate(v), id="originate.target"),
        pytest.param(lambda v: c.originate("user/1005", app=v), id="originate.app"),
        pytest.param(
            lambda v: c.originate("user/1005", variables={"pbx_job": v}), id="originate.value"
        ),
        pytest.param(lambda v: c.originate("user/1005", variables={v: "1"}), id="originate.name"),
        pytest.param(lambda v: c.originate("user/1005", origination_uuid=v), id="originate.uuid"),
        pytest.param(
            lambda v: c.originate("user/1005", leg_variables={"leg_timeout": v}), id="originate.leg"
        ),
        pytest.param(lambda v: c.application("playback", v or " "), id="application.arg"),
        pytest.param(lambda v: c.application(v), id="application.name"),
        pytest.param(lambda v: c.uuid_kill(v), id="uuid_kill"),
        pytest.param(lambda v: c.uuid_kill(U, v or " "), id="uuid_kill.cause"),
        pytest.param(lambda v: c.uuid_exists(v), id="uuid_exists"),
        pytest.param(
            lambda v: c.uuid_record(U, "start", "/var/lib/freeswitch/recordings/" + v),
            id="uuid_record.path",
        ),
        pytest.param(
            lambda v: c.uuid_record(v, "start", "/var/lib/freeswitch/recordings/a.wav"),
            id="uuid_record.uuid",
        ),
        pytest.param(lambda v: c.recording_path("t1", v), id="recording_path"),
        pytest.param(lambda v: c.uuid_broadcast(U, v), id="uuid_broadcast.path"),
        pytest.param(lambda v: c.uuid_setvar(U, "pbx_job", v), id="uuid_setvar.value"),
        pytest.param(lambda v: c.uuid_setvar(U, v, "1"), id="uuid_setvar.name"),
        pytest.param(lambda v: c.xml_flush_cache(v), id="xml_flush_cache"),
        pytest.param(lambda v: c.callcenter_queue_reload(v), id="callcenter_queue_reload"),
        pytest.param(lambda v: c.bgapi("status", v), id="bgapi.job_uuid"),
        pytest.param(lambda v: c.sendmsg_execute(v), id="sendmsg.app"),
        pytest.param(lambda v: c.sendmsg_execute("playback", "/a.wav", v), id="sendmsg.event_uuid"),
        pytest.param(lambda v: c.event_plain([v]), id="event_plain"),
        pytest.param(lambda v: c.myevents(v), id="myevents"),
    ],
)
def test_hostile_input_is_rejected(builder, value):
    with pytest.raises(CommandError):
        builder(value)


@pytest.mark.parametrize(
    "value", ["not-a-uuid", U[:-1], U + "0", U.replace("-", ""), "{" + U + "}", " " + U, U + "\n"]
)
@pytest.mark.parametrize(
    "builder",
    [
        c.uuid_kill,
        c.uuid_exists,
        c.myevents,
        lambda v: c.bgapi("status", v),
        lambda v: c.originate("user/1005", origination_uuid=v),
        lambda v: c.originate("user/1005", variables={"origination_uuid": v}),
        lambda v: c.uuid_record(v, "stop", "/var/lib/freeswitch/recordings/a.wav"),
        lambda v: c.uuid_setvar(v, "a", "b"),
        lambda v: c.sendmsg_execute("answer", event_uuid=v),
    ],
)
def test_uuid_arguments_must_be_real_uuids(builder, value):
    with pytest.raises(CommandError):
        builder(value)


@pytest.mark.parametrize(
    "value",
    [
        "${system(touch /tmp/x)}",
        "$${sound_prefix}",
        "a\r\nb",
        "a\nb",
        "x" * 10_000,
        "{}[]|^",
        '"<&',
        "a'b",
    ],
)
def test_hostile_sendmsg_and_bgapi_arguments_are_rejected(value):
    with pytest.raises(CommandError):
        c.sendmsg_execute("playback", value)
    with pytest.raises(CommandError):
        c.bgapi(value, J)


@pytest.mark.parametrize("password", ["", "a\nb", "a\rb", " x", "x\x00"])
def test_auth_rejects_passwords_that_would_break_the_frame(password):
    with pytest.raises(CommandError):
        c.auth(password)


@pytest.mark.parametrize(
    "path",
    [
        "/var/lib/freeswitch/recordings/../../etc/passwd",
        "/var/lib/freeswitch/recordings/./a.wav",
        "/tmp/a.wav",
        "relative/a.wav",
        "/var/lib/freeswitch/recordings",
        "/var/lib/freeswitch/recordings/a b.wav",
        "/var/lib/freeswitch/recordings/.hidden",
    ],
)
def test_recording_paths_stay_under_the_root(path):
    with pytest.raises(CommandError):
        c.uuid_record(U, "start", path)


def test_record_action_and_linger_are_checked():
    with pytest.raises(CommandError):
        c.uuid_record(U, "mask", "/var/lib/freeswitch/recordings/a.wav")
    for bad in (0, -1, True, "3", 10_000):
        with pytest.raises(CommandError):
            c.linger(bad)


def test_unlisted_application_is_rejected():
    for app in ("system", "bgsystem", "lua", "eval"):
        with pytest.raises(CommandError):
            c.sendmsg_execute(app, "x")
        with pytest.raises(CommandError):
            c.originate("user/1005", app=f"&{app}(x)")


def test_variable_values_allow_unicode_letters_but_no_spaces():
    cmd = c.originate("user/1005", variables={"origination_caller_id_name": "Отдел_продаж"})
    assert cmd == "originate {origination_caller_id_name=Отдел_продаж}user/1005 &park()"
    with pytest.raises(CommandError):
        c.originate("user/1005", variables={"origination_caller_id_name": "Отдел продаж"})


def test_variable_names_are_lower_snake_case():
    for name in ("Pbx_Job", "1x", "a-b", "a.b"):
        with pytest.raises(CommandError):
            c.originate("user/1005", variables={name: "1"})


def test_none_variables_are_left_out():
    assert c.originate("user/1005", variables={"pbx_job": 1, "x": None}) == (
        "originate {pbx_job=1}user/1005 &park()"
    )


def test_uuid_bridge_joins_two_real_uuids_and_nothing_else():
    a, b = "0d2f4c1e-8a8e-4f43-9d55-0c1e5f1b9a01", "7b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
    assert c.uuid_bridge(a, b) == f"uuid_bridge {a} {b}"
    for bad in [(a, a), (a, "not-a-uuid"), (a, b + "\nuuid_kill x"), ("${x}", b)]:
        with pytest.raises(CommandError):
            c.uuid_bridge(*bad)


def test_sendmsg_bridge_builds_the_one_braced_argument_from_validated_parts():
    target = c.gateway_target("pstn", "+420777123456")
    msg = c.sendmsg_bridge(
        target, variables={"origination_caller_id_number": "420234234301", "pbx_fictive_call": 7}
    )
    assert msg == (
        "sendmsg\ncall-command: execute\nexecute-app-name: bridge\n"
        "execute-app-arg: {origination_caller_id_number=420234234301,pbx_fictive_call=7}"
        "sofia/gateway/pstn/+420777123456\nevent-lock: true"
    )
    assert c.bridge_dial_string(target, {}) == target


@pytest.mark.parametrize(
    "target, variables",
    [
        ("sofia/gateway/pstn/+420777123456,user/1005", {}),  # a second dial string
        ("sofia/gateway/pstn/420|sofia/gateway/x/1", {}),
        ("sofia/gateway/pstn/+420777123456}{x=1", {}),
        ("sofia/gateway/pstn/+420777123456", {"a": "1}sofia/gateway/pstn/+1900"}),
        ("sofia/gateway/pstn/+420777123456", {"a": "1,origination_caller_id_number=1"}),
        ("sofia/gateway/pstn/+420777123456", {"a": "${system(id)}"}),
        ("sofia/gateway/pstn/+420777123456", {"a": "1\n\napi x"}),
    ],
)
def test_sendmsg_bridge_refuses_anything_that_could_add_a_target_or_a_variable(target, variables):
    with pytest.raises(CommandError):
        c.sendmsg_bridge(target, variables=variables)


def test_message_waiting_tells_one_phone_its_counts():
    assert c.message_waiting("102", "c7.pbx.local", new=2, saved=1) == (
        "sendevent MESSAGE_WAITING\n"
        "MWI-Messages-Waiting: yes\n"
        "MWI-Message-Account: sip:102@c7.pbx.local\n"
        "MWI-Voice-Message: 2/1 (0/0)"
    )
    assert "MWI-Messages-Waiting: no" in c.message_waiting(102, "c7.pbx.local", new=0, saved=3)


@pytest.mark.parametrize(
    "extension,domain,new,saved",
    [
        ("102\nX-Evil: 1", "c7.pbx.local", 1, 0),
        ("102", "c7.pbx.local\n\nsendevent SHUTDOWN", 1, 0),
        ("102", "c7.pbx.local ${system(id)}", 1, 0),
        ("*97", "c7.pbx.local", 1, 0),
        ("102", "c7.pbx.local", -1, 0),
        ("102", "c7.pbx.local", True, 0),
        ("102", "c7.pbx.local", 1, "1\nX: y"),
        ("102", "c7.pbx.local", 10**6, 0),
    ],
)
def test_message_waiting_refuses_what_could_inject_a_header_or_an_event(
    extension, domain, new, saved
):
    with pytest.raises(CommandError):
        c.message_waiting(extension, domain, new=new, saved=saved)
