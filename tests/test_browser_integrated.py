"""A live call to an integrated number with its chat, in two real browsers (Debian's Chromium):
the caller on a phone-sized page and the operator who answered. The call goes live through the
ESL test double and the real call-control process; the portal runs under Daphne (websockets)."""

from __future__ import annotations

import io
import os
import re
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs

import pytest
from django.db import connection
from PIL import Image

from portal.billing import catalog
from portal.billing import services as billing
from portal.billing.models import Option
from portal.integrated import services
from portal.integrated.models import (
    Caller,
    ChatMessage,
    IntegratedCall,
    IntegratedService,
    Operator,
)
from tests import factories
from tests.asgi_server import AsgiServer
from tests.browser import AVAILABLE, launch
from tests.callcontrol_process import ROOT, CallControl, eventually
from tests.esl_double import EslDouble
from tests.http_boundary import TWILIO_FROM, TWILIO_SID, TWILIO_TOKEN

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

PASSWORD = "operator-pass-2026"
ESL_PASSWORD = "integrated-esl-pass"
CALLER = "+79161234567"
NUMBER = "+74950000123"
# Call control and the portal are two processes: live events between them need a shared
# channel layer (Redis, as in production). Without one the page shows the end on reload.
REDIS_URL = os.environ.get("REDIS_URL", "")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not AVAILABLE, reason="needs Debian's chromium"),
]


@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as pw:
        browser = launch(pw)
        yield browser
        browser.close()


@pytest.fixture
def office(http_boundary, tmp_path):
    catalog.ensure()
    customer = factories.customer()
    dept = factories.department(customer, name="Врачи")
    number = factories.number(customer, NUMBER, kind="regular", department=dept)
    service = IntegratedService.objects.create(
        customer=customer, name="Медицинские советы", description="Врач онлайн"
    )
    service.numbers.add(number)
    billing.option_set(customer=customer, code=Option.INTEGRATED_NUMBER, enabled=True)
    employee = factories.employee(customer, dept, extension="101", name="Доктор")
    user = factories.user(customer, role="staff", username="doctor")
    user.set_password(PASSWORD)
    user.save()
    Operator.objects.create(employee=employee, user=user)
    server = AsgiServer(
        TWILIO_ACCOUNT_SID=TWILIO_SID,
        TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
        TWILIO_FROM_NUMBER=TWILIO_FROM,
        TWILIO_API_BASE=http_boundary.url,
        MEDIA_ROOT=str(tmp_path / "media"),
        REDIS_URL=REDIS_URL,
    ).start()
    yield customer, number, server
    server.stop()


@pytest.fixture
def switch():
    with EslDouble(password=ESL_PASSWORD, time_factor=0.01) as fs:
        yield fs


@pytest.fixture
def service(switch, office):
    cc = CallControl(esl_port=switch.port, password=ESL_PASSWORD, REDIS_URL=REDIS_URL).start()
    switch.wait_for_command("event plain", timeout=10)
    yield cc
    cc.stop()


def photo(path) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), "orange").save(buf, "PNG")
    path.write_bytes(buf.getvalue())
    return str(path)


