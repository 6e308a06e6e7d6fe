"""`manage.py callcontrol` against a real FreeSWITCH 1.10 running freeswitch_conf/ (opt-in).

Skipped unless FREESWITCH_ESL=host:port:password is set (see tests/test_freeswitch_real.py for
what the node needs). The service runs on the test database; the node's portal (mod_xml_curl,
mod_json_cdr) usually has another one, so CDRs are checked from the ESL event only and the
config push uses a change that needs no queue. FREESWITCH_TEST_NUMBER: a number the node's
portal answers (default 74950000001, the demo customer's multichannel number).
"""

from __future__ import annotations

import os
import time
import uuid

import pytest

from portal.billing import services as billing
from portal.calls.models import CallRecord
from portal.switch.models import ActiveCall, ConfigChange, Node, NodeSync
from tests import factories
from tests.callcontrol_process import CallControl, eventually

ESL = os.environ.get("FREESWITCH_ESL", "")
NUMBER = os.environ.get("FREESWITCH_TEST_NUMBER", "74950000001")

if not ESL:
    pytest.skip("set FREESWITCH_ESL=host:port:password to run", allow_module_level=True)

from tests.test_freeswitch_real import Esl  # noqa: E402  (module skips itself without ESL)

pytestmark = [pytest.mark.freeswitch, pytest.mark.django_db(transaction=True)]
HOST, PORT, PASSWORD = ESL.rsplit(":", 2)


@pytest.fixture
def esl():
    conn = Esl(HOST, int(PORT), PASSWORD)
    yield conn
    conn.api("hupall NORMAL_CLEARING pbx_cc_test true")
    conn.close()


def start_service() -> CallControl:
    cc = CallControl(esl_port=int(PORT), password=PASSWORD)
    cc.env["FREESWITCH_NODES"] = f"fs1={HOST}:{PORT}"
    return cc.start()


@pytest.fixture
def service():
    cc = start_service()
    yield cc
    cc.stop()


def node() -> Node:
    return Node.objects.get(name="fs1")


def connected() -> bool:
    return Node.objects.filter(name="fs1", esl_state="connected").exists()


def parked_call(esl: Esl) -> str:
    channel = str(uuid.uuid4())
    reply = esl.api(
        f"originate {{origination_uuid={channel},pbx_cc_test=true,pbx_flow=cdr}}"
        f"loopback/{NUMBER}/public &park()"
    )
    assert reply.startswith("+OK"), reply
    return channel


def test_connects_subscribes_and_sees_heartbeats(service):
    eventually(connected, timeout=15, message="node never connected")
    # HEARTBEAT comes every 20 s on a stock switch
    eventually(lambda: node().last_event_at is not None, timeout=30, message="no events")


def test_a_config_change_is_flushed_on_the_switch(service):
    eventually(connected, timeout=15)
    customer = factories.customer()  # no multichannel number: only a dialplan flush
    billing.option_set(customer=customer, code="call_recording", enabled=True)
    latest = ConfigChange.objects.order_by("-id").first().id
    eventually(
        lambda: NodeSync.objects.get(node__name="fs1").applied_change_id >= latest,
        timeout=15,
        message="push not applied",
    )
    assert NodeSync.objects.get(node__name="fs1").last_error == ""


def test_a_call_becomes_one_cdr_from_the_hangup_event(esl, service):
    eventually(connected, timeout=15)
    channel = parked_call(esl)
    eventually(lambda: ActiveCall.objects.filter(uuid=channel).exists(), timeout=10)
    time.sleep(1.2)
    assert esl.api(f"uuid_kill {channel}").startswith("+OK")
    record = eventually(lambda: CallRecord.objects.filter(uuid=channel).first(), timeout=10)
    assert record.hangup_cause == "NORMAL_CLEARING"
    assert record.started_at and record.ended_at and record.billsec >= 1
    assert "event" in record.sources
    eventually(lambda: not ActiveCall.objects.filter(uuid=channel).exists())


def test_the_service_recovers_when_the_switch_drops_the_socket(service):
    eventually(connected, timeout=15)
    esl = Esl(HOST, int(PORT), PASSWORD)
    # unloading mod_event_socket closes every ESL socket (this one too, maybe before it answers)
    try:
        esl.api("reload mod_event_socket")
    except (EOFError, OSError):
        pass
    eventually(lambda: not connected(), timeout=10, message="drop not noticed")
    eventually(connected, timeout=30, message="no reconnect")


def test_a_call_that_ended_while_the_service_was_down_is_reconciled(esl):
    cc = start_service()
    try:
        eventually(connected, timeout=15)
        channel = parked_call(Esl(HOST, int(PORT), PASSWORD))
        eventually(lambda: ActiveCall.objects.filter(uuid=channel).exists(), timeout=10)
    finally:
        cc.proc.kill()  # a crash: no chance to see the hangup
        cc.proc.wait()
    other = Esl(HOST, int(PORT), PASSWORD)
    assert other.api(f"uuid_kill {channel}").startswith("+OK")
    other.close()
    cc = start_service()
    try:
        eventually(lambda: not ActiveCall.objects.filter(uuid=channel).exists(), timeout=20)
    finally:
        cc.stop()
