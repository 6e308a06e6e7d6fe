"""The daily accrual: idempotent, pro rata by local day, truncated to kopecks, Decimal only."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from portal.billing import selectors, services
from portal.billing.models import AccrualDay, LedgerEntry, OptionPeriod
from portal.directory.models import Employee, PhoneNumber
from tests import factories

MSK = ZoneInfo("Europe/Moscow")


def at(y, m, d, h=12):
    return dt.datetime(y, m, d, h, tzinfo=MSK)


@pytest.fixture
def cust(db):
    return factories.customer(activated_on=dt.date(2026, 1, 1))


def charges(customer, category=None):
    qs = LedgerEntry.objects.filter(customer=customer, kind=LedgerEntry.Kind.CHARGE)
    if category:
        qs = qs.filter(category=category)
    return list(qs.order_by("period_start"))


def test_running_the_accrual_twice_for_a_day_charges_once(cust):
    day = dt.date(2026, 3, 10)
    assert services.accrue_customer_day(cust, day) is True
    assert services.accrue_customer_day(cust, day) is False
    assert services.accrue_day(day) == 0
    assert AccrualDay.objects.filter(customer=cust).count() == 1
    tariff = charges(cust, "tariff")
    assert len(tariff) == 1 and tariff[0].source_key == "accrual:2026-03-10:tariff"


def test_the_daily_job_charges_every_active_customer_once(cust):
    other = factories.customer(activated_on=dt.date(2026, 1, 1))
    suspended = factories.customer(activated_on=dt.date(2026, 1, 1), status="suspended")
    assert services.accrue_day("2026-03-10") == 2
    assert services.accrue_day("2026-03-10") == 0
    assert len(charges(other)) == 1 and charges(suspended) == []


@pytest.mark.parametrize(
    ("month", "days", "daily"),
    [
        ((2026, 2), 28, Decimal("46.42")),  # 1300 / 28 = 46.428.. -> 46.42 (truncated)
        ((2028, 2), 29, Decimal("44.82")),  # leap February: 44.827.. -> 44.82
        ((2026, 4), 30, Decimal("43.33")),  # 43.333.. -> 43.33
        ((2026, 3), 31, Decimal("41.93")),  # 41.935.. -> 41.93, never rounded up
    ],
)
def test_tariff_is_charged_per_day_of_the_month_truncated_to_kopecks(cust, month, days, daily):
    y, m = month
    for d in range(1, days + 1):
        services.accrue_customer_day(cust, dt.date(y, m, d))
    entries = charges(cust, "tariff")
    assert len(entries) == days
    assert {e.amount for e in entries} == {daily}
    total = selectors.month_charges(cust, dt.date(y, m, 1))["tariff"]
    assert total == daily * days
    assert total <= Decimal("1300") and Decimal("1300") - total < Decimal("0.01") * days
    assert isinstance(total, Decimal)


def test_month_boundary_puts_each_day_in_its_own_month(cust):
    services.accrue_customer_day(cust, dt.date(2026, 3, 31))
    services.accrue_customer_day(cust, dt.date(2026, 4, 1))
    assert selectors.month_charges(cust, dt.date(2026, 3, 1))["tariff"] == Decimal("41.93")
    assert selectors.month_charges(cust, dt.date(2026, 4, 1))["tariff"] == Decimal("43.33")


def test_an_option_switched_on_mid_month_is_charged_from_that_day(cust):
    services.option_set(customer=cust, code="callback", enabled=True, now=at(2026, 3, 20))
    for d in range(1, 32):
        services.accrue_customer_day(cust, dt.date(2026, 3, d))
    # 150 / 31 = 4.838.. -> 4.83 per day, for 12 days (20..31)
    assert selectors.month_charges(cust, dt.date(2026, 3, 1))["extra_services"] == Decimal("57.96")


def test_an_option_switched_off_is_charged_up_to_and_including_that_day(cust):
    services.option_set(customer=cust, code="callback", enabled=True, now=at(2026, 4, 1, 0))
    services.option_set(customer=cust, code="callback", enabled=False, now=at(2026, 4, 10, 18))
    for d in range(1, 31):
        services.accrue_customer_day(cust, dt.date(2026, 4, d))
    # 150 / 30 = 5.00 per day, days 1..10
    assert selectors.month_charges(cust, dt.date(2026, 4, 1))["extra_services"] == Decimal("50.00")


def test_toggling_off_and_on_within_a_day_charges_that_day_once(cust):
    services.option_set(customer=cust, code="callback", enabled=True, now=at(2026, 4, 5, 9))
    services.option_set(customer=cust, code="callback", enabled=False, now=at(2026, 4, 5, 10))
    services.option_set(customer=cust, code="callback", enabled=True, now=at(2026, 4, 5, 11))
    services.accrue_customer_day(cust, dt.date(2026, 4, 5))
    services.accrue_customer_day(cust, dt.date(2026, 4, 4))
    assert selectors.month_charges(cust, dt.date(2026, 4, 1))["extra_services"] == Decimal("5.00")
    assert OptionPeriod.objects.filter(customer=cust).count() == 2


def test_local_day_follows_the_customer_time_zone(db):
    # 23:30 Moscow on the 9th is 20:30 UTC: the option is on for the 9th, not the 10th only.
    cust = factories.customer(activated_on=dt.date(2026, 1, 1), time_zone="Europe/Moscow")
    services.option_set(customer=cust, code="callback", enabled=True, now=at(2026, 4, 9, 23))
    services.accrue_customer_day(cust, dt.date(2026, 4, 9))
    assert selectors.month_charges(cust, dt.date(2026, 4, 1))["extra_services"] == Decimal("5.00")


def test_extra_numbers_and_employees_beyond_the_tariff_are_charged(cust):
    for _ in range(3):
        factories.number(cust, kind="multichannel")
    factories.number(cust, kind="regular")
    factories.number(cust, kind="regular")
    for _ in range(11):
        factories.employee(cust)
    PhoneNumber.objects.update(created_at=at(2026, 4, 15))
    Employee.objects.update(created_at=at(2026, 4, 15))
    services.accrue_customer_day(cust, dt.date(2026, 4, 14))  # before they existed
    services.accrue_customer_day(cust, dt.date(2026, 4, 15))
    totals = selectors.month_charges(cust, dt.date(2026, 4, 1))
    # tariff "Средний" includes 1 multichannel, 1 regular number and 10 employees; April: 30 days
    assert totals["extra_multichannel_numbers"] == 2 * Decimal("9.01")  # 270.30 / 30
    assert totals["extra_numbers"] == Decimal("5.00")  # 150 / 30
    assert totals["extra_services"] == Decimal("3.33")  # one extra employee, 100 / 30


def test_nothing_is_charged_before_activation_or_while_suspended(db):
    cust = factories.customer(activated_on=dt.date(2026, 5, 1))
    assert services.accrue_customer_day(cust, dt.date(2026, 4, 30)) is False
    cust.status = "suspended"
    cust.save()
    assert services.accrue_customer_day(cust, dt.date(2026, 5, 2)) is False
    assert charges(cust) == []


def test_balance_is_payments_minus_charges(cust):
    services.accrue_customer_day(cust, dt.date(2026, 3, 1))
    assert selectors.customer_balance(cust) == Decimal("-41.93")
    services.payment_record(customer=cust, amount=Decimal("100"), reference="bank-1")
    services.payment_record(customer=cust, amount=Decimal("100"), reference="bank-1")
    assert selectors.customer_balance(cust) == Decimal("58.07")


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-5")])
def test_a_payment_must_be_positive(cust, amount):
    with pytest.raises(ValidationError):
        services.payment_record(customer=cust, amount=amount, reference="x")


def test_unknown_option_code_is_a_clear_error_and_changes_nothing(cust):
    with pytest.raises(ValidationError) as err:
        services.option_set(customer=cust, code="no_such_option", enabled=True)
    assert "no_such_option" in str(err.value)
    assert OptionPeriod.objects.filter(customer=cust).count() == 0


def test_switching_an_option_on_twice_keeps_one_open_period(cust):
    assert services.option_set(customer=cust, code="callback", enabled=True) is True
    assert services.option_set(customer=cust, code="callback", enabled=True) is False
    assert OptionPeriod.objects.filter(customer=cust, ended_at__isnull=True).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_accruing_the_same_day_at_once_charge_once():
    import threading

    from django.db import connection

    cust = factories.customer(activated_on=dt.date(2026, 1, 1))
    barrier = threading.Barrier(2)
    results = []

    def worker():
        try:
            barrier.wait(timeout=5)
            results.append(services.accrue_customer_day(cust, dt.date(2026, 3, 3)))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert sorted(results) == [False, True]
    assert len(charges(cust, "tariff")) == 1


def test_a_withdrawn_option_can_be_switched_off_but_not_on(cust):
    from portal.billing.models import Option

    services.option_set(customer=cust, code="callback", enabled=True)
    Option.objects.filter(code="callback").update(is_available=False)
    assert services.option_set(customer=cust, code="callback", enabled=False) is True
    with pytest.raises(ValidationError):
        services.option_set(customer=cust, code="callback", enabled=True)
