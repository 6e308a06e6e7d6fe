"""A customer's own hold music: one file for the whole customer, or one per department."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class HoldMusic(models.Model):
    customer = models.ForeignKey(
        "tenants.Customer", on_delete=models.CASCADE, related_name="hold_music"
    )
    # Null: every caller of the customer; else only callers to this department's numbers.
    department = models.ForeignKey(
        "directory.Department",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="hold_music",
        verbose_name=_("отдел"),
    )
    # Relative to settings.PROMPTS_DIR, built from ids and a random suffix only (never from the
    # uploaded file's name): moh/c<customer id>/<all|d<department id>>-<random hex>.wav
    file_path = models.CharField(max_length=255)
    size_bytes = models.PositiveBigIntegerField(_("размер, байт"))
    duration_ms = models.PositiveIntegerField(_("длительность, мс"))
    original_name = models.CharField(_("исходный файл"), max_length=255, blank=True)
    uploaded_at = models.DateTimeField(_("загружено"), default=timezone.now)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["customer_id", "department_id"]
        verbose_name = _("музыка ожидания")
        verbose_name_plural = _("музыка ожидания")
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(department__isnull=True),
                name="moh_one_per_customer",
            ),
            models.UniqueConstraint(fields=["department"], name="moh_one_per_department"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}/{self.department_id or 'all'}"

    @property
    def duration(self) -> float:
        return self.duration_ms / 1000
