"""Throttling: staff login (per account, per IP, lockout, audit) and SMS login codes (per
session, per IP, per phone, globally), through HTTP; the counter itself on both backends; and
the concurrent case that count-then-insert got wrong (20 requests for one phone, limit 5)."""

from __future__ import annotations

import threading
from urllib.parse import parse_qs

import pytest
from django.db import connection
from django.test import Client

from portal.integrated import services as integrated
from portal.integrated.models import LoginCode
from portal.web import throttle
from portal.web.models import LoginAudit
from tests import factories

Outcome = LoginAudit.Outcome


def sms_to(server) -> list[str]:
    return [
        parse_qs(body.decode())["To"][0]
        for path, _headers, body in server.requests
        if "Messages.json" in path
    ]


# -- the counter ----------------------------------------------------------------------------------


@pytest.fixture(params=["database", "redis"])
def backend(request, settings, db):
    if request.param == "database":
        settings.REDIS_URL = ""
    elif not settings.REDIS_URL:
        pytest.skip("no REDIS_URL")
    return request.param


def test_the_limit_holds_and_a_burst_across_a_window_boundary_does_not_double_it(backend):
    start = 1_800_000_000.0 // 3600 * 3600  # the start of an hour
    late = start + 3599
    assert [throttle.hit("k", limit=3, window=3600, now=late).allowed for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]
    # one second later a new fixed window begins, but the last hour's hits still count
    assert not throttle.hit("k", limit=3, window=3600, now=late + 2).allowed
    # once they have slid out, attempts are allowed again
    assert throttle.hit("k", limit=3, window=3600, now=late + 3600 + 3500).allowed


def test_reset_forgets_a_key_and_other_keys_are_separate(backend):
    for _ in range(3):
        throttle.hit("a", limit=2, window=60, now=1000.0)
    assert not throttle.hit("a", limit=2, window=60, now=1001.0).allowed
    assert throttle.hit("b", limit=2, window=60, now=1001.0).allowed
    throttle.reset("a", window=60, now=1001.0)
    assert throttle.hit("a", limit=2, window=60, now=1001.0).allowed


# -- staff login ----------------------------------------------------------------------------------


def login(client, username, password, **extra):
    return client.post("/login/", {"username": username, "password": password}, **extra)


def test_after_five_wrong_passwords_even_the_right_one_is_refused_and_every_attempt_is_audited(
    customer,
):
    user = factories.user(customer)
    client = Client()
    for _ in range(5):
        assert login(client, user.username, "wrong").status_code == 200
    locked = login(client, user.username, factories.PASSWORD)
    assert locked.status_code == 429
    assert "Слишком много попыток входа" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    outcomes = list(LoginAudit.objects.order_by("id").values_list("outcome", flat=True))
    assert outcomes == [Outcome.FAILURE] * 5 + [Outcome.LOCKED]
    assert set(LoginAudit.objects.values_list("username", "ip")) == {(user.username, "127.0.0.1")}


