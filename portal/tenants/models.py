"""Customers (tenants), their users and API tokens.

Every row that belongs to a customer carries a `customer` foreign key; views and the API reach
rows only through `for_customer()` querysets, so another tenant's id is simply not found.
"""

from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Customer(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Услуга активна")
        SUSPENDED = "suspended", _("Услуга приостановлена")
        CLOSED = "closed", _("Договор расторгнут")

    name = models.CharField(_("название"), max_length=200)
    status = models.CharField(
        _("статус"), max_length=16, choices=Status.choices, default=Status.ACTIVE
    )
    tariff = models.ForeignKey(
        "billing.Tariff",
        on_delete=models.PROTECT,
        related_name="customers",
        verbose_name=_("тариф"),
    )
    language = models.CharField(
        _("язык"),
        max_length=8,
        default="ru",
        choices=[
            ("ru", "Русский"),
            ("en", "English"),
            ("cs", "Čeština"),
            ("kk", "Қазақша"),
            ("bg", "Български"),
        ],
        help_text=_("язык голосовых сообщений и SMS для звонящих"),
    )
    time_zone = models.CharField(_("часовой пояс"), max_length=64, default="Europe/Moscow")
    currency = models.CharField(_("валюта"), max_length=3, default="RUB")
    activated_on = models.DateField(
        _("подключён с"), default=timezone.localdate, help_text=_("начисления идут с этого дня")
    )
    extra_storage_packages = models.PositiveIntegerField(
        _("доп. пакеты хранения записей"), default=0
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("клиент")
        verbose_name_plural = _("клиенты")

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A portal user. Platform operators have no customer; everybody else belongs to exactly one."""

    class Role(models.TextChoices):
        CUSTOMER_ADMIN = "admin", _("Администратор клиента")
        DEPARTMENT_STAFF = "staff", _("Сотрудник отдела")

    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="users"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.CUSTOMER_ADMIN)
    departments = models.ManyToManyField("directory.Department", blank=True, related_name="staff")

    @property
    def is_customer_admin(self) -> bool:
        return self.customer_id is not None and self.role == self.Role.CUSTOMER_ADMIN


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiToken(models.Model):
    """A per-customer API token. Only its SHA-256 is stored; the key is shown once at creation."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    @classmethod
    def issue(cls, *, customer: Customer, name: str, created_by: User | None = None):
        """Create a token; returns (token, key). The key is not recoverable afterwards."""
        key = secrets.token_urlsafe(32)
        token = cls.objects.create(
            customer=customer,
            name=name,
            key_hash=_hash_key(key),
            prefix=key[:8],
            created_by=created_by,
        )
        return token, key

    @classmethod
    def find_active(cls, key: str) -> ApiToken | None:
        return (
            cls.objects.select_related("customer")
            .filter(key_hash=_hash_key(key), revoked_at__isnull=True)
            .first()
        )
