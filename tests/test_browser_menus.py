"""Building a voice menu and trying it in a real browser (Debian's Chromium via Playwright):
the customer finds the builder from "Голосовое меню", chooses where keys lead, has the
greeting spoken, sees the tree, then walks the menu in the simulator by clicking keys."""

from __future__ import annotations

import os
import re

import pytest

from portal.menus import services
from portal.menus.models import Menu
from tests import factories
from tests.browser import AVAILABLE, launch

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
def office(live_server, settings, tmp_path):
    settings.PROMPTS_DIR = tmp_path / "prompts"
    customer = factories.customer()
    user = factories.user(customer, username="menus-admin")
    sales = factories.department(customer, "Продажи")
    anna = factories.employee(customer, sales, extension="101", name="Анна")
    support = services.menu_save(customer=customer, name="Поддержка")
    services.option_set(customer=customer, menu=support, key="1", target=f"emp:{anna.pk}")
    return {"customer": customer, "user": user, "sales": sales}


def log_in(page, live_server, username):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Логин").fill(username)
    page.get_by_label("Пароль").fill(factories.PASSWORD)
    page.get_by_role("button", name="Войти").click()
    expect(page).to_have_url(re.compile(r"/pbx/$"))


def test_a_customer_builds_a_menu_and_walks_it_in_the_simulator(browser, live_server, office):
    context = browser.new_context(locale="ru-RU")
    page = context.new_page()
    log_in(page, live_server, "menus-admin")
    page.get_by_role("link", name="Голосовое меню").first.click()
    page.get_by_role("link", name="Меню, расписания и номера").click()
    expect(page.get_by_role("heading", name="Голосовое меню", level=1)).to_be_visible()

    page.get_by_label("Название нового меню").fill("Главное")
    page.get_by_role("button", name="Создать меню").click()
    expect(page.get_by_role("heading", name="Главное", level=1)).to_be_visible()
    # The tree says there is nothing yet, and the missing greeting is named.
    expect(page.locator("[data-problems]")).to_contain_text("Нет приветствия")

    page.get_by_label("Клавиша 1", exact=True).select_option(label="Отдел «Продажи»")
    page.get_by_label("Подпись клавиши 1").fill("Продажи")
    page.get_by_label("Клавиша 2", exact=True).select_option(label="Меню «Поддержка»")
    number = page.get_by_label("Клавиша *: внешний номер", exact=True)
    expect(number).to_be_hidden()  # shown only for "Внешний номер…"
    page.get_by_label("Клавиша *", exact=True).select_option(label="Внешний номер…")
    expect(number).to_be_visible()
    number.fill("+74951234567")
    page.get_by_role("button", name="Сохранить меню").click()
    expect(page.get_by_text("Меню сохранено.")).to_be_visible()

    tree = page.locator("[data-tree]")
    expect(tree.locator('> ul > li[data-key="1"]')).to_contain_text("Продажи → Отдел «Продажи»")
    expect(tree.locator('> ul > li[data-key="2"]')).to_contain_text("Поддержка")
    expect(tree.locator('li[data-key="2"] li[data-key="1"]')).to_contain_text(
        "Сотрудник Анна (101)"
    )
    expect(tree.locator('> ul > li[data-key="*"]')).to_contain_text("Внешний номер +74951234567")

    # The greeting, spoken by the prompt generator, with its "listen" control.
    page.get_by_label("Приветствие, Русский: текст").fill("Здравствуйте! Продажи — один.")
    page.locator('[data-prompt="greeting-ru"]').get_by_role(
        "button", name="Сохранить сообщение"
    ).click()
    player = page.locator('[data-prompt="greeting-ru"] audio')
    expect(player).to_have_count(1)
    src = player.get_attribute("src")
    audio = page.request.get(f"{live_server.url}{src}")
    assert audio.status == 200 and audio.body()[:4] == b"RIFF"
    expect(page.locator("[data-problems]")).to_have_count(0)

    # Try it: the same machine as the switch, keys clicked.
    page.get_by_role("link", name="Проверить меню").first.click()
    page.get_by_role("button", name="Позвонить").click()
    sim = page.locator("#simulator")
    expect(sim.locator("[data-sim-menu]")).to_have_text("Главное")
    expect(sim.locator("[data-sim-hear]")).to_contain_text("Здравствуйте! Продажи — один.")
    expect(sim.locator('[data-sim-options] li[data-key="1"]')).to_have_text(
        "1 Продажи → Отдел «Продажи»"
    )
    assert sim.locator("[data-sim-audio]").get_attribute("src").endswith("/prompts/greeting/ru.wav")
    page.get_by_role("button", name="Клавиша 2").click()
    expect(sim.locator("[data-sim-menu]")).to_have_text("Поддержка")
    page.get_by_role("button", name="Клавиша 7").click()  # no such key: told, asked again
    expect(sim.locator("[data-sim-hear]")).to_contain_text("Неверный ввод")
    page.get_by_role("button", name="Клавиша 1").click()
    expect(sim.locator("[data-sim-result]")).to_have_text("Звонок уходит: Сотрудник Анна (101)")
    expect(sim.locator("[data-sim-log] li")).to_have_count(3)
    assert Menu.objects.filter(customer=office["customer"]).count() == 2
    context.close()
