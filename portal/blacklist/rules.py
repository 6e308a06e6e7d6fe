"""Blacklist rules, pure: how entries are normalised and how a caller ID is matched.

An entry is a whole number or a prefix, kept as the digits of its E.164 form (no "+"). The
dialplan matches FreeSWITCH's `caller_id_number` as the trunk sends it, so each entry becomes
the spellings a trunk uses for one E.164 number: `+7495...`, `007495...`, `7495...` and, for
Russian numbers (country code 7), the national `8495...` and `495...`. `caller_matches` is the
same rule in Python (through `portal.directory.phone.caller_e164`), used to attribute a
rejected call to the entry that caught it; tests hold the two against each other.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from portal.directory.phone import ANONYMOUS_CALLER_IDS, caller_e164, to_e164

NUMBER = "number"
PREFIX = "prefix"
KINDS = (NUMBER, PREFIX)
#: shortest prefix (with the country code): "7" or "+1" alone would block a whole country plan
MIN_PREFIX_DIGITS = 3
MAX_DIGITS = 15
#: entries per rendered extension (one regular expression each)
CHUNK = 100
MAX_ENTRIES = 5000
_DIGITS = re.compile(r"[1-9][0-9]{0,14}\Z")
_SEPARATORS = re.compile(r"[\s().-]")


@dataclass(frozen=True)
class Entry:
    kind: str
    digits: str  # E.164 digits, no "+"
    id: int | None = None


def normalise(kind: str, raw: str, *, region: str | None = None) -> str:
    """The stored digits of an entry typed by a person; ValidationError with a message."""
    value = (raw or "").strip()
    if kind == NUMBER:
        return to_e164(value, region=region)[1:]
    if kind != PREFIX:
        raise ValidationError(_("Неизвестный вид записи."), code="kind")
    value = _SEPARATORS.sub("", value)
    if value.startswith("00"):
        value = value[2:]
    elif value.startswith("+"):
        value = value[1:]
    elif value.startswith("8") and (region or "RU") == "RU" and len(value) > 1:
        value = "7" + value[1:]  # a Russian prefix typed nationally: 8495 -> 7495
    if not _DIGITS.match(value) or len(value) < MIN_PREFIX_DIGITS:
        raise ValidationError(
            _("Префикс «%(value)s»: от %(min)s до %(max)s цифр с кодом страны, например +7495.")
            % {"value": raw[:40], "min": MIN_PREFIX_DIGITS, "max": MAX_DIGITS},
            code="prefix",
        )
    return value


def _spellings(digits: str) -> list[str]:
    """Regular-expression alternatives (digits only, so nothing to escape) for one entry."""
    out = [f"(?:\\+|00)?{digits}"]
    if digits.startswith("7") and len(digits) > 3:
        out.append(f"8?{digits[1:]}")  # Russian national forms
    return out


def caller_patterns(entries: Iterable[Entry]) -> list[str]:
    """Anchored regular expressions for `caller_id_number`: whole numbers (`^...$`) and
    prefixes (`^...`) apart, CHUNK entries each, sorted (the same list renders the same XML).
    A `$` may only end an expression in the rendered XML (pbx.xmlbuild), hence the split."""
    unique = sorted({(e.kind, e.digits) for e in entries if _DIGITS.match(e.digits)})
    patterns = []
    for kind, end in ((NUMBER, "$"), (PREFIX, "")):
        digits = [d for k, d in unique if k == kind]
        for start in range(0, len(digits), CHUNK):
            spellings = [s for d in digits[start : start + CHUNK] for s in _spellings(d)]
            patterns.append(f"^(?:{'|'.join(spellings)}){end}")
    return patterns


#: caller IDs that stand for "no number" (the anonymous checkbox), case-insensitive
ANONYMOUS_PATTERN = (
    "^(?i:" + "|".join(sorted(re.escape(v) for v in ANONYMOUS_CALLER_IDS if v)) + ")?$"
)


def is_anonymous(raw: str) -> bool:
    return (raw or "").strip().lower() in ANONYMOUS_CALLER_IDS


def caller_matches(
    raw: str, entries: Sequence[Entry], *, region: str | None = None
) -> Entry | None:
    """The entry that catches caller ID `raw` (a whole number before a prefix, the longest
    prefix first), or None."""
    number = caller_e164(raw, region=region)
    if number is None:
        return None
    digits = number[1:]
    for entry in entries:
        if entry.kind == NUMBER and entry.digits == digits:
            return entry
    prefixes = [e for e in entries if e.kind == PREFIX and digits.startswith(e.digits)]
    return max(prefixes, key=lambda e: len(e.digits), default=None)


def parse_csv_rows(rows: Iterable[Sequence[str]]) -> list[tuple[int, str, str, str]]:
    """Rows of an imported CSV as (line, kind, value, comment): a row is `number[,comment]`
    or `prefix,<value>[,comment]`/`number,<value>[,comment]`; a header row and empty rows are
    skipped. Values are not normalised here."""
    out = []
    for line, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row]
        while cells and not cells[-1]:
            cells.pop()
        if not cells:
            continue
        first = cells[0].lower()
        if first in KINDS:
            kind, value, comment = first, (cells[1] if len(cells) > 1 else ""), cells[2:3]
        elif line == 1 and not any(ch.isdigit() for ch in first):
            continue  # header
        else:
            kind, value, comment = NUMBER, cells[0], cells[1:2]
        out.append((line, kind, value, comment[0][:200] if comment else ""))
    return out
