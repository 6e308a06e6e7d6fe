import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from portal.billing import selectors
from portal.billing.management.commands.demo import create_demo_customer, latest_31_day_month


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
