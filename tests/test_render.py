"""pbx.render: the XML FreeSWITCH gets, against golden files, parsed back, and hostile input.

Pure: model instances are built unsaved with fixed ids, so the golden files never depend on
database sequences. `UPDATE_GOLDEN=1 pytest tests/test_render.py` rewrites the golden files
(review the diff before committing it).
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pbx import render
from pbx.render import Agent, PublicCall, Queue, RenderSettings
from pbx.xmlbuild import NOT_FOUND, RenderError, sip_display_name, without_own_references
from portal.directory.models import Department, Employee, PhoneNumber
from portal.tenants.models import Customer

GOLDEN = Path(__file__).parent / "golden"
CONF = RenderSettings(sip_domain="pbx.example.com", socket_host="127.0.0.1", socket_port=8084)
ALL_OPTIONS = frozenset({render.CALLBACK, render.CALLER_ID, render.CALL_RECORDING})

HOSTILE = [
    "${system(touch /tmp/x)}",
    "$${esl_password}",
    "]]>",
    '"<&',
    "a\r\nb\rc\nd",
    "{}[],|^",
    "<include>x</include><?xml?><!--#include data=x-->",
    '<X-PRE-PROCESS cmd="exec" data="touch /tmp/y"/>',
    "x-pre-process X-PRE-PROCESS xx-pre-x-pre-processprocess",
    "${${}}$$$${{}}",
    "'; DROP TABLE x; --",
    "\x00\x07\u202e\u200b",
    "Ж" * 10_000,
    "${" * 5_000,
]


def customer(pk=12, status="active", language="ru"):
    return Customer(pk=pk, name="ООО Ромашка", status=status, language=language)


def department(pk=34, customer_pk=12, interval=45):
    return Department(
        pk=pk, customer_id=customer_pk, name="Продажи", queue_announce_interval=interval
    )


def employee(pk=56, ext="101", dept=34, customer_pk=12, name="Иван Петров", **kw):
    kw.setdefault("sip_password", "s3cret-Pass_word")
    return Employee(
        pk=pk, customer_id=customer_pk, department_id=dept, extension=ext, name=name, **kw
    )


def number(pk=78, e164="+74951234567", kind=PhoneNumber.Kind.MULTICHANNEL, dept=34, label=""):
    return PhoneNumber(pk=pk, customer_id=12, e164=e164, kind=kind, department_id=dept, label=label)


NUMBERS = [
    number(),
    number(pk=79, e164="+74951234500", kind=PhoneNumber.Kind.REGULAR, dept=35),
]


def golden(name: str, text: str) -> ET.Element:
    """Compare with tests/golden/<name>.xml and parse back."""
    path = GOLDEN / f"{name}.xml"
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name}: differs from {path}"
    return assert_safe(text)


def assert_safe(text: str) -> ET.Element:
    """Parses; only our own `$` references; nothing FreeSWITCH's preprocessor would act on."""
    root = ET.fromstring(text)
    assert root.tag == "document" and root.get("type") == "freeswitch/xml"
    assert "$" not in without_own_references(text)
    for line in text.splitlines():
        assert "<include>" not in line and "</include>" not in line and "<?" not in line
        assert "x-pre-process" not in line.lower()
        assert "<!--" not in line
    return root


def actions(root: ET.Element) -> list[tuple[str, str]]:
    return [(a.get("application"), a.get("data", "")) for a in root.iter("action")]


# --------------------------------------------------------------------------- naming


def test_names_are_derived_from_ids_only():
    assert render.sip_domain(12, "pbx.example.com") == "c12.pbx.example.com"
    assert render.customer_id_from_domain("C12.PBX.example.com", "pbx.example.com") == 12
    assert render.customer_id_from_domain("c12.evil.com", "pbx.example.com") is None
    assert render.customer_id_from_domain("c012.pbx.example.com", "pbx.example.com") is None
    assert render.customer_id_from_domain("x.c12.pbx.example.com", "pbx.example.com") is None
    assert render.customer_context(12) == "customer_12"
    assert render.customer_id_from_context("customer_12") == 12
    assert render.customer_id_from_context("customer_12 ") is None
    assert render.queue_name(12, 34) == "c12_d34@default"
    assert render.agent_name(12, 56) == "c12_e56"
    with pytest.raises(RenderError):
        render.queue_name("12; rm", 34)


