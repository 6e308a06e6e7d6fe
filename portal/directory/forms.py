"""Portal forms for departments, employees and numbers.

Forms only read and clean input; writes go through `portal.directory.services`, whose
ValidationErrors (duplicates, foreign departments, E.164) land on the same field names. The
department form runs the services' e-mail and webhook rules early so that every error shows at
once. Department choices are always limited to the customer's own departments.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.directory import services
from portal.directory.models import Department, PhoneNumber, extension_validator
from portal.directory.phone import display as display_number
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


class DirectoryForm(forms.Form):
    """A form of one customer; a `department` field offers only that customer's departments."""

    def __init__(self, *args, customer: Customer, **kwargs):
        self.customer = customer
        super().__init__(*args, **kwargs)
        if "department" in self.fields:
            self.fields["department"] = CustomerDepartmentField(customer)

    @classmethod
    def initial_for(cls, obj: models.Model) -> dict:
        """The form's fields filled from a saved row."""
        return {
            name: getattr(obj, "department_id" if name == "department" else name)
            for name in cls.base_fields
        }


class DepartmentForm(DirectoryForm):
    # Shown indented under "Оповещать об обратном вызове": how the department is told.
    nested_fields = (
        "notify_email",
        "notify_sms",
        "notify_portal",
        "notify_webhook",
        "notification_emails",
        "webhook_url",
    )
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

    def clean_notification_emails(self) -> str:
        return services.clean_notification_emails(self.cleaned_data["notification_emails"])

    def clean(self):
        data = super().clean()
        try:
            services.check_webhook(
                notify_webhook=data.get("notify_webhook"), webhook_url=data.get("webhook_url")
            )
        except ValidationError as exc:
            self.add_error("webhook_url", exc)
        if data.get("notify_email") and data.get("notify_callback"):
            if "notification_emails" in data and not data["notification_emails"]:
                self.add_error(
                    "notification_emails",
                    _("Укажите хотя бы один адрес или отключите оповещение по e-mail."),
                )
        return data


class EmployeeForm(DirectoryForm):
    extension = forms.CharField(
        label=_("внутренний номер"), max_length=6, validators=[extension_validator]
    )
    name = forms.CharField(label=_("имя"), max_length=120)
    department = forms.Field()  # replaced per customer by DirectoryForm
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


class NumberForm(DirectoryForm):
    # Numbers come from the platform's inventory: a choice of the free ones (and, when editing,
    # the row's own), never typed in. The service checks again under a lock.
    e164 = forms.ChoiceField(
        label=_("номер"), help_text=_("свободные номера платформы"), choices=()
    )
    kind = forms.ChoiceField(
        label=_("тип"), choices=PhoneNumber.Kind.choices, initial=PhoneNumber.Kind.REGULAR
    )
    department = forms.Field()  # replaced per customer by DirectoryForm
    label = forms.CharField(label=_("подпись"), max_length=120, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        offered = list(
            services.free_platform_numbers().order_by("e164").values_list("e164", flat=True)
        )
        own = (self.initial or {}).get("e164")
        if own and own not in offered:
            offered.insert(0, own)
        self.fields["e164"].choices = [(e164, display_number(e164)) for e164 in offered]
        self.fields["e164"].error_messages["invalid_choice"] = _(
            "Этого номера нет среди свободных номеров платформы: выберите номер из списка."
        )
