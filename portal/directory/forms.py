"""Portal forms for departments, employees and numbers.

Forms only read and clean input; writes go through `portal.directory.services`, whose
ValidationErrors (duplicates, foreign departments, E.164) land on the same field names.
Department choices are always limited to the customer's own departments.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, validate_email
from django.utils.translation import gettext_lazy as _

from portal.directory.models import Department, Employee, PhoneNumber, extension_validator
from portal.directory.phone import to_e164
from portal.tenants.models import Customer


class CustomerDepartmentField(forms.ModelChoiceField):
    def __init__(self, customer: Customer, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", _("отдел"))
        kwargs.setdefault("empty_label", _("— без отдела —"))
        kwargs.setdefault(
            "error_messages",
            {"invalid_choice": _("Выберите один из ваших отделов.")},
        )
        super().__init__(queryset=Department.objects.for_customer(customer), **kwargs)


class DepartmentForm(forms.Form):
    name = forms.CharField(label=_("название"), max_length=120)
    notify_callback = forms.BooleanField(label=_("Оповещать об обратном вызове"), required=False)
    notify_email = forms.BooleanField(label=_("по e-mail"), required=False, initial=True)
    notify_sms = forms.BooleanField(label=_("по SMS"), required=False)
    notify_portal = forms.BooleanField(label=_("в портале"), required=False, initial=True)
    notify_webhook = forms.BooleanField(label=_("вебхуком"), required=False)
    notification_emails = forms.CharField(
        label=_("адреса e-mail для оповещений"),
        help_text=_("по одному в строке"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    webhook_url = forms.URLField(
        label=_("адрес вебхука"), required=False, max_length=200, assume_scheme="https"
    )
    queue_announce_interval = forms.IntegerField(
        label=_("интервал предложения обратного вызова, с"),
        initial=30,
        validators=[MinValueValidator(10), MaxValueValidator(600)],
    )

    def __init__(self, *args, customer: Customer, **kwargs):
        self.customer = customer
        super().__init__(*args, **kwargs)

    def clean_notification_emails(self) -> str:
        lines = [line.strip() for line in self.cleaned_data["notification_emails"].splitlines()]
        lines = [line for line in lines if line]
        bad = []
        for line in lines:
            try:
                validate_email(line)
            except ValidationError:
                bad.append(line)
        if bad:
            raise ValidationError(
                _("Неверный адрес e-mail: %(bad)s"), params={"bad": ", ".join(bad)[:200]}
            )
        return "\n".join(lines)

    def clean(self):
        data = super().clean()
        if data.get("notify_webhook") and not data.get("webhook_url"):
            self.add_error("webhook_url", _("Укажите адрес вебхука или отключите оповещение."))
        if data.get("notify_email") and data.get("notify_callback"):
            if "notification_emails" in data and not data["notification_emails"]:
                self.add_error(
                    "notification_emails",
                    _("Укажите хотя бы один адрес или отключите оповещение по e-mail."),
                )
        return data

    @classmethod
    def initial_for(cls, dept: Department) -> dict:
        return {name: getattr(dept, name) for name in cls.base_fields}


class EmployeeForm(forms.Form):
    extension = forms.CharField(
        label=_("внутренний номер"), max_length=6, validators=[extension_validator]
    )
    name = forms.CharField(label=_("имя"), max_length=120)
    department = forms.Field()  # replaced per customer in __init__
    mobile_number = forms.CharField(
        label=_("мобильный номер"),
        required=False,
        max_length=32,
        help_text=_("например, +7 912 345-67-89"),
    )
    caller_id_option = forms.BooleanField(
        label=_("АОН"),
        required=False,
        help_text=_("При обратном вызове абонент видит многоканальный номер отдела."),
    )
    is_active = forms.BooleanField(label=_("активен"), required=False, initial=True)

    def __init__(self, *args, customer: Customer, **kwargs):
        self.customer = customer
        super().__init__(*args, **kwargs)
        self.fields["department"] = CustomerDepartmentField(customer)

    def clean_mobile_number(self) -> str:
        value = self.cleaned_data["mobile_number"].strip()
        return to_e164(value) if value else ""

    @staticmethod
    def initial_for(emp: Employee) -> dict:
        return {
            "extension": emp.extension,
            "name": emp.name,
            "department": emp.department_id,
            "mobile_number": emp.mobile_number,
            "caller_id_option": emp.caller_id_option,
            "is_active": emp.is_active,
        }


class NumberForm(forms.Form):
    e164 = forms.CharField(
        label=_("номер"), max_length=32, help_text=_("в любом виде, например +7 495 123-45-67")
    )
    kind = forms.ChoiceField(
        label=_("тип"), choices=PhoneNumber.Kind.choices, initial=PhoneNumber.Kind.REGULAR
    )
    department = forms.Field()
    label = forms.CharField(label=_("подпись"), max_length=120, required=False)

    def __init__(self, *args, customer: Customer, **kwargs):
        self.customer = customer
        super().__init__(*args, **kwargs)
        self.fields["department"] = CustomerDepartmentField(customer)

    def clean_e164(self) -> str:
        return to_e164(self.cleaned_data["e164"])

    @staticmethod
    def initial_for(num: PhoneNumber) -> dict:
        return {
            "e164": num.e164,
            "kind": num.kind,
            "department": num.department_id,
            "label": num.label,
        }