def test_display_names_keep_letters_of_any_alphabet_and_lose_everything_else():
    assert sip_display_name("Иван  Петров-Водкин") == "Иван Петров-Водкин"
    assert sip_display_name("Jan Novák, Ph.D.") == "Jan Novák Ph.D."
    assert sip_display_name("${system(touch /tmp/x)}") == "systemtouch tmpx"
    assert sip_display_name("$${esl_password}") == "esl_password"
    assert sip_display_name("a X-PRE-PROCESS b x-pre-x-pre-processprocess") == "a b"
    assert len(sip_display_name("Ж" * 10_000)) == 40
    assert sip_display_name("\r\n\t") == ""


def test_e164_accepts_only_digits_and_a_plus():
    assert render.e164("84951234567") == "+74951234567"
    assert render.e164("+74951234567") == "+74951234567"
    for junk in ["+7495FLOWERS", "+7 495 123 45 67", "${x}", "", "1" * 20, "+74951234567\n"]:
        assert render.e164(junk) is None


# --------------------------------------------------------------------------- directory


def test_directory_user_golden_with_caller_id_option():
    text = render.render_directory_user(
        customer(),
        employee(caller_id_option=True),
        numbers=NUMBERS,
        options=ALL_OPTIONS,
        settings=CONF,
    )
    root = golden("directory_user", text)
    domain = root.find("section/domain")
    assert domain.get("name") == "c12.pbx.example.com"
    user = domain.find("groups/group/users/user")
    assert user.get("id") == "101"
    assert user.find("params/param[@name='password']").get("value") == "s3cret-Pass_word"
    variables = {v.get("name"): v.get("value") for v in user.iter("variable")}
    assert variables == {
        "user_context": "customer_12",
        "pbx_customer": "12",
        "pbx_employee": "56",
        "pbx_department": "34",
        "effective_caller_id_name": "Иван Петров",
        "effective_caller_id_number": "101",
        "outbound_caller_id_number": "+74951234567",  # АОН: the department's multichannel number
        "toll_allow": "none",
    }


def test_directory_user_without_caller_id_option_presents_the_first_number():
    text = render.render_directory_user(
        customer(), employee(caller_id_option=True), numbers=NUMBERS, options=(), settings=CONF
    )
    root = golden("directory_user_no_aon", text)
    variables = {v.get("name"): v.get("value") for v in root.iter("variable")}
    assert variables["outbound_caller_id_number"] == "+74951234500"


def test_inactive_employee_or_unsafe_password_is_not_served():
    inactive = employee(is_active=False)
    assert render.render_directory_user(customer(), inactive, settings=CONF) == NOT_FOUND
    for password in ["$${esl_password}", "${x}", 'a"b<c>d&e', "short", "x-pre-process-123"]:
        emp = employee(sip_password=password)
        assert render.render_directory_user(customer(), emp, settings=CONF) == NOT_FOUND


def test_directory_domain_lists_active_users_and_skips_unsafe_ones():
    employees = [
        employee(pk=1, ext="101"),
        employee(pk=2, ext="102", sip_password="${system(id)}"),
        employee(pk=3, ext="103", is_active=False),
        employee(pk=4, ext="104", dept=None),
    ]
    text = render.render_directory_domain(customer(), employees, numbers=NUMBERS, settings=CONF)
    root = golden("directory_domain", text)
    assert [u.get("id") for u in root.iter("user")] == ["101", "104"]


# --------------------------------------------------------------------------- public dialplan


def public(kind, options=(), dept=34, employees=(), status="active", dialed="74951234567"):
    call = PublicCall(
        number=number(kind=kind, dept=dept),
        customer=customer(status=status),
        employees=list(employees),
        options=frozenset(options),
    )
    return render.render_public_dialplan(dialed, call, settings=CONF)


