"""The public dialplan of the fictive-number kinds with the call-recording option on.

The fictive flows record every call themselves (stereo, one file per call, listed with the
call); a `record_session` in the dialplan as well recorded each call twice and both files
counted against the storage quota.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from pbx import render
from pbx.render import PublicCall, RenderSettings
from portal.directory.models import PhoneNumber
from portal.tenants.models import Customer

CONF = RenderSettings(sip_domain="pbx.example.com", socket_host="127.0.0.1", socket_port=8084)


def dialplan(kind: str, options: set[str]) -> list[tuple[str, str]]:
    call = PublicCall(
        number=PhoneNumber(pk=78, customer_id=12, e164="+74951234567", kind=kind),
        customer=Customer(pk=12, name="ООО Ромашка", status="active", language="ru"),
        options=frozenset(options),
    )
    root = ET.fromstring(render.render_public_dialplan("74951234567", call, settings=CONF))
    return [(a.get("application"), a.get("data", "")) for a in root.iter("action")]


@pytest.mark.parametrize("kind", ["access", "return", "fictive"])
def test_a_fictive_call_is_recorded_by_its_flow_only_even_with_the_recording_option(kind):
    steps = dialplan(kind, {render.CALL_RECORDING})
    apps = [app for app, _ in steps]
    assert "record_session" not in apps
    assert not [data for _, data in steps if data.startswith(("pbx_recording=", "RECORD_"))]
    assert apps[-2:] == ["socket", "hangup"]


def test_a_regular_number_is_still_recorded_by_the_dialplan():
    steps = dialplan("regular", {render.CALL_RECORDING})
    assert "record_session" in [app for app, _ in steps]
