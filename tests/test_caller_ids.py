"""One rule for turning a caller ID into a number (portal.directory.phone.caller_e164), used by
every flow that stores or calls back a caller: the queue callback and fictive numbers."""

from __future__ import annotations

import pytest

from portal.callbacks.services import _caller_e164 as callback_caller
from portal.directory.phone import ANONYMOUS_CALLER_IDS, caller_e164
from portal.fictive.services import caller_e164 as fictive_caller


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("+79161234567", "+79161234567"),
        ("79161234567", "+79161234567"),  # E.164 without "+", as trunks send it
        ("0079161234567", "+79161234567"),
        ("89161234567", "+79161234567"),  # national, read in the region
        (" +79161234567 ", "+79161234567"),
        ("+4930123456", "+4930123456"),
    ],
)
def test_numbers_the_trunk_sends_become_e164(raw, expected):
    assert caller_e164(raw, region="RU") == expected
    assert callback_caller(raw) == fictive_caller(raw, region="RU") == expected


@pytest.mark.parametrize(
    "raw",
    [
        *ANONYMOUS_CALLER_IDS,
        "Anonymous",
        "UNAVAILABLE",  # was refused by the callback only
        "0000",
        "+000000",
        "12ab34",
        "+7 916 123 45 67",  # blanks: not what a trunk sends
        "٧٩١٦١٢٣٤٥٦٧",  # non-ASCII digits
        "+1",
        "sip:evil@example.com",
        "79161234567;ext=1",
    ],
)
def test_anonymous_withheld_and_garbage_caller_ids_are_no_number(raw):
    assert caller_e164(raw, region="RU") is None
    assert callback_caller(raw) is None and fictive_caller(raw, region="RU") is None
