"""pbx.dialplan: the points where a feature's contribution enters the rendered dialplan.

Pure: a contribution written for the test (as a feature writes one) is handed to the
renderer, and the XML FreeSWITCH would get is parsed back. With no contribution the XML is
the golden files' (tests/test_render.py).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from pbx import dialplan, render
from pbx.dialplan import Contribution
from pbx.xmlbuild import action, sub
from portal.directory.models import PhoneNumber

from .test_render import CONF, customer, department, employee, number


class Recorder(Contribution):
    """Adds one visible thing at every point and remembers what it was shown."""

    name = "recorder"

    def __init__(self, *, route: bool = False, dialled: bool = False) -> None:
        self.route, self.takes_dialled = route, dialled
        self.seen: list[str] = []

    def inbound_screen(self, call):
        self.seen.append(f"screen {call.destination} {call.data.get('recorder')}")
        ext = sub(call.context, "extension", name="screened")
        cond = sub(ext, "condition", field="caller_id_number", expression=r"^\+70000000000$")
        action(cond, "hangup", "CALL_REJECTED")

    def inbound_route(self, call):
        self.seen.append("route")
        if self.route:
            action(call.condition, "playback", "menu.wav")
        return self.route

    def after_bridge(self, call):
        self.seen.append(f"after {[e.pk for e in call.employees]}")
        action(call.condition, "voicemail", f"default {call.domain} {call.employees[0].extension}")

    def employee_dial(self, call, employee):
        return "sofia/gateway/pstn/+79990000000" if employee.extension == "102" else None

    def dialled(self, call):
        self.seen.append(f"dialled {call.destination}")
        if self.takes_dialled:
            ext = sub(call.context, "extension", name="room")
            action(sub(ext, "condition"), "conference", "room@default")
        return self.takes_dialled

    def queue_params(self, queue, params):
        params["moh-sound"] = "/var/lib/pbx/moh/c12.wav"


def actions(xml: str) -> list[tuple[str, str, str]]:
    root = ET.fromstring(xml)
    return [
        (ext.get("name"), a.get("application"), a.get("data") or "")
        for ext in root.iter("extension")
        for a in ext.iter("action")
    ]


def regular_call(features, employees):
    return render.PublicCall(
        number=number(kind=PhoneNumber.Kind.REGULAR),
        customer=customer(),
        employees=employees,
        features=features,
        data={"recorder": "loaded"},
    )


def test_screen_comes_before_the_numbers_extension_and_after_bridge_before_the_hangup():
    rec = Recorder()
    xml = render.render_public_dialplan(
        "74951234567", regular_call([rec], [employee(), employee(pk=57, ext="102")]), settings=CONF
    )
    got = actions(xml)
    assert got[0] == ("screened", "hangup", "CALL_REJECTED")
    bridge = next(data for _, app, data in got if app == "bridge")
    # the employee whose dial string a feature gives is rung there, the other on its phone
    assert bridge == "user/101@c12.pbx.example.com,sofia/gateway/pstn/+79990000000"
    assert [app for _, app, _ in got[-2:]] == ["voicemail", "hangup"]
    assert rec.seen == ["screen 74951234567 loaded", "route", "after [56, 57]"]


def test_a_route_takes_the_call_instead_of_the_numbers_kind():
    xml = render.render_public_dialplan(
        "74951234567", regular_call([Recorder(route=True)], [employee()]), settings=CONF
    )
    apps = [app for _, app, _ in actions(xml)]
    assert "playback" in apps and "bridge" not in apps


def test_no_hook_runs_for_a_suspended_customer():
    rec = Recorder()
    call = regular_call([rec], [employee()])
    call.customer = customer(status="suspended")
    xml = render.render_public_dialplan("74951234567", call, settings=CONF)
    assert rec.seen == []
    assert {name for name, _, _ in actions(xml)} == {"n78"}


def test_socket_numbers_are_not_routed_by_features():
    rec = Recorder(route=True)
    call = regular_call([rec], [])
    call.number = number(kind=PhoneNumber.Kind.FICTIVE)
    apps = [
        app
        for _, app, _ in actions(render.render_public_dialplan("74951234567", call, settings=CONF))
    ]
    assert "socket" in apps and "playback" not in apps


def test_internal_call_gets_the_dial_string_and_the_after_bridge_actions():
    rec = Recorder()
    xml = render.render_customer_dialplan(
        customer(), "102", target=employee(pk=57, ext="102"), settings=CONF, features=[rec]
    )
    got = actions(xml)
    assert ("e57", "bridge", "sofia/gateway/pstn/+79990000000") in got
    assert [app for _, app, _ in got[-2:]] == ["voicemail", "hangup"]


@pytest.mark.parametrize("takes", [True, False])
def test_dialled_destination_a_feature_renders(takes):
    rec = Recorder(dialled=takes)
    xml = render.render_customer_dialplan(customer(), "3000", settings=CONF, features=[rec])
    names = [name for name, _, _ in actions(xml)]
    assert names == (["room"] if takes else ["unallocated"])
    assert rec.seen == ["dialled 3000"]


def test_queue_params_are_the_features_to_change():
    queue = render.Queue(customer_id=12, department_id=department().pk)
    root = ET.fromstring(
        render.render_callcenter_config([queue], settings=CONF, features=[Recorder()])
    )
    params = {p.get("name"): p.get("value") for p in root.iter("param")}
    assert params["moh-sound"] == "/var/lib/pbx/moh/c12.wav"


def test_contributions_have_unique_names():
    found = dialplan.contributions()
    names = [c.name for c in found]
    assert len(names) == len(set(names)) and all(names)
    assert all(isinstance(c, Contribution) for c in found)


def test_a_contribution_whose_option_is_off_reads_nothing():
    read: list[str] = []

    class Sold(Contribution):
        name, option = "sold", "voicemail"

        def load_inbound(self, customer_id, number):
            read.append("inbound")
            return "rows"

    sold = (Sold(),)
    assert dialplan.load_inbound(12, None, frozenset(), features=sold) == {}
    assert dialplan.load_dialled(12, "3000", frozenset(), features=sold) == {}
    assert dialplan.load_inbound(12, None, frozenset({"voicemail"}), features=sold) == {
        "sold": "rows"
    }
    assert read == ["inbound"]


def test_every_feature_sets_its_variables_before_any_routes_the_call():
    """The caller's hold music is set even when a voice menu (sorted before it) takes the call."""
    from portal.menus.dialplan import dialplan as menus
    from portal.moh.dialplan import dialplan as moh

    call = render.PublicCall(
        number=number(),
        customer=customer(),
        options=frozenset({"ivr", "moh"}),
        features=[menus, moh],
        data={"menus": 91, "moh": "/var/lib/pbx/prompts/moh/c12/all-x.wav"},
    )
    got = [
        (app, data)
        for _, app, data in actions(
            render.render_public_dialplan("74951234567", call, settings=CONF)
        )
    ]
    assert ("set", "hold_music=/var/lib/pbx/prompts/moh/c12/all-x.wav") in got
    assert got.index(("set", "pbx_flow=menu")) > got.index(
        ("set", "hold_music=/var/lib/pbx/prompts/moh/c12/all-x.wav")
    )