def test_multichannel_number_with_callback_and_recording_golden():
    root = golden("dialplan_public_multichannel_options_on", public("multichannel", ALL_OPTIONS))
    context = root.find("section/context")
    assert context.get("name") == "public"
    condition = context.find("extension/condition")
    assert condition.get("field") == "destination_number"
    assert condition.get("expression") == "^74951234567$"
    steps = actions(root)
    assert ("set", "pbx_customer=12") in steps
    assert ("set", "pbx_number=78") in steps
    assert ("set", "pbx_number_e164=+74951234567") in steps
    assert ("set", "pbx_department=34") in steps
    assert ("set", "cc_exit_keys=1") in steps
    assert ("record_session", "${pbx_recording}") in steps
    assert ("set", "pbx_recording=$${pbx_recordings_dir}/c12/n78/${uuid}.wav") in steps
    queue = steps.index(("callcenter", "c12_d34@default"))
    assert steps[queue + 1] == ("transfer", "queue_exit XML customer_12")
    # The offer (and the exit key) only for callers with a number we can call back; the others
    # wait in the twin queue that has no "press 1" announcement.
    offer = context.findall("extension/condition")[1]
    assert offer.get("field") == "caller_id_number"
    assert [a.get("data") for a in offer.findall("anti-action")] == [
        "c12_d34_plain@default",
        "NORMAL_CLEARING",
    ]
    expression = re.compile(offer.get("expression"))
    for callable_number in ("74951234567", "+74951234567", "420234234399"):
        assert expression.match(callable_number)
    for anonymous in ("anonymous", "unknown", "", "0000000000", "101", "+7 495"):
        assert not expression.match(anonymous)


def test_multichannel_number_without_options_golden():
    root = golden("dialplan_public_multichannel_options_off", public("multichannel"))
    steps = actions(root)
    assert ("callcenter", "c12_d34@default") in steps
    assert not [s for s in steps if s[1].startswith("cc_exit_keys")]
    assert not [s for s in steps if s[0] in ("record_session", "transfer")]
    assert steps[-1] == ("hangup", "NORMAL_CLEARING")


def test_regular_number_rings_the_department_at_once_golden():
    staff = [
        employee(pk=1, ext="101"),
        employee(pk=2, ext="102"),
        employee(pk=3, ext="103", is_active=False),
    ]
    root = golden(
        "dialplan_public_regular", public("regular", employees=staff, dialed="+74951234567")
    )
    assert ("bridge", "user/101@c12.pbx.example.com,user/102@c12.pbx.example.com") in actions(root)
    assert root.find("section/context/extension/condition").get("expression") == r"^\+74951234567$"


def test_regular_number_of_an_empty_department_hangs_up():
    steps = actions(ET.fromstring(public("regular", employees=[])))
    assert steps[-1] == ("hangup", "SUBSCRIBER_ABSENT")
    assert not [s for s in steps if s[0] == "bridge"]


@pytest.mark.parametrize(
    ("kind", "flow"),
    [("access", "fictive_access"), ("return", "fictive_return"), ("fictive", "fictive")],
)
def test_fictive_numbers_go_to_the_call_control_socket(kind, flow):
    root = golden(
        f"dialplan_public_{kind}", public(kind, options={render.CALL_RECORDING}, dept=None)
    )
    steps = actions(root)
    assert ("set", f"pbx_flow={flow}") in steps
    assert ("socket", "127.0.0.1:8084 async full") in steps
    assert steps.index(("set", f"pbx_flow={flow}")) < steps.index(
        ("socket", "127.0.0.1:8084 async full")
    )


def test_unknown_number_is_unallocated_golden():
    root = golden(
        "dialplan_public_unknown", render.render_public_dialplan("74990000000", None, settings=CONF)
    )
    assert actions(root) == [("hangup", "UNALLOCATED_NUMBER")]
    for junk in ["", "${x}", "+7 495", "1" * 40]:
        assert actions(ET.fromstring(render.render_public_dialplan(junk, None, settings=CONF))) == [
            ("hangup", "UNALLOCATED_NUMBER")
        ]


def test_suspended_customer_hears_unavailable():
    steps = actions(ET.fromstring(public("multichannel", ALL_OPTIONS, status="suspended")))
    assert ("playback", "$${pbx_unavailable_playback}") in steps
    assert not [s for s in steps if s[0] in ("callcenter", "bridge", "socket")]


# --------------------------------------------------------------------------- customer context


def test_extension_to_extension_golden():
    text = render.render_customer_dialplan(
        customer(),
        "102",
        target=employee(pk=57, ext="102"),
        options={render.CALL_RECORDING},
        settings=CONF,
    )
    root = golden("dialplan_customer_extension", text)
    assert root.find("section/context").get("name") == "customer_12"
    steps = actions(root)
    assert ("bridge", "user/102@c12.pbx.example.com") in steps
    assert ("set", "pbx_recording=$${pbx_recordings_dir}/c12/${uuid}.wav") in steps


