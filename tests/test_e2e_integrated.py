"""Integrated number (seed 000) on a real FreeSWITCH, driven by sipp: a caller from the trunk
side dials the service's number, the operator's phone (registered with digest auth) answers,
and the portal marks the call live for the caller's chat while both talk; the caller's hangup
ends it. The CDR of the call reaches the portal.

Runs whenever `freeswitch` and `sipp` are on PATH (tests/realswitch.py), else skipped.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal

import pytest
from django.conf import settings

from portal.billing import services as billing
from portal.billing.models import Option
from portal.calls.models import CallRecord
from portal.integrated.models import Caller, IntegratedCall, IntegratedService
from tests import factories, realswitch
from tests.callcontrol_process import database_url, until

reason = realswitch.unavailable()
pytestmark = [
    pytest.mark.skipif(reason is not None, reason=reason or ""),
    pytest.mark.django_db(transaction=True),
]
PASSWORD = "operator-secret-77"
NUMBER = "+74950000123"
CALLER = "79161234567"


@pytest.fixture
def stack(tmp_path):
    customer = factories.customer()
    billing.payment_record(customer=customer, amount=Decimal("1000"), reference="e2e")
    department = factories.department(customer, "Врачи")
    operator = factories.employee(
        customer, department, extension="101", sip_password=PASSWORD, name="Доктор Иванова"
    )
    number = factories.number(customer, NUMBER, department=department)
    service = IntegratedService.objects.create(customer=customer, name="Медицинские советы")
    service.numbers.add(number)
    billing.option_set(customer=customer, code=Option.INTEGRATED_NUMBER, enabled=True)
    Caller.objects.create(phone="+" + CALLER)

    phone = realswitch.Answerer(tmp_path, "operator")
    far_end = realswitch.Answerer(tmp_path, "pstn")
    portal = realswitch.Portal(tmp_path, database_url(), redis_url=settings.REDIS_URL)
    fs = realswitch.FreeSwitch(tmp_path / "fs", portal_port=portal.port, pstn_port=far_end.port)
    portal.fs = fs
    domain = f"c{customer.pk}.{realswitch.SIP_DOMAIN}"
    try:
        portal.start()
        fs.start()
        assert realswitch.register(
            fs, tmp_path, user="101", password=PASSWORD, domain=domain, contact_port=phone.port
        )
        yield {
            "customer": customer,
            "operator": operator,
            "fs": fs,
            "work": tmp_path,
            "phone": phone,
        }
    finally:
        fs.stop()
        portal.stop()
        phone.stop()
        far_end.stop()


def test_a_call_to_an_integrated_number_is_live_while_the_operator_talks(stack):
    results = []
    caller = threading.Thread(
        target=lambda: results.append(
            realswitch.call(
                stack["fs"],
                stack["work"],
                number=NUMBER.lstrip("+"),
                caller=CALLER,
                rate=1,
                calls=1,
                talk_ms=5000,
            )
        )
    )
    caller.start()
    try:
        live = until(lambda: IntegratedCall.objects.filter(ended_at__isnull=True).first(), 15)
        assert live is not None, "the operator's answer never made the call live"
        assert live.operator == stack["operator"]
        assert live.caller_number == "+" + CALLER
        assert live.caller is not None  # the caller's account sees the call in their chat
        assert live.operator_uuid and live.uuid != live.operator_uuid
    finally:
        caller.join(60)
    assert results and (results[0].successful, results[0].failed) == (1, 0)
    ended = until(
        lambda: IntegratedCall.objects.filter(pk=live.pk, ended_at__isnull=False).first(), 10
    )
    assert ended is not None, "the caller hung up and the call stayed live"
    assert ended.ended_at - ended.started_at >= dt.timedelta(seconds=3)
    assert until(lambda: CallRecord.objects.filter(customer=stack["customer"]).exists(), 15), (
        "no CDR of the call reached the portal"
    )


def test_a_call_nobody_answers_never_becomes_live(stack):
    domain = f"c{stack['customer'].pk}.{realswitch.SIP_DOMAIN}"
    assert realswitch.register(  # the operator's phone signs off (Expires: 0)
        stack["fs"],
        stack["work"],
        user="101",
        password=PASSWORD,
        domain=domain,
        contact_port=stack["phone"].port,
        expires=0,
    )
    assert "101@" not in stack["fs"].api("sofia status profile internal reg")
    result = realswitch.call(
        stack["fs"], stack["work"], number=NUMBER.lstrip("+"), caller=CALLER, rate=1, calls=1
    )
    assert result.successful == 0
    time.sleep(1)
    assert not IntegratedCall.objects.exists()
