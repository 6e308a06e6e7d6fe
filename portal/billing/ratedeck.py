"""Rate decks from CSV: validated line by line, imported whole or not at all.

Columns (a header line; `;` or `,` separated; UTF-8, a BOM is fine):
    prefix;destination;minute_price;increment;min_duration;connection_fee;included;valid_from;valid_to
- prefix: E.164 digits, an optional leading "+", 1-15 digits, not starting with 0
- minute_price, connection_fee: non-negative decimals (4 and 2 places at most); fee may be empty
- increment: "first/next" seconds, e.g. 60/60, 1/1, 30/6 (empty: 60/60)
- min_duration: whole seconds (empty: 0); included: 1/0, yes/no, да/нет (empty: no)
- valid_from / valid_to: YYYY-MM-DD or YYYY-MM-DDTHH:MM in the platform's time zone
  (valid_from empty: now; valid_to empty: open-ended)
Two rates of one prefix may not be valid at the same moment, whether both are in the file or
one is already in the deck.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.billing.models import Rate, RateDeck

PREFIX_RE = re.compile(r"^\+?([1-9][0-9]{0,14})$")
INCREMENT_RE = re.compile(r"^([0-9]{1,4})\s*/\s*([0-9]{1,4})$")
COLUMNS = [
    "prefix",
    "destination",
    "minute_price",
    "increment",
    "min_duration",
    "connection_fee",
    "included",
    "valid_from",
    "valid_to",
]
REQUIRED = {"prefix", "minute_price"}
TRUE = {"1", "yes", "y", "true", "да", "д"}
FALSE = {"", "0", "no", "n", "false", "нет", "н"}
MAX_LINES = 200_000
MAX_SECONDS = 3600


class RateDeckImportError(Exception):
    """The file was refused; `errors` is a list of (line number, message), nothing written."""

    def __init__(self, errors: list[tuple[int, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{line}: {message}" for line, message in errors[:20]))


@dataclass
class ImportResult:
    deck: RateDeck
    created: int


def _decimal(text: str, places: int) -> Decimal:
    value = Decimal(text.replace(",", ".").strip())
    if not value.is_finite():
        raise InvalidOperation
    if value.as_tuple().exponent < -places:
        raise ValueError(_("не больше %(n)d знаков после запятой") % {"n": places})
    return value


def _moment(text: str) -> dt.datetime:
    text = text.strip()
    value = dt.datetime.fromisoformat(text) if "T" in text or " " in text else None
    if value is None:
        value = dt.datetime.combine(dt.date.fromisoformat(text), dt.time.min)
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def _parse_line(row: dict[str, str], now: dt.datetime) -> tuple[dict, list[str]]:
    errors: list[str] = []
    out: dict = {}
    prefix = (row.get("prefix") or "").strip()
    match = PREFIX_RE.match(prefix)
    if not match:
        errors.append(_("префикс «%(p)s»: нужны цифры E.164 (1–15, не с 0)") % {"p": prefix[:20]})
    else:
        out["prefix"] = match.group(1)
    out["destination"] = (row.get("destination") or "").strip()[:120]
    for name, places, label in [
        ("minute_price", 4, _("цена минуты")),
        ("connection_fee", 2, _("плата за соединение")),
    ]:
        text = (row.get(name) or "").strip()
        if not text and name == "connection_fee":
            out[name] = Decimal("0")
            continue
        try:
            value = _decimal(text, places)
        except InvalidOperation:
            errors.append(_("%(f)s «%(v)s»: не число") % {"f": label, "v": text[:20]})
            continue
        except ValueError as exc:
            errors.append(f"{label}: {exc}")
            continue
        if value < 0:
            errors.append(_("%(f)s не может быть отрицательной: %(v)s") % {"f": label, "v": text})
        elif value >= Decimal("1e8"):
            errors.append(_("%(f)s слишком велика: %(v)s") % {"f": label, "v": text[:20]})
        out[name] = value
    increment = (row.get("increment") or "").strip() or "60/60"
    match = INCREMENT_RE.match(increment)
    if not match or not (0 < int(match[1]) <= MAX_SECONDS and 0 < int(match[2]) <= MAX_SECONDS):
        errors.append(
            _("интервал «%(v)s»: нужно «первый/следующий» в секундах, например 60/60")
            % {"v": increment[:20]}
        )
    else:
        out["first_increment"], out["next_increment"] = int(match[1]), int(match[2])
    minimum = (row.get("min_duration") or "").strip() or "0"
    if not minimum.isdigit() or int(minimum) > MAX_SECONDS:
        errors.append(
            _("минимальная длительность «%(v)s»: целое число секунд") % {"v": minimum[:20]}
        )
    else:
        out["min_duration"] = int(minimum)
    included = (row.get("included") or "").strip().lower()
    if included in TRUE:
        out["included"] = True
    elif included in FALSE:
        out["included"] = False
    else:
        errors.append(_("included «%(v)s»: 1 или 0") % {"v": included[:20]})
    try:
        text = (row.get("valid_from") or "").strip()
        out["valid_from"] = _moment(text) if text else now
    except ValueError:
        errors.append(_("дата начала «%(v)s»: нужно ГГГГ-ММ-ДД") % {"v": text[:30]})
    try:
        text = (row.get("valid_to") or "").strip()
        out["valid_to"] = _moment(text) if text else None
    except ValueError:
        errors.append(_("дата окончания «%(v)s»: нужно ГГГГ-ММ-ДД") % {"v": text[:30]})
    if out.get("valid_to") and out.get("valid_from") and out["valid_to"] <= out["valid_from"]:
        errors.append(_("дата окончания не позже даты начала"))
    return out, errors


def _overlaps(a_from, a_to, b_from, b_to) -> bool:
    return (b_to is None or a_from < b_to) and (a_to is None or b_from < a_to)


def rate_deck_import(*, deck: RateDeck, data: bytes | str) -> ImportResult:
    """Add the rates of a CSV file to `deck`. Raises RateDeckImportError with every problem
    (line by line) and writes nothing if there is any."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise RateDeckImportError([(0, _("файл не в кодировке UTF-8"))]) from exc
    data = data.lstrip("\ufeff")
    first_line = data.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") >= first_line.count(",") else ","
    reader = csv.DictReader(io.StringIO(data), delimiter=delimiter)
    header = [name.strip().lower() for name in (reader.fieldnames or [])]
    missing = REQUIRED - set(header)
    unknown = set(header) - set(COLUMNS)
    if missing or unknown:
        problems = []
        if missing:
            problems.append(_("нет столбцов: %(c)s") % {"c": ", ".join(sorted(missing))})
        if unknown:
            problems.append(_("неизвестные столбцы: %(c)s") % {"c": ", ".join(sorted(unknown))})
        raise RateDeckImportError([(1, "; ".join(problems))])
    reader.fieldnames = header
    now = timezone.now()
    errors: list[tuple[int, str]] = []
    rates: list[tuple[int, dict]] = []
    for row in reader:
        line = reader.line_num
        if line > MAX_LINES:
            raise RateDeckImportError([(line, _("слишком много строк"))])
        if None in row:
            errors.append((line, _("лишние поля в строке")))
            continue
        if not any((value or "").strip() for value in row.values()):
            continue
        parsed, problems = _parse_line(row, now)
        errors.extend((line, message) for message in problems)
        if not problems:
            rates.append((line, parsed))
    if not rates and not errors:
        errors.append((0, _("в файле нет ни одной ставки")))
    by_prefix: dict[str, list[tuple[int | None, dict]]] = {}
    for line, rate in rates:
        by_prefix.setdefault(rate["prefix"], []).append((line, rate))
    with transaction.atomic():
        # Lock the deck: two imports at once must not each pass the overlap check.
        RateDeck.objects.select_for_update().get(pk=deck.pk)
        existing = Rate.objects.filter(deck=deck, prefix__in=list(by_prefix)).values(
            "prefix", "valid_from", "valid_to"
        )
        for rate in existing:
            by_prefix.setdefault(rate["prefix"], []).insert(0, (None, rate))
        for prefix, group in by_prefix.items():
            for i, (line_a, a) in enumerate(group):
                for line_b, b in group[i + 1 :]:
                    if line_b is None or not _overlaps(
                        a["valid_from"], a["valid_to"], b["valid_from"], b["valid_to"]
                    ):
                        continue
                    where = (
                        _("со строкой %(n)d") % {"n": line_a}
                        if line_a
                        else _("со ставкой, уже действующей в сетке")
                    )
                    errors.append(
                        (
                            line_b,
                            _("префикс %(p)s пересекается по датам %(w)s")
                            % {"p": prefix, "w": where},
                        )
                    )
        if errors:
            errors.sort(key=lambda e: e[0])
            raise RateDeckImportError(errors)
        Rate.objects.bulk_create(
            [Rate(deck=deck, **rate) for _line, rate in rates], batch_size=2000
        )
    return ImportResult(deck=deck, created=len(rates))
