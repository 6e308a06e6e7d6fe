"""Call forwarding's part of the dialplan (portal/forwarding/dialplan.py), rendered purely, and
its pure rules (portal/forwarding/rules.py). Golden files tests/golden/forwarding_*.xml."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from pbx import render
from pbx.xmlbuild import without_own_references
from portal.directory.models import PhoneNumber
from portal.forwarding import rules
from portal.forwarding.dialplan import Loaded, Target, dialplan

from .test_render import CONF, customer, employee, golden, number

FWD = frozenset({"call_forwarding"})
OURS = ()


def apps(xml: str) -> list[tuple[str, str]]:
    return [(a.get("application"), a.get("data") or "") for a in ET.fromstring(xml).iter("action")]


def safe(xml: str) -> None:
    text = without_own_references(xml)
    for ref in OURS:
        text = text.replace(ref, "")
    assert "$" not in text


def regular(employees, loaded, options=FWD):
    return render.PublicCall(
        number=number(kind=PhoneNumber.Kind.REGULAR),
        customer=customer(),
        employees=employees,
        options=options,
        features=[dialplan],
        data={"forwarding": loaded},
    )


def bridge_of(xml: str) -> str:
    return next(d for a, d in apps(xml) if a == "bridge")


def test_always_to_another_employee_rings_that_employee_marked_as_forwarded():
    loaded = Loaded(rules={56: {"always": Target("always", extension="102")}})
    xml = render.render_public_dialplan(
        "74951234567", regular([employee(), employee(pk=58, ext="103")], loaded), settings=CONF
    )
    golden("forwarding_always_employee", xml)
    assert bridge_of(xml) == (
        "[pbx_forwarded=56]user/102@c12.pbx.example.com,user/103@c12.pbx.example.com"
    )
    safe(xml)


def test_always_to_a_mobile_goes_through_the_customers_own_dialplan():
    loaded = Loaded(
        rules={56: {"always": Target("always", number="+79161234567")}},
        presented={56: "+74951234567"},
    )
    xml = render.render_customer_dialplan(
        customer(),
        "101",
        target=employee(),
        options=FWD,
        settings=CONF,
        features=[dialplan],
        data={"forwarding": loaded},
    )
    golden("forwarding_always_mobile", xml)
    assert bridge_of(xml) == (
        "[pbx_forwarded=56,pbx_employee=56,outbound_caller_id_number=+74951234567]"
        "loopback/+79161234567/customer_12"
    )


def test_a_mobile_without_a_number_to_present_rings_the_phone_as_usual():
    loaded = Loaded(rules={56: {"always": Target("always", number="+79161234567")}})
    xml = render.render_customer_dialplan(
        customer(),
        "101",
        target=employee(),
        options=FWD,
        settings=CONF,
        features=[dialplan],
        data={"forwarding": loaded},
    )
    assert bridge_of(xml) == "user/101@c12.pbx.example.com"


def test_conditional_forwarding_rings_a_forwarding_leg_with_room_for_both_rings():
    loaded = Loaded(
        rules={
            56: {
                "busy": Target("busy", extension="102"),
                "no_answer": Target("no_answer", number="+79161234567", ring_seconds=15),
            }
        }
    )
    xml = render.render_public_dialplan("74951234567", regular([employee()], loaded), settings=CONF)
    assert bridge_of(xml) == (
        "[leg_timeout=50,pbx_forwarded=56,pbx_employee=56]loopback/pbx_fwd_56/customer_12"
    )


def _forward_leg(destination, loaded, options=FWD):
    return render.render_customer_dialplan(
        customer(),
        destination,
        options=options,
        settings=CONF,
        features=[dialplan],
        data={"forwarding": loaded},
    )


def test_the_forwarding_leg_rings_the_phone_then_transfers_on_the_failure_cause():
    loaded = Loaded(
        rules={
            56: {
                "busy": Target("busy", extension="102"),
                "no_answer": Target("no_answer", number="+79161234567", ring_seconds=15),
            }
        },
        employees={56: employee()},
        presented={56: "+74951234567"},
    )
    xml = _forward_leg("pbx_fwd_56", loaded)
    golden("forwarding_leg", xml)
    root = ET.fromstring(xml)
    conditions = list(root.iter("condition"))
    assert (
        conditions[1].get("field") == "${pbx_employee}"
        and conditions[1].get("expression") == "^56$"
    )
    got = apps(xml)
    assert ("set", "pbx_direction=internal") in got
    fail = next(d for a, d in got if a == "set" and d.startswith("continue_on_fail="))
    assert set(fail.split("=", 1)[1].split(",")) == rules.CAUSES["busy"] | rules.CAUSES["no_answer"]
    assert ("set", "call_timeout=15") in got
    assert ("bridge", "user/101@c12.pbx.example.com") in got
    assert ("transfer", "pbx_fwd_56_${originate_disposition} XML customer_12") in got
    safe(xml)

    busy = apps(_forward_leg("pbx_fwd_56_USER_BUSY", loaded))
    assert ("bridge", "[pbx_forwarded=56]user/102@c12.pbx.example.com") in busy
    no_answer = apps(_forward_leg("pbx_fwd_56_NO_ANSWER", loaded))
    assert (
        "bridge",
        "[pbx_forwarded=56,pbx_employee=56,outbound_caller_id_number=+74951234567]loopback/+79161234567/customer_12",
    ) in no_answer
    # a cause no rule covers ends the leg with that cause
    assert apps(_forward_leg("pbx_fwd_56_USER_NOT_REGISTERED", loaded))[-1] == (
        "hangup",
        "USER_NOT_REGISTERED",
    )


@pytest.mark.parametrize("options", [frozenset(), FWD])
def test_nothing_is_rendered_with_the_option_off_or_no_rule(options):
    loaded = (
        Loaded(rules={56: {"always": Target("always", extension="102")}}) if not options else None
    )
    with_feature = render.render_public_dialplan(
        "74951234567", regular([employee()], loaded, options), settings=CONF
    )
    plain = render.PublicCall(
        number=number(kind=PhoneNumber.Kind.REGULAR),
        customer=customer(),
        employees=[employee()],
        options=options,
    )
    assert with_feature == render.render_public_dialplan("74951234567", plain, settings=CONF)
    # the forwarding leg of a switched-off option is an unallocated number
    leg = _forward_leg(
        "pbx_fwd_56",
        Loaded(rules={56: {"busy": Target("busy", extension="102")}}, employees={56: employee()}),
        options,
    )
    if not options:
        assert [a for a, _ in apps(leg)] == ["hangup"]


def test_a_forwarding_destination_with_junk_is_not_ours():
    loaded = Loaded(
        rules={56: {"busy": Target("busy", extension="102")}}, employees={56: employee()}
    )
    for destination in ["pbx_fwd_56_x", "pbx_fwd_056", "pbx_fwd_56_${a}", "pbx_fwd_56_USER BUSY"]:
        assert [a for a, _ in apps(_forward_leg(destination, loaded))] == ["hangup"]  # unallocated


@pytest.mark.parametrize(
    "cause,when",
    [
        ("USER_BUSY", "busy"),
        ("NO_ANSWER", "no_answer"),
        ("USER_NOT_REGISTERED", "unregistered"),
        ("SUBSCRIBER_ABSENT", "unregistered"),
        ("NORMAL_CLEARING", None),
        ("CALL_REJECTED", None),
    ],
)
def test_failure_causes_map_to_conditions(cause, when):
    assert rules.condition_of(cause) == when


def test_loops_among_employees_are_found():
    assert rules.creates_loop([], 1, 1)
    assert rules.creates_loop([(2, 1)], 1, 2)
    assert rules.creates_loop([(2, 3), (3, 1)], 1, 2)
    assert not rules.creates_loop([(2, 3)], 1, 2)
    assert not rules.creates_loop([(3, 1)], 1, 2)
