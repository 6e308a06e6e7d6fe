"""Auto-redial end to end: the real call-control process against the ESL double.

The dialplan hands a busy/unreachable call between two phones to our socket with
pbx_flow=redial_offer, pbx_customer, pbx_employee (the caller's phone, from the directory),
pbx_redial_callee and the failed bridge's originate_disposition (pbx/render.py). Time passes
by moving the request's timestamps in the database, never by patching our code.
"""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import pytest
from django.utils import timezone

from portal.billing import services as billing
from portal.billing.models import LedgerEntry, Option
from portal.calls.models import CallRecord
from portal.notifications.models import Delivery
from portal.notifications.services import delivery_send
from portal.redial.models import RedialRequest
from portal.redial.services import windows_close
from tests import factories
from tests.callcontrol_process import CallControl, eventually
from tests.esl_double import EslDouble
from tests.http_boundary import sms_sent

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "redial-esl-pass"
CALLEE_MOBILE = "+79160000102"


class Office:
    def __init__(self):
        self.customer = factories.customer()
        self.caller = factories.employee(self.customer, extension="101", name="Анна")
        self.callee = factories.employee(
            self.customer, extension="102", name="Борис", mobile_number=CALLEE_MOBILE
        )
        self.domain = f"c{self.customer.pk}.pbx.local"
        billing.option_set(customer=self.customer, code=Option.AUTO_REDIAL, enabled=True)
        billing.payment_record(customer=self.customer, amount=Decimal("300"), reference="p1")

    def offer_vars(self, cause: str) -> dict[str, str]:
        return {
            "pbx_flow": "redial_offer",
            "pbx_customer": str(self.customer.pk),
            "pbx_employee": str(self.caller.pk),
            "pbx_redial_callee": str(self.callee.pk),
            "originate_disposition": cause,
            "hangup_after_bridge": "true",
        }


@pytest.fixture
def office():
    return Office()


@pytest.fixture
def switch():
    with EslDouble(password=PASSWORD, time_factor=0.01) as fs:
        yield fs


@pytest.fixture
def service(switch, office):
    cc = CallControl(esl_port=switch.port, password=PASSWORD, PBX_SIP_DOMAIN="pbx.local").start()
    switch.wait_for_command("event plain", timeout=10)
    yield cc
    cc.stop()


def failed_call(switch, service, office, *, cause="USER_BUSY", digits=()):
    session = switch.place_outbound_session(
        "127.0.0.1",
        service.socket_port,
        office.offer_vars(cause),
        caller="101",
        destination="102",
        digits=list(digits),
    )
    assert session.wait_closed(timeout=20), "\n".join(service.lines[-30:])
    return session


def played(session) -> list[str]:
    return [arg for app, arg in session.executed if app in ("playback", "play_and_get_digits")]


def minutes_ago(request_id: int, minutes: float) -> None:
    """Time passes: the request was made `minutes` ago (its window moves with it)."""
    request = RedialRequest.objects.get(pk=request_id)
    shift = dt.timedelta(minutes=minutes) - (timezone.now() - request.created_at)
    RedialRequest.objects.filter(pk=request_id).update(
        created_at=request.created_at - shift,
        due_at=request.due_at - shift if request.due_at else None,
    )


def redial_originates(switch) -> list[str]:
    return [c for c in switch.received if "originate" in c and "pbx_flow=redial" in c]


