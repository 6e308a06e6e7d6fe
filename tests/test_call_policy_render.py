"""Outbound call policy in the dialplan FreeSWITCH runs (pbx.destinations, pbx.render).

Pure: unsaved model instances, no database. The services that set the policy and flip the
paid-calls flag are tested in tests/test_call_policy_services.py.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from pbx import destinations, render
from pbx.destinations import OutboundPolicy
from pbx.render import RenderSettings
from pbx.xmlbuild import RenderError, without_own_references
from portal.directory.models import Employee
from portal.tenants.models import Customer

CONF = RenderSettings(sip_domain="pbx.example.com")
HOME = ["+74951234567"]

# (dialled, class): the destinations of the hostile test run of issue 14, and ordinary ones.
CLASSES = [
    ("88095551234", destinations.PREMIUM),  # RU 8-809
    ("+78095551234", destinations.PREMIUM),
    ("88035551234", destinations.PREMIUM),  # RU 8-803
    ("+449091234567", destinations.PREMIUM),  # UK 909
    ("+19005551234", destinations.PREMIUM),  # US 900
    ("+37190123456", destinations.PREMIUM),  # LV 90
    ("+881612345678", destinations.SATELLITE),  # Iridium
    ("+870772123456", destinations.SATELLITE),  # Inmarsat
    ("+5378123456", destinations.INTERNATIONAL),  # Cuba
    ("+23276123456", destinations.INTERNATIONAL),  # Sierra Leone
    ("810442079460000", destinations.INTERNATIONAL),  # 810: the RU international prefix
    ("+442079460000", destinations.INTERNATIONAL),
    ("+77012345678", destinations.INTERNATIONAL),  # Kazakhstan shares +7
    ("84957654321", destinations.LOCAL),  # the customer's own area (495)
    ("88121234567", destinations.NATIONAL),  # St Petersburg
    ("88001234567", destinations.NATIONAL),  # toll-free
    ("89161234567", destinations.MOBILE),
]
REFUSED_BY_DEFAULT = [(d, c) for d, c in CLASSES if c in destinations.OPT_IN]


# a refusal plays the special information tone (no file needed), then the prompt
REFUSAL_TONE = "file_string://$${pbx_unavailable_tone}!"


def customer(pk=12, status="active", language="ru"):
    return Customer(pk=pk, name="ООО Ромашка", status=status, language=language)


def steps(root: ET.Element) -> list[tuple[str, str]]:
    return [(a.get("application"), a.get("data", "")) for a in root.iter("action")]


def anti_steps(root: ET.Element) -> list[tuple[str, str]]:
    return [(a.get("application"), a.get("data", "")) for a in root.iter("anti-action")]


def dialplan(destination, policy=None, cust=None, target=None, conf=CONF) -> ET.Element:
    text = render.render_customer_dialplan(
        cust or customer(),
        destination,
        target=target,
        policy=policy,
        home_numbers=HOME,
        settings=conf,
    )
    assert "$" not in without_own_references(text)
    return ET.fromstring(text)


def bridges(root: ET.Element) -> list[str]:
    return [data for app, data in steps(root) if app == "bridge"]


def policy(*classes: str, **kw) -> OutboundPolicy:
    return OutboundPolicy(allowed=destinations.DEFAULT_ALLOWED | set(classes), **kw)


# --------------------------------------------------------------------------- classes


@pytest.mark.parametrize(("dialled", "cls"), CLASSES)
def test_destinations_are_classified_by_number_type_and_the_platform_table(dialled, cls):
    got = destinations.classify(dialled, region="RU", home_numbers=HOME)
    assert got is not None and got.cls == cls


@pytest.mark.parametrize(("dialled", "cls"), REFUSED_BY_DEFAULT)
def test_premium_satellite_and_international_are_refused_by_default(dialled, cls):
    root = dialplan(dialled)
    assert bridges(root) == []
    assert ("hangup", "OUTGOING_CALL_BARRED") in steps(root)
    assert ("pre_answer", "") in steps(root) and ("answer", "") not in steps(root)
    assert ("playback", REFUSAL_TONE + "$${pbx_sounds_dir}/ru/call_barred.wav") in steps(root)
    assert ("set", f"pbx_destination_class={cls}") in steps(root)


@pytest.mark.parametrize(("dialled", "cls"), REFUSED_BY_DEFAULT)
def test_a_class_switched_on_goes_out_for_phones_whose_toll_allow_has_it(dialled, cls):
    root = dialplan(dialled, policy(cls))
    e164 = destinations.classify(dialled, region="RU").number
    assert bridges(root) == [f"sofia/gateway/pstn/{e164}"]
    phone = root.find(".//condition[@field='${toll_allow}']")
    assert phone is not None
    expression = re.compile(phone.get("expression"))
    assert expression.match(cls) and expression.match(f"international,{cls},satellite")
    assert not expression.match("none") and not expression.match(f"x{cls}")
    assert ("hangup", "OUTGOING_CALL_BARRED") in anti_steps(root)


@pytest.mark.parametrize("cls", sorted(destinations.OPT_IN))
def test_switching_one_opt_in_class_on_leaves_the_others_refused(cls):
    for dialled, other in REFUSED_BY_DEFAULT:
        if other != cls:
            assert bridges(dialplan(dialled, policy(cls))) == [], (dialled, other)


def test_ordinary_destinations_go_out_without_a_toll_allow_check():
    for dialled in ("84957654321", "88121234567", "89161234567", "88001234567"):
        root = dialplan(dialled)
        assert len(bridges(root)) == 1
        assert root.find(".//condition[@field='${toll_allow}']") is None


def test_a_blocked_prefix_of_the_platform_table_is_never_connected():
    conf = RenderSettings(
        sip_domain="pbx.example.com",
        prefixes={**destinations.PLATFORM_PREFIXES, "+53": destinations.BLOCKED},
    )
    everything = policy(*destinations.SWITCHABLE)
    assert bridges(dialplan("+5378123456", everything, conf=conf)) == []
    assert len(bridges(dialplan("+442079460000", everything, conf=conf))) == 1


def test_the_prefix_setting_refuses_malformed_entries():
    assert destinations.parse_prefixes("+53=blocked, +7809=premium") == {
        "+53": "blocked",
        "+7809": "premium",
    }
    for bad in ("53=blocked", "+53=free", "+5${x}=blocked", "+53"):
        with pytest.raises(ValueError):
            destinations.parse_prefixes(bad)


# --------------------------------------------------------------------------- directory


def employee(pk=56, ext="101"):
    return Employee(
        pk=pk, customer_id=12, department_id=None, extension=ext, name="Иван",
        sip_password="s3cret-Pass_word", is_active=True,
    )  # fmt: skip


def toll_allow(policy_=None, barred=()) -> str:
    text = render.render_directory_user(
        customer(), employee(), policy=policy_, barred=barred, settings=CONF
    )
    root = ET.fromstring(text)
    return next(v.get("value") for v in root.iter("variable") if v.get("name") == "toll_allow")


def test_toll_allow_lists_the_opt_in_classes_of_the_customer_minus_the_employees_barrings():
    assert toll_allow() == "none"
    assert toll_allow(policy("international", "satellite")) == "international,satellite"
    assert toll_allow(policy("international", "satellite"), {"international"}) == "satellite"
    assert toll_allow(policy("premium"), {"premium"}) == "none"


# --------------------------------------------------------------------------- emergency


@pytest.mark.parametrize("dialled", ["112", "101", "102", "103", "104", "01", "02", "03", "04"])
def test_emergency_numbers_are_routed_whatever_the_policy_or_the_customer_state(dialled):
    blocked = policy(paid_blocked="balance", max_calls=1)
    for cust in (customer(), customer(status="suspended")):
        root = dialplan(dialled, blocked, cust=cust)
        assert bridges(root) == [f"sofia/gateway/pstn/{dialled}"]
        assert ("export", "pbx_flow=emergency") in steps(root)
        assert not [s for s in steps(root) if s[0] in ("limit", "playback")]


def test_the_emergency_route_setting_chooses_gateway_and_number():
    conf = RenderSettings(sip_domain="pbx.example.com", emergency_route="psap/+74950000112")
    assert bridges(dialplan("112", conf=conf)) == ["sofia/gateway/psap/+74950000112"]
    conf = RenderSettings(sip_domain="pbx.example.com", emergency_route="psap")
    assert bridges(dialplan("103", conf=conf)) == ["sofia/gateway/psap/103"]
    for bad in ("", "psap/${x}", "a b", "psap/12a", "../x"):
        with pytest.raises(RenderError):
            RenderSettings(sip_domain="pbx.example.com", emergency_route=bad)


def test_an_own_extension_wins_over_101_to_104_but_never_over_112():
    root = dialplan("101", target=employee(ext="101"))
    assert bridges(root) == ["user/101@c12.pbx.example.com"]
    root = dialplan("112", target=employee(ext="112"))
    assert bridges(root) == ["sofia/gateway/pstn/112"]


# --------------------------------------------------------------------------- limits and money


def test_limits_of_the_policy_are_rendered_as_limit_hash_with_a_prompt_destination():
    root = dialplan("89161234567", policy(max_calls=3, max_calls_per_phone=1, calls_per_minute=7))
    limits = [data for app, data in steps(root) if app == "limit"]
    tail = "pbx_limit_exceeded XML customer_12"
    assert limits == [
        f"hash pbx_out_rate c12 7/60 {tail}",
        f"hash pbx_out c12 3 {tail}",
        f"hash pbx_out_phone c12_e${{pbx_employee}} 1 {tail}",
    ]
    names = [a.get("application") for a in root.iter("action")]
    assert names.index("limit") < names.index("bridge")  # counted before the call goes out


def test_the_limit_exceeded_destination_plays_a_prompt_and_never_dials():
    root = dialplan(render.LIMIT_EXCEEDED, cust=customer(language="en"))
    assert bridges(root) == []
    assert ("playback", REFUSAL_TONE + "$${pbx_sounds_dir}/en/call_limit_reached.wav") in steps(
        root
    )
    assert ("hangup", "NORMAL_CIRCUIT_CONGESTION") in steps(root)


@pytest.mark.parametrize(
    ("reason", "prompt"), [("spend_cap", "spend_cap_reached"), ("balance", "balance_too_low")]
)
def test_paid_calls_blocked_refuses_every_outside_call_with_its_prompt(reason, prompt):
    for dialled in ("84957654321", "89161234567", "+442079460000"):
        root = dialplan(dialled, policy("international", paid_blocked=reason))
        assert bridges(root) == []
        assert ("playback", f"{REFUSAL_TONE}$${{pbx_sounds_dir}}/ru/{prompt}.wav") in steps(root)
        assert ("hangup", "CALL_REJECTED") in steps(root)
    # internal calls and emergency numbers are not paid calls
    assert bridges(dialplan("112", policy(paid_blocked=reason))) == ["sofia/gateway/pstn/112"]


def test_policy_values_are_validated():
    for bad in ({"max_calls": 0}, {"calls_per_minute": "5 x"}, {"paid_blocked": "${x}"}):
        with pytest.raises(ValueError):
            OutboundPolicy(**bad)


# --------------------------------------------------------------------------- hostile


HOSTILE_DESTINATIONS = [
    "8809${system(id)}",
    "+7809|sofia/gateway/x/1",
    "112,sofia/gateway/pstn/88095551234",
    "89161234567 ",
    "89161234567\n",
    "+79161234567^^:x",
    "{a=b}89161234567",
    "$${esl_password}",
    "+4420794600001234567890",
    "88095551234@evil",
    "01;02",
    "１１２",  # full-width digits
    "+1-900-555-1234",
]


@pytest.mark.parametrize("dialled", HOSTILE_DESTINATIONS)
def test_hostile_destinations_never_reach_a_dial_string(dialled):
    everything = policy(*destinations.SWITCHABLE)
    root = dialplan(dialled, everything)
    assert bridges(root) == []
    assert [a.get("data") for a in root.iter("action")] == ["UNALLOCATED_NUMBER"]
