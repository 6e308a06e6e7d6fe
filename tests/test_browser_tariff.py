""" "Тариф и опции" in a real browser (Debian's Chromium through Playwright), with and without JS."""

from __future__ import annotations

import calendar
import os
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from portal.billing import catalog
from portal.billing.management.commands.demo import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    create_demo_customer,
    current_month,
)
from portal.billing.models import OptionPeriod
from tests.browser import AVAILABLE, launch

# Playwright's sync API runs an event loop in this thread; the ORM calls below are still sync.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

playwright_sync = pytest.importorskip("playwright.sync_api")
MSK = ZoneInfo("Europe/Moscow")
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "var" / "artifacts" / "browser"  # git-ignored (var/): screenshots of the pages
expect = playwright_sync.expect

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
def demo(live_server):
    catalog.ensure()  # an earlier transactional test may have flushed the catalog
    return create_demo_customer(month=current_month(MSK), tz=MSK)


def log_in(page, live_server):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Логин").fill(DEMO_USERNAME)
    page.get_by_label("Пароль").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Войти").click()
    expect(page).to_have_url(re.compile(r"/pbx/$"))
    page.get_by_role("link", name=re.compile("Тариф и опции")).click()
    expect(page.get_by_role("heading", name="Тариф и опции", level=1)).to_be_visible()


def figure(page, name):
    return page.locator(f'[data-figure="{name}"]')


def is_on(customer, code: str) -> bool:
    return OptionPeriod.objects.filter(
        customer=customer, option__code=code, ended_at__isnull=True
    ).exists()


def test_on_the_day_the_demo_runs_the_page_is_the_seed_screen(browser, live_server, demo):
    context = browser.new_context(locale="ru-RU", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, live_server)
    month = current_month(MSK)
    heading = page.locator("#accrued-heading")
    expect(heading).to_contain_text("Начислено в текущем месяце")
    expect(figure(page, "balance")).to_have_text("0")
    expect(figure(page, "tariff-name")).to_have_text("Средний")
    expect(figure(page, "options-count")).to_have_text("подключены 11 опций")
    expect(figure(page, "options-fee")).to_have_text("740")
    expect(figure(page, "monthly-fee")).to_have_text("1300")
    expect(figure(page, "storage-free")).to_have_text("5.00")
    if calendar.monthrange(month.year, month.month)[1] == 31:  # the seed's month has 31 days
        expect(figure(page, "accrued-total")).to_have_text("1052.55")
        expect(figure(page, "accrued-tariff")).to_have_text("628.95")
        expect(figure(page, "accrued-extra-multichannel")).to_have_text("130.65")
        expect(figure(page, "accrued-extra-numbers")).to_have_text("0")
        expect(figure(page, "accrued-extra-services")).to_have_text("292.95")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo-tariff-seed-screen.png"), full_page=True)
    context.close()


def test_switching_callback_on_updates_the_page_without_a_reload(browser, live_server, demo):
    context = browser.new_context(locale="ru-RU")
    page = context.new_page()
    log_in(page, live_server)
    expect(page.locator("html")).to_have_attribute("data-js", "tariff")
    expect(figure(page, "options-count")).to_have_text("подключены 11 опций")
    expect(figure(page, "options-fee")).to_have_text("740")
    # A marker that a navigation would wipe out.
    page.evaluate("window.__noReload = 'still here'")

    switch = page.get_by_role("switch", name="Обратный вызов")
    expect(switch).to_have_attribute("aria-checked", "false")
    switch.click()

    expect(switch).to_have_attribute("aria-checked", "true")
    expect(page.get_by_role("status")).to_have_text("Опция «Обратный вызов» подключена.")
    expect(figure(page, "options-count")).to_have_text("подключены 12 опций")
    expect(figure(page, "options-fee")).to_have_text("890")
    expect(page.locator('[data-label="options-fee"]')).to_have_text("Плата за 12 опций в месяц")
    assert page.evaluate("window.__noReload") == "still here"
    assert is_on(demo, "callback")
    # The demo's sales department is flagged: no warning.
    expect(page.locator('[data-warning="callback"]')).to_have_count(0)

    page.reload()
    expect(page.get_by_role("switch", name="Обратный вызов")).to_have_attribute(
        "aria-checked", "true"
    )
    expect(figure(page, "options-count")).to_have_text("подключены 12 опций")
    assert page.evaluate("window.__noReload") is None
    context.close()


def test_every_switch_is_the_same_width(browser, live_server, demo):
    context = browser.new_context(locale="ru-RU")
    page = context.new_page()
    log_in(page, live_server)
    widths = page.eval_on_selector_all(
        "button.switch", "els => els.map(e => Math.round(e.getBoundingClientRect().width))"
    )
    assert len(widths) > 10 and len(set(widths)) == 1, widths
    context.close()


def test_the_callback_warning_appears_without_a_reload(browser, live_server, demo):
    demo.departments.update(notify_callback=False)
    context = browser.new_context(locale="ru-RU")
    page = context.new_page()
    log_in(page, live_server)
    page.get_by_role("switch", name="Обратный вызов").click()
    warning = page.locator('[data-warning="callback"]')
    expect(warning).to_contain_text("никого не оповестит")
    expect(warning.get_by_role("link")).to_have_attribute("href", re.compile(r"/departments/\d+/"))
    page.get_by_role("switch", name="Обратный вызов").click()
    expect(warning).to_have_count(0)
    context.close()


def test_without_javascript_a_switch_is_a_plain_form_post(browser, live_server, demo):
    context = browser.new_context(locale="ru-RU", java_script_enabled=False)
    page = context.new_page()
    log_in(page, live_server)
    expect(page.locator("html")).not_to_have_attribute("data-js", "tariff")

    switch = page.get_by_role("switch", name="АОН")
    expect(switch).to_have_attribute("aria-checked", "true")
    switch.click()

    expect(page.get_by_text("Опция «АОН» отключена.")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/pbx/tariff/$"))
    expect(page.get_by_role("switch", name="АОН")).to_have_attribute("aria-checked", "false")
    expect(figure(page, "options-count")).to_have_text("подключены 10 опций")
    expect(figure(page, "options-fee")).to_have_text("690")
    assert not is_on(demo, "caller_id")
    context.close()