def test_the_caller_chats_with_the_operator_during_a_live_call(
    browser, office, switch, service, http_boundary, tmp_path
):
    customer, number, server = office
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, locale="ru-RU"
    )
    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")

    # The caller logs in with the code from the SMS.
    cli = phone.new_page()
    cli.goto(f"{server.url}/c/calls/")
    cli.get_by_label("Номер телефона").fill("+7 916 123-45-67")
    cli.get_by_role("button", name="Получить код").click()
    sms = parse_qs(http_boundary.requests[-1][2].decode())
    assert sms["To"] == [CALLER]
    cli.get_by_label("Код из SMS").fill(re.search(r"\d{6}", sms["Body"][0]).group(0))
    cli.get_by_role("button", name="Войти").click()
    expect(cli.get_by_text("Сейчас нет активного вызова")).to_be_visible()

    # The caller rings the integrated number; employee 101 answers (their leg carries the
    # variables the dialplan exports and dialed_user from the user/ endpoint).
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
        lambda: IntegratedCall.objects.filter(uuid=caller_leg).first(),
        message="never live:\n" + "\n".join(service.lines[-20:]),
    )
    active = cli.locator(f'[data-call="{call.pk}"][data-live="yes"]')
    expect(active).to_be_visible(timeout=10000)  # the page refreshes itself
    expect(active.locator('[data-mark="integrated"]')).to_be_visible()
    active.get_by_role("link", name="Медицинские советы").click()
    expect(cli.locator("#chat-reason")).to_contain_text("когда оператор его включит")
    expect(cli.locator("#chat-form")).to_be_hidden()
    expect(cli.locator("#chat")).to_have_attribute("data-ws", "open")

    # The operator who answered opens the call and enables the chat.
    op = desk.new_page()
    op.goto(f"{server.url}/login/")
    op.get_by_label("Логин").fill("doctor")
    op.get_by_label("Пароль").fill(PASSWORD)
    op.get_by_role("button", name="Войти").click()
    op.goto(f"{server.url}/pbx/integrated/calls/{call.pk}/")
    op.get_by_role("button", name="Включить чат").click()
    expect(op.locator("#chat")).to_have_attribute("data-ws", "open")
    expect(cli.locator("#chat-form")).to_be_visible()  # live, no reload
    expect(cli.locator("#chat")).to_have_attribute("data-enabled", "yes")

    # A text and a photo: the operator sees both live; they are unread so far.
    cli.locator("#chat-form input[name=text]").fill("У меня болит голова")
    cli.get_by_role("button", name="Отправить").click()
    expect(cli.locator('#messages li[data-author="caller"]')).to_have_count(1)
    cli.locator("#chat-form input[name=photo]").set_input_files(photo(tmp_path / "rash.png"))
    cli.get_by_role("button", name="Отправить").click()
    expect(op.locator('#messages li[data-author="caller"]')).to_have_count(2)
    expect(op.locator('#messages li[data-author="caller"]').first).to_contain_text("болит голова")
    expect(op.locator('#messages li[data-author="caller"] img')).to_be_visible()
    expect(cli.locator('#messages li[data-author="caller"][data-read="no"]')).to_have_count(2)

    # The operator comes online again (reopens the call): the caller sees the messages as read.
    op.reload()
    expect(cli.locator('#messages li[data-author="caller"][data-read="yes"]')).to_have_count(2)
    assert ChatMessage.objects.filter(call=call).count() == 2

    # The call ends (the caller hangs up): the chat closes for new messages.
    switch.hangup(caller_leg)
    eventually(lambda: IntegratedCall.objects.filter(pk=call.pk, ended_at__isnull=False).exists())
    if not REDIS_URL:
        cli.reload()
    expect(cli.locator("#chat")).to_have_attribute("data-live", "no")
    expect(cli.locator("#chat-form")).to_be_hidden()
    phone.close()
    desk.close()


# -- issue 19 ----------------------------------------------------------------------------------------

ARTIFACTS = ROOT / "var" / "artifacts" / "browser"  # git-ignored (var/): screenshots of the pages


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"integrated-{name}.png"), full_page=True)


def in_a_thread(fn, **kwargs):
    """Call a portal service as call control would: outside Playwright's event loop thread
    (the service publishes to the channel layer with async_to_sync)."""

    def run():
        try:
            return fn(**kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def big_photo(path) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (1600, 1200), "teal").save(buf, "PNG")
    path.write_bytes(buf.getvalue())
    return str(path)


