"""Rating by destination: rate decks, increments, minimums, fees, included minutes, prefix ties,
a rate that changes mid-call; the set-based SQL path and the per-row ORM path agree; every call
is rated once; re-rating a period is explicit and logged."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from portal.billing.models import LedgerEntry, Rate, RateDeck, RatingRun, Tariff
from portal.billing.rating import (
    billed_seconds,
    call_amount,
    calls_rate,
    calls_rerate_period,
    e164_digits,
)
from portal.billing.services import call_charge
from portal.calls.models import CallRecord
from tests import factories

MSK = dt.timezone(dt.timedelta(hours=3))
T0 = dt.datetime(2026, 10, 5, 12, 0, tzinfo=MSK)
_uuids = itertools.count(1)
on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the set-based path is PostgreSQL's"
)


@pytest.mark.parametrize(
    ("billsec", "first", "step", "minimum", "seconds"),
    [
        (1, 60, 60, 0, 60),
        (60, 60, 60, 0, 60),
        (61, 60, 60, 0, 120),
        (1, 1, 1, 0, 1),
        (61, 1, 1, 0, 61),
        (1, 30, 6, 0, 30),
        (30, 30, 6, 0, 30),
        (31, 30, 6, 0, 36),
        (37, 30, 6, 0, 42),
        (5, 1, 1, 20, 20),  # a minimum duration
        (25, 1, 1, 20, 25),
        (5, 30, 6, 45, 48),  # the minimum, then the increments
    ],
)
def test_billed_seconds_follow_the_first_and_next_increments(
    billsec, first, step, minimum, seconds
):
    assert billed_seconds(billsec, first=first, step=step, minimum=minimum) == seconds


def test_the_amount_is_the_fee_plus_uncovered_seconds_rounded_half_up():
    # 61 s at 1.50/min = 1.525 -> 1.53
    assert call_amount(seconds=61, covered=0, minute_price=Decimal("1.5"), fee=Decimal("0")) == (
        Decimal("1.53")
    )
    assert call_amount(
        seconds=120, covered=60, minute_price=Decimal("3"), fee=Decimal("0.50")
    ) == Decimal("3.50")


@pytest.mark.parametrize(
    ("text", "digits"),
    [("+7 (495) 123-45-67", "74951234567"), ("84951234567", "74951234567"), ("0044207", "44207")],
)
def test_numbers_are_matched_as_e164_digits(text, digits):
    assert e164_digits(text) == digits


# --- the rules, through the ledger -----------------------------------------------------------


@pytest.fixture
def cust(db):
    return factories.customer(tariff="Средний")  # 1.50 per minute without a deck


def deck_for(owner, **rates) -> RateDeck:
    if isinstance(owner, Tariff):
        deck, _ = RateDeck.objects.get_or_create(tariff=owner, defaults={"name": owner.name})
    else:
        deck, _ = RateDeck.objects.get_or_create(customer=owner, defaults={"name": owner.name})
    return deck


def rate(deck, prefix, price, *, inc="60/60", minimum=0, fee="0", included=False, **kw):
    first, step = (int(x) for x in inc.split("/"))
    kw.setdefault("valid_from", T0 - dt.timedelta(days=30))
    return Rate.objects.create(
        deck=deck,
        prefix=prefix,
        minute_price=Decimal(price),
        first_increment=first,
        next_increment=step,
        min_duration=minimum,
        connection_fee=Decimal(fee),
        included=included,
        **kw,
    )


def call(cust, callee, billsec, *, at=T0, direction="outbound", **kw) -> CallRecord:
    return CallRecord.objects.create(
        customer=cust,
        uuid=f"rating-{next(_uuids)}",
        direction=direction,
        caller_number="101",
        callee_number=callee,
        started_at=at,
        answered_at=at,
        ended_at=at + dt.timedelta(seconds=billsec + 5),
        duration_seconds=billsec + 5,
        billsec=billsec,
        hangup_cause="NORMAL_CLEARING",
        **kw,
    )


def charge_of(c: CallRecord) -> Decimal | None:
    entry = LedgerEntry.objects.filter(source_key=f"cdr:{c.uuid}").first()
    return entry.amount if entry else None


def rate_set_based(*calls_) -> None:
    calls_rate(call_ids=[c.pk for c in calls_])


def rate_per_row(*calls_) -> None:
    for c in sorted(calls_, key=lambda c: (c.started_at, c.pk)):
        call_charge(call_record_id=c.pk)


PATHS = pytest.mark.parametrize("rate_calls", [rate_set_based, rate_per_row], ids=["sql", "orm"])


@PATHS
def test_the_longest_prefix_wins(cust, rate_calls):
    deck = deck_for(cust.tariff)
    rate(deck, "7", "1.00")
    rate(deck, "7495", "2.00")
    rate(deck, "74951", "3.00")
    moscow_1, moscow_2, russia, world = (
        call(cust, "+74951234567", 60),
        call(cust, "+74957654321", 60),
        call(cust, "+78121234567", 60),
        call(cust, "+4420712345678", 60),
    )
    rate_calls(moscow_1, moscow_2, russia, world)
    assert [charge_of(c) for c in (moscow_1, moscow_2, russia, world)] == [
        Decimal("3.00"),
        Decimal("2.00"),
        Decimal("1.00"),
        Decimal("1.50"),  # no rate: the tariff's minute price
    ]


@PATHS
def test_a_customer_rate_beats_the_tariff_rate_of_the_same_prefix_but_not_a_longer_one(
    cust, rate_calls
):
    tariff_deck, own = deck_for(cust.tariff), deck_for(cust)
    rate(tariff_deck, "7495", "2.00")
    rate(tariff_deck, "749512", "5.00")
    rate(own, "7495", "0.70")
    other = factories.customer(tariff="Средний")  # same tariff, no override
    tie, longer, others = (
        call(cust, "+74957654321", 60),
        call(cust, "+74951234567", 60),
        call(other, "+74957654321", 60),
    )
    rate_calls(tie, longer, others)
    assert [charge_of(c) for c in (tie, longer, others)] == [
        Decimal("0.70"),
        Decimal("5.00"),
        Decimal("2.00"),
    ]


@PATHS
def test_increments_minimum_and_connection_fee(cust, rate_calls):
    deck = deck_for(cust.tariff)
    rate(deck, "7495", "1.20", inc="1/1")
    rate(deck, "7812", "1.20", inc="30/6", fee="0.40")
    rate(deck, "7343", "6.00", inc="1/1", minimum=30)
    per_second = call(cust, "+74951234567", 61)  # 61 s * 0.02 = 1.22
    thirty_six = call(cust, "+78121234567", 31)  # 36 s = 0.72 + 0.40
    minimum = call(cust, "+73431234567", 4)  # 30 s of 6.00 = 3.00
    rate_calls(per_second, thirty_six, minimum)
    assert [charge_of(c) for c in (per_second, thirty_six, minimum)] == [
        Decimal("1.22"),
        Decimal("1.12"),
        Decimal("3.00"),
    ]
    details = LedgerEntry.objects.get(source_key=f"cdr:{thirty_six.uuid}").details
    assert details["billed_seconds"] == 36 and details["increment"] == "30/6"


@PATHS
def test_a_rate_that_changes_mid_call_leaves_the_call_at_the_rate_it_started_with(cust, rate_calls):
    deck = deck_for(cust.tariff)
    change = T0 + dt.timedelta(minutes=1)
    rate(deck, "7495", "1.00", valid_to=change)
    rate(deck, "7495", "9.00", valid_from=change)
    before = call(cust, "+74951234567", 600, at=change - dt.timedelta(seconds=30))
    at_change = call(cust, "+74951234568", 60, at=change)
    rate_calls(before, at_change)
    assert charge_of(before) == Decimal("10.00")  # 10 minutes at the old 1.00
    assert charge_of(at_change) == Decimal("9.00")


@PATHS
def test_included_minutes_cover_included_destinations_first_come_first_rated(cust, rate_calls):
    Tariff.objects.filter(pk=cust.tariff_id).update(included_minutes=3)
    cust.refresh_from_db()
    deck = deck_for(cust.tariff)
    rate(deck, "7", "2.00", included=True, fee="0.10")
    rate(deck, "44", "10.00")  # international: never included
    first = call(cust, "+74951234567", 120)  # 2 of 3 included minutes: fee only
    abroad = call(cust, "+442071234567", 60, at=T0 + dt.timedelta(minutes=5))
    second = call(cust, "+74951234567", 120, at=T0 + dt.timedelta(minutes=10))  # 1 free, 1 paid
    third = call(cust, "+74951234567", 60, at=T0 + dt.timedelta(minutes=20))  # none left
    next_month = call(cust, "+74951234567", 60, at=T0 + dt.timedelta(days=30))  # fresh minutes
    rate_calls(first, abroad, second)
    rate_calls(third, next_month)
    assert [charge_of(c) for c in (first, abroad, second, third, next_month)] == [
        Decimal("0.10"),
        Decimal("10.00"),
        Decimal("2.10"),
        Decimal("2.10"),
        Decimal("0.10"),
    ]
    used = [
        LedgerEntry.objects.get(source_key=f"cdr:{c.uuid}").details["included_seconds"]
        for c in (first, abroad, second, third, next_month)
    ]
    assert used == [120, 0, 60, 0, 60]


@PATHS
def test_a_call_fully_covered_by_included_minutes_is_recorded_at_zero(cust, rate_calls):
    Tariff.objects.filter(pk=cust.tariff_id).update(included_minutes=10)
    cust.refresh_from_db()
    free = call(cust, "+74951234567", 90)
    rate_calls(free)
    entry = LedgerEntry.objects.get(source_key=f"cdr:{free.uuid}")
    assert entry.amount == Decimal("0.00") and entry.details["included_seconds"] == 120


@PATHS
def test_every_call_is_rated_once_and_inbound_internal_emergency_calls_are_free(cust, rate_calls):
    deck = deck_for(cust.tariff)
    rate(deck, "7", "1.00")
    paid = call(cust, "+74951234567", 60)
    inbound = call(cust, "+74951234567", 60, direction="inbound")
    internal = call(cust, "102", 60, direction="internal")
    emergency = call(cust, "112", 60, variables={"pbx_flow": "emergency"})
    unanswered = call(cust, "+74951234567", 0)
    everything = (paid, inbound, internal, emergency, unanswered)
    rate_calls(*everything)
    rate_calls(*everything)
    calls_rate()  # and a sweep over everything
    assert LedgerEntry.objects.filter(category="calls").count() == 1
    assert charge_of(paid) == Decimal("1.00")


@on_postgres
def test_the_set_based_and_the_per_row_paths_write_the_same_ledger(cust):
    Tariff.objects.filter(pk=cust.tariff_id).update(included_minutes=7)
    cust.refresh_from_db()
    tariff_deck, own = deck_for(cust.tariff), deck_for(cust)
    change = T0 + dt.timedelta(hours=5)
    rate(tariff_deck, "7", "1.10", included=True)
    rate(tariff_deck, "7495", "0.95", inc="1/1", included=True, valid_to=change)
    rate(tariff_deck, "7495", "1.25", inc="30/6", included=True, valid_from=change)
    rate(tariff_deck, "44", "7.77", inc="30/6", minimum=20, fee="0.35")
    rate(own, "7812", "0.33", inc="1/1", fee="0.05")
    other = factories.customer(tariff="Базовый")
    numbers = ["+74951234567", "+78121234567", "+442071234567", "+33123456789", "+79161234567"]
    calls_ = [
        call(
            cust if n % 3 else other,
            numbers[n % len(numbers)],
            (n * 37) % 400 + 1,
            at=T0 + dt.timedelta(minutes=17 * n),
        )
        for n in range(60)
    ]

    def ledger():
        return sorted(
            (e.source_key, e.amount, e.details["included_seconds"], e.details["billed_seconds"])
            for e in LedgerEntry.objects.filter(category="calls")
        )

    rate_set_based(*calls_)
    by_sql = ledger()
    LedgerEntry.objects.filter(category="calls").delete()
    rate_per_row(*calls_)
    assert ledger() == by_sql
    assert len(by_sql) == 60


def test_a_cdr_batch_is_rated_through_the_deck(cust, django_capture_on_commit_callbacks):
    from portal.calls.services import cdr_ingest
    from tests.test_billing_calls import hangup

    deck = deck_for(cust.tariff)
    event = hangup(cust, billsec=61)
    callee = event.get("Caller-Destination-Number") or ""
    digits = e164_digits(callee)
    assert digits, "the recorded event has a callee number"
    rate(deck, digits[:1], "0.60", inc="1/1", valid_from=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    with django_capture_on_commit_callbacks(execute=True):
        cdr_ingest(event, source="event")
    [entry] = LedgerEntry.objects.filter(customer=cust, category="calls")
    assert entry.amount == Decimal("0.61") and entry.details["prefix"] == digits[:1]


# --- explicit re-rating ----------------------------------------------------------------------


def test_re_rating_a_period_writes_the_differences_once_and_is_logged(cust):
    deck = deck_for(cust.tariff)
    old = rate(deck, "7495", "2.00")
    dearer, cheaper, outside = (
        call(cust, "+74951234567", 60),
        call(cust, "+78121234567", 120),
        call(cust, "+74951234567", 60, at=T0 + dt.timedelta(days=40)),
    )
    calls_rate()
    assert [charge_of(c) for c in (dearer, cheaper, outside)] == [
        Decimal("2.00"),
        Decimal("3.00"),
        Decimal("2.00"),
    ]
    # The deck is corrected: Moscow costs 2.50 and St Petersburg 1.00.
    old.minute_price = Decimal("2.50")
    old.save()
    rate(deck, "7812", "1.00")
    calls_rate()  # ordinary rating never touches a rated call
    assert LedgerEntry.objects.filter(category="calls").count() == 3

    run = calls_rerate_period(
        start=dt.date(2026, 10, 1), end=dt.date(2026, 10, 31), reason="deck fix", requested_by="qa"
    )
    assert (run.calls, run.charged_more, run.credited) == (2, Decimal("0.50"), Decimal("1.00"))
    assert run.finished_at is not None and RatingRun.objects.get().reason == "deck fix"

    def total(c):
        signed = 0
        for e in LedgerEntry.objects.filter(source_key__startswith=f"cdr:{c.uuid}"):
            signed += e.amount if e.kind == "charge" else -e.amount
        return signed

    assert [total(c) for c in (dearer, cheaper, outside)] == [
        Decimal("2.50"),
        Decimal("2.00"),  # two minutes at 1.00
        Decimal("2.00"),  # outside the period: untouched
    ]
    again = calls_rerate_period(
        start=dt.date(2026, 10, 1), end=dt.date(2026, 10, 31), reason="again", requested_by="qa"
    )
    assert again.calls == 0
    assert RatingRun.objects.count() == 2


def test_the_rerate_command_needs_a_reason_and_logs_the_run(cust, capsys):
    rate(deck_for(cust.tariff), "7", "1.00")
    c = call(cust, "+74951234567", 60)
    call_command("rerate", "--from", "2026-10-01", "--to", "2026-10-31", "--reason", "audit")
    assert charge_of(c) == Decimal("1.00")  # never rated: the run rates it
    assert "1 calls changed" in capsys.readouterr().out
    with pytest.raises(CommandError):
        call_command("rerate", "--from", "2026-10-01", "--to", "2026-10-31")
