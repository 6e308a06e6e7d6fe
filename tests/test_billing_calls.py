"""Outgoing calls are rated from their CDR: per started minute at the tariff's price, once."""

from decimal import Decimal

import pytest

from portal.billing.models import LedgerEntry
from portal.calls.services import cdr_ingest
from tests import factories
from tests.test_cdr_ingest import plain_event


@pytest.fixture
def cust(db):
    return factories.customer()  # "Средний": 1.50 ₽ per minute


def hangup(cust, *, billsec: int, direction: str = "outbound", uuid: str | None = None) -> dict:
    event = plain_event("02d-originate-answer-park-kill.txt")  # a real answered outbound leg
    event["variable_pbx_customer"] = str(cust.pk)
    event["variable_pbx_direction"] = direction
    event["variable_billsec"] = str(billsec)
    if uuid:
        event["Unique-ID"] = uuid
    return event


def call_charges(cust):
    return list(LedgerEntry.objects.filter(customer=cust, category="calls"))


@pytest.mark.parametrize(
    ("billsec", "amount"),
    [(1, "1.50"), (59, "1.50"), (60, "1.50"), (61, "3.00"), (600, "15.00"), (601, "16.50")],
)
def test_an_outgoing_call_costs_the_minute_price_per_started_minute(
    cust, django_capture_on_commit_callbacks, billsec, amount
):
    with django_capture_on_commit_callbacks(execute=True):
        cdr_ingest(hangup(cust, billsec=billsec), source="event")
    [entry] = call_charges(cust)
    assert entry.amount == Decimal(amount) and entry.kind == "charge"
    assert entry.source_key.startswith("cdr:")


def test_the_same_cdr_delivered_twice_is_charged_once(cust, django_capture_on_commit_callbacks):
    event = hangup(cust, billsec=30)
    with django_capture_on_commit_callbacks(execute=True):
        cdr_ingest(event, source="event")
    with django_capture_on_commit_callbacks(execute=True):
        cdr_ingest(event, source="http")
    assert len(call_charges(cust)) == 1


@pytest.mark.parametrize(
    ("billsec", "direction"), [(0, "outbound"), (120, "internal"), (120, "inbound")]
)
def test_unanswered_internal_and_inbound_calls_are_free(
    cust, django_capture_on_commit_callbacks, billsec, direction
):
    with django_capture_on_commit_callbacks(execute=True):
        cdr_ingest(hangup(cust, billsec=billsec, direction=direction), source="event")
    assert call_charges(cust) == []


def test_a_call_charge_lowers_the_balance_and_shows_in_the_month(
    cust, django_capture_on_commit_callbacks
):
    from portal.billing import selectors

    with django_capture_on_commit_callbacks(execute=True):
        record = cdr_ingest(hangup(cust, billsec=90), source="event")
    assert selectors.customer_balance(cust) == Decimal("-3.00")
    month = selectors.month_charges(cust, record.started_at.date())
    assert month["calls"] == Decimal("3.00")


def test_a_later_cdr_with_a_larger_billsec_raises_the_charge_by_the_difference(
    cust, django_capture_on_commit_callbacks
):
    from portal.billing.services import calls_rerate

    with django_capture_on_commit_callbacks(execute=True):
        cdr_ingest(hangup(cust, billsec=30, uuid="rerate-1"), source="event")
    with django_capture_on_commit_callbacks(execute=True):
        cdr_ingest(hangup(cust, billsec=150, uuid="rerate-1"), source="http")  # 3 minutes
    calls_rerate()
    assert sorted(e.amount for e in call_charges(cust)) == [Decimal("1.50"), Decimal("3.00")]
    assert sum(e.amount for e in call_charges(cust)) == Decimal("4.50")
    # running again, or a repeated delivery, charges nothing more; a smaller billsec neither
    calls_rerate()
    with django_capture_on_commit_callbacks(execute=True):
        cdr_ingest(hangup(cust, billsec=20, uuid="rerate-1"), source="http")
    calls_rerate()
    assert sum(e.amount for e in call_charges(cust)) == Decimal("4.50")
