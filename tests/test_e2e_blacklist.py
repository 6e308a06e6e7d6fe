"""Blacklist on a real FreeSWITCH, driven by sipp: a listed caller from the trunk side is
refused busy (486) or after a prompt in early media (183, then 603) and the employee's phone
never rings; an unlisted caller reaches the phone; the rejected call's CDR reaches the portal
tagged, which is the customer's log. A list edit and switching the option off reach the very
next call (the cached dialplan answer is dropped).

Runs whenever `freeswitch` and `sipp` are on PATH (tests/realswitch.py), else skipped.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.conf import settings

from portal.billing import services as billing
from portal.billing.models import Option
from portal.blacklist import selectors, services
from portal.calls.models import CallRecord
from tests import factories, realswitch
from tests.callcontrol_process import database_url, until

reason = realswitch.unavailable()
pytestmark = [
    pytest.mark.skipif(reason is not None, reason=reason or ""),
    pytest.mark.django_db(transaction=True),
]
PASSWORD = "phone-secret-4411"
NUMBER = "+74950000177"
BLOCKED = "79161234567"
FREE = "79160000001"


@pytest.fixture
def stack(tmp_path):
    customer = factories.customer()
    billing.payment_record(customer=customer, amount=Decimal("1000"), reference="e2e")
    department = factories.department(customer, "Офис")
    factories.employee(customer, department, extension="101", sip_password=PASSWORD)
    factories.number(customer, NUMBER, kind="regular", department=department)
    billing.option_set(customer=customer, code=Option.BLACKLIST, enabled=True)
    services.entry_add(customer=customer, kind="number", value="+" + BLOCKED)

    phone = realswitch.Answerer(tmp_path, "phone", trace_messages=True)
    far_end = realswitch.Answerer(tmp_path, "pstn")
    portal = realswitch.Portal(tmp_path, database_url(), redis_url=settings.REDIS_URL)
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
        yield {"customer": customer, "fs": fs, "work": tmp_path, "phone": phone}
    finally:
        fs.stop()
        portal.stop()
        phone.stop()
        far_end.stop()


def dial(stack, caller: str, scenario: str = "call.xml"):
    return realswitch.call(
        stack["fs"],
        stack["work"],
        number=NUMBER.lstrip("+"),
        caller=caller,
        rate=1,
        calls=1,
        talk_ms=500,
        scenario=scenario,
    )


def rejected(customer) -> list[CallRecord]:
    return list(selectors.rejected_calls(customer.pk))


def test_a_listed_caller_is_refused_busy_and_the_phone_never_rings(stack):
    customer, phone = stack["customer"], stack["phone"]
    result = dial(stack, BLOCKED, "blacklist_busy.xml")
    assert (result.successful, result.failed) == (1, 0), "the listed caller was not refused 486"
    assert phone.invites() == []
    log = until(lambda: rejected(customer))
    assert log, "the rejected call's CDR never reached the portal tagged"
    assert log[0].caller_number.endswith(BLOCKED) and log[0].hangup_cause == "USER_BUSY"
    assert not log[0].answered_at

    result = dial(stack, FREE)
    assert (result.successful, result.failed) == (1, 0), "an unlisted caller did not get through"
    assert len(phone.invites()) == 1
    assert len(rejected(customer)) == 1


def test_the_prompt_a_new_entry_and_the_option_off_reach_the_next_call(stack):
    customer, phone = stack["customer"], stack["phone"]
    services.blacklist_settings_set(customer=customer, action="prompt", block_anonymous=False)
    result = dial(stack, BLOCKED, "blacklist_prompt.xml")
    assert (result.successful, result.failed) == (1, 0), "no 183 then 603 for the listed caller"

    services.entry_add(customer=customer, kind="prefix", value="+7916000")
    result = dial(stack, FREE, "blacklist_prompt.xml")
    assert (result.successful, result.failed) == (1, 0), "the new prefix did not reach the call"
    assert phone.invites() == []
    assert until(lambda: len(rejected(customer)) == 2)

    billing.option_set(customer=customer, code=Option.BLACKLIST, enabled=False)
    result = dial(stack, BLOCKED)
    assert (result.successful, result.failed) == (1, 0), "the option is off: the call must ring"
    assert len(phone.invites()) == 1
