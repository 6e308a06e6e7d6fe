"""Queue callback end to end: the real call-control process against the ESL double.

caller in the queue presses 1 -> our outbound socket records the request -> the department is
notified (Twilio and webhook at their HTTP boundary, e-mail, live portal notice) -> attempt 1:
employee answers, caller does not -> attempt 2 five minutes later: caller answers -> bridged ->
CDR -> ledger entry.
"""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import parse_qs

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core import mail
from django.utils import timezone

from portal.billing import services as billing
from portal.billing.models import LedgerEntry
from portal.callbacks.models import CallbackAttempt, CallbackRequest
from portal.calls.models import CallRecord
from portal.notifications.models import Delivery
from portal.notifications.services import delivery_send
from tests import factories
from tests.callcontrol_process import CallControl, eventually
from tests.esl_double import EslDouble
from tests.http_boundary import point_twilio_at

PASSWORD = "s3cret-esl-pass"
CALLER = "+79161234567"
MULTICHANNEL = "+74950000001"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def office(settings, http_boundary):
    point_twilio_at(settings, http_boundary)
    settings.WEBHOOK_ALLOW_PRIVATE = True
    customer = factories.customer()
    dept = factories.department(
        customer,
        name="Продажи",
        notify_callback=True,
        notify_email=True,
        notify_sms=True,
        notify_portal=True,
        notify_webhook=True,
        notification_emails="sales@example.com",
        webhook_url=f"{http_boundary.url}/hook",
    )
    with_aon = factories.employee(
        customer, dept, extension="101", caller_id_option=True, mobile_number="+79160000101"
    )
    without_aon = factories.employee(customer, dept, extension="102")
    factories.number(customer, MULTICHANNEL, kind="multichannel", department=dept)
    staff = factories.user(customer, role="staff")
    staff.departments.add(dept)
    billing.option_set(customer=customer, code="callback", enabled=True)
    billing.option_set(customer=customer, code="call_recording", enabled=True)
    return customer, dept, with_aon, without_aon, staff


@pytest.fixture
def switch():
    with EslDouble(password=PASSWORD, time_factor=0.01) as fs:
        fs.register("101")
        fs.register("102")
        yield fs


@pytest.fixture
def service(switch, office):
    cc = CallControl(esl_port=switch.port, password=PASSWORD).start()
    switch.wait_for_command("event plain", timeout=10)
    yield cc
    cc.stop()


def press_1_in_the_queue(switch, service, customer) -> object:
    """What FreeSWITCH does after the caller pressed 1 (verified on a real switch): the
    dialplan hands the channel to our socket with these variables."""
    return switch.place_outbound_session(
        "127.0.0.1",
        service.socket_port,
        {
            "pbx_flow": "callback_request",
            "pbx_customer": str(customer.pk),
            "pbx_number_e164": MULTICHANNEL,
            "cc_exit_key": "1",
            "cc_cancel_reason": "EXIT_WITH_KEY",
        },
        caller=CALLER.lstrip("+"),
        destination="queue_exit",
    )


def send_pending_deliveries() -> None:
    """What the django-q2 cluster does after the request commits."""
    for delivery in Delivery.objects.filter(status="pending"):
        delivery_send(delivery.pk)


