"""The two legs of a queue callback, through the real call-control process and the ESL double:
when the first attempt may start, what each side hears, who is rung, and who pays for an
employee who leaves early (issue 13)."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from django.conf import settings

from pbx.render import agent_name, sip_domain
from portal.billing import services as billing
from portal.callbacks.models import CallbackAttempt, CallbackRequest
from portal.prompts.models import CustomPrompt
from tests import factories
from tests import test_callback_e2e as e2e
from tests.callcontrol_process import CallControl, eventually
from tests.esl_double import EslDouble

pytestmark = pytest.mark.django_db(transaction=True)
CALLER, MULTICHANNEL, PASSWORD = e2e.CALLER, e2e.MULTICHANNEL, e2e.PASSWORD
office = e2e.office  # the department of test_callback_e2e: 101 with АОН, 102 without
press_1_in_the_queue = e2e.press_1_in_the_queue


@pytest.fixture
def switch():
    # A tenth of real time: a caller's 30 s of ringing is 3 s, long enough to act in.
    with EslDouble(password=PASSWORD, time_factor=0.1) as fs:
        fs.register("101")
        fs.register("102")
        yield fs


@pytest.fixture
def prompts(tmp_path):
    return tmp_path / "prompts"


@pytest.fixture
def service(switch, office, prompts):
    cc = CallControl(esl_port=switch.port, password=PASSWORD, PROMPTS_DIR=str(prompts)).start()
    switch.wait_for_command("event plain", timeout=10)
    yield cc
    cc.stop()


def originates(switch, leg: str) -> list[str]:
    return [c for c in switch.received if "originate" in c and f"pbx_leg={leg}" in c]


def test_the_first_attempt_starts_only_after_the_callers_call_has_ended(switch, service, office):
    customer = office[0]
    switch.playback_seconds = 2.5  # the confirmation prompt, as on the real switch
    session = press_1_in_the_queue(switch, service, customer)
    eventually(lambda: CallbackRequest.objects.filter(customer=customer).exists(), timeout=10)
    while switch.channel(session.uuid) is not None:  # still hears "we will call you back"
        assert not originates(switch, "employee"), "an employee was rung while the line was busy"
        time.sleep(0.05)
    hung_up = time.monotonic()
    eventually(lambda: originates(switch, "employee"), timeout=5, message="never dialled")
    assert time.monotonic() - hung_up < 3  # and then at once, not a minute later


def test_the_employee_hears_who_is_called_back_and_the_caller_hears_the_company_first(
    switch, service, office, prompts
):
    customer = office[0]
    customer.language = "en"
    customer.save()
    own = prompts / "customers" / str(customer.pk) / "en" / "callback_connecting-0a1b2c.wav"
    own.parent.mkdir(parents=True)
    own.write_bytes(b"RIFF")
    CustomPrompt.objects.create(
        customer=customer,
        key="callback_connecting",
        language="en",
        file_path=str(own.relative_to(prompts)),
        size_bytes=4,
        duration_ms=1000,
    )
    session = press_1_in_the_queue(switch, service, customer)
    assert session.wait_closed(timeout=15)
    attempt = eventually(
        lambda: CallbackAttempt.objects.filter(status="bridged").first(), timeout=20
    )

    (employee,) = originates(switch, "employee")
    domain = sip_domain(customer.pk, settings.PBX_SIP_DOMAIN)
    assert f"user/101@{domain} &park()" in employee
    digits = "!".join(f"en/digit_{d}.wav" for d in CALLER.lstrip("+"))
    # The originate plays the whisper on the answered leg before it reports success.
    assert (
        "group_confirm_key=exec,group_confirm_file='playback "
        f"file_string://en/callback_whisper.wav!{digits}'"
    ) in employee
    assert f"sound_prefix={prompts}," in employee
    assert "[leg_timeout=20]" in employee and "originate_timeout=50" in employee

    (caller,) = originates(switch, "caller")
    assert f"group_confirm_file='playback {own.relative_to(prompts)}'" in caller
    assert "[leg_timeout=30]" in caller and f"sofia/gateway/pstn/{CALLER}" in caller
    # Bridged only after the caller's originate succeeded, i.e. after their prompt.
    bridge = switch.wait_for_command(f"uuid_bridge {attempt.employee_uuid} {attempt.caller_uuid}")
    assert switch.received.index(bridge) > switch.received.index(caller)


def test_an_employee_on_a_call_or_out_of_the_queue_is_not_rung(switch, service, office):
    customer, _dept, with_aon, without_aon, _staff = office
    domain = sip_domain(customer.pk, settings.PBX_SIP_DOMAIN)
    # 101 talks on their phone (a call from it: presence_id is the phone's user@domain);
    # 102 has logged out of the department's queue.
    switch.inbound_call(
        caller="101", destination="74951234567", variables={"presence_id": f"101@{domain}"}
    )
    switch.agent_status[agent_name(customer.pk, without_aon.pk)] = "Logged Out"
    session = press_1_in_the_queue(switch, service, customer)
    assert session.wait_closed(timeout=15)
    attempt = eventually(
        lambda: CallbackAttempt.objects.filter(cause="NO_EMPLOYEE").first(), timeout=20
    )
    assert not originates(switch, "employee") and not originates(switch, "caller")
    request = CallbackRequest.objects.get(pk=attempt.request_id)
    assert request.status == "pending" and request.attempts_made == 0

    # 102 is back in the queue: the retry 30 s later rings them.
    switch.agent_status.clear()
    CallbackRequest.objects.filter(pk=request.pk).update(next_attempt_at=attempt.ended_at)
    eventually(lambda: originates(switch, "employee"), timeout=10)
    (employee,) = originates(switch, "employee")
    assert f"user/102@{domain}" in employee


def test_an_employee_hanging_up_before_the_caller_answers_does_not_use_up_an_attempt(
    switch, service, office
):
    customer = office[0]
    switch.never_answers(CALLER)
    session = press_1_in_the_queue(switch, service, customer)
    assert session.wait_closed(timeout=15)
    ringing = eventually(
        lambda: CallbackAttempt.objects.filter(status="dialing_caller").first(), timeout=20
    )
    assert switch.hangup(ringing.employee_uuid)  # the employee gives up while it rings
    switch.wait_for_command(f"uuid_kill {ringing.caller_uuid}", timeout=5)
    done = eventually(
        lambda: CallbackAttempt.objects.filter(pk=ringing.pk, status="finished").first()
    )
    assert done.cause == "EMPLOYEE_GONE"
    request = CallbackRequest.objects.get(pk=done.request_id)
    assert request.status == "pending" and request.attempts_made == 0
    assert request.next_attempt_at - done.ended_at == dt.timedelta(seconds=30)
    assert len(originates(switch, "caller")) == 1
    assert not [c for c in switch.received if re.match(r"uuid_bridge ", c)]


def test_the_caller_sees_the_multichannel_number_only_with_the_customers_aon_option(
    switch, service, office
):
    customer = office[0]
    factories.number(customer, "+74950000000", kind="regular")
    session = press_1_in_the_queue(switch, service, customer)
    assert session.wait_closed(timeout=15)
    eventually(lambda: originates(switch, "caller"), timeout=20)
    (caller,) = originates(switch, "caller")
    # 101 has АОН switched on but the customer has not the option: the caller sees the number
    # the customer's outside calls present, not the multichannel one, and never 101's mobile.
    assert "origination_caller_id_number=74950000000," in caller


def test_with_the_customers_aon_option_the_caller_sees_the_multichannel_number(
    switch, service, office
):
    customer = office[0]
    factories.number(customer, "+74950000000", kind="regular")
    billing.option_set(customer=customer, code="caller_id", enabled=True)
    session = press_1_in_the_queue(switch, service, customer)
    assert session.wait_closed(timeout=15)
    eventually(lambda: originates(switch, "caller"), timeout=20)
    (caller,) = originates(switch, "caller")
    assert f"origination_caller_id_number={MULTICHANNEL.lstrip('+')}," in caller


def test_a_late_result_for_an_attempt_the_database_ended_rings_nobody(switch, service, office):
    """Call control keeps no plan of its own: when the database has ended an attempt (here: as
    lost, as housekeeping does), the late "nobody answered" of its employee leg must not ring
    the next employee on a remembered plan."""
    from django.utils import timezone

    from portal.callbacks.services import callback_attempt_lost

    customer = office[0]
    switch.never_answers("101")  # rings 20 s: 2 s at this double's pace
    session = press_1_in_the_queue(switch, service, customer)
    assert session.wait_closed(timeout=15)
    eventually(lambda: originates(switch, "employee"), timeout=20)
    attempt = CallbackAttempt.objects.get(status="dialing_employee")
    callback_attempt_lost(attempt_id=attempt.pk, now=timezone.now())
    time.sleep(4)  # past 101's ringing and its NO_ANSWER
    assert len(originates(switch, "employee")) == 1, "rang 102 for an attempt that had ended"
    assert not originates(switch, "caller")
