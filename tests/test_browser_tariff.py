""" "Тариф и опции" in a real browser (Debian's Chromium through Playwright), with and without JS."""

from __future__ import annotations

import datetime as dt
import os
import re
from zoneinfo import ZoneInfo

import pytest

from portal.billing import catalog
from portal.billing.management.commands.demo import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    create_demo_customer,
)
from portal.billing.models import OptionPeriod
from tests.browser import AVAILABLE, launch

# Playwright's sync API runs an event loop in this thread; the ORM calls below are still sync.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

playwright_sync = pytest.importorskip("playwright.sync_api")
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
    return create_demo_customer(month=dt.date(2026, 10, 1), tz=ZoneInfo("Europe/Moscow"))


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
