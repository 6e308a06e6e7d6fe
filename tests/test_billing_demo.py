import calendar
import datetime as dt
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from portal.billing import selectors
from portal.billing.management.commands.demo import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    create_demo_customer,
    current_month,
    latest_31_day_month,
)
from portal.billing.services import accrue_day
from portal.tenants.models import Customer


def test_demo_customer_reproduces_the_seed_001_figures_from_the_ledger(db):
    month = dt.date(2026, 10, 1)
    customer = create_demo_customer(month=month, tz=ZoneInfo("Europe/Moscow"))
    page = selectors.tariff_page(customer=customer, month=month)
    assert page.accrued_total == Decimal("1052.55")
    assert page.accrued == {
        "tariff": Decimal("628.95"),
        "extra_multichannel_numbers": Decimal("130.65"),
        "extra_numbers": Decimal("0.00"),
        "extra_services": Decimal("292.95"),
    }
    assert page.balance == Decimal("0.00")
    assert page.enabled_count == 11
    assert page.options_fee == Decimal("740.00")
    assert page.storage_free_gb == Decimal("5.00") and page.storage_quota_gb == 5


def test_latest_31_day_month_skips_30_day_months():
    assert latest_31_day_month(dt.date(2026, 11, 22)) == dt.date(2026, 10, 1)
    assert latest_31_day_month(dt.date(2026, 10, 31)) == dt.date(2026, 8, 1)
    assert latest_31_day_month(dt.date(2027, 1, 5)) == dt.date(2026, 12, 1)


# -- the demo's month is the current one: the seed's screen on the day it is started -----------

MSK = ZoneInfo("Europe/Moscow")
SEED = {
    "tariff": Decimal("628.95"),
    "extra_multichannel_numbers": Decimal("130.65"),
    "extra_numbers": Decimal("0.00"),
    "extra_services": Decimal("292.95"),
}


@pytest.mark.parametrize("day", [1, 8, 16, 17, 24, 31])
def test_started_on_any_day_of_a_31_day_month_the_current_month_is_the_seeds(db, day):
    now = dt.datetime(2026, 12, day, 10, 30, tzinfo=MSK)
    customer = create_demo_customer(month=current_month(MSK, now), tz=MSK, now=now)
    page = selectors.tariff_page(customer=customer, month=dt.date(2026, 12, 1))
    assert page.accrued == SEED and page.accrued_total == Decimal("1052.55")
    assert page.balance == Decimal("0.00") and page.enabled_count == 11


def test_the_daily_accrual_charges_nothing_more_until_the_next_month(db):
    now = dt.datetime(2026, 12, 8, 10, 30, tzinfo=MSK)
    customer = create_demo_customer(month=current_month(MSK, now), tz=MSK, now=now)
    # The schedule runs every day of the month (today's run included): nothing to charge.
    for day in range(8, 32):
        accrue_day(dt.date(2026, 12, day))
    assert selectors.customer_balance(customer) == Decimal("0.00")
    # The next month is billed like any customer's: the 1st is charged.
    accrue_day(dt.date(2027, 1, 1))
    assert selectors.customer_balance(customer) < 0
    assert selectors.month_charges(customer, dt.date(2027, 1, 1))["tariff"] == Decimal("41.93")


def test_in_a_30_day_month_the_figures_are_that_months_and_the_balance_is_still_0(db):
    now = dt.datetime(2026, 11, 20, 12, 0, tzinfo=MSK)
    customer = create_demo_customer(month=current_month(MSK, now), tz=MSK, now=now)
    page = selectors.tariff_page(customer=customer, month=dt.date(2026, 11, 1))
    # 14 days (17..30) at 1300/30 = 43.33 a day: not the seed's, and the command says so.
    assert page.accrued["tariff"] == Decimal("606.62")
    assert page.balance == Decimal("0.00")


def test_the_command_starts_the_demo_in_the_current_month(db):
    out = io.StringIO()
    call_command("demo", "--no-history", stdout=out)
    month = current_month(MSK)
    customer = Customer.objects.get(name="Клиент 1")
    assert selectors.tariff_page(customer=customer, month=month).balance == Decimal("0.00")
    assert "balance 0.00 ₽" in out.getvalue() and "page: /pbx/tariff/\n" in out.getvalue()
    # Started again: replaced, not doubled.
    call_command("demo", "--no-history", stdout=io.StringIO())
    assert Customer.objects.filter(name="Клиент 1").count() == 1


def test_the_tariff_page_on_the_day_the_demo_runs_is_the_seed_screen(client, db):
    month = current_month(MSK)
    create_demo_customer(month=month, tz=MSK)
    client.login(username=DEMO_USERNAME, password=DEMO_PASSWORD)
    html = client.get("/pbx/tariff/").content.decode()
    assert "Начислено в текущем месяце" in html
    assert 'data-figure="balance">0</span>' in html
    if calendar.monthrange(month.year, month.month)[1] == 31:
        assert 'data-figure="accrued-total">1052.55</span>' in html
