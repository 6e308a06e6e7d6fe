"""Departments, employees and the numbers routed to them."""

from __future__ import annotations

import secrets

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.tenants.models import Customer


class CustomerQuerySet(models.QuerySet):
    def for_customer(self, customer: Customer | int):
        return self.filter(customer=customer)


class Department(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="departments")
    name = models.CharField(_("название"), max_length=120)
    # Notifications ("Оповещения").
    notify_callback = models.BooleanField(_("Оповещать об обратном вызове"), default=False)
    notify_email = models.BooleanField(_("по e-mail"), default=True)
    notify_sms = models.BooleanField(_("по SMS"), default=False)
    notify_portal = models.BooleanField(_("в портале"), default=True)
    notify_webhook = models.BooleanField(_("вебхуком"), default=False)
    notification_emails = models.TextField(
        _("адреса e-mail для оповещений"), blank=True, help_text=_("по одному в строке")
    )
    webhook_url = models.URLField(_("адрес вебхука"), blank=True)
    webhook_secret = models.CharField(max_length=64, default=secrets.token_hex, editable=False)
    # Queue of the department's multichannel numbers.
    queue_announce_interval = models.PositiveIntegerField(
        _("интервал предложения обратного вызова, с"),
        default=30,
        validators=[MinValueValidator(10), MaxValueValidator(600)],
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "name"], name="department_name_unique")
        ]
        verbose_name = _("отдел")
        verbose_name_plural = _("отделы")

    def __str__(self) -> str:
        return self.name


def new_sip_password() -> str:
    return secrets.token_urlsafe(18)


extension_validator = RegexValidator(
    r"^[1-9][0-9]{1,5}$", _("Внутренний номер: от 2 до 6 цифр, не начинается с 0.")
)


class Employee(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="employees")
    department = models.ForeignKey(
        Department,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="employees",
        verbose_name=_("отдел"),
    )
    name = models.CharField(_("имя"), max_length=120)
    extension = models.CharField(
        _("внутренний номер"), max_length=6, validators=[extension_validator]
    )
    sip_password = models.CharField(_("пароль SIP"), max_length=64, default=new_sip_password)
    mobile_number = models.CharField(_("мобильный номер"), max_length=16, blank=True)
    caller_id_option = models.BooleanField(
        _("АОН"),
        default=False,
        help_text=_("При обратном вызове абонент видит многоканальный номер отдела."),
    )
    is_active = models.BooleanField(_("активен"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["extension"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "extension"], name="employee_extension_unique"
            )
        ]
        verbose_name = _("сотрудник")
        verbose_name_plural = _("сотрудники")

    def __str__(self) -> str:
        return f"{self.extension} {self.name}"


class PhoneNumber(models.Model):
    class Kind(models.TextChoices):
        MULTICHANNEL = "multichannel", _("многоканальный")
        REGULAR = "regular", _("обычный")
        ACCESS = "access", _("номер доступа (фиктивные номера)")
        RETURN = "return", _("номер возврата (фиктивные номера)")
        FICTIVE = "fictive", _("фиктивный")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="numbers")
    e164 = models.CharField(_("номер"), max_length=16, unique=True)
    kind = models.CharField(_("тип"), max_length=16, choices=Kind.choices, default=Kind.REGULAR)
    department = models.ForeignKey(
        Department,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="numbers",
        verbose_name=_("отдел"),
    )
    label = models.CharField(_("подпись"), max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["e164"]
        verbose_name = _("номер")
        verbose_name_plural = _("номера")

    def __str__(self) -> str:
        return self.e164


class PlatformNumber(models.Model):
    """A number the platform owns (bought from a carrier): the inventory customers pick from.

    A customer's `PhoneNumber` can only be one of these; "free" means available and not held by
    any customer. Managed by the platform: Django admin, `manage.py platform_numbers`, and
    `/api/v1/platform/numbers/` (platform staff)."""

    e164 = models.CharField(_("номер"), max_length=16, unique=True)
    is_available = models.BooleanField(
        _("можно выдавать"),
        default=True,
        help_text=_("Снимите, чтобы придержать номер: клиенты его не увидят."),
    )
    note = models.CharField(_("заметка"), max_length=200, blank=True)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["e164"]
        verbose_name = _("номер платформы")
        verbose_name_plural = _("номера платформы")

    def __str__(self) -> str:
        return self.e164
