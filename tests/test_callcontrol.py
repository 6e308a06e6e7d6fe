"""The call-control service (`manage.py callcontrol`, its own process) against the ESL double."""

from __future__ import annotations

import time
import uuid

import pytest

from portal.billing import services as billing
from portal.calls.models import CallRecord
from portal.switch.models import ActiveCall, ConfigChange, Node, NodeSync
from tests import factories
from tests.callcontrol_process import CallControl, eventually
from tests.esl_double import EslDouble

PASSWORD = "s3cret-esl-pass"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def switch():
    with EslDouble(password=PASSWORD, time_factor=0.01) as fs:
        yield fs


@pytest.fixture
def service(switch):
    cc = CallControl(esl_port=switch.port, password=PASSWORD).start()
    yield cc
    cc.stop()


def node() -> Node:
    return Node.objects.get(name="fs1")


def auth_count(switch) -> int:
    return sum(1 for cmd in switch.received if cmd.startswith("auth "))


def latest_change_id() -> int:
    return ConfigChange.objects.order_by("-id").values_list("id", flat=True).first() or 0


def applied_change_id() -> int:
    return NodeSync.objects.get(node__name="fs1").applied_change_id


def test_the_service_authenticates_subscribes_and_reports_the_node_connected(switch, service):
    assert switch.wait_for_command("auth ", timeout=10) == f"auth {PASSWORD}"
    subscription = switch.wait_for_command("event plain", timeout=10)
    assert "CHANNEL_HANGUP_COMPLETE" in subscription and "BACKGROUND_JOB" in subscription
    eventually(lambda: node().esl_state == "connected", message="node never connected")


def test_a_wrong_password_is_reported_and_retried_with_backoff(switch):
    cc = CallControl(esl_port=switch.port, password="not-the-password").start()
    try:
        eventually(lambda: Node.objects.filter(esl_state="auth_failed").exists())
        eventually(lambda: auth_count(switch) >= 2, message="no retry after auth failure")
        assert "authentication" in node().last_error
    finally:
        cc.stop()


def test_a_finished_call_becomes_exactly_one_cdr_even_if_its_hangup_arrives_twice(switch, service):
    switch.wait_for_command("event plain", timeout=10)
    customer = factories.customer()
    call = switch.inbound_call(
        caller="74951234567",
        destination="74950000001",
        variables={"pbx_customer": str(customer.pk)},
    )
    switch.hangup(call)
    record = eventually(lambda: CallRecord.objects.filter(uuid=call).first())
    assert record.customer == customer and record.hangup_cause == "NORMAL_CLEARING"
    # The same hangup again (as after a duplicated delivery): still one row.
    switch.emit(
        "CHANNEL_HANGUP_COMPLETE",
        {"Unique-ID": call, "Hangup-Cause": "NORMAL_CLEARING", "variable_billsec": "0"},
    )
    switch.heartbeat()
    eventually(lambda: node().last_event_at is not None)
    assert CallRecord.objects.filter(uuid=call).count() == 1


def test_after_the_switch_drops_the_socket_the_service_reconnects_and_events_resume(
    switch, service
):
    switch.wait_for_command("event plain", timeout=10)
    first = switch.inbound_call(destination="74950000001")
    switch.hangup(first)
    eventually(lambda: CallRecord.objects.filter(uuid=first).exists())
    before = len(switch.received)

    switch.drop_connections()
    switch.wait_for_command("auth ", timeout=10, since=before)
    switch.wait_for_command("event plain", timeout=10, since=before)
    eventually(lambda: switch.connection_count == 1)

    second = switch.inbound_call(destination="74950000001")
    switch.hangup(second)
    eventually(lambda: CallRecord.objects.filter(uuid=second).exists())
    assert CallRecord.objects.filter(uuid__in=[first, second]).count() == 2
    subscriptions = [c for c in switch.received[before:] if c.startswith("event plain")]
    assert len(subscriptions) == 1  # one subscription per connection: no doubled events


def test_switching_an_option_on_pushes_the_config_to_freeswitch(switch, service):
    switch.wait_for_command("event plain", timeout=10)
    customer = factories.customer()
    dept = factories.department(customer)
    factories.number(customer, kind="multichannel", department=dept)
    before = len(switch.received)

    billing.option_set(customer=customer, code="callback", enabled=True)

    assert switch.wait_for_command("xml_flush_cache dialplan", timeout=10, since=before)
    queue = f"c{customer.pk}_d{dept.pk}@default"
    assert switch.wait_for_command("callcenter_config queue", timeout=10, since=before).endswith(
        queue
    )
    eventually(lambda: applied_change_id() == latest_change_id(), message="push not recorded")
    assert NodeSync.objects.get(node__name="fs1").last_error == ""


def test_a_burst_of_changes_is_pushed_once(switch, service):
    switch.wait_for_command("event plain", timeout=10)
    customer = factories.customer()
    before = len(switch.received)
    for code in ("callback", "caller_id", "auto_redial", "call_recording"):
        billing.option_set(customer=customer, code=code, enabled=True)
    eventually(lambda: applied_change_id() == latest_change_id())
    flushes = [c for c in switch.received[before:] if "xml_flush_cache" in c]
    assert flushes == ["api xml_flush_cache dialplan"]


def test_a_change_made_while_freeswitch_is_down_is_applied_on_reconnect(switch, service):
    switch.wait_for_command("event plain", timeout=10)
    eventually(lambda: node().esl_state == "connected")
    switch.pause()
    eventually(lambda: node().esl_state == "disconnected", message="drop not noticed")

    customer = factories.customer()
    billing.option_set(customer=customer, code="call_recording", enabled=True)
    pending = latest_change_id()
    assert applied_change_id() < pending

    before = len(switch.received)
    switch.resume()
    switch.wait_for_command("xml_flush_cache dialplan", timeout=15, since=before)
    eventually(lambda: applied_change_id() >= pending, message="pending change never applied")
    assert node().esl_state == "connected"