def test_a_queue_callback_from_pressing_1_to_a_billed_conversation(
    switch, service, office, http_boundary
):
    customer, dept, with_aon, without_aon, staff = office
    switch.never_answers(CALLER)  # the caller is away for the first attempt

    session = press_1_in_the_queue(switch, service, customer)
    assert session.wait_closed(timeout=15)
    played = [arg for app, arg in session.executed if app == "playback"]
    assert played and played[0].endswith("/callback_confirmed.wav")
    assert ("hangup", "NORMAL_CLEARING") in session.executed

    request = eventually(lambda: CallbackRequest.objects.filter(customer=customer).first())
    assert request.caller_number == CALLER and request.department == dept

    # The department hears about it on every channel it chose.
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"notify.user.{staff.pk}", channel)
    send_pending_deliveries()
    paths = [path for path, _, _ in http_boundary.requests]
    assert f"/2010-04-01/Accounts/{'AC0123456789abcdef0123456789abcdef'}/Messages.json" in paths
    sms = next(body for path, _, body in http_boundary.requests if "Messages.json" in path)
    assert parse_qs(sms.decode())["To"] == ["+79160000101"]
    hook_headers, hook = next((h, b) for p, h, b in http_boundary.requests if p == "/hook")
    assert hook_headers["X-PBX-Signature"].startswith("sha256=")
    hook = json.loads(hook)
    assert hook["event"] == "callback_requested" and hook["department"]["id"] == dept.pk
    assert CALLER in json.dumps(hook["data"])
    assert mail.outbox and "sales@example.com" in mail.outbox[0].to
    live = async_to_sync(layer.receive)(channel)
    assert live["notice"]["kind"] == "callback_requested"
    assert "+7 916 123-45-67" in live["notice"]["title"]  # the caller, formatted for people

    # Attempt 1, at once: the employee (the least recently busy, 101) answers, the caller not.
    first = eventually(
        lambda: CallbackAttempt.objects.filter(request=request, cause="NO_ANSWER").first(),
        timeout=20,
        message="attempt 1 never ended with NO_ANSWER:\n" + "\n".join(service.lines[-30:]),
    )
    assert first.number == 1 and first.employee == with_aon
    assert first.caller_id_shown == MULTICHANNEL  # the customer's only number
    assert first.started_at - request.created_at < dt.timedelta(minutes=10)
    request.refresh_from_db()
    assert request.status == "pending"
    assert request.next_attempt_at - first.ended_at == dt.timedelta(minutes=5)
    originates = [c for c in switch.received if "originate" in c and "pbx_leg=caller" in c]
    assert len(originates) == 1 and f"sofia/gateway/pstn/{CALLER}" in originates[0]

    # Five minutes pass (the database holds the due time; we move it instead of waiting).
    switch.answers_after(CALLER, 2)
    CallbackRequest.objects.filter(pk=request.pk).update(next_attempt_at=timezone.now())

    second = eventually(
        lambda: CallbackAttempt.objects.filter(request=request, status="bridged").first(),
        timeout=20,
        message="attempt 2 never bridged",
    )
    assert second.number == 2
    assert second.employee == without_aon  # 101 took the last one
    assert second.caller_id_shown == MULTICHANNEL  # never 101's mobile: a customer's number
    assert switch.wait_for_command(f"uuid_bridge {second.employee_uuid} {second.caller_uuid}")
    # Call recording is on: the conversation is recorded, and the attempt knows the file.
    record_cmd = switch.wait_for_command(f"uuid_record {second.employee_uuid} start")
    assert record_cmd.endswith(f"/c{customer.pk}/callback/{second.pk}-{second.caller_uuid}.wav")
    second.refresh_from_db()
    assert second.recording_path == record_cmd.split()[-1]

    switch.hangup(second.caller_uuid)  # the conversation ends
    eventually(lambda: CallbackRequest.objects.get(pk=request.pk).status == "completed")
    switch.wait_for_command(f"uuid_kill {second.employee_uuid}")

    # Billed as the customer's outgoing call, from the caller leg's CDR.
    record = eventually(lambda: CallRecord.objects.filter(uuid=second.caller_uuid).first())
    assert record.direction == "outbound" and record.billsec > 0
    charge = eventually(
        lambda: LedgerEntry.objects.filter(customer=customer, category="calls").first()
    )
    assert charge.source_key == f"cdr:{second.caller_uuid}"
    # Exactly one call per attempt to the caller.
    caller_legs = [c for c in switch.received if "originate" in c and "pbx_leg=caller" in c]
    assert len(caller_legs) == 2


def test_pressing_1_twice_gives_one_request_and_a_different_prompt(switch, service, office):
    customer = office[0]
    switch.never_answers(CALLER)
    first = press_1_in_the_queue(switch, service, customer)
    assert first.wait_closed(timeout=15)
    second = press_1_in_the_queue(switch, service, customer)
    assert second.wait_closed(timeout=15)
    played = [arg for app, arg in second.executed if app == "playback"]
    assert played[0].endswith("/callback_already_requested.wav")
    assert CallbackRequest.objects.filter(customer=customer).count() == 1


def test_a_withheld_caller_is_not_given_a_request(switch, service, office):
    customer = office[0]
    session = switch.place_outbound_session(
        "127.0.0.1",
        service.socket_port,
        {
            "pbx_flow": "callback_request",
            "pbx_customer": str(customer.pk),
            "pbx_number_e164": MULTICHANNEL,
            "cc_exit_key": "1",
        },
        caller="anonymous",
    )
    assert session.wait_closed(timeout=15)
    played = [arg for app, arg in session.executed if app == "playback"]
    assert played[0].endswith("/service_unavailable.wav")
    assert not CallbackRequest.objects.filter(customer=customer).exists()


def test_when_no_employee_answers_the_attempt_is_retried_without_calling_the_caller(
    switch, service, office
):
    customer = office[0]
    switch.set_busy("101")
    switch.set_unregistered("102")
    session = press_1_in_the_queue(switch, service, customer)
    assert session.wait_closed(timeout=15)
    attempt = eventually(
        lambda: CallbackAttempt.objects.filter(
            request__customer=customer, cause="NO_EMPLOYEE"
        ).first(),
        timeout=20,
    )
    request = CallbackRequest.objects.get(customer=customer)
    assert request.status == "pending" and request.attempts_made == 0
    assert request.next_attempt_at - attempt.ended_at == dt.timedelta(seconds=30)
    assert not [c for c in switch.received if "pbx_leg=caller" in c]


def test_an_employee_who_answers_after_the_request_was_closed_is_let_go_and_nobody_is_dialled(
    switch, service, office
):
    customer = office[0]
    switch.answers_after("101", 19)  # 0.19 s of real time (leg_timeout is 20 switch s)
    switch.answers_after("102", 19)
    session = press_1_in_the_queue(switch, service, customer)
    assert session.wait_closed(timeout=15)
    originate = switch.wait_for_command("originate", timeout=20)
    assert "pbx_leg=employee" in originate
    # While the employee's phone rings, the request is closed (staff marked it done).
    request = CallbackRequest.objects.get(customer=customer)
    CallbackRequest.objects.filter(pk=request.pk).update(status="completed")
    employee_leg = originate.split("origination_uuid=")[1][:36]
    assert switch.wait_for_command(f"uuid_kill {employee_leg}", timeout=10)
    assert not [c for c in switch.received if "pbx_leg=caller" in c]
