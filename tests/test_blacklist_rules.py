"""Blacklist rules, pure: normalising entries, the regular expressions the dialplan matches
`caller_id_number` with, and the Python rule that attributes a rejected call, held against
each other over the spellings trunks send."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError

from portal.blacklist import rules
from portal.blacklist.rules import NUMBER, PREFIX, Entry


@pytest.mark.parametrize(
    "raw", ["+7 495 111-22-33", "84951112233", "8 (495) 111 22 33", "74951112233", "4951112233"]
)
def test_a_number_is_kept_as_its_e164_digits_however_it_is_typed(raw):
    assert rules.normalise(NUMBER, raw) == "74951112233"


@pytest.mark.parametrize("raw", ["+7495", "7495", "007495", "8495", "+7 (495)", "+44 20"])
def test_a_prefix_is_kept_with_its_country_code(raw):
    assert rules.normalise(PREFIX, raw) in ("7495", "4420")


@pytest.mark.parametrize("raw", ["", "+7", "12", "+0495", "7495x", "1" * 16, "${x}", "74|95"])
def test_a_prefix_that_is_too_short_or_not_digits_is_refused(raw):
    with pytest.raises(ValidationError):
        rules.normalise(PREFIX, raw)


@pytest.mark.parametrize("raw", ["", "123", "+7 000", "anonymous", "+7495111223344556"])
def test_a_number_that_does_not_exist_is_refused(raw):
    with pytest.raises(ValidationError):
        rules.normalise(NUMBER, raw)


ENTRIES = [
    Entry(NUMBER, "74951112233", id=1),
    Entry(PREFIX, "7812", id=2),
    Entry(PREFIX, "78123", id=3),
    Entry(NUMBER, "442071234567", id=4),
]


def regex_matches(caller: str, entries=ENTRIES) -> bool:
    return any(re.search(p, caller) for p in rules.caller_patterns(entries))


@pytest.mark.parametrize(
    "caller, entry_id",
    [
        ("+74951112233", 1),
        ("74951112233", 1),
        ("84951112233", 1),
        ("0074951112233", 1),
        ("4951112233", 1),
        ("+78121234567", 2),
        ("88121234567", 2),
        ("+78123456789", 3),  # the longer prefix
        ("+442071234567", 4),
        ("00442071234567", 4),
        ("+74951112234", None),
        ("+749511122330", None),  # one digit more is another number
        ("+79161234567", None),
        ("anonymous", None),
        ("", None),
        ("+442071234568", None),
    ],
)
def test_the_dialplan_expression_and_the_python_rule_agree(caller, entry_id):
    found = rules.caller_matches(caller, ENTRIES)
    assert (found.id if found else None) == entry_id
    assert regex_matches(caller) is (entry_id is not None)


def test_patterns_are_chunked_and_the_end_anchor_only_ends_an_expression():
    many = [Entry(NUMBER, f"7495{n:07d}") for n in range(rules.CHUNK + 1)]
    patterns = rules.caller_patterns([*many, Entry(PREFIX, "7812")])
    assert len(patterns) == 3
    for pattern in patterns:
        assert "$" not in pattern[:-1]
        assert re.fullmatch(r"[\^()?:|\\+0-9$]+", pattern)
    assert rules.caller_patterns([]) == []
    # the same list in another order renders the same
    assert patterns == rules.caller_patterns(list(reversed([*many, Entry(PREFIX, "7812")])))


@pytest.mark.parametrize(
    "caller", ["anonymous", "Anonymous", "UNKNOWN", "", "restricted", "0000000000"]
)
def test_the_anonymous_expression_catches_withheld_caller_ids(caller):
    assert re.search(rules.ANONYMOUS_PATTERN, caller)
    assert rules.is_anonymous(caller)


@pytest.mark.parametrize("caller", ["+74951112233", "anonymous1", "101"])
def test_the_anonymous_expression_lets_numbers_through(caller):
    assert not re.search(rules.ANONYMOUS_PATTERN, caller)


def test_csv_rows_take_a_header_kinds_and_comments():
    rows = [
        ["Номер", "Комментарий"],
        ["+74951112233", "спам"],
        ["prefix", "+7812", "Петербург"],
        [],
        ["number", "84950000000"],
        ["", ""],
    ]
    assert rules.parse_csv_rows(rows) == [
        (2, NUMBER, "+74951112233", "спам"),
        (3, PREFIX, "+7812", "Петербург"),
        (5, NUMBER, "84950000000", ""),
    ]
