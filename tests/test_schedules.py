"""Working hours (portal.menus.rules): open/closed, next opening and the callback's due time,
at the edges that go wrong: midnight, spans past midnight, holidays, DST changes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from portal.menus.rules import Hours, callback_timing, closes_at, is_open, next_opening

MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
NY = ZoneInfo("America/New_York")
T = dt.time
TEN = dt.timedelta(minutes=10)

OFFICE = Hours(
    "Europe/Moscow",
    weekly={d: ((T(9), T(18)),) for d in range(5)},
    exceptions={dt.date(2027, 1, 1): (), dt.date(2026, 12, 31): ((T(9), T(14)),)},
)
NIGHT_SHIFT = Hours("Europe/Moscow", weekly={4: ((T(22), T(6)),), 5: ((T(0), T(0)),)})


def at(y, mo, d, h, mi=0, tz=MSK):
    return dt.datetime(y, mo, d, h, mi, tzinfo=tz)


@pytest.mark.parametrize(
    "when,open_",
    [
        (at(2026, 12, 7, 8, 59), False),
        (at(2026, 12, 7, 9, 0), True),  # opens on the minute
        (at(2026, 12, 7, 17, 59), True),
        (at(2026, 12, 7, 18, 0), False),  # closed on the minute
        (at(2026, 12, 5, 12), False),  # Saturday
        (at(2027, 1, 1, 12), False),  # a holiday on a Friday
        (at(2026, 12, 31, 13, 59), True),  # a short day
        (at(2026, 12, 31, 14, 0), False),
        (at(2026, 12, 7, 6, 30, tz=dt.UTC), True),  # 09:30 in Moscow
    ],
)
def test_open_inside_the_weekly_hours_and_exceptions(when, open_):
    assert is_open(OFFICE, when) is open_


@pytest.mark.parametrize(
    "when,open_",
    [
        (at(2026, 12, 4, 21, 59), False),  # Friday before the shift
        (at(2026, 12, 4, 23, 0), True),
        (at(2026, 12, 5, 0, 0), True),  # midnight inside a span past midnight
        (at(2026, 12, 5, 23, 59), True),  # Saturday 00:00-00:00 is the whole day
        (at(2026, 12, 6, 0, 0), False),  # and ends at Sunday's midnight
    ],
)
def test_spans_past_midnight_and_whole_days(when, open_):
    assert is_open(NIGHT_SHIFT, when) is open_


def test_a_shift_across_midnight_closes_when_the_following_whole_day_ends():
    assert closes_at(NIGHT_SHIFT, at(2026, 12, 4, 23)) == at(2026, 12, 6, 0)


def test_next_opening_skips_the_weekend_and_holidays():
    assert next_opening(OFFICE, at(2026, 12, 4, 18, 30)) == at(2026, 12, 7, 9)
    assert next_opening(OFFICE, at(2026, 12, 31, 15)) == at(2027, 1, 4, 9)  # 1 Jan is off
    assert next_opening(OFFICE, at(2026, 12, 7, 10)) == at(2026, 12, 7, 10)  # open: now
    assert next_opening(Hours("Europe/Moscow"), at(2026, 12, 7, 10)) is None


def test_working_hours_stay_on_the_wall_clock_across_dst_changes():
    berlin = Hours("Europe/Berlin", weekly={d: ((T(9), T(17)),) for d in range(7)})
    # The night clocks go forward (29 March 2026): still 09:00 local, now 07:00 UTC.
    assert next_opening(berlin, dt.datetime(2026, 3, 28, 20, tzinfo=dt.UTC)) == dt.datetime(
        2026, 3, 29, 7, tzinfo=dt.UTC
    )
    assert is_open(berlin, dt.datetime(2026, 3, 28, 8, 30, tzinfo=dt.UTC))  # 09:30 CET
    assert not is_open(berlin, dt.datetime(2026, 3, 29, 6, 30, tzinfo=dt.UTC))  # 08:30 CEST
    # Clocks go back (25 October 2026): 09:00 CET is 08:00 UTC.
    assert next_opening(berlin, dt.datetime(2026, 10, 24, 20, tzinfo=dt.UTC)) == dt.datetime(
        2026, 10, 25, 8, tzinfo=dt.UTC
    )


def test_a_span_over_the_dst_night_lasts_its_real_length():
    night = Hours("America/New_York", weekly={5: ((T(22), T(6)),)})  # Sat 22:00 - Sun 06:00
    start = dt.datetime(2026, 3, 7, 22, tzinfo=NY)  # the night of 8 March: 02:00 -> 03:00
    assert closes_at(night, start) - start == dt.timedelta(hours=7)
    assert is_open(night, dt.datetime(2026, 3, 8, 3, 30, tzinfo=NY))


def test_an_unknown_time_zone_counts_as_utc_rather_than_failing_the_call():
    assert is_open(
        Hours("Mars/Olympus", {0: ((T(9), T(10)),)}), dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)
    )


# -- the queue callback's due time --------------------------------------------------------------


def test_a_callback_inside_the_hours_is_due_at_once():
    timing = callback_timing(OFFICE, at(2026, 12, 7, 12), TEN)
    assert timing.due_at == at(2026, 12, 7, 12) and not timing.deferred


def test_a_callback_whose_window_would_end_after_closing_waits_for_the_next_opening():
    assert callback_timing(OFFICE, at(2026, 12, 7, 17, 50), TEN).due_at == at(2026, 12, 7, 17, 50)
    timing = callback_timing(OFFICE, at(2026, 12, 7, 17, 51), TEN)
    assert timing.deferred and timing.due_at == at(2026, 12, 8, 9)


def test_a_callback_at_night_or_on_a_holiday_is_due_at_opening():
    assert callback_timing(OFFICE, at(2026, 12, 8, 2), TEN).due_at == at(2026, 12, 8, 9)
    assert callback_timing(OFFICE, at(2027, 1, 1, 11), TEN).due_at == at(2027, 1, 4, 9)
    assert callback_timing(None, at(2027, 1, 1, 11), TEN).due_at == at(2027, 1, 1, 11)
