"""Exports for finance (CDRs with their rating, ledger entries, monthly totals) and the monthly
documents (invoice "счёт" and act "акт") of each customer.

An export is a row and a file: requested in the portal or the API, written by a django-q2 task
that reports progress on the row, kept for `EXPORT_KEEP_DAYS`, then deleted. `customer` null is
a platform export (every customer). Documents are issued once per customer, kind and month,
numbered per kind and year, with their lines frozen at issue (a later re-rating does not change
an issued document; it shows in the next month's).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.tenants.models import Customer


class Export(models.Model):
    class Kind(models.TextChoices):
        CDRS = "cdrs", _("Звонки с тарификацией")
        LEDGER = "ledger", _("Начисления и платежи")
        TOTALS = "totals", _("Итоги по месяцам")

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"

    class Status(models.TextChoices):
        QUEUED = "queued", _("в очереди")
        RUNNING = "running", _("формируется")
        DONE = "done", _("готово")
        FAILED = "failed", _("ошибка")
        EXPIRED = "expired", _("удалено по сроку")

    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="exports"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    format = models.CharField(max_length=4, choices=Format.choices)
    filters = models.JSONField(default=dict)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    file_name = models.CharField(max_length=200, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "created_at"], name="export_customer_created")]

    @property
    def progress(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(99, self.rows_done * 100 // self.rows_total)


class CustomerDetails(models.Model):
    """The customer's requisites printed on invoices and acts."""

    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, related_name="details", primary_key=True
    )
    legal_name = models.CharField(_("полное наименование"), max_length=250)
    inn = models.CharField(_("ИНН"), max_length=12, blank=True)
    kpp = models.CharField(_("КПП"), max_length=9, blank=True)
    address = models.CharField(_("юридический адрес"), max_length=300, blank=True)
    contract = models.CharField(_("договор"), max_length=120, blank=True)
    email = models.EmailField(_("e-mail для документов"), blank=True)


class Document(models.Model):
    class Kind(models.TextChoices):
        INVOICE = "invoice", _("Счёт")
        ACT = "act", _("Акт")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="documents")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    month = models.DateField()  # first day of the month billed
    year = models.PositiveIntegerField()
    seq = models.PositiveIntegerField()
    number = models.CharField(max_length=32)
    issued_on = models.DateField()
    total = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, default="RUB")
    # [{"name": ..., "amount": "..."}], the buyer's and seller's details as printed
    lines = models.JSONField(default=list)
    buyer = models.JSONField(default=dict)
    seller = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-month", "customer_id", "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "kind", "month"], name="document_once_per_month"
            ),
            models.UniqueConstraint(fields=["kind", "year", "seq"], name="document_number_unique"),
        ]

    def __str__(self) -> str:
        return self.number


class DocumentCounter(models.Model):
    """The last number given per kind and year (locked while numbering)."""

    kind = models.CharField(max_length=8)
    year = models.PositiveIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "year"], name="document_counter_unique")
        ]