def test_busy_offer_1_a_refresh_is_not_back_the_end_of_the_callees_call_connects_billed_from_the_bridge(
    switch, service, office
):
    switch.register("101", domain=office.domain)
    switch.register("102", domain=office.domain, call_id="reg-102@phone")
    # The callee is on a call (answered, from their phone: the directory tags it pbx_employee).
    busy_call = switch.inbound_call(
        caller="102", destination="74950000001", variables={"pbx_employee": str(office.callee.pk)}
    )
    session = failed_call(switch, service, office, digits=["1"])
    assert "redial_offer.wav" in played(session)[0]
    assert "redial_accepted.wav" in played(session)[-1]
    request = eventually(lambda: RedialRequest.objects.filter(status="accepted").first())
    assert request.caller == office.caller and request.callee == office.callee
    assert request.cause == "USER_BUSY" and request.kind == "busy"

    minutes_ago(request.pk, 40)
    switch.answers_after("101", 1)
    switch.answers_after("102", 3)
    # The busy phone's routine re-REGISTER (same Call-ID, next CSeq): it is still busy.
    switch.register("102", domain=office.domain, call_id="reg-102@phone")
    time.sleep(2.5)  # two ticks of call control
    assert not redial_originates(switch)
    assert RedialRequest.objects.get(pk=request.pk).status == "accepted"

    switch.hangup(busy_call)  # the callee's call ends: now they are free
    request = eventually(
        lambda: RedialRequest.objects.filter(pk=request.pk, events__kind="bridged").first(),
        timeout=20,
        message="never bridged:\n" + "\n".join(service.lines[-30:]),
    )
    assert request.events.filter(kind="callee_back", detail="call ended").exists()
    originates = redial_originates(switch)
    assert "pbx_leg=caller" in originates[0] and f"user/101@{office.domain}" in originates[0]
    assert "origination_caller_id_number=102" in originates[0]
    assert "pbx_leg=callee" in originates[1] and f"user/102@{office.domain}" in originates[1]
    assert "origination_caller_id_number=101" in originates[1]
    # The caller hears that they are being connected while the callee's phone rings.
    broadcast = switch.wait_for_command(f"uuid_broadcast {request.caller_uuid}")
    assert broadcast.endswith("redial_connecting.wav aleg")
    assert switch.wait_for_command(f"uuid_bridge {request.caller_uuid} {request.callee_uuid}")

    time.sleep(0.05)  # they talk for 5 s of switch time (time_factor 0.01)
    switch.hangup(request.callee_uuid)  # the conversation ends
    eventually(lambda: RedialRequest.objects.get(pk=request.pk).outcome == "connected")
    switch.wait_for_command(f"uuid_kill {request.caller_uuid}")
    # Billed from the bridge: the callee's leg (answered as they were bridged) is the caller's
    # outgoing call; the caller's leg, up since they answered 3 s earlier, is not billed.
    call = eventually(lambda: CallRecord.objects.filter(uuid=request.callee_uuid).first())
    caller_leg = eventually(lambda: CallRecord.objects.filter(uuid=request.caller_uuid).first())
    assert call.direction == "outbound" and call.billsec > 0
    assert caller_leg.direction == "internal" and caller_leg.billsec >= call.billsec + 2
    charge = eventually(
        lambda: LedgerEntry.objects.filter(customer=office.customer, category="calls").first()
    )
    assert charge.source_key == f"cdr:{request.callee_uuid}"
    assert LedgerEntry.objects.filter(customer=office.customer, category="calls").count() == 1


def accept_and_get_back(switch, service, office):
    """An unreachable callee, the offer accepted, then the phone registers anew."""
    session = failed_call(switch, service, office, cause="USER_NOT_REGISTERED", digits=["1"])
    assert "redial_accepted.wav" in played(session)[-1]
    request = eventually(lambda: RedialRequest.objects.filter(status="accepted").first())
    switch.register("101", domain=office.domain)
    switch.register("102", domain=office.domain, call_id="new-102@phone")
    return request


def test_a_caller_busy_at_connection_time_is_called_again_five_minutes_later(
    switch, service, office
):
    switch.set_busy("101")
    request = accept_and_get_back(switch, service, office)
    request = eventually(
        lambda: RedialRequest.objects.filter(pk=request.pk, retry_at__isnull=False).first(),
        timeout=20,
        message="no retry:\n" + "\n".join(service.lines[-30:]),
    )
    assert request.status == "accepted" and request.attempts == 1 and not request.outcome
    assert request.events.filter(kind="caller_failed", detail="USER_BUSY").exists()
    assert len(redial_originates(switch)) == 1  # the callee was not rung for nothing
    switch.answers_after("101", 1)
    switch.answers_after("102", 1)
    RedialRequest.objects.filter(pk=request.pk).update(retry_at=timezone.now())  # 5 min later
    request = eventually(
        lambda: RedialRequest.objects.filter(pk=request.pk, events__kind="bridged").first(),
        timeout=20,
        message="never bridged:\n" + "\n".join(service.lines[-30:]),
    )
    assert request.attempts == 2


def test_a_callee_busy_again_at_connection_time_is_waited_for_until_their_call_ends(
    switch, service, office
):
    switch.answers_after("101", 1)
    switch.set_busy("102")
    request = accept_and_get_back(switch, service, office)
    request = eventually(
        lambda: RedialRequest.objects.filter(pk=request.pk, kind="busy").first(),
        timeout=20,
        message="not waiting again:\n" + "\n".join(service.lines[-30:]),
    )
    assert request.status == "accepted" and not request.outcome
    first_caller_leg = redial_originates(switch)[0].split("origination_uuid=")[1][:36]
    switch.wait_for_command(f"uuid_kill {first_caller_leg}")  # the caller is not left waiting
    switch.answers_after("102", 1)
    busy_call = switch.inbound_call(
        caller="102", destination="74950000001", variables={"pbx_employee": str(office.callee.pk)}
    )
    switch.register("102", domain=office.domain, call_id="new-102@phone")  # a refresh
    time.sleep(2.5)
    assert len(redial_originates(switch)) == 2
    switch.hangup(busy_call)
    eventually(
        lambda: RedialRequest.objects.filter(pk=request.pk, events__kind="bridged").exists(),
        timeout=20,
        message="never bridged:\n" + "\n".join(service.lines[-30:]),
    )


