"""The CRM card in a real browser (Debian's Chromium): an incoming call is answered by the
employee's phone (ESL test double, the real call-control process), the employee's open portal
page shows the live card at once, which leads to the caller's card (number, earlier calls); a
note typed there is kept with the call. The customer's CRM webhook (a real HTTP server on
127.0.0.1) gets the signed ring, answer and hangup events. The portal runs under Daphne and a
real django-q2 cluster sends the tasks, as in production."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import subprocess
import sys

import pytest
from django.utils import timezone

from portal.billing import catalog
from portal.billing import services as billing
from portal.billing.models import Option
from portal.calls.models import CallRecord
from portal.crm import services
from portal.crm.models import CallNote, CrmCall, CrmSettings, EmployeeUser, WebhookEvent
from tests import factories
from tests.asgi_server import AsgiServer
from tests.browser import AVAILABLE, launch
from tests.callcontrol_process import ROOT, CallControl, database_url, eventually
from tests.esl_double import EslDouble

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

PASSWORD = "employee-pass-2026"
ESL_PASSWORD = "crm-esl-pass"
CALLER = "+79161234567"
NUMBER = "+74950000155"
# The card crosses three processes (call control -> task cluster -> portal): a shared broker
# and channel layer are needed, Redis as in production.
REDIS_URL = os.environ.get("REDIS_URL", "")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not AVAILABLE, reason="needs Debian's chromium"),
    pytest.mark.skipif(not REDIS_URL, reason="needs REDIS_URL: the card crosses processes"),
]


@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as pw:
        browser = launch(pw)
        yield browser
        browser.close()


@pytest.fixture
def office(http_boundary):
    catalog.ensure()
    customer = factories.customer()
    dept = factories.department(customer, name="Продажи")
    number = factories.number(customer, NUMBER, kind="regular", department=dept)
    employee = factories.employee(customer, dept, extension="101", name="Анна")
    user = factories.user(customer, role="staff", username="anna")
    user.set_password(PASSWORD)
    user.save()
    EmployeeUser.objects.create(customer=customer, employee=employee, user=user)
    billing.option_set(customer=customer, code=Option.CRM, enabled=True)
    CrmSettings.objects.create(customer=customer, webhook_url=http_boundary.url + "/crm")
    CallRecord.objects.create(
        customer=customer,
        uuid="earlier-call",
        caller_number="89161234567",
        callee_number=NUMBER.lstrip("+"),
        direction="inbound",
        started_at=timezone.now() - dt.timedelta(days=3),
    )
    server = AsgiServer(REDIS_URL=REDIS_URL).start()
    yield customer, number, server
    server.stop()


@pytest.fixture
def stack(office):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings"}
    env.update(DATABASE_URL=database_url(), REDIS_URL=REDIS_URL, WEBHOOK_ALLOW_PRIVATE="true")
    cluster = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    with EslDouble(password=ESL_PASSWORD, time_factor=0.01) as switch:
        cc = CallControl(esl_port=switch.port, password=ESL_PASSWORD, REDIS_URL=REDIS_URL).start()
        switch.wait_for_command("event plain", timeout=10)
        try:
            yield switch, cc
        finally:
            cc.stop()
            cluster.terminate()
            cluster.wait(timeout=20)


def test_the_card_appears_on_answer_and_keeps_a_note(browser, office, stack, http_boundary):
    customer, number, server = office
    switch, cc = stack
    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    page = desk.new_page()
    page.goto(f"{server.url}/login/")
    page.get_by_label("Логин").fill("anna")
    page.get_by_label("Пароль").fill(PASSWORD)
    page.get_by_role("button", name="Войти").click()
    page.goto(f"{server.url}/pbx/crm/")
    page.wait_for_load_state("networkidle")

    # The call comes in and Anna's phone (extension 101) answers it: her leg carries what the
    # dialplan exports and dialed_user from the user/ endpoint.
    caller_leg = switch.inbound_call(
        caller=CALLER.lstrip("+"),
        destination=NUMBER.lstrip("+"),
        variables={"pbx_customer": str(customer.pk), "pbx_number": str(number.pk)},
    )
    switch.inbound_call(
        caller=CALLER.lstrip("+"),
        destination="101",
        variables={
            "pbx_customer": str(customer.pk),
            "pbx_number": str(number.pk),
            "dialed_user": "101",
            "originating_leg_uuid": caller_leg,
        },
    )
    call = eventually(
        lambda: CrmCall.objects.filter(uuid=caller_leg, answered_at__isnull=False).first(),
        message="never answered:\n" + "\n".join(cc.lines[-20:]),
    )
    card = page.locator(".notice-live", has_text=CALLER)
    expect(card).to_be_visible(timeout=15000)  # live: no reload
    expect(card).to_contain_text("Звонков раньше: 1")
    card.get_by_role("link").click()
    expect(page).to_have_url(f"{server.url}/pbx/crm/calls/{call.pk}/")
    expect(page.locator('[data-field="caller"]')).to_have_text(CALLER)
    expect(page.locator("#past-calls li")).to_have_count(1)

    page.get_by_label("Заметка").fill("Просит счёт на 10 лицензий")
    page.get_by_role("button", name="Сохранить заметку").click()
    expect(page.locator("#notes")).to_contain_text("Просит счёт на 10 лицензий")
    note = CallNote.objects.get()
    assert (note.call_id, note.author.username) == (call.pk, "anna")

    # The caller hangs up; the CRM got ring, answer and hangup, each signed.
    switch.hangup(caller_leg)
    eventually(lambda: WebhookEvent.objects.filter(kind="hangup", status="sent").exists(), 20)
    secret = CrmSettings.objects.get(customer=customer).webhook_secret
    sent = [(h, b) for path, h, b in http_boundary.requests if path == "/crm"]
    assert [json.loads(b)["event"] for _, b in sent] == ["call.ring", "call.answer", "call.hangup"]
    for headers, body in sent:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-PBX-Signature"] == "sha256=" + digest
    assert services.webhooks_retry_due() == 0
    desk.close()
