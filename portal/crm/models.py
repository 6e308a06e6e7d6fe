"""CRM card: the customer's webhook, which portal user each employee is, the incoming calls
the card is shown for, the notes typed on it, and every webhook event with its attempts."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.directory.models import Employee, PhoneNumber
from portal.tenants.models import Customer


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class CrmSettings(models.Model):
    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="crm")
    webhook_url = models.CharField(_("адрес веб-хука"), max_length=2000, blank=True)
    # HMAC-SHA256 key of the X-PBX-Signature header
    webhook_secret = models.CharField(_("секрет подписи"), max_length=64, default=new_secret)


class EmployeeUser(models.Model):
    """Which portal user answers an employee's phone: their portal gets the card."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    employee = models.OneToOneField(Employee, on_delete=models.CASCADE, related_name="crm_user")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="crm_employees"
    )


class CrmCall(models.Model):
    """One incoming call to a customer with the option on (the caller's leg, `uuid`)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="crm_calls")
    uuid = models.CharField(max_length=64, unique=True)
    number = models.ForeignKey(
        PhoneNumber, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    caller_number = models.CharField(_("кто звонит"), max_length=64, blank=True)
    caller_e164 = models.CharField(max_length=16, blank=True, db_index=True)
    employee = models.ForeignKey(
        Employee, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rang_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    hangup_cause = models.CharField(max_length=64, blank=True)
    recording_path = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-rang_at", "-id"]


class CallNote(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    call = models.ForeignKey(CrmCall, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField(_("заметка"), max_length=4000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]


class WebhookEvent(models.Model):
    """One signed POST to the customer's webhook (ring, answer, hangup of one call)."""

    class Kind(models.TextChoices):
        RING = "ring", _("звонок")
        ANSWER = "answer", _("ответ")
        HANGUP = "hangup", _("отбой")

    class Status(models.TextChoices):
        PENDING = "pending", _("ждёт отправки")
        SENT = "sent", _("отправлено")
        FAILED = "failed", _("не отправлено")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    call = models.ForeignKey(CrmCall, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    url = models.CharField(max_length=2000)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["call", "kind"], name="crm_event_once_per_call")
        ]
