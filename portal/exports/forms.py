from __future__ import annotations

import datetime as dt

from django import forms
from django.utils.translation import gettext_lazy as _

from portal.calls.models import CallRecord
from portal.directory.models import Employee
from portal.exports.models import CustomerDetails, Export
from portal.exports.queries import Filters

MAX_DAYS = 3660


class ExportForm(forms.Form):
    kind = forms.ChoiceField(label=_("Что выгрузить"), choices=Export.Kind.choices)
    format = forms.ChoiceField(label=_("Формат"), choices=Export.Format.choices)
    date_from = forms.DateField(label=_("С"), widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("По"), widget=forms.DateInput(attrs={"type": "date"}))
    number = forms.RegexField(
        label=_("Номер"), required=False, max_length=20, regex=r"^\+?[0-9]{1,19}$"
    )
    employee = forms.ModelChoiceField(
        label=_("Сотрудник"), required=False, queryset=Employee.objects.none(), empty_label=_("все")
    )
    direction = forms.ChoiceField(
        label=_("Направление"),
        required=False,
        choices=[("", _("все"))] + list(CallRecord.Direction.choices),
    )
    status = forms.ChoiceField(
        label=_("Статус"),
        required=False,
        choices=[("", _("все")), ("answered", _("отвеченные")), ("unanswered", _("неотвеченные"))],
    )

    def __init__(self, *args, customer=None, **kwargs):
        super().__init__(*args, **kwargs)
        if customer is not None:
            self.fields["employee"].queryset = Employee.objects.filter(customer=customer)
        else:
            del self.fields["employee"]  # a platform export: employees are per customer
            self.fields["customer"] = forms.IntegerField(
                label=_("ID клиента"), required=False, min_value=1
            )

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end:
            if end < start:
                self.add_error("date_to", _("Конец периода раньше начала."))
            elif (end - start) > dt.timedelta(days=MAX_DAYS):
                self.add_error("date_to", _("Период не длиннее 10 лет."))
        return data

    def filters(self) -> Filters:
        data = self.cleaned_data
        employee = data.get("employee")
        return Filters(
            date_from=data["date_from"],
            date_to=data["date_to"],
            number=(data.get("number") or "").lstrip("+"),
            employee=employee.pk if employee else None,
            direction=data.get("direction") or "",
            status=data.get("status") or "",
            customer=data.get("customer"),
        )


class DetailsForm(forms.ModelForm):
    inn = forms.RegexField(label=_("ИНН"), required=False, regex=r"^([0-9]{10}|[0-9]{12})$")
    kpp = forms.RegexField(label=_("КПП"), required=False, regex=r"^[0-9]{9}$")

    class Meta:
        model = CustomerDetails
        fields = ["legal_name", "inn", "kpp", "address", "contract", "email"]


class MonthForm(forms.Form):
    month = forms.RegexField(regex=r"^(20[0-9]{2}|2100)-(0[1-9]|1[0-2])$")

    def first_day(self) -> dt.date:
        return dt.date.fromisoformat(self.cleaned_data["month"] + "-01")
