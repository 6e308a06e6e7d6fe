"""The demo walked as its customer would, in a real browser (Debian's Chromium), on a portal
run under Daphne (websockets): the seed's tariff screen on the day the demo runs, every feature
page with its history, a callback request acted on, and an operator alert popping up on a page
that has nothing to do with integrated numbers. Screenshots: var/artifacts/browser/demo-*.png."""

from __future__ import annotations

import calendar
import os
import re
from concurrent.futures import ThreadPoolExecutor
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from portal.billing import catalog
from portal.billing.management.commands.demo import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    create_demo_customer,
    current_month,
)
from portal.callbacks.models import CallbackRequest
from portal.integrated import services as integrated
from portal.integrated.models import IntegratedService, Operator
from portal.notifications import services as notifications
from portal.notifications.models import Delivery
from tests.asgi_server import AsgiServer
from tests.browser import AVAILABLE, launch
from tests.callcontrol_process import ROOT

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

MSK = ZoneInfo("Europe/Moscow")
ARTIFACTS = ROOT / "var" / "artifacts" / "browser"  # git-ignored (var/): screenshots of the pages
# The notice is pushed by this process and shown by Daphne's: they share Redis, as in production.
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
def demo(tmp_path, settings):
    settings.RECORDINGS_DIR = tmp_path / "recordings"
    catalog.ensure()
    customer = off_the_loop(create_demo_customer, month=current_month(MSK), tz=MSK, history=True)
    server = AsgiServer(REDIS_URL=REDIS_URL, RECORDINGS_DIR=str(tmp_path / "recordings")).start()
    yield customer, server
    server.stop()


def off_the_loop(fn, *args, **kwargs):
    """Run `fn` in another thread: Playwright's sync API keeps an event loop in this one, where
    the notifications' channel-layer push (async_to_sync) may not run."""

    def run():
        try:
            return fn(*args, **kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"demo-{name}.png"), full_page=True)


def log_in(browser, server):
    context = browser.new_context(locale="ru-RU", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{server.url}/login/")
    page.get_by_label("Логин").fill(DEMO_USERNAME)
    page.get_by_label("Пароль").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Войти").click()
    expect(page).to_have_url(re.compile(r"/pbx/$"))
    return context, page


def test_the_demo_walked_as_its_customer(browser, demo):
    customer, server = demo
    context, page = log_in(browser, server)

    page.get_by_role("link", name=re.compile("Тариф и опции")).click()
    expect(page.locator("#accrued-heading")).to_contain_text("Начислено в текущем месяце")
    expect(page.locator('[data-figure="balance"]')).to_have_text("0")
    month = current_month(MSK)
    if calendar.monthrange(month.year, month.month)[1] == 31:
        expect(page.locator('[data-figure="accrued-total"]')).to_have_text("1052.55")
    shot(page, "tariff")

    page.goto(f"{server.url}/pbx/callbacks/")
    rows = page.locator("tbody tr[data-request]")
    expect(rows).to_have_count(CallbackRequest.objects.filter(customer=customer).count())
    for status in ("completed", "failed", "cancelled"):
        expect(page.locator(f'tr[data-status="{status}"]').first).to_be_visible()
    expect(page.get_by_text("дозвонился сам")).to_be_visible()
    shot(page, "callbacks")

    # A failed request: staff reached the caller from a mobile and mark it done.
    failed = CallbackRequest.objects.filter(customer=customer, status="failed").first()
    page.goto(f"{server.url}/pbx/callbacks/{failed.pk}/")
    page.get_by_role("button", name="Отметить выполненным").click()
    expect(page.get_by_text("Заявка отмечена выполненной.")).to_be_visible()
    expect(page.locator("[data-handled]")).to_contain_text("Демо")
    expect(page.get_by_text("отмечен выполненным")).to_be_visible()
    failed.refresh_from_db()
    assert failed.status == "completed" and failed.handled_by.username == DEMO_USERNAME
    shot(page, "callback-done")

    page.goto(f"{server.url}/pbx/redial/")
    expect(page.locator("tr[data-request]")).to_have_count(7)
    expect(page.locator('tr[data-status="done"]')).to_have_count(5)
    expect(page.locator('tr[data-status="refused"]')).to_have_count(2)
    shot(page, "redial")

    page.goto(f"{server.url}/pbx/fictive/calls/")
    assert page.locator("tr[data-call]").count() >= 12
    expect(page.locator('tr[data-direction="inbound"]').first).to_contain_text(
        re.compile(r"\+7495000001[23]")
    )
    assert page.locator("[data-duration]").first.inner_text().strip().isdigit()
    shot(page, "fictive-calls")

    page.goto(f"{server.url}/pbx/video/")
    expect(page.get_by_text("Игорь Васильев")).to_be_visible()
    shot(page, "video")

    page.goto(f"{server.url}/statistics/")
    inbound = page.locator(
        'table[data-table="calls"] tr[data-direction="inbound"] [data-col="total"]'
    )
    assert int(inbound.inner_text()) > 0
    expect(page.locator('[data-stat="video-sessions"]')).to_contain_text("пометок: 5")
    expect(page.locator('[data-figure="balance"]')).to_have_text("0")
    shot(page, "statistics")

    page.goto(f"{server.url}/notifications/")
    notices = page.locator("#notice-list li.notice")
    assert notices.count() >= 10
    # The operator's alert of the integrated call leads to the call's chat.
    page.get_by_role(
        "link", name=re.compile("Звонок на интегрированный номер: Анна Смирнова")
    ).click()
    expect(page.get_by_text("Отправляю фото сыпи", exact=False)).to_be_visible()
    shot(page, "integrated-chat")
    context.close()


def test_a_new_integrated_call_pops_up_on_the_tariff_page(browser, demo):
    customer, server = demo
    context, page = log_in(browser, server)
    page.goto(f"{server.url}/pbx/tariff/")
    badge = page.locator("#notify-badge .count")
    expect(page.locator("#notify-badge")).to_be_visible()
    page.wait_for_timeout(500)  # the page's websocket says hello

    def a_call_goes_live():
        service = IntegratedService.objects.get(customer=customer)
        operator = Operator.objects.get(employee__customer=customer)
        call = integrated.call_live(
            customer_id=customer.pk,
            number_id=service.numbers.first().pk,
            call_uuid="demo-live-1",
            operator_uuid="demo-live-1-b",
            caller_number="+79161110001",
            operator_extension=operator.employee.extension,
        )
        for delivery in Delivery.objects.filter(status="pending", channel="portal"):
            notifications.delivery_send(delivery.pk)  # what the worker does
        return call

    call = off_the_loop(a_call_goes_live)

    popup = page.locator("#notify-live .notice-live").first
    expect(popup).to_contain_text("Звонок на интегрированный номер: Анна Смирнова")
    expect(badge).to_be_visible()
    shot(page, "operator-alert")
    popup.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/pbx/integrated/calls/{call.pk}/$"))
    context.close()
