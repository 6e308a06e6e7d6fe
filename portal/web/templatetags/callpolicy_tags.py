"""The daily spend cap on the "Тариф и опции" page (portal.billing.callpolicy)."""

from __future__ import annotations

from django import template

from portal.billing import callpolicy

register = template.Library()


@register.inclusion_tag("web/_spend_cap.html")
def spend_cap_panel(customer) -> dict:
    return {"spend": callpolicy.spend_status(customer)}
