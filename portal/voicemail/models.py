"""Voicemail boxes (one per employee or department) and the messages left in them.

A message's audio lies under settings.RECORDINGS_DIR at `c<customer>/vm/b<box>/<call uuid>.wav`
(written by the dialplan's `record`, see portal/voicemail/dialplan.py) and counts against the
customer's storage quota like a call recording (a `portal.calls.Recording` row for the same
path).
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from portal.calls.models import Recording
from portal.directory.models import Department, Employee
from portal.tenants.models import Customer

pin_validator = RegexValidator(r"^[0-9]{4,8}$", _("PIN: от 4 до 8 цифр."))


class Mailbox(models.Model):
    class Greeting(models.TextChoices):
        TONE = "tone", _("только сигнал")
        GENERATED = "generated", _("синтезированное приветствие")
        UPLOADED = "uploaded", _("своя запись")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="mailboxes")
    employee = models.OneToOneField(
        Employee,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="mailbox",
        verbose_name=_("сотрудник"),
    )
    department = models.OneToOneField(
        Department,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="mailbox",
        verbose_name=_("отдел"),
    )
    enabled = models.BooleanField(_("включён"), default=True)
    # Access from a phone (*97): stored hashed (django.contrib.auth.hashers).
    pin_hash = models.CharField(max_length=200, blank=True)
    email = models.EmailField(_("e-mail для новых сообщений"), blank=True)
    attach_audio = models.BooleanField(_("прикладывать запись к письму"), default=True)
    max_seconds = models.PositiveSmallIntegerField(
        _("длина сообщения, не больше, с"),
        default=120,
        validators=[MinValueValidator(10), MaxValueValidator(600)],
    )
    greeting = models.CharField(
        _("приветствие"), max_length=16, choices=Greeting.choices, default=Greeting.TONE
    )
    greeting_text = models.CharField(_("текст приветствия"), max_length=300, blank=True)
    # Relative to settings.PROMPTS_DIR (customers/<id>/voicemail/...), empty for the tone.
    greeting_file = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The phone's message lamp is to be told the counts (a message came, was heard or deleted,
    # the phone registered): claimed by call control's tick (services.mwi_claim_due).
    mwi_due_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(employee__isnull=False) & Q(department__isnull=True))
                | (Q(employee__isnull=True) & Q(department__isnull=False)),
                name="mailbox_one_owner",
            )
        ]

    def __str__(self) -> str:
        return f"box {self.pk}"

    @property
    def owner_label(self) -> str:
        if self.employee_id:
            return f"{self.employee.extension} {self.employee.name}"
        return str(self.department.name)


class Message(models.Model):
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="voicemail_messages"
    )
    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="messages")
    call_uuid = models.CharField(max_length=64, unique=True)
    caller_number = models.CharField(_("кто звонил"), max_length=64, blank=True)
    caller_name = models.CharField(max_length=120, blank=True)
    path = models.CharField(max_length=500)
    size_bytes = models.BigIntegerField(default=0)
    duration_seconds = models.PositiveIntegerField(_("длительность, с"), default=0)
    recording = models.ForeignKey(Recording, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(_("получено"), auto_now_add=True)
    heard_at = models.DateTimeField(_("прослушано"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["mailbox", "-created_at"])]

    def __str__(self) -> str:
        return f"message {self.pk}"