def test_on_a_375_px_phone_the_chat_shows_authors_times_and_read_state_and_the_operator_is_alerted(
    browser, office, http_boundary, tmp_path
):
    customer, number, server = office
    phone = browser.new_context(
        viewport={"width": 375, "height": 740}, is_mobile=True, locale="ru-RU"
    )
    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")

    op = desk.new_page()  # the operator waits on the integrated page
    op.goto(f"{server.url}/login/")
    op.get_by_label("Логин").fill("doctor")
    op.get_by_label("Пароль").fill(PASSWORD)
    op.get_by_role("button", name="Войти").click()
    op.goto(f"{server.url}/pbx/integrated/")
    expect(op.locator("#integrated-alerts")).to_have_attribute("data-count", "0")

    cli = phone.new_page()
    cli.goto(f"{server.url}/c/calls/")
    cli.get_by_label("Номер телефона").fill("+7 916 123-45-67")
    cli.get_by_role("button", name="Получить код").click()
    sms = parse_qs(http_boundary.requests[-1][2].decode())
    cli.get_by_label("Код из SMS").fill(re.search(r"\d{6}", sms["Body"][0]).group(0))
    cli.get_by_role("button", name="Войти").click()
    caller = Caller.objects.get(phone=CALLER)
    caller.name = "Иван"
    caller.save()

    # Employee 101 answers: the operator's page alerts without a reload.
    call = in_a_thread(
        services.call_live,
        customer_id=customer.pk,
        number_id=number.pk,
        call_uuid="leg-a-19",
        operator_uuid="leg-b-19",
        caller_number=CALLER,
        operator_extension="101",
    )
    alert = op.locator(f'#integrated-alerts [data-alert-call="{call.pk}"]')
    expect(alert).to_contain_text("Новый звонок от Иван", timeout=15000)
    expect(op).to_have_title(re.compile(r"^\(1\) "))
    shot(op, "operator-alert-call")
    alert.get_by_role("link", name="Открыть").click()
    expect(op).to_have_url(re.compile(rf"/pbx/integrated/calls/{call.pk}/$"))
    op.get_by_role("button", name="Включить чат").click()
    expect(op.locator("#chat")).to_have_attribute("data-ws", "open")

    cli.goto(f"{server.url}/c/calls/{call.pk}/")
    expect(cli.locator("#chat-form")).to_be_visible()
    photo_input = cli.locator("#chat-form input[name=photo]")
    assert photo_input.get_attribute("capture") is None  # the gallery, not only the camera
    cli.locator("#chat-form input[name=text]").fill("Вот сыпь на руке")
    photo_input.set_input_files(big_photo(tmp_path / "rash.png"))
    cli.get_by_role("button", name="Отправить").click()
    mine = cli.locator('#messages li[data-author="caller"]')
    expect(mine.locator(".msg-who")).to_have_text("Вы")
    expect(mine.locator("time")).to_have_text(re.compile(r"^\d\d:\d\d$"))
    expect(mine.locator(".msg-read")).to_have_text("✓ отправлено")
    cli.wait_for_function(
        "document.querySelector('#messages li[data-author=\"caller\"] img').naturalWidth > 0"
    )
    box = mine.locator("img").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 375  # the photo fits the phone
    assert cli.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scroll

    theirs = op.locator('#messages li[data-author="caller"]')
    expect(theirs.locator(".msg-who")).to_have_text("Иван")
    op.locator("#chat-form input[name=text]").fill("Сейчас посмотрю")
    op.get_by_role("button", name="Отправить").click()
    answer = cli.locator('#messages li[data-author="operator"]')
    expect(answer.locator(".msg-who")).to_have_text("Оператор")
    expect(answer.locator(".msg-read")).to_have_count(0)
    op.reload()  # the operator is online again after the message: read
    expect(mine.locator(".msg-read")).to_have_text("✓✓ прочитано")
    expect(mine).to_have_attribute("data-read", "yes")
    shot(cli, "caller-chat-375")
    shot(op, "operator-chat")

    # The operator is elsewhere on the integrated pages: a new message from the caller alerts.
    op.goto(f"{server.url}/pbx/integrated/")
    expect(op.locator("#integrated-alerts")).to_have_attribute("data-count", "0")
    cli.locator("#chat-form input[name=text]").fill("Стало хуже")
    cli.get_by_role("button", name="Отправить").click()
    expect(op.locator(f'#integrated-alerts [data-alert-call="{call.pk}"]')).to_contain_text(
        "Новое сообщение от Иван: Стало хуже", timeout=15000
    )
    shot(op, "operator-alert-message")
    assert ChatMessage.objects.filter(call=call).count() == 3
    phone.close()
    desk.close()
