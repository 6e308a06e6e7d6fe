"""A customer's own recording of a catalog prompt, replacing the generated one."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.prompts import catalog


class CustomPromptQuerySet(models.QuerySet):
    def for_customer(self, customer):
        return self.filter(customer=customer)


class CustomPrompt(models.Model):
    customer = models.ForeignKey(
        "tenants.Customer", on_delete=models.CASCADE, related_name="custom_prompts"
    )
    # A catalog key (checked by the services; no `choices`, so new keys need no migration).
    key = models.CharField(_("сообщение"), max_length=48)
    language = models.CharField(_("язык"), max_length=8, choices=list(catalog.LANGUAGES.items()))
    # Relative to settings.PROMPTS_DIR, built only from ids and catalog keys (never from the
    # uploaded file's name): customers/<customer id>/<language>/<key>-<random hex>.wav
    file_path = models.CharField(max_length=255)
    size_bytes = models.PositiveIntegerField(_("размер, байт"))
    duration_ms = models.PositiveIntegerField(_("длительность, мс"))
    original_name = models.CharField(_("исходный файл"), max_length=255, blank=True)
    uploaded_at = models.DateTimeField(_("загружено"), default=timezone.now)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = CustomPromptQuerySet.as_manager()

    class Meta:
        ordering = ["customer_id", "key", "language"]
        verbose_name = _("своя запись сообщения")
        verbose_name_plural = _("свои записи сообщений")
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "key", "language"], name="prompts_one_custom_per_key_language"
            )
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}/{self.language}/{self.key}"

    @property
    def duration(self) -> float:
        return self.duration_ms / 1000
