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
