"""Options, ledger and balance through the API: toggles reach billing, money stays a string."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from portal.billing import selectors, services
from portal.billing.models import LedgerEntry, Option, OptionPeriod
from portal.events import config_changed
from portal.tenants.models import ApiToken


@pytest.fixture
def api(customer, django_capture_on_commit_callbacks):
    class CommittingClient(APIClient):
        def request(self, *args, **kwargs):
            with django_capture_on_commit_callbacks(execute=True):
                return super().request(*args, **kwargs)

    _token, key = ApiToken.issue(customer=customer, name="mine")
    client = CommittingClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def charge(customer, amount: str, category: str, day: dt.date) -> LedgerEntry:
    return LedgerEntry.objects.create(
        customer=customer,
        kind=LedgerEntry.Kind.CHARGE,
        category=category,
        amount=Decimal(amount),
        period_start=day,
        period_end=day,
        source_key=f"test:{day}:{category}:{amount}",
    )


# --- options ---------------------------------------------------------------------------------


def test_the_option_list_is_the_catalog_with_the_customers_state(api, customer):
    services.option_set(customer=customer, code=Option.CALLER_ID, enabled=True)
    rows = api.get("/api/v1/options/").json()
    assert [row["code"] for row in rows] == list(
        Option.objects.filter(is_available=True).values_list("code", flat=True)
    )
    by_code = {row["code"]: row for row in rows}
    assert by_code[Option.CALLER_ID]["enabled"] is True
    assert by_code[Option.CALLBACK]["enabled"] is False
    assert by_code[Option.CALLBACK]["monthly_price"] == "150.00"
    assert by_code[Option.CALLBACK]["name"] == "Обратный вызов"


def test_option_names_follow_the_requested_language(api):
    rows = api.get("/api/v1/options/", HTTP_ACCEPT_LANGUAGE="en").json()
    assert {row["code"]: row["name"] for row in rows}[Option.CALLBACK] == "Callback"


@pytest.mark.parametrize("method", ["post", "put"])
def test_switching_an_option_on_through_the_api_shows_on_the_tariff_page(api, customer, method):
    today = timezone.localdate()
    before = selectors.tariff_page(customer=customer, month=today)
    seen = []
    config_changed.connect(lambda **kw: seen.append(kw["what"]), weak=False, dispatch_uid="t")
    try:
        response = getattr(api, method)(
            "/api/v1/options/callback/", {"enabled": True}, format="json"
        )
    finally:
        config_changed.disconnect(dispatch_uid="t")
    assert response.status_code == 200
    assert response.json()["enabled"] is True and response.json()["changed"] is True
    assert seen == ["option"]

    after = selectors.tariff_page(customer=customer, month=today)
    assert {o.code: o.enabled for o in after.options}[Option.CALLBACK] is True
    assert after.enabled_count == before.enabled_count + 1
    assert after.options_fee == before.options_fee + Decimal("150.00")


def test_switching_an_option_off_through_the_api_shows_on_the_tariff_page(api, customer):
    services.option_set(customer=customer, code=Option.CALL_RECORDING, enabled=True)
    response = api.put("/api/v1/options/call_recording/", {"enabled": False}, format="json")
    assert response.status_code == 200
    assert response.json()["enabled"] is False
    page = selectors.tariff_page(customer=customer, month=timezone.localdate())
    assert {o.code: o.enabled for o in page.options}[Option.CALL_RECORDING] is False


def test_switching_an_option_to_its_current_state_changes_nothing(api, customer):
    response = api.put("/api/v1/options/callback/", {"enabled": False}, format="json")
    assert response.status_code == 200
    assert response.json()["changed"] is False
    assert not OptionPeriod.objects.exists()


@pytest.mark.parametrize("code", ["no_such_option", "CALLBACK", "x" * 100])
def test_an_unknown_option_code_is_a_400_with_a_message(api, code):
    response = api.put(f"/api/v1/options/{code}/", {"enabled": True}, format="json")
    assert response.status_code == 400
    assert "Неизвестная опция" in response.json()["code"][0]
    assert not OptionPeriod.objects.exists()


def test_an_option_withdrawn_from_the_catalog_cannot_be_switched_on(api):
    Option.objects.filter(code=Option.VIDEO_ASSISTANT).update(is_available=False)
    response = api.put("/api/v1/options/video_assistant/", {"enabled": True}, format="json")
    assert response.status_code == 400
    assert not OptionPeriod.objects.exists()
    codes = [row["code"] for row in api.get("/api/v1/options/").json()]
    assert Option.VIDEO_ASSISTANT not in codes


@pytest.mark.parametrize("body", [{}, {"enabled": "perhaps"}, {"enabled": None}, {"on": True}])
def test_an_option_toggle_without_a_clear_enabled_flag_is_a_400(api, body):
    response = api.put("/api/v1/options/callback/", body, format="json")
    assert response.status_code == 400
    assert response.json()["enabled"][0]
    assert not OptionPeriod.objects.exists()


# --- balance and ledger ----------------------------------------------------------------------


def test_the_balance_is_payments_minus_charges_as_a_string(api, customer):
    services.payment_record(customer=customer, amount=Decimal("1000.10"), reference="p1")
    charge(customer, "628.95", LedgerEntry.Category.TARIFF, dt.date(2026, 10, 1))
    response = api.get("/api/v1/balance/")
    assert response.json() == {"balance": "371.15", "currency": "RUB"}


def test_a_negative_balance_is_a_negative_string(api, customer):
    charge(customer, "0.10", LedgerEntry.Category.TARIFF, dt.date(2026, 10, 1))
    charge(customer, "0.20", LedgerEntry.Category.EXTRA_NUMBERS, dt.date(2026, 10, 1))
    assert api.get("/api/v1/balance/").json()["balance"] == "-0.30"


def test_ledger_amounts_are_strings_with_two_decimals(api, customer):
    charge(customer, "22.58", LedgerEntry.Category.TARIFF, dt.date(2026, 10, 1))
    services.payment_record(customer=customer, amount=Decimal("5"), reference="p1")
    rows = api.get("/api/v1/ledger/").json()["results"]
    assert sorted(row["amount"] for row in rows) == ["22.58", "5.00"]
    assert all(isinstance(row["amount"], str) for row in rows)


def test_the_ledger_filters_by_month_and_category(api, customer):
    charge(customer, "1.00", LedgerEntry.Category.TARIFF, dt.date(2026, 9, 30))
    charge(customer, "2.00", LedgerEntry.Category.TARIFF, dt.date(2026, 10, 1))
    charge(customer, "3.00", LedgerEntry.Category.EXTRA_NUMBERS, dt.date(2026, 10, 31))
    charge(customer, "4.00", LedgerEntry.Category.TARIFF, dt.date(2026, 11, 1))

    def amounts(query: str) -> list[str]:
        response = api.get(f"/api/v1/ledger/{query}")
        assert response.status_code == 200, response.json()
        return sorted(row["amount"] for row in response.json()["results"])

    assert amounts("?month=2026-10") == ["2.00", "3.00"]
    assert amounts("?month=2026-10&category=tariff") == ["2.00"]
    assert amounts("?category=tariff") == ["1.00", "2.00", "4.00"]
    assert amounts("") == ["1.00", "2.00", "3.00", "4.00"]


@pytest.mark.parametrize(
    "query,field",
    [
        ("?month=2026-13", "month"),
        ("?month=2026-1", "month"),
        ("?month=october", "month"),
        ("?category=beer", "category"),
    ],
)
def test_a_bad_ledger_filter_is_a_400_with_a_message(api, query, field):
    response = api.get(f"/api/v1/ledger/{query}")
    assert response.status_code == 400
    assert response.json()[field][0]


def test_the_ledger_is_read_only(api, customer):
    response = api.post("/api/v1/ledger/", {"amount": "-100"}, format="json")
    assert response.status_code == 405
    assert not LedgerEntry.objects.exists()
