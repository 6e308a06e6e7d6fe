"""Call forwarding on a real FreeSWITCH, driven by sipp (the stack of tests/test_e2e_voicemail.py):
a call to 102 reaches the second phone (always, and when 102 is not registered, through the
forwarding leg), or the employee's mobile through the PSTN trunk when 102 is busy — as an
outgoing call of the customer, presenting the company's number and billed.

Runs whenever `freeswitch` and `sipp` are on PATH (tests/realswitch.py), else skipped.
"""

from __future__ import annotations

import time

import pytest

from portal.billing import services as billing
from portal.billing.models import LedgerEntry, Option
from portal.calls.models import CallRecord
from portal.forwarding import services as forwarding
from tests import realswitch
from tests.callcontrol_process import eventually

from .test_e2e_voicemail import NUMBER, Stack

reason = realswitch.unavailable()
pytestmark = [
    pytest.mark.skipif(reason is not None, reason=reason or ""),
    pytest.mark.django_db(transaction=True),
]
MOBILE = "+79161234567"


@pytest.fixture
def stack(tmp_path):
    s = Stack(tmp_path)
    try:
        yield s.start()
    finally:
        s.stop()


def invited(phone: realswitch.Answerer, user: str) -> list[str]:
    return [m for m in phone.invites() if f"INVITE sip:{user}@" in m or "INVITE sip:" in m]


def test_always_forwarding_rings_the_second_phone_and_stops_with_the_option_off(stack):
    a, b = stack.employees["102"], stack.employees["103"]
    billing.option_set(customer=stack.customer, code=Option.CALL_FORWARDING, enabled=True)
    forwarding.rule_save(customer=stack.customer, employee=a, when="always", target_employee=b)
    stack.phone("101")
    first = stack.phone("102")
    second = stack.phone("103")

    result = stack.call("101", "102")
    assert result.successful == 1
    assert len(second.invites()) == 1 and not first.invites()
    invite = second.invites()[0]
    assert "From: " in invite and "101" in invite.split("From: ", 1)[1].splitlines()[0]

    billing.option_set(customer=stack.customer, code=Option.CALL_FORWARDING, enabled=False)
    time.sleep(0.5)  # the pushed cache flush
    assert stack.call("101", "102").successful == 1
    assert len(second.invites()) == 1 and len(first.invites()) == 1  # 102 itself this time


def test_a_phone_that_is_not_registered_forwards_through_the_forwarding_leg(stack):
    a, b = stack.employees["102"], stack.employees["103"]
    billing.option_set(customer=stack.customer, code=Option.CALL_FORWARDING, enabled=True)
    forwarding.rule_save(
        customer=stack.customer, employee=a, when="unregistered", target_employee=b
    )
    forwarding.rule_save(customer=stack.customer, employee=a, when="busy", target_number=MOBILE)
    stack.phone("101")
    second = stack.phone("103")  # 102 never registers

    result = stack.call("101", "102")
    assert result.successful == 1, stack.fs.log_file.read_text()[-4000:]
    assert len(second.invites()) == 1
    log = stack.fs.log_file.read_text()
    assert f"pbx_fwd_{a.pk}_USER_NOT_REGISTERED" in log
    assert not stack.far_end.invites()  # the busy rule's mobile was not called


def test_a_busy_phone_forwards_to_the_mobile_as_a_billed_outgoing_call(stack):
    a = stack.employees["102"]
    billing.option_set(customer=stack.customer, code=Option.CALL_FORWARDING, enabled=True)
    forwarding.rule_save(customer=stack.customer, employee=a, when="busy", target_number=MOBILE)
    stack.phone("101")
    stack.phone("102", scenario="redial_busy.xml")

    result = stack.call("101", "102", talk_ms=3000)
    assert result.successful == 1, stack.fs.log_file.read_text()[-4000:]
    invites = stack.far_end.invites()
    assert len(invites) == 1
    request_line = invites[0].split("INVITE ", 1)[1].splitlines()[0]
    assert MOBILE in request_line
    from_line = next(line for line in invites[0].splitlines() if line.startswith("From:"))
    assert "+" + NUMBER in from_line  # the company's number is presented
    # the original caller's caller-ID name is kept (a caller from outside: their number)
    assert f'"{stack.employees["101"].name}"' in from_line
    outgoing = eventually(
        lambda: CallRecord.objects.filter(
            customer=stack.customer, direction="outbound", callee_number=MOBILE
        ).first(),
        timeout=20,
    )
    assert outgoing.billsec >= 2 and outgoing.variables.get("pbx_flow") == "outbound"
    charge = eventually(
        lambda: LedgerEntry.objects.filter(customer=stack.customer, category="calls").first(),
        timeout=20,
    )
    assert charge.source_key == f"cdr:{outgoing.uuid}"
    assert LedgerEntry.objects.filter(customer=stack.customer, category="calls").count() == 1


def test_a_phone_that_does_not_answer_in_n_seconds_forwards_to_the_second_phone(stack):
    a, b = stack.employees["102"], stack.employees["103"]
    billing.option_set(customer=stack.customer, code=Option.CALL_FORWARDING, enabled=True)
    forwarding.rule_save(
        customer=stack.customer, employee=a, when="no_answer", target_employee=b, ring_seconds=5
    )
    stack.phone("101")
    first = stack.phone("102", scenario="redial_ring.xml")  # rings, never answers
    second = stack.phone("103")

    started = time.monotonic()
    result = stack.call("101", "102")
    assert result.successful == 1, stack.fs.log_file.read_text()[-4000:]
    assert len(first.invites()) == 1 and len(second.invites()) == 1
    assert 5 <= time.monotonic() - started < 15  # 102 rang its 5 s first
    assert f"pbx_fwd_{a.pk}_NO_ANSWER" in stack.fs.log_file.read_text()