def test_the_account_is_locked_whatever_the_address_and_the_spelling_of_the_name(customer):
    user = factories.user(customer, username="Anna")
    for i in range(5):
        login(Client(), "anna" if i % 2 else "ANNA", "wrong", REMOTE_ADDR=f"198.51.100.{i}")
    response = login(Client(), "Anna", factories.PASSWORD, REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 429
    assert LoginAudit.objects.filter(outcome=Outcome.SUCCESS).count() == 0
    assert user.last_login is None


def test_a_right_password_within_the_limit_logs_in_and_clears_the_accounts_failures(customer):
    user = factories.user(customer)
    for _ in range(4):
        login(Client(), user.username, "wrong")
    client = Client()
    assert login(client, user.username, factories.PASSWORD).status_code == 302
    client.logout()
    for _ in range(5):  # a fresh allowance after a successful login
        assert login(Client(), user.username, "wrong").status_code == 200
    assert login(Client(), user.username, "wrong").status_code == 429


def test_one_address_trying_many_accounts_is_locked_out(customer, settings):
    settings.LOGIN_ATTEMPTS_PER_IP = 10
    user = factories.user(customer)
    for i in range(10):
        login(Client(), f"guess{i}", "wrong", REMOTE_ADDR="198.51.100.7")
    refused = login(Client(), user.username, factories.PASSWORD, REMOTE_ADDR="198.51.100.7")
    assert refused.status_code == 429
    elsewhere = login(Client(), user.username, factories.PASSWORD, REMOTE_ADDR="198.51.100.8")
    assert elsewhere.status_code == 302


def test_staff_logging_in_from_one_office_address_do_not_lock_it(customer, settings):
    settings.LOGIN_ATTEMPTS_PER_IP = 3
    users = [factories.user(customer) for _ in range(6)]
    for user in users:
        assert login(Client(), user.username, factories.PASSWORD).status_code == 302


def test_the_admin_login_is_throttled_the_same_way(customer):
    admin = factories.user(None, is_staff=True, is_superuser=True)
    for _ in range(5):
        Client().post("/admin/login/", {"username": admin.username, "password": "wrong"})
    client = Client()
    response = client.post(
        "/admin/login/", {"username": admin.username, "password": factories.PASSWORD}
    )
    assert "Слишком много попыток входа" in response.content.decode()
    assert client.get("/admin/").status_code == 302  # still the login page


def test_the_lockout_message_is_in_english_for_english_browsers(customer):
    user = factories.user(customer)
    for _ in range(6):
        response = login(Client(), user.username, "wrong", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 429
    assert "Too many login attempts" in response.content.decode()


# -- SMS login codes ----------------------------------------------------------------------------


@pytest.fixture
def sms(twilio, settings):
    return twilio


def test_one_session_texting_many_numbers_gets_five_codes(sms, db):
    client = Client()
    statuses = [
        client.post("/c/login/", {"phone": f"+7916123{i:04d}"}).status_code for i in range(30)
    ]
    assert statuses.count(200) == 5
    assert set(statuses[5:]) == {429}
    assert len(sms_to(sms)) == 5
    page = client.post("/c/login/", {"phone": "+79161239999"}).content.decode()
    assert "Слишком много запросов кода" in page


def test_one_address_without_cookies_gets_ten_codes(sms, db):
    statuses = [
        Client().post("/c/login/", {"phone": f"+7916123{i:04d}"}).status_code for i in range(30)
    ]
    assert statuses.count(200) == 10
    assert len(sms_to(sms)) == 10


def test_one_phone_gets_five_codes_an_hour_whoever_asks(sms, db):
    for i in range(8):
        Client().post("/c/login/", {"phone": "+79161230000"}, REMOTE_ADDR=f"198.51.100.{i}")
    assert len(sms_to(sms)) == 5


def test_the_platform_stops_texting_codes_at_its_hourly_cap(sms, db, settings):
    settings.SMS_CODES_PER_HOUR = 3
    for i in range(6):
        Client().post("/c/login/", {"phone": f"+7916123{i:04d}"}, REMOTE_ADDR=f"198.51.100.{i}")
    assert len(sms_to(sms)) == 3


def test_the_code_limit_message_is_in_english_for_english_browsers(sms, db):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    for i in range(6):
        response = client.post("/c/login/", {"phone": f"+7916123{i:04d}"})
    assert response.status_code == 429
    assert "Too many code requests" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_code_requests_for_one_phone_send_five_sms(twilio):
    barrier = threading.Barrier(20)
    errors: list[str] = []

    def request(i: int) -> None:
        try:
            barrier.wait()
            integrated.code_send(phone="+79161230000", ip=f"198.51.100.{i}", session=f"session-{i}")
        except Exception as exc:  # ValidationError for the refused ones
            errors.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=request, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sms_to(twilio) == ["+79161230000"] * 5
    assert LoginCode.objects.count() == 5
    assert errors == ["ValidationError"] * 15
