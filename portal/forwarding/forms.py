from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from portal.directory.models import Employee
from portal.forwarding.models import ForwardingRule


class RuleForm(forms.Form):
    employee = forms.ModelChoiceField(label=_("Чьи звонки"), queryset=Employee.objects.none())
    when = forms.ChoiceField(label=_("Когда"), choices=ForwardingRule.When.choices)
    target_employee = forms.ModelChoiceField(
        label=_("На сотрудника"), queryset=Employee.objects.none(), required=False
    )
    target_number = forms.CharField(
        label=_("Или на внешний номер"),
        max_length=20,
        required=False,
        help_text=_(
            "Например, мобильный сотрудника: звонок исходящий, по политике исходящих звонков."
        ),
    )
    to_mobile = forms.BooleanField(
        label=_("Или на мобильный сотрудника (из его карточки)"), required=False
    )
    ring_seconds = forms.IntegerField(
        label=_("Ждать ответа, с (если не ответил)"), min_value=5, max_value=60, initial=20
    )

    def __init__(self, *args, customer, **kwargs):
        super().__init__(*args, **kwargs)
        employees = Employee.objects.filter(customer=customer, is_active=True)
        self.fields["employee"].queryset = employees
        self.fields["target_employee"].queryset = employees

    def clean(self):
        data = super().clean()
        if data.get("to_mobile") and data.get("employee") is not None:
            mobile = (data["employee"].mobile_number or "").strip()
            if not mobile:
                raise forms.ValidationError(_("У сотрудника не указан мобильный номер."))
            if data.get("target_employee") or (data.get("target_number") or "").strip():
                raise forms.ValidationError(_("Укажите либо сотрудника, либо внешний номер."))
            data["target_number"] = mobile
        if bool(data.get("target_employee")) == bool((data.get("target_number") or "").strip()):
            raise forms.ValidationError(_("Укажите либо сотрудника, либо внешний номер."))
        return data