def test_queue_exit_hands_the_caller_who_pressed_1_to_the_callback_flow_golden():
    text = render.render_customer_dialplan(
        customer(), "queue_exit", options=ALL_OPTIONS, settings=CONF
    )
    root = golden("dialplan_customer_queue_exit", text)
    conditions = root.findall("section/context/extension/condition")
    assert conditions[1].get("field") == "${cc_exit_key}"
    assert conditions[1].get("expression") == "^1$"
    assert [(a.get("application"), a.get("data")) for a in conditions[1].findall("action")] == [
        ("set", "pbx_flow=callback_request"),
        ("socket", "127.0.0.1:8084 async full"),
        ("hangup", "NORMAL_CLEARING"),
    ]
    assert conditions[1].find("anti-action").get("application") == "hangup"
    off = render.render_customer_dialplan(customer(), "queue_exit", options=(), settings=CONF)
    assert "socket" not in off and "callback_request" not in off


def test_outside_number_goes_out_through_the_trunk_golden():
    text = render.render_customer_dialplan(customer(), "84957654321", settings=CONF)
    root = golden("dialplan_customer_outbound", text)
    assert ("bridge", "sofia/gateway/pstn/+74957654321") in actions(root)


def test_unknown_extension_is_unallocated():
    for dialed in ["999", "${system(id)}", "", "queue_exit2"]:
        text = render.render_customer_dialplan(customer(), dialed, settings=CONF)
        assert actions(assert_safe(text)) == [("hangup", "UNALLOCATED_NUMBER")]


# --------------------------------------------------------------------------- callcenter


def queues():
    agents = (Agent(12, 56, "101"), Agent(12, 57, "102"))
    return [
        Queue(12, 34, callback=True, announce_interval=45, language="ru", agents=agents),
        Queue(12, 35, callback=False, agents=(Agent(12, 57, "102"), Agent(13, 99, "101"))),
        Queue(
            13,
            36,
            callback=True,
            announce_interval=5,
            language="en",
            agents=(Agent(13, 99, "101"),),
        ),
    ]


def params_of(queue):
    return {p.get("name"): p.get("value") for p in queue.iter("param")}


def test_callcenter_config_golden():
    root = golden("callcenter", render.render_callcenter_config(queues(), settings=CONF))
    config = root.find("section/configuration")
    assert config.get("name") == "callcenter.conf"
    by_name = {q.get("name"): q for q in config.iter("queue")}
    # Queues with the callback offer get a twin without it, for callers we cannot call back.
    assert list(by_name) == [
        "c12_d34@default",
        "c12_d34_plain@default",
        "c12_d35@default",
        "c13_d36@default",
        "c13_d36_plain@default",
    ]
    assert "announce-sound" not in params_of(by_name["c12_d34_plain@default"])

    params = params_of
    assert params(by_name["c12_d34@default"])["announce-frequency"] == "45"
    assert (
        params(by_name["c12_d34@default"])["announce-sound"]
        == "$${pbx_sounds_dir}/ru/callback_offer.wav"
    )
    assert "announce-sound" not in params(by_name["c12_d35@default"])  # callback off
    assert params(by_name["c13_d36@default"])["announce-frequency"] == "10"  # clamped
    agents = {a.get("name"): a.get("contact") for a in config.iter("agent")}
    assert agents == {
        "c12_e56": "user/101@c12.pbx.example.com",
        "c12_e57": "user/102@c12.pbx.example.com",
        "c13_e99": "user/101@c13.pbx.example.com",
    }
    tiers = [(t.get("agent"), t.get("queue")) for t in config.iter("tier")]
    # An agent of another customer never joins a queue (c13_e99 listed under c12_d35 is dropped).
    assert tiers == [
        ("c12_e56", "c12_d34@default"),
        ("c12_e56", "c12_d34_plain@default"),
        ("c12_e57", "c12_d34@default"),
        ("c12_e57", "c12_d34_plain@default"),
        ("c12_e57", "c12_d35@default"),
        ("c13_e99", "c13_d36@default"),
        ("c13_e99", "c13_d36_plain@default"),
    ]


# --------------------------------------------------------------------------- hostile input


