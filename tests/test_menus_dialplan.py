"""The voice menu's part of the rendered dialplan (portal/menus/dialplan.py), purely: golden
XML for a number that starts with a menu and for the department / voicemail extensions the
menu flow transfers to; nothing at all with the option off or nothing configured."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest

from pbx import render
from portal.callbacks.dialplan import dialplan as callbacks
from portal.directory.models import PhoneNumber
from portal.menus.dialplan import dialplan as menus
from portal.voicemail.dialplan import Box, leave_message

from .test_render import CONF, customer, employee, golden, number

IVR = frozenset({"ivr"})


def public(options, data, kind=PhoneNumber.Kind.MULTICHANNEL):
    call = render.PublicCall(
        number=number(kind=kind),
        customer=customer(),
        employees=[],
        options=options,
        features=[menus],
        data={"menus": data},
    )
    return render.render_public_dialplan("+74951234567", call, settings=CONF)


def without_menus(options, kind=PhoneNumber.Kind.MULTICHANNEL):
    call = render.PublicCall(
        number=number(kind=kind), customer=customer(), employees=[], options=options
    )
    return render.render_public_dialplan("+74951234567", call, settings=CONF)


def test_a_number_with_a_menu_goes_to_the_menu_flow():
    xml = public(IVR, 91)
    root = golden("menus_public_number", xml)
    data = [a.get("data") for a in root.iter("action")]
    assert "pbx_flow=menu" in data and "pbx_menu_route=91" in data
    assert "127.0.0.1:8084 async full" in data
    assert not any(a.get("application") == "callcenter" for a in root.iter("action"))


@pytest.mark.parametrize("kind", [PhoneNumber.Kind.MULTICHANNEL, PhoneNumber.Kind.REGULAR])
@pytest.mark.parametrize("options,data", [(frozenset(), 91), (IVR, None)])
def test_option_off_or_no_menu_renders_exactly_what_it_did_before(kind, options, data):
    assert public(options, data, kind) == without_menus(options, kind)


def dialled(destination, options, data):
    return render.render_customer_dialplan(
        customer(),
        destination,
        options=options,
        settings=CONF,
        features=[menus, callbacks],  # the queue's callback offer is the callbacks' part
        data={"menus": data},
    )


def test_a_department_key_enters_the_queue_with_the_callback_offer():
    data = {"department": 34, "queued": True, "phones": []}
    root = golden(
        "menus_department_queue_callback", dialled("menu_dept_34", IVR | {"callback"}, data)
    )
    calls = [(a.tag, a.get("data")) for a in root.iter() if a.get("application") == "callcenter"]
    # a caller we can call back hears the offer; a withheld number waits in the plain twin
    assert calls == [("action", "c12_d34@default"), ("anti-action", "c12_d34_plain@default")]


def test_a_department_without_a_queue_rings_its_phones():
    data = {"department": 34, "queued": False, "phones": [employee(), employee(pk=57, ext="102")]}
    root = golden("menus_department_phones", dialled("menu_dept_34", IVR, data))
    bridges = [a.get("data") for a in root.iter("action") if a.get("application") == "bridge"]
    assert bridges == ["user/101@c12.pbx.example.com,user/102@c12.pbx.example.com"]


def test_a_voicemail_key_leaves_a_message_in_the_box_as_the_voicemail_feature_does():
    """What happens in the box is the voicemail feature's (`leave_message`): the menu's
    extension hands it the box and adds only the customer's tag before it."""
    box = Box(id=5, customer_id=12, max_seconds=60)
    root = ET.fromstring(dialled("menu_vm_5", IVR, {"box": box}))
    (ext,) = root.iter("extension")
    (condition,) = ext
    assert condition.get("expression") == "^menu_vm_5$"
    expected = ET.Element("condition")
    leave_message(expected, box)
    ours = [(a.get("application"), a.get("data")) for a in condition]
    theirs = [(a.get("application"), a.get("data")) for a in expected]
    assert ours == [("set", "pbx_customer=12"), *theirs]


def test_another_customers_box_or_the_option_off_renders_nothing_of_ours():
    theirs = Box(id=5, customer_id=99)
    plain = render.render_customer_dialplan(customer(), "menu_vm_5", settings=CONF)
    assert dialled("menu_vm_5", IVR, {"box": theirs}) == plain
    data = {"department": 34, "queued": True, "phones": []}
    assert dialled("menu_dept_34", frozenset(), data) == plain
    assert 'name="unallocated"' in plain


def test_hostile_destinations_never_load_anything():
    for destination in (
        "menu_dept_34 x",
        "menu_dept_0",
        "menu_dept_${x}",
        "menu_vm_",
        "menu_dept_1;",
    ):
        assert menus.load_dialled(12, destination) is None


# -- what the portal serves FreeSWITCH (the database behind the answer) -------------------------


@pytest.mark.django_db
def test_the_served_answer_follows_the_number_and_the_option(customer):
    import time

    from portal.billing import services as billing
    from portal.menus import services
    from portal.switch import xmldata
    from tests import factories

    sales = factories.department(customer, "Продажи")
    number = factories.number(customer, "+74951230000", kind="multichannel", department=sales)
    menu = services.menu_save(customer=customer, name="Главное")
    plain = xmldata.public_dialplan_xml("+74951230000")
    assert "pbx_flow=menu" not in plain and "callcenter" in plain
    route = services.number_route_set(customer=customer, number=number, target=f"menu:{menu.pk}")
    assert xmldata.public_dialplan_xml("+74951230000") == plain  # option off: as before
    billing.option_set(customer=customer, code="ivr", enabled=True)
    served = xmldata.public_dialplan_xml("+74951230000")
    assert f"pbx_menu_route={route.pk}" in served and "callcenter" not in served
    # the department extension the flow transfers to, from the customer's context
    dept = xmldata.customer_dialplan_xml(customer.pk, f"menu_dept_{sales.pk}")
    assert f"c{customer.pk}_d{sales.pk}@default" in dept
    # another customer's department is not one of ours
    other = factories.department(factories.customer(name="Другой"), "Чужой")
    foreign = xmldata.customer_dialplan_xml(customer.pk, f"menu_dept_{other.pk}")
    assert "callcenter" not in foreign and 'name="unallocated"' in foreign
    # rendering an answer (before the cache) stays cheap: measured, not asserted tightly
    start = time.perf_counter()
    for _ in range(50):
        xmldata.public_dialplan_xml("+74951230000")
    per_answer_ms = (time.perf_counter() - start) / 50 * 1000
    print(f"public answer for a number with a menu: {per_answer_ms:.2f} ms rendered")
    assert per_answer_ms < 100