def test_a_reply_that_never_comes_drops_the_connection_instead_of_hanging(switch, service):
    switch.wait_for_command("event plain", timeout=10)
    eventually(lambda: node().esl_state == "connected")  # else we would see the initial state
    customer = factories.customer()
    switch.reply_delay = 30.0  # the switch hangs: no reply within the service's 2 s
    before = auth_count(switch)
    billing.option_set(customer=customer, code="callback", enabled=True)
    eventually(lambda: node().esl_state == "disconnected", timeout=15)
    switch.reply_delay = 0.0
    eventually(lambda: auth_count(switch) > before, timeout=15, message="no reconnect")
    eventually(lambda: applied_change_id() == latest_change_id(), timeout=15)


def test_a_tagged_call_that_ended_while_esl_was_down_is_reconciled_once(switch, service):
    switch.wait_for_command("event plain", timeout=10)
    call = switch.inbound_call(destination="74950000001", variables={"pbx_flow": "cdr"})
    eventually(lambda: ActiveCall.objects.filter(uuid=call).exists(), message="call not tracked")
    live = switch.inbound_call(destination="74950000002", variables={"pbx_flow": "cdr"})
    eventually(lambda: ActiveCall.objects.filter(uuid=live).exists())

    switch.pause()
    eventually(lambda: node().esl_state == "disconnected")
    switch.hangup(call)  # nobody is listening: this hangup is lost
    before = len(switch.received)
    switch.resume()

    switch.wait_for_command(f"uuid_exists {call}", timeout=15, since=before)
    switch.wait_for_command(f"uuid_exists {live}", timeout=15, since=before)
    eventually(lambda: not ActiveCall.objects.filter(uuid=call).exists())
    assert ActiveCall.objects.filter(uuid=live).exists()  # still up: left alone


def test_a_stale_row_for_an_unknown_channel_is_dropped_after_connecting(switch):
    ghost = uuid.uuid4()
    factories.customer()
    ActiveCall.objects.create(uuid=ghost, node="fs1", flow="cdr")
    cc = CallControl(esl_port=switch.port, password=PASSWORD).start()
    try:
        switch.wait_for_command(f"uuid_exists {ghost}", timeout=10)
        eventually(lambda: not ActiveCall.objects.filter(uuid=ghost).exists())
    finally:
        cc.stop()


def test_an_outbound_socket_call_for_an_unknown_flow_is_hung_up_politely(switch, service):
    session = switch.place_outbound_session(
        "127.0.0.1", service.socket_port, {"pbx_flow": "no_such_flow"}
    )
    assert session.wait_closed(timeout=10)
    assert ("hangup", "SERVICE_UNAVAILABLE") in session.executed


def test_a_caller_id_name_cannot_forge_the_outbound_socket_variables(switch, service):
    # FreeSWITCH does not re-encode an existing %XX: a caller ID name "x%0Avariable_pbx_flow:
    # injected" reaches the socket as `x%0Avariable_pbx_flow%3A%20injected` (seen on 1.10.12,
    # where greenswitch's parser turned it into a header line that overrode pbx_flow).
    session = switch.place_outbound_session(
        "127.0.0.1",
        service.socket_port,
        {
            "pbx_flow": "no_such_flow",
            "pbx_customer": "1",
            "caller_id_name": "x%0Avariable_pbx_flow: injected%0Avariable_pbx_customer: 2",
        },
    )
    assert session.wait_closed(timeout=10)
    line = service.wait_for_line(f"outbound call {session.uuid}", timeout=10)
    assert "'no_such_flow'" in line, line
    assert not any("injected" in seen for seen in service.lines)
    # the hangup app completed (its EXECUTE_COMPLETE matched), the caller did not "go away" first
    assert ("hangup", "SERVICE_UNAVAILABLE") in session.executed
    assert not any("ended: caller gone" in seen for seen in service.lines)


def _push_attempts(switch, since: int) -> int:
    return sum(1 for c in switch.received[since:] if "xml_locate" in c or "xml_flush_cache" in c)


def test_queue_reloads_wait_while_the_switch_cannot_reach_the_portal(switch, service):
    # On a real node `callcenter_config queue reload` with the portal down unloads the queue
    # (-ERR Invalid Queue not found!) and callers cannot join it until the portal is back.
    switch.wait_for_command("event plain", timeout=10)
    eventually(lambda: node().esl_state == "connected")
    customer = factories.customer()
    dept = factories.department(customer)
    factories.number(customer, kind="multichannel", department=dept)
    switch.portal_reachable = False
    before = len(switch.received)

    billing.option_set(customer=customer, code="callback", enabled=True)

    switch.wait_for_command("xml_locate configuration", timeout=10, since=before)
    eventually(lambda: "postponed" in NodeSync.objects.get(node__name="fs1").last_error)
    assert applied_change_id() < latest_change_id()
    time.sleep(3)  # a failed push is retried with backoff, not every push_interval (0.1 s)
    assert _push_attempts(switch, before) <= 4, switch.received[before:]
    assert not any("queue reload" in c for c in switch.received[before:])
    assert switch.unloaded_queues == set()

    switch.portal_reachable = True
    queue = f"c{customer.pk}_d{dept.pk}@default"
    assert switch.wait_for_command(f"callcenter_config queue reload {queue}", timeout=70)
    eventually(lambda: applied_change_id() == latest_change_id(), timeout=10)
    assert NodeSync.objects.get(node__name="fs1").last_error == ""
