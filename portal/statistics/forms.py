"""The period picker: from/to dates (the customer's, inclusive) or a preset."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils.translation import gettext_lazy as _

from portal.statistics.selectors import MAX_DAYS, Period, customer_today, period_for
from portal.tenants.models import Customer

TODAY = "today"
DAYS_7 = "7d"
DAYS_30 = "30d"
THIS_MONTH = "month"
LAST_MONTH = "last_month"
PRESETS = [
    (TODAY, _("сегодня")),
    (DAYS_7, _("7 дней")),
    (DAYS_30, _("30 дней")),
    (THIS_MONTH, _("этот месяц")),
    (LAST_MONTH, _("прошлый месяц")),
]
DEFAULT_PRESET = DAYS_30


def preset_dates(preset: str, today: dt.date) -> tuple[dt.date, dt.date]:
    if preset == TODAY:
        return today, today
    if preset == DAYS_7:
        return today - dt.timedelta(days=6), today
    if preset == THIS_MONTH:
        return today.replace(day=1), today
    if preset == LAST_MONTH:
        last = today.replace(day=1) - dt.timedelta(days=1)
        return last.replace(day=1), last
    return today - dt.timedelta(days=29), today


class PeriodForm(forms.Form):
    """`preset` wins over the dates; neither given means the last 30 days."""

    preset = forms.ChoiceField(label=_("Период"), choices=PRESETS, required=False)
    date_from = forms.DateField(
        label=_("С"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("По"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, customer: Customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.customer = customer
        self.today = customer_today(customer)

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        preset = data.get("preset")
        start, end = data.get("date_from"), data.get("date_to")
        if preset or (start is None and end is None):
            start, end = preset_dates(preset or DEFAULT_PRESET, self.today)
        elif start is None:
            start = end
        elif end is None:
            end = start
        if end < start:
            self.add_error("date_to", _("Конец периода раньше начала."))
        elif (end - start).days + 1 > MAX_DAYS:
            self.add_error("date_to", _("Период не длиннее года."))
        data["date_from"], data["date_to"] = start, end
        return data

    def period(self) -> Period:
        """The chosen period (call after is_valid())."""
        return period_for(
            self.customer, self.cleaned_data["date_from"], self.cleaned_data["date_to"]
        )

    def default_period(self) -> Period:
        return period_for(self.customer, *preset_dates(DEFAULT_PRESET, self.today))

    def preset_links(self) -> list[dict]:
        """Each preset with its dates, for the picker's links."""
        links = []
        for value, label in PRESETS:
            start, end = preset_dates(value, self.today)
            links.append({"preset": value, "label": label, "date_from": start, "date_to": end})
        return links
