"""The "Тариф и опции" page: seed-001 figures, option toggles (form and JSON), warnings, i18n."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from portal.billing import services as billing_services
from portal.billing.management.commands.demo import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    create_demo_customer,
)
from portal.billing.models import OptionPeriod
from portal.web.templatetags.portal_tags import format_money
from tests import factories

TARIFF = reverse("web:tariff")
TOGGLE = reverse("web:option_toggle")


VOID_TAGS = {"input", "br", "img", "meta", "link", "hr", "source", "wbr"}


class _Collector(HTMLParser):
    """Text of every element carrying `attr` (nested tags included), keyed by the attr value."""

    def __init__(self, attr: str):
        super().__init__()
        self.attr = attr
        self.found: dict[str, str] = {}
        self.links: list[str] = []
        self._open: list[list] = []  # [key, depth, parts]

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and self._open:
            self.links.append(attrs.get("href", ""))
        if tag in VOID_TAGS:
            return
        for item in self._open:
            item[1] += 1
        if self.attr in attrs:
            self._open.append([attrs[self.attr], 1, []])

    def handle_endtag(self, tag):
        for item in list(self._open):
            item[1] -= 1
            if item[1] == 0:
                self._open.remove(item)
                self.found[item[0]] = " ".join("".join(item[2]).split())

    def handle_data(self, data):
        for item in self._open:
            item[2].append(data)


def collect(html: str, attr: str = "data-figure") -> dict[str, str]:
    parser = _Collector(attr)
    parser.feed(html)
    return parser.found


def warning_links(html: str) -> list[str]:
    parser = _Collector("data-warning")
    parser.feed(html)
    return parser.links


def figures(response) -> dict[str, str]:
    assert response.status_code == 200, response.status_code
    return collect(response.content.decode())


@pytest.fixture
def demo(db, client):
    customer = create_demo_customer(month=dt.date(2026, 10, 1), tz=ZoneInfo("Europe/Moscow"))
    assert client.login(username=DEMO_USERNAME, password=DEMO_PASSWORD)
    return customer


def open_options(customer) -> set[str]:
    return set(
        OptionPeriod.objects.filter(customer=customer, ended_at__isnull=True).values_list(
            "option__code", flat=True
        )
    )


def post_json(client, data):
    return client.post(TOGGLE, data, HTTP_ACCEPT="application/json")


# --- the seed-001 screen ---------------------------------------------------------------------


def test_demo_customer_page_shows_every_figure_of_the_seed_screen(client, demo):
    page = figures(client.get(TARIFF, {"month": "2026-10"}))
    assert page["accrued-total"] == "1052.55"
    assert page["accrued-tariff"] == "628.95"
    assert page["accrued-extra-multichannel"] == "130.65"
    assert page["accrued-extra-numbers"] == "0"
    assert page["accrued-extra-services"] == "292.95"
    assert page["status"] == "Услуга активна"
    assert page["balance"] == "0"
    assert page["tariff-name"] == "Средний"
    assert page["options-count"] == "подключены 11 опций"
    assert page["monthly-fee"] == "1300"
    assert page["employees-included"] == "10"
    assert page["multichannel-included"] == "1"
    assert page["options-fee"] == "740"
    assert page["storage-packages"] == "без доп пакетов"
    assert page["storage-free"] == "5.00"
    assert page["storage-quota"] == "5"
    assert page["storage-fee"] == "0"


def test_demo_page_reads_like_the_seed_screen(client, demo):
    text = " ".join(client.get(TARIFF, {"month": "2026-10"}).content.decode().split())
    assert "Начислено в октябре 2026: <span" in text
    assert "Плата за 11 опций в месяц" in text
    assert "Тариф: <span" in text
    for label in ("Тариф", "Доп. мнг. номера", "Доп. номера", "Доп. услуги", "Ваш баланс"):
        assert label in text
    assert "Клиент 1" in text


def test_current_month_heading_says_current_month(client, demo):
    response = client.get(TARIFF)
    assert "Начислено в текущем месяце" in response.content.decode()


def test_a_malformed_month_falls_back_to_the_current_month_with_a_message(client, demo):
    response = client.get(TARIFF, {"month": "2026-13"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Начислено в текущем месяце" in html
    assert "не распознан" in html


def test_every_option_has_a_real_form_with_csrf_token(client, demo):
    html = client.get(TARIFF).content.decode()
    options = collect(html, "data-option")
    assert "callback" in options and "video_assistant" in options
    assert html.count("data-option-form") == len(options)
    assert html.count('name="csrfmiddlewaretoken"') >= len(options)


@pytest.mark.parametrize(
    "value, shown",
    [
        (Decimal("0"), "0"),
        (Decimal("0.00"), "0"),
        (Decimal("628.95"), "628.95"),
        (Decimal("1300.00"), "1300"),
        (Decimal("740"), "740"),
        (Decimal("130.6"), "130.60"),
        (Decimal("1052.55"), "1052.55"),
    ],
)
def test_money_shows_whole_amounts_without_decimals(value, shown):
    assert format_money(value) == shown


# --- toggles ---------------------------------------------------------------------------------


def test_switching_an_option_on_with_a_plain_form_post_redirects_back(client, demo):
    response = client.post(TOGGLE, {"code": "callback", "enabled": "on", "month": "2026-10"})
    assert response.status_code == 302
    assert response["Location"] == f"{TARIFF}?month=2026-10"
    assert "callback" in open_options(demo)
    page = client.get(response["Location"])
    fig = figures(page)
    assert fig["options-count"] == "подключены 12 опций"
    assert fig["options-fee"] == "890"
    assert "Опция «Обратный вызов» подключена." in page.content.decode()


def test_switching_an_option_on_with_json_answers_the_new_figures(client, demo):
    response = post_json(client, {"code": "callback", "enabled": "on"})
    assert response.status_code == 200
    data = response.json()
    assert data["enabled"] is True
    assert data["enabled_count"] == 12
    assert data["options_fee"] == "890"
    assert data["options_count_text"] == "подключены 12 опций"
    assert data["options_fee_label"] == "Плата за 12 опций в месяц"
    # "Отдел продаж" of the demo customer is flagged: nobody needs warning.
    assert data["callback_warning"] is False and data["callback_warning_html"] == ""
    assert "callback" in open_options(demo)


def test_switching_an_option_off_with_json(client, demo):
    data = post_json(client, {"code": "caller_id", "enabled": "off"}).json()
    assert data["enabled"] is False
    assert data["options_count_text"] == "подключены 10 опций"
    assert data["options_fee"] == "690"
    assert "caller_id" not in open_options(demo)


def test_an_unknown_option_is_400_and_changes_nothing(client, demo):
    before = open_options(demo)
    response = post_json(client, {"code": "teleport", "enabled": "on"})
    assert response.status_code == 400
    assert "Неизвестная опция «teleport»" in response.json()["error"]
    response = client.post(TOGGLE, {"code": "teleport", "enabled": "on"})
    assert response.status_code == 400
    assert "Неизвестная опция «teleport»" in response.content.decode()
    assert open_options(demo) == before


def test_a_toggle_without_a_clear_state_is_400(client, demo):
    before = open_options(demo)
    assert post_json(client, {"code": "callback", "enabled": "maybe"}).status_code == 400
    assert client.post(TOGGLE, {"code": "callback"}).status_code == 400
    assert open_options(demo) == before


def test_the_toggle_only_accepts_post(client, demo):
    assert client.get(TOGGLE, {"code": "callback", "enabled": "on"}).status_code == 405
    assert "callback" not in open_options(demo)


# --- callback warning ------------------------------------------------------------------------


def test_callback_on_without_a_flagged_department_warns_with_a_link_to_the_department_form(
    admin_client, customer
):
    dept = factories.department(customer, name="Продажи", notify_callback=False)
    response = admin_client.post(TOGGLE, {"code": "callback", "enabled": "on"}, follow=True)
    html = response.content.decode()
    assert "никого не оповестит" in html
    assert warning_links(html) == [reverse("web:department_edit", args=[dept.pk])]


def test_callback_on_without_any_department_links_to_the_new_department_form(
    admin_client, customer
):
    data = post_json(admin_client, {"code": "callback", "enabled": "on"}).json()
    assert data["callback_warning"] is True
    assert warning_links(data["callback_warning_html"]) == [reverse("web:department_create")]


def test_callback_warning_comes_with_the_json_answer_and_goes_when_callback_is_off(
    admin_client, customer
):
    factories.department(customer, notify_callback=False)
    data = post_json(admin_client, {"code": "callback", "enabled": "on"}).json()
    assert "никого не оповестит" in data["callback_warning_html"]
    data = post_json(admin_client, {"code": "callback", "enabled": "off"}).json()
    assert data["callback_warning"] is False and data["callback_warning_html"] == ""


def test_callback_on_with_a_flagged_department_shows_no_warning(admin_client, customer):
    factories.department(customer, notify_callback=True, notification_emails="a@example.com")
    response = admin_client.post(TOGGLE, {"code": "callback", "enabled": "on"}, follow=True)
    assert "никого не оповестит" not in response.content.decode()
    assert (
        post_json(admin_client, {"code": "callback", "enabled": "on"}).json()["callback_warning"]
        is False
    )


# --- plurals and English ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "codes, count_text, fee_label",
    [
        ([], "подключены 0 опций", "Плата за 0 опций в месяц"),
        (["callback"], "подключена 1 опция", "Плата за 1 опцию в месяц"),
        (["callback", "caller_id"], "подключены 2 опции", "Плата за 2 опции в месяц"),
        (
            ["callback", "caller_id", "ivr", "moh", "crm"],
            "подключены 5 опций",
            "Плата за 5 опций в месяц",
        ),
    ],
)
def test_russian_plurals_of_the_option_count(admin_client, customer, codes, count_text, fee_label):
    for code in codes:
        billing_services.option_set(customer=customer, code=code, enabled=True)
    fig = figures(admin_client.get(TARIFF))
    assert fig["options-count"] == count_text
    labels = collect(admin_client.get(TARIFF).content.decode(), "data-label")
    assert labels["options-fee"] == fee_label


def test_the_page_speaks_english_when_the_browser_asks_for_it(client, demo):
    response = client.get(TARIFF, {"month": "2026-10"}, HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    fig = figures(response)
    assert fig["status"] == "Service active"
    assert fig["options-count"] == "11 options on"
    assert fig["storage-packages"] == "no extra packages"
    assert fig["accrued-total"] == "1052.55"
    assert "Accrued in October 2026" in html
    assert "Monthly fee for 11 options" in html
    assert "Tariff and options" in html
    assert "Callback" in html and "Обратный вызов" not in html
    assert post_json_en(client)["options_count_text"] == "12 options on"


def post_json_en(client):
    return client.post(
        TOGGLE,
        {"code": "callback", "enabled": "on"},
        HTTP_ACCEPT="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    ).json()


def test_json_answers_are_plain_json(client, demo):
    response = post_json(client, {"code": "ivr", "enabled": "off"})
    assert response["Content-Type"].startswith("application/json")
    assert json.loads(response.content)["enabled"] is False