@pytest.mark.parametrize("evil", HOSTILE, ids=lambda s: repr(s[:20]))
def test_hostile_strings_in_every_user_supplied_field_stay_inert(evil):
    cust = Customer(pk=12, name=evil, status="active", language=evil)
    emp = employee(name=evil, caller_id_option=True)
    num = number(label=evil)
    dept = department()
    dept.name = evil
    outputs = [
        render.render_directory_user(cust, emp, numbers=[num], options=ALL_OPTIONS, settings=CONF),
        render.render_directory_domain(
            cust, [emp], numbers=[num], options=ALL_OPTIONS, settings=CONF
        ),
        render.render_public_dialplan(
            "74951234567",
            PublicCall(number=num, customer=cust, employees=[emp], options=ALL_OPTIONS),
            settings=CONF,
        ),
        render.render_customer_dialplan(
            cust, "101", target=emp, options=ALL_OPTIONS, settings=CONF
        ),
        render.render_customer_dialplan(cust, evil[:40], options=ALL_OPTIONS, settings=CONF),
        render.render_public_dialplan(evil[:40], None, settings=CONF),
        render.render_callcenter_config(
            [Queue(12, 34, callback=True, language=evil, agents=(Agent(12, 56, evil[:10]),))],
            settings=CONF,
        ),
    ]
    for text in outputs:
        root = assert_safe(text)
        for element in root.iter():
            for value in [*element.attrib.values(), element.text or ""]:
                assert "${system" not in value and "$${esl" not in value
                assert "\r" not in value and "\n" not in value.strip("\n ")
    name = {v.get("name"): v.get("value") for v in ET.fromstring(outputs[0]).iter("variable")}[
        "effective_caller_id_name"
    ]
    assert re.fullmatch(r"[\w .-]{1,40}", name), name


def test_settings_are_validated():
    with pytest.raises(RenderError):
        RenderSettings(sip_domain="pbx.example.com;${x}")
    with pytest.raises(RenderError):
        RenderSettings(socket_host="127.0.0.1 async full; x")
    with pytest.raises(RenderError):
        RenderSettings(socket_port=0)


def test_the_push_guard_recognises_the_portals_callcenter_conf_and_not_the_file_fallback():
    """pbx.service postpones queue reloads unless FreeSWITCH can fetch the portal's
    callcenter.conf (it tells it from freeswitch_conf's fallback by this mark)."""
    from pbx.service import CALLCENTER_PORTAL_MARK

    assert CALLCENTER_PORTAL_MARK in render.render_callcenter_config([], settings=CONF)
    fallback = Path(__file__).parent.parent / "freeswitch_conf/autoload_configs/callcenter.conf.xml"
    assert 'name="callcenter.conf"' in fallback.read_text()
    assert CALLCENTER_PORTAL_MARK not in fallback.read_text()


def test_with_auto_redial_a_busy_or_unreachable_extension_goes_to_the_redial_offer():
    text = render.render_customer_dialplan(
        customer(), "102", target=employee(pk=57, ext="102"), options={"auto_redial"}, settings=CONF
    )
    steps = actions(assert_safe(text))
    causes = next(d for a, d in steps if a == "set" and d.startswith("continue_on_fail="))
    assert set(causes.split("=", 1)[1].split(",")) == render.REDIAL_CAUSES
    assert "NO_ANSWER" not in causes and "CALL_REJECTED" not in causes
    i = steps.index(("bridge", "user/102@c12.pbx.example.com"))
    assert ("set", "pbx_redial_callee=57") in steps[:i]
    assert steps[i + 1 :] == [
        ("set", "pbx_flow=redial_offer"),
        ("socket", "127.0.0.1:8084 async full"),
        ("hangup", "NO_ANSWER"),
    ]
    off = render.render_customer_dialplan(
        customer(), "102", target=employee(pk=57, ext="102"), options=(), settings=CONF
    )
    assert "redial" not in off and "continue_on_fail" not in off


def test_an_integrated_number_exports_what_the_answered_employee_leg_must_carry():
    staff = [employee(pk=1, ext="101")]
    steps = actions(ET.fromstring(public("regular", {"integrated_number"}, employees=staff)))
    i = steps.index(("bridge", "user/101@c12.pbx.example.com"))
    assert ("export", "pbx_customer=12") in steps[:i]
    assert [s for s in steps[:i] if s[0] == "export" and s[1].startswith("pbx_number=")]
    plain = actions(ET.fromstring(public("regular", employees=staff)))
    assert not [s for s in plain if s[0] == "export"]
