"""Phone numbers: everything that stores or dials a number goes through `to_e164`."""

from __future__ import annotations

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


def to_e164(value: str, *, region: str | None = None) -> str:
    """Parse a number as a person would type it and return it as E.164 (`+74951234567`).

    Raises ValidationError with a message a user can act on. Numbers without a leading `+`
    are read in `region` (default: settings.PHONE_DEFAULT_REGION, "RU").
    """
    raw = (value or "").strip()
    if not raw:
        raise ValidationError(_("Укажите номер телефона."), code="empty")
    if len(raw) > 32:
        raise ValidationError(_("Слишком длинный номер телефона."), code="too_long")
    try:
        parsed = phonenumbers.parse(raw, region or getattr(settings, "PHONE_DEFAULT_REGION", "RU"))
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(
            _("«%(value)s» не похоже на номер телефона."), code="unparsable", params={"value": raw}
        ) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationError(
            _("Номер «%(value)s» не существует в плане нумерации."),
            code="invalid",
            params={"value": raw},
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def display(e164: str) -> str:
    """International format for people: `+7 495 123-45-67`."""
    try:
        return phonenumbers.format_number(
            phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )
    except phonenumbers.NumberParseException:
        return e164


#: Caller IDs that stand for "no number": withheld, anonymous, or a trunk's placeholder.
ANONYMOUS_CALLER_IDS = frozenset(
    {"", "anonymous", "unknown", "restricted", "private", "unavailable", "0000000000"}
)


def caller_e164(raw: str, *, region: str | None = None) -> str | None:
    """A caller ID as the trunk sends it (+E.164, 00..., E.164 without "+", national in
    `region`) as E.164, or None for anonymous, withheld or garbage caller IDs. The one place
    every flow turns a caller ID into a number it may call back or store."""
    value = (raw or "").strip()
    if value.lower() in ANONYMOUS_CALLER_IDS:
        return None
    if value.startswith("00"):
        value = "+" + value[2:]
    digits = value[1:] if value.startswith("+") else value
    if not digits.isascii() or not digits.isdigit() or set(digits) == {"0"}:
        return None
    candidates = [value] if value.startswith("+") else [value, "+" + value]
    for candidate in candidates:
        try:
            return to_e164(candidate, region=region)
        except ValidationError:
            continue
    return None
