"""The call path on a real FreeSWITCH, driven by sipp: a call from the trunk to a company number
rings the registered phone through the portal (mod_xml_curl, answer cache, call control),
a change in the portal reaches the next call, a locked database does not stop calls whose
answer is cached, and an outage is a tone, never silence.

Runs whenever `freeswitch` and `sipp` are on PATH (tests/realswitch.py), else skipped.
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.db import connection

from portal.directory import services as directory
from portal.directory.models import PhoneNumber
from tests import factories, realswitch
from tests.callcontrol_process import database_url

reason = realswitch.unavailable()
pytestmark = [
    pytest.mark.skipif(reason is not None, reason=reason or ""),
    pytest.mark.django_db(transaction=True),
]
NUMBER = "74951112244"
PASSWORD_A, PASSWORD_B = "phone-a-secret-77", "phone-b-secret-88"


@pytest.fixture
def stack(tmp_path):
    """Customer with two departments and a phone in each; the number rings department A."""
    customer = factories.customer()
    sales = factories.department(customer, name="Продажи")
    support = factories.department(customer, name="Поддержка")
    factories.employee(customer, sales, extension="101", sip_password=PASSWORD_A)
    factories.employee(customer, support, extension="201", sip_password=PASSWORD_B)
    number = factories.number(
        customer, "+" + NUMBER, kind=PhoneNumber.Kind.REGULAR, department=sales
    )
    portal = realswitch.Portal(tmp_path, database_url(), redis_url=settings.REDIS_URL)
    fs = realswitch.FreeSwitch(tmp_path / "fs", portal_port=portal.port)
    portal.fs = fs
    phones = {
        "101": realswitch.Answerer(tmp_path, "101"),
        "201": realswitch.Answerer(tmp_path, "201"),
    }
    try:
        portal.start()
        fs.start()
        domain = f"c{customer.pk}.{realswitch.SIP_DOMAIN}"
        for ext, password in (("101", PASSWORD_A), ("201", PASSWORD_B)):
            assert realswitch.register(
                fs,
                tmp_path,
                user=ext,
                password=password,
                domain=domain,
                contact_port=phones[ext].port,
            ), f"phone {ext} could not register"
        yield {
            "customer": customer,
            "number": number,
            "support": support,
            "fs": fs,
            "portal": portal,
            "phones": phones,
            "work": tmp_path,
        }
    finally:
        fs.stop()
        portal.stop()
        for phone in phones.values():
            phone.stop()


def answered(phone: realswitch.Answerer, at_least: int, timeout: float = 5) -> int:
    """Calls the phone completed, once its statistics show at least `at_least` (or timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        done = phone.counts()["SuccessfulCall(C)"]
        if done >= at_least or time.monotonic() > deadline:
            return done
        time.sleep(0.2)


def test_a_call_to_a_company_number_rings_the_departments_phone(stack):
    result = realswitch.call(stack["fs"], stack["work"], number=NUMBER, rate=5, calls=3)
    assert (result.successful, result.failed) == (3, 0)
    assert answered(stack["phones"]["101"], 3) == 3
    assert answered(stack["phones"]["201"], 0, timeout=0) == 0
    assert "CURL returned error" not in stack["fs"].log_file.read_text()


def test_a_change_in_the_portal_reaches_the_next_call(stack):
    assert (
        realswitch.call(stack["fs"], stack["work"], number=NUMBER, rate=5, calls=2).successful == 2
    )
    directory.number_update(
        customer=stack["customer"],
        number_id=stack["number"].pk,
        department=stack["support"].pk,
    )
    result = realswitch.call(stack["fs"], stack["work"], number=NUMBER, rate=5, calls=1)
    assert result.successful == 1
    assert answered(stack["phones"]["201"], 1) == 1
    assert answered(stack["phones"]["101"], 2) == 2


def test_a_locked_database_does_not_stop_calls_whose_answer_is_cached(stack):
    if connection.vendor != "postgresql":
        pytest.skip("locks a PostgreSQL table")
    assert (
        realswitch.call(stack["fs"], stack["work"], number=NUMBER, rate=5, calls=2).successful == 2
    )
    import psycopg

    params = connection.settings_dict
    with psycopg.connect(
        host=params["HOST"] or "127.0.0.1",
        user=params["USER"] or "postgres",
        dbname=params["NAME"],
    ) as locker:
        locker.execute(
            "LOCK TABLE directory_phonenumber, directory_employee IN ACCESS EXCLUSIVE MODE"
        )
        result = realswitch.call(stack["fs"], stack["work"], number=NUMBER, rate=5, calls=3)
        locker.rollback()
    assert (result.successful, result.failed) == (3, 0)
    assert max(result.rtd_ms) < 1000  # the cached answer: no wait for the database


def test_an_outage_plays_the_tone_instead_of_silence(stack):
    stack["portal"].stop()
    # the fallback answers, waits 0.5 s, then plays: stay on long enough to hear it
    result = realswitch.call(
        stack["fs"], stack["work"], number=NUMBER, rate=5, calls=1, talk_ms=3000
    )
    assert result.attempted == 1
    assert answered(stack["phones"]["101"], 0, timeout=0) == 0  # nobody routed it
    log = stack["fs"].log_file.read_text()
    assert "tone_stream://%(274,0,913.8)" in log  # the special information tone played
