"""Template filters of the portal pages."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template
from django.utils.text import capfirst
from django.utils.translation import gettext as _

register = template.Library()


def format_money(value) -> str:
    """Money as the seed-001 screen shows it: whole amounts without decimals, else two places.

    0 -> "0", 1300.00 -> "1300", 740 -> "740", 628.95 -> "628.95", 130.6 -> "130.60".
    Always a dot as the decimal separator, whatever the interface language.
    """
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return str(value)
    if amount == amount.to_integral_value():
        return str(int(amount))
    return f"{amount:.2f}"


@register.filter
def money(value) -> str:
    return format_money(value)


@register.filter
def field_label(field):
    """A form field's <label> as every page shows it: capitalised, no trailing colon (Django's
    default label_suffix put colons after lowercase labels, checkboxes included)."""
    return field.label_tag(contents=capfirst(field.label), label_suffix="")


@register.filter
def notify_channels(department) -> str:
    """How a department is told, as a list for people: "e-mail, SMS, портал, вебхук"."""
    names = [
        (department.notify_email, "e-mail"),
        (department.notify_sms, "SMS"),
        (department.notify_portal, _("портал")),
        (department.notify_webhook, _("вебхук")),
    ]
    return ", ".join(str(name) for on, name in names if on)
