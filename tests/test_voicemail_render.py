"""Voicemail's part of the dialplan (portal/voicemail/dialplan.py), rendered purely.

Golden files tests/golden/voicemail_*.xml (`UPDATE_GOLDEN=1` rewrites them); with the option
off or no box the XML is the same as without the contribution.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from pbx import render
from pbx.xmlbuild import RenderError, action, sub, without_own_references
from portal.directory.models import PhoneNumber
from portal.voicemail.dialplan import Box, dialplan, leave_message

from .test_render import CONF, customer, employee, golden, number

VM = frozenset({"voicemail"})
BOX = Box(
    id=9,
    customer_id=12,
    max_seconds=90,
    greeting="/var/lib/pbx/prompts/customers/12/voicemail/b9-ab.wav",
)


def regular(employees, data, options=VM):
    return render.PublicCall(
        number=number(kind=PhoneNumber.Kind.REGULAR),
        customer=customer(),
        employees=employees,
        options=options,
        features=[dialplan],
        data={"voicemail": data},
    )


def apps(xml: str) -> list[tuple[str, str]]:
    return [(a.get("application"), a.get("data") or "") for a in ET.fromstring(xml).iter("action")]


def test_a_call_nobody_took_to_a_department_number_is_left_in_the_departments_box():
    xml = render.render_public_dialplan(
        "74951234567",
        regular([employee(), employee(pk=57, ext="102")], {"department": BOX, "employees": {}}),
        settings=CONF,
    )
    golden("voicemail_public_department", xml)
    got = apps(xml)
    bridge = got.index(("bridge", "user/101@c12.pbx.example.com,user/102@c12.pbx.example.com"))
    assert ("set", "continue_on_fail=true") in got[:bridge]
    tail = got[bridge + 1 :]
    assert tail == [
        ("set", "pbx_vm_box=9"),
        ("answer", ""),
        ("sleep", "300"),
        ("playback", BOX.greeting),
        ("playback", "tone_stream://%(400,0,1000)"),
        (
            "record_session",
            "$${pbx_recordings_dir}/c12/vm/b9/${uuid}.wav +90 "
            "{RECORD_STEREO=false,RECORD_READ_ONLY=true,RECORD_MIN_SEC=1}",
        ),
        ("sleep", "90000"),
        ("hangup", "NORMAL_CLEARING"),
        ("hangup", "NO_ANSWER"),
    ]
    assert "$" not in without_own_references(xml)


def test_a_number_ringing_one_phone_uses_that_employees_box_when_the_department_has_none():
    own = Box(id=10, customer_id=12)
    xml = render.render_public_dialplan(
        "74951234567",
        regular([employee()], {"department": None, "employees": {56: own}}),
        settings=CONF,
    )
    got = apps(xml)
    assert (
        "record_session",
        "$${pbx_recordings_dir}/c12/vm/b10/${uuid}.wav +120 "
        "{RECORD_STEREO=false,RECORD_READ_ONLY=true,RECORD_MIN_SEC=1}",
    ) in got
    assert ("playback", "tone_stream://%(400,0,1000)") in got  # no greeting file: the beep only
    # a hunt group without a department box: nobody's box is chosen
    xml = render.render_public_dialplan(
        "74951234567",
        regular(
            [employee(), employee(pk=57, ext="102")], {"department": None, "employees": {56: own}}
        ),
        settings=CONF,
    )
    assert "record_session" not in [a for a, _ in apps(xml)]


@pytest.mark.parametrize(
    "options,data",
    [
        (frozenset(), {"department": BOX, "employees": {}}),  # option off
        (VM, {}),  # no box
        (VM, None),
    ],
)
def test_nothing_is_rendered_with_the_option_off_or_without_a_box(options, data):
    with_feature = render.render_public_dialplan(
        "74951234567", regular([employee()], data, options), settings=CONF
    )
    without = render.PublicCall(
        number=number(kind=PhoneNumber.Kind.REGULAR),
        customer=customer(),
        employees=[employee()],
        options=options,
    )
    assert with_feature == render.render_public_dialplan("74951234567", without, settings=CONF)


def test_another_customers_box_is_never_used():
    xml = render.render_public_dialplan(
        "74951234567",
        regular([employee()], {"department": Box(id=9, customer_id=13), "employees": {}}),
        settings=CONF,
    )
    assert "record_session" not in [a for a, _ in apps(xml)]


def test_an_internal_call_goes_on_to_the_box_after_a_failed_ring():
    xml = render.render_customer_dialplan(
        customer(),
        "101",
        target=employee(),
        options=VM,
        settings=CONF,
        features=[dialplan],
        data={"voicemail": Box(id=10, customer_id=12)},
    )
    golden("voicemail_internal", xml)
    got = apps(xml)
    bridge = got.index(("bridge", "user/101@c12.pbx.example.com"))
    assert got[bridge - 1] == ("set", "continue_on_fail=true")
    assert ("set", "pbx_vm_box=10") in got[bridge:]


def test_with_auto_redial_the_redial_causes_stay_and_the_box_comes_after_the_offer():
    xml = render.render_customer_dialplan(
        customer(),
        "101",
        target=employee(),
        options=VM | {"auto_redial"},
        settings=CONF,
        features=[dialplan],
        data={"voicemail": Box(id=10, customer_id=12)},
    )
    got = apps(xml)
    fails = [d for a, d in got if a == "set" and d.startswith("continue_on_fail=")]
    assert len(fails) == 1 and fails[0] != "continue_on_fail=true"
    names = [a for a, _ in got]
    assert names.index("socket") < names.index("record_session")


@pytest.mark.parametrize("path", ["relative.wav", "/a/../etc/passwd", "/x/${y}.wav", "/a b.wav"])
def test_an_unsafe_greeting_path_is_refused(path):
    root = ET.Element("condition")
    with pytest.raises(RenderError):
        leave_message(root, Box(id=1, customer_id=12, greeting=path))


def test_a_menu_can_send_a_call_to_a_box():
    root = ET.Element("extension")
    condition = sub(root, "condition")
    action(condition, "answer")
    leave_message(condition, Box(id=3, customer_id=12, max_seconds=5000))
    data = [
        a.get("data") for a in condition.iter("action") if a.get("application") == "record_session"
    ]
    assert data[0].startswith("$${pbx_recordings_dir}/c12/vm/b3/${uuid}.wav +600 ")  # capped
