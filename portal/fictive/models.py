"""Fictive numbers ("fiktivní čísla", seed 002): projects, shoppers, their fictive numbers, the
calls made through them, pending missed calls and the SMS sent about them.

The rules of the calls live in `ivr.py` (pure); writes go through `services.py`.
Every row carries `customer`; every lookup goes through it.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from portal.directory.models import CustomerQuerySet, PhoneNumber
from portal.fictive import ivr
from portal.notifications.models import Delivery
from portal.tenants.models import Customer


class Project(models.Model):
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="fictive_projects"
    )
    name = models.CharField(_("название"), max_length=120)
    allowed_prefixes = models.TextField(
        _("разрешённые префиксы номеров назначения"),
        blank=True,
        help_text=_("по одному в строке, например +420; пусто — любые допустимые номера"),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "name"], name="fictive_project_name_unique")
        ]
        verbose_name = _("проект")
        verbose_name_plural = _("проекты")

    def __str__(self) -> str:
        return self.name

    @property
    def prefixes(self) -> tuple[str, ...]:
        return ivr.normalize_prefixes(self.allowed_prefixes.splitlines())


class Shopper(models.Model):
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="fictive_shoppers"
    )
    project = models.ForeignKey(
        Project, on_delete=models.PROTECT, related_name="shoppers", verbose_name=_("проект")
    )
    name = models.CharField(_("имя"), max_length=120)
    real_number = models.CharField(_("реальный номер"), max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "real_number"], name="fictive_shopper_number_unique"
            )
        ]
        verbose_name = _("тайный покупатель")
        verbose_name_plural = _("тайные покупатели")

    def __str__(self) -> str:
        return f"{self.name} ({self.real_number})"


class FictiveNumber(models.Model):
    """A PhoneNumber of kind "fictive" paired to one shopper, with its ID (ordinal) for them."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="fictive_numbers")
    shopper = models.ForeignKey(
        Shopper,
        on_delete=models.CASCADE,
        related_name="fictive_numbers",
        verbose_name=_("покупатель"),
    )
    number = models.ForeignKey(
        PhoneNumber,
        on_delete=models.CASCADE,
        related_name="fictive_pairings",
        verbose_name=_("номер"),
    )
    ordinal = models.PositiveSmallIntegerField(_("ID"))
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["shopper_id", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["number"], name="fictive_number_paired_once"),
            models.UniqueConstraint(
                fields=["shopper", "ordinal"], name="fictive_ordinal_unique_per_shopper"
            ),
            models.CheckConstraint(condition=Q(ordinal__gte=1), name="fictive_ordinal_positive"),
        ]
        verbose_name = _("фиктивный номер")
        verbose_name_plural = _("фиктивные номера")

    def __str__(self) -> str:
        return f"{self.ordinal}: {self.number.e164}"


class FictiveCall(models.Model):
    class Direction(models.TextChoices):
        OUTBOUND = "outbound", _("исходящий через номер доступа")
        INBOUND = "inbound", _("входящий на фиктивный номер")
        RETURN = "return", _("ответный через номер возврата")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="fictive_calls")
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    shopper = models.ForeignKey(
        Shopper, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    fictive = models.ForeignKey(
        FictiveNumber, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    # Kept even when the pairing is removed later.
    fictive_e164 = models.CharField(_("фиктивный номер"), max_length=16)
    direction = models.CharField(_("направление"), max_length=16, choices=Direction.choices)
    other_number = models.CharField(_("номер собеседника"), max_length=16, blank=True)
    uuid = models.CharField(max_length=64, unique=True)
    bridged = models.BooleanField(_("соединён"), default=False)
    recording_path = models.CharField(max_length=500, blank=True)
    started_at = models.DateTimeField(_("начало"))
    ended_at = models.DateTimeField(_("конец"), null=True, blank=True)
    cause = models.CharField(_("причина"), max_length=64, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "-started_at"], name="fictive_call_customer"),
        ]
        verbose_name = _("звонок через фиктивный номер")
        verbose_name_plural = _("звонки через фиктивные номера")

    def __str__(self) -> str:
        return f"{self.direction} {self.fictive_e164} {self.other_number}"


class PendingMissedCall(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("ожидает ответного звонка")
        CONNECTED = "connected", _("соединён")
        EXPIRED = "expired", _("истёк")

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="fictive_pending_calls"
    )
    shopper = models.ForeignKey(
        Shopper,
        on_delete=models.CASCADE,
        related_name="pending_calls",
        verbose_name=_("покупатель"),
    )
    fictive = models.ForeignKey(
        FictiveNumber,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="pending_calls",
    )
    fictive_e164 = models.CharField(_("фиктивный номер"), max_length=16)
    dealer_number = models.CharField(_("кто звонил"), max_length=16)
    sequence = models.PositiveIntegerField(_("порядковый номер"))
    status = models.CharField(
        _("статус"), max_length=16, choices=Status.choices, default=Status.OPEN
    )
    call = models.ForeignKey(
        FictiveCall, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sms = models.ForeignKey(
        Delivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("создан"))
    closed_at = models.DateTimeField(_("закрыт"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["shopper", "sequence"],
                condition=Q(status="open"),
                name="fictive_pending_sequence_unique_open",
            ),
            models.CheckConstraint(condition=Q(sequence__gte=1), name="fictive_sequence_positive"),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="fictive_pending_status"),
        ]
        verbose_name = _("пропущенный вызов")
        verbose_name_plural = _("пропущенные вызовы")

    def __str__(self) -> str:
        return f"#{self.sequence} {self.dealer_number} -> {self.fictive_e164} ({self.status})"
