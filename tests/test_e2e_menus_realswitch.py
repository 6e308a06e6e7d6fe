"""A voice menu on a real FreeSWITCH, driven by sipp (issue 16).

A caller from the trunk calls a multichannel number that starts with a menu: FreeSWITCH asks
the portal for the dialplan (xml_curl), which sends the call to call control's outbound socket;
the menu flow plays the greeting with `play_and_get_digits`, the caller presses 1 (RFC 2833)
for the submenu and 2 for the department, and the flow transfers the call to the department's
extension in the customer's context, whose callcenter queue rings the registered agent's phone.

Runs whenever `freeswitch` and `sipp` are on PATH (tests/realswitch.py), else skipped.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from portal.billing import services as billing
from portal.billing.models import Option
from portal.directory.models import PhoneNumber
from portal.menus import services as menus
from tests import factories, realswitch
from tests.callcontrol_process import database_url, eventually
from tests.test_e2e_callback import write_prompt

reason = realswitch.unavailable()
pytestmark = [
    pytest.mark.skipif(reason is not None, reason=reason or ""),
    pytest.mark.django_db(transaction=True),
]
NUMBER = "74951112266"
CALLER = "79161234567"
PASSWORD = "menu-phone-secret-47"


def test_a_caller_presses_keys_through_two_menus_into_the_department_queue(tmp_path, settings):
    settings.PROMPTS_DIR = tmp_path / "prompts"
    customer = factories.customer()
    billing.payment_record(customer=customer, amount=Decimal("1000"), reference="e2e")
    sales = factories.department(customer, name="Продажи")
    factories.employee(customer, sales, extension="101", sip_password=PASSWORD)
    number = factories.number(
        customer, "+" + NUMBER, kind=PhoneNumber.Kind.MULTICHANNEL, department=sales
    )
    main = menus.menu_save(customer=customer, name="Главное")
    sub = menus.menu_save(customer=customer, name="Продажи и поддержка")
    menus.option_set(customer=customer, menu=main, key="1", target=f"menu:{sub.pk}")
    menus.option_set(customer=customer, menu=sub, key="2", target=f"dept:{sales.pk}")
    for menu in (main, sub):
        menus.prompt_speak(customer=customer, menu=menu, kind="greeting", language="ru", text="Да")
    menus.number_route_set(customer=customer, number=number, target=f"menu:{main.pk}")
    billing.option_set(customer=customer, code=Option.IVR, enabled=True)
    for key in ("menu_default_greeting", "menu_no_input", "invalid_input", "goodbye"):
        write_prompt(tmp_path / "prompts" / "ru" / f"{key}.wav")

    phone = realswitch.Answerer(tmp_path, "phone-101", trace_messages=True)
    portal = realswitch.Portal(tmp_path, database_url(), redis_url=settings.REDIS_URL)
    fs = realswitch.FreeSwitch(tmp_path / "fs", portal_port=portal.port)
    portal.fs = fs
    try:
        portal.start()
        fs.start()
        domain = f"c{customer.pk}.{realswitch.SIP_DOMAIN}"
        assert realswitch.register(
            fs, tmp_path, user="101", password=PASSWORD, domain=domain, contact_port=phone.port
        )
        result = realswitch.call(
            fs,
            tmp_path,
            number=NUMBER,
            rate=1,
            calls=1,
            caller=CALLER,
            scenario="menu_two_levels.xml",
            timeout=60,
        )
        log = fs.log_file.read_text(errors="replace")
        assert (result.successful, result.failed) == (1, 0), log[-4000:]
        # Both greetings were asked with play_and_get_digits; the second key chose the queue.
        assert log.count("play_and_get_digits") >= 2, log[-4000:]
        seen = "\n".join(
            line
            for line in log.splitlines()
            if any(w in line for w in ("play_and_get_digits", "transfer", "socket", "DTMF", "menu"))
        )
        assert f"menu_dept_{sales.pk}" in log, seen + portal.log_path.read_text()[-3000:]
        # The department's queue rang the agent's registered phone.
        invites = eventually(phone.invites, timeout=10, message="the agent's phone never rang")
        assert "sip:101@" in invites[0] or "101" in invites[0].split("\n", 1)[0]
        assert f"c{customer.pk}_d{sales.pk}@default" in log
    finally:
        fs.stop()
        portal.stop()
        phone.stop()