def test_a_caller_from_outside_gets_the_offer_and_is_called_back_through_the_gateway(
    switch, service, office
):
    factories.number(office.customer, "+74951112244")
    variables = office.offer_vars("USER_BUSY")
    del variables["pbx_employee"]  # not one of the customer's phones: a call from the trunk
    variables["pbx_number_e164"] = "+74951112244"
    session = switch.place_outbound_session(
        "127.0.0.1",
        service.socket_port,
        variables,
        caller="74957654321",
        destination="74951112244",
        digits=["1"],
    )
    assert session.wait_closed(timeout=20), "\n".join(service.lines[-30:])
    assert "redial_offer.wav" in played(session)[0]
    request = eventually(lambda: RedialRequest.objects.filter(status="accepted").first())
    assert request.caller is None and request.caller_number == "+74957654321"
    switch.answers_after("+74957654321", 1)
    switch.register("102", domain=office.domain)
    busy_call = switch.inbound_call(
        caller="102", destination="74950000001", variables={"pbx_employee": str(office.callee.pk)}
    )
    switch.hangup(busy_call)
    eventually(
        lambda: RedialRequest.objects.filter(pk=request.pk, events__kind="bridged").exists(),
        timeout=20,
        message="never bridged:\n" + "\n".join(service.lines[-30:]),
    )
    caller_leg, callee_leg = redial_originates(switch)
    assert "sofia/gateway/pstn/+74957654321" in caller_leg
    assert "origination_caller_id_number=+74951112244" in caller_leg  # the number they called
    assert "origination_caller_id_number=+74957654321" in callee_leg


@pytest.fixture
def realtime():
    """The switch on real time, to time the 0.5 s call: (double, call control)."""
    with EslDouble(password=PASSWORD, time_factor=1.0) as fs:
        cc = CallControl(esl_port=fs.port, password=PASSWORD, PBX_SIP_DOMAIN="pbx.local").start()
        fs.wait_for_command("event plain", timeout=10)
        yield fs, cc
        cc.stop()


def flash_after_ten_minutes(switch, service, office, phone) -> tuple[RedialRequest, float]:
    """Declined, the callee registers anew 10 minutes later: the 0.5 s call. Returns the
    request and how long (real seconds) the flash leg lived until we killed it."""
    session = failed_call(switch, service, office, cause="USER_NOT_REGISTERED", digits=[""])
    assert "goodbye.wav" in played(session)[-1]
    request = eventually(lambda: RedialRequest.objects.filter(status="declined").first())
    minutes_ago(request.pk, 10)
    phone("102")
    switch.register("102", domain=office.domain, call_id="back-102@phone")
    originate = switch.wait_for_command("originate", timeout=20)
    started = time.monotonic()
    leg = originate.split("origination_uuid=")[1][:36]
    switch.wait_for_command(f"uuid_kill {leg}", timeout=5)
    lived = time.monotonic() - started
    assert "pbx_leg=flash" in originate and "origination_caller_id_number=101" in originate
    assert f"user/102@{office.domain}" in originate
    return RedialRequest.objects.get(pk=request.pk), lived


def test_a_flash_that_rings_is_ended_at_half_a_second_and_is_a_missed_call(realtime, office):
    switch, service = realtime
    request, lived = flash_after_ten_minutes(switch, service, office, switch.never_answers)
    assert 0.4 <= lived <= 0.8
    request = eventually(
        lambda: RedialRequest.objects.filter(pk=request.pk, status="done").first(),
        message="\n".join(service.lines[-30:]),
    )
    assert request.outcome == "flashed"


def test_a_flash_with_early_media_and_no_ringing_is_ended_at_half_a_second(realtime, office):
    switch, service = realtime
    request, lived = flash_after_ten_minutes(switch, service, office, switch.early_media)
    assert 0.4 <= lived <= 0.8
    request = eventually(lambda: RedialRequest.objects.filter(pk=request.pk, status="done").first())
    assert request.outcome == "flashed"


def test_a_flash_answered_at_once_is_ended_at_half_a_second_and_recorded_as_answered(
    realtime, office
):
    switch, service = realtime
    request, lived = flash_after_ten_minutes(
        switch, service, office, lambda ext: switch.answers_after(ext, 0)
    )
    assert 0.4 <= lived <= 0.8
    request = eventually(lambda: RedialRequest.objects.filter(pk=request.pk, status="done").first())
    assert request.outcome == "flash_answered"


