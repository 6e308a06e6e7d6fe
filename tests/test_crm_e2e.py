"""CRM card on a real FreeSWITCH, driven by sipp: a caller from the trunk side rings a regular
number, the employee's phone answers; the employee legs carry what the dialplan exports, so
call control records the ring and the answer (by extension 101), the caller's hangup ends the
call, and the customer's webhook (127.0.0.1) gets the signed ring, answer and hangup events.

Runs whenever `freeswitch` and `sipp` are on PATH (tests/realswitch.py), else skipped.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from decimal import Decimal

import pytest
from django.conf import settings

from portal.billing import services as billing
from portal.billing.models import Option
from portal.crm.models import CrmCall, CrmSettings
from tests import factories, realswitch
from tests.callcontrol_process import database_url, until

reason = realswitch.unavailable()
pytestmark = [
    pytest.mark.skipif(reason is not None, reason=reason or ""),
    pytest.mark.django_db(transaction=True),
]
PASSWORD = "phone-secret-5511"
NUMBER = "+74950000188"
CALLER = "79161234567"


@pytest.fixture
def stack(tmp_path, http_boundary):
    customer = factories.customer()
    billing.payment_record(customer=customer, amount=Decimal("1000"), reference="e2e")
    department = factories.department(customer, "Продажи")
    anna = factories.employee(customer, department, extension="101", sip_password=PASSWORD)
    factories.number(customer, NUMBER, kind="regular", department=department)
    billing.option_set(customer=customer, code=Option.CRM, enabled=True)
    CrmSettings.objects.create(customer=customer, webhook_url=http_boundary.url + "/crm")

    phone = realswitch.Answerer(tmp_path, "phone")
    far_end = realswitch.Answerer(tmp_path, "pstn")
    portal = realswitch.Portal(
        tmp_path,
        database_url(),
        redis_url=settings.REDIS_URL,
        extra_env={"WEBHOOK_ALLOW_PRIVATE": "true"},
    )
    fs = realswitch.FreeSwitch(tmp_path / "fs", portal_port=portal.port, pstn_port=far_end.port)
    portal.fs = fs
    try:
        portal.start()
        fs.start()
        assert realswitch.register(
            fs,
            tmp_path,
            user="101",
            password=PASSWORD,
            domain=f"c{customer.pk}.{realswitch.SIP_DOMAIN}",
            contact_port=phone.port,
        )
        yield {"customer": customer, "fs": fs, "work": tmp_path, "anna": anna}
    finally:
        fs.stop()
        portal.stop()
        phone.stop()
        far_end.stop()


def test_an_answered_call_is_rung_answered_and_ended_with_signed_events(stack, http_boundary):
    result = realswitch.call(
        stack["fs"],
        stack["work"],
        number=NUMBER.lstrip("+"),
        caller=CALLER,
        rate=1,
        calls=1,
        talk_ms=2000,
    )
    assert (result.successful, result.failed) == (1, 0)
    call = until(lambda: CrmCall.objects.filter(ended_at__isnull=False).first(), 20)
    assert call is not None, (
        "call control never saw the call end: "
        + repr(list(CrmCall.objects.values("uuid", "answered_at", "ended_at", "employee_id")))
        + (stack["work"] / "portal.log").read_text()[-3000:]
    )
    assert call.employee == stack["anna"] and call.answered_at
    assert call.caller_e164 == "+" + CALLER

    def crm_posts():
        return [(h, b) for path, h, b in http_boundary.requests if path == "/crm"]

    sent = until(lambda: len(crm_posts()) >= 3 and crm_posts(), 30)
    assert sent, "the webhook did not get three events"
    assert sorted(json.loads(b)["event"] for _, b in sent) == [
        "call.answer",
        "call.hangup",
        "call.ring",
    ]
    secret = CrmSettings.objects.get(customer=stack["customer"]).webhook_secret
    for headers, body in sent:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-PBX-Signature"] == "sha256=" + digest