def test_a_flash_that_meets_a_busy_phone_waits_for_the_end_of_the_callees_call(
    switch, service, office
):
    session = failed_call(switch, service, office, cause="USER_NOT_REGISTERED", digits=[""])
    assert "goodbye.wav" in played(session)[-1]
    request = eventually(lambda: RedialRequest.objects.filter(status="declined").first())
    minutes_ago(request.pk, 10)
    switch.set_busy("102")
    switch.register("102", domain=office.domain, call_id="back-102@phone")
    request = eventually(
        lambda: RedialRequest.objects.filter(pk=request.pk, kind="busy").first(),
        timeout=20,
        message="\n".join(service.lines[-30:]),
    )
    assert request.status == "declined" and not request.outcome  # not "flashed": it never rang
    switch.never_answers("102")
    busy_call = switch.inbound_call(
        caller="102", destination="74950000001", variables={"pbx_employee": str(office.callee.pk)}
    )
    switch.hangup(busy_call)
    request = eventually(
        lambda: RedialRequest.objects.filter(pk=request.pk, outcome="flashed").first(), timeout=20
    )


def test_declined_callee_back_at_31_minutes_gets_an_sms_instead(switch, service, office, twilio):
    failed_call(switch, service, office, digits=["2"])
    request = eventually(lambda: RedialRequest.objects.filter(status="declined").first())
    minutes_ago(request.pk, 31)
    busy_call = switch.inbound_call(
        caller="102", destination="74950000001", variables={"pbx_employee": str(office.callee.pk)}
    )
    switch.hangup(busy_call)  # the busy callee is free again, after the 30 minutes
    request = eventually(lambda: RedialRequest.objects.filter(pk=request.pk, outcome="sms").first())
    for delivery in Delivery.objects.filter(status="pending"):
        delivery_send(delivery.pk)
    (sms,) = sms_sent(twilio)
    assert sms["To"] == [CALLEE_MOBILE] and "Анна (101)" in sms["Body"][0]
    assert not [c for c in switch.received if "originate" in c and "pbx_flow=redial" in c]


def test_accepted_callee_never_back_gets_an_sms_at_two_hours(switch, service, office, twilio):
    failed_call(switch, service, office, digits=["1"])
    request = eventually(lambda: RedialRequest.objects.filter(status="accepted").first())
    minutes_ago(request.pk, 119)
    assert windows_close(now=timezone.now()) == 0  # 1:59: still waiting
    minutes_ago(request.pk, 120)
    assert windows_close(now=timezone.now()) == 1
    for delivery in Delivery.objects.filter(status="pending"):
        delivery_send(delivery.pk)
    (sms,) = sms_sent(twilio)
    assert sms["To"] == [CALLEE_MOBILE]
    assert RedialRequest.objects.get(pk=request.pk).outcome == "sms"


def test_a_refused_caller_hears_the_failure_and_no_offer(switch, service, office):
    billing.option_set(customer=office.customer, code=Option.AUTO_REDIAL, enabled=False)
    session = failed_call(switch, service, office)
    assert not played(session)
    assert ("hangup", "USER_BUSY") in session.executed
    assert eventually(lambda: RedialRequest.objects.filter(reason="option_off").exists())


def test_a_busy_callee_whose_call_ends_is_back_at_once(switch, service, office):
    switch.register("101", domain=office.domain)
    switch.register("102", domain=office.domain)
    # The callee is on a call (answered, from their phone: the directory tags it pbx_employee).
    busy_call = switch.inbound_call(
        caller="102", destination="74950000001", variables={"pbx_employee": str(office.callee.pk)}
    )
    failed_call(switch, service, office, digits=["1"])
    request = eventually(lambda: RedialRequest.objects.filter(status="accepted").first())
    switch.answers_after("101", 1)
    switch.answers_after("102", 1)
    switch.hangup(busy_call)  # the callee's call ends
    request = eventually(
        lambda: RedialRequest.objects.filter(pk=request.pk, events__kind="bridged").first(),
        timeout=20,
        message="never connected:\n" + "\n".join(service.lines[-30:]),
    )
    assert request.events.filter(kind="callee_back", detail="call ended").exists()


def test_a_voicemail_callee_whose_call_ends_gets_the_offer_pushed_to_the_caller(
    switch, service, office, twilio
):
    from portal.redial.models import SubscriberSettings

    SubscriberSettings.objects.create(employee=office.callee, voicemail=True)
    office.caller.mobile_number = "+79160000101"
    office.caller.save()
    busy_call = switch.inbound_call(
        caller="102", destination="74950000001", variables={"pbx_employee": str(office.callee.pk)}
    )
    session = failed_call(switch, service, office)
    assert not played(session)  # no IVR offer: the call goes on as usual
    request = eventually(lambda: RedialRequest.objects.filter(status="push_wait").first())
    switch.hangup(busy_call)  # the callee's call ends
    eventually(lambda: RedialRequest.objects.filter(pk=request.pk, status="pushed").exists())
