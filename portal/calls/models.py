"""Calls: call recordings and CDRs (CallRecord)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.tenants.models import Customer


class Recording(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="recordings")
    path = models.CharField(max_length=500)
    size_bytes = models.BigIntegerField(default=0)
    duration_seconds = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    # When FreeSWITCH closed the file (RECORD_STOP): its size is final from then on. Until
    # then the periodic task measures it again (the row may be registered at the call's start).
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["id"],
                name="recording_open",
                condition=models.Q(closed_at__isnull=True),
            )
        ]


class CallRecord(models.Model):
    """One call leg as FreeSWITCH reported it at hangup (CDR), one row per FreeSWITCH Unique-ID.

    Fed by CHANNEL_HANGUP_COMPLETE events (call-control service) and mod_json_cdr POSTs; both may
    arrive, in any order and more than once: `portal.calls.services.cdr_ingest` merges them.
    """

    class Direction(models.TextChoices):
        INBOUND = "inbound", _("входящий")
        OUTBOUND = "outbound", _("исходящий")
        INTERNAL = "internal", _("внутренний")

    # Null when the call could not be attributed (no or unknown `pbx_customer` tag): kept anyway.
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="call_records"
    )
    uuid = models.CharField(_("Unique-ID"), max_length=64, unique=True)
    node = models.CharField(_("узел"), max_length=64, blank=True)
    direction = models.CharField(
        _("направление"), max_length=16, choices=Direction.choices, blank=True
    )
    caller_number = models.CharField(_("кто звонил"), max_length=64, blank=True)
    callee_number = models.CharField(_("куда звонили"), max_length=64, blank=True)
    caller_id_shown = models.CharField(
        _("номер, который видел вызываемый"), max_length=64, blank=True
    )
    started_at = models.DateTimeField(_("начало"), null=True, blank=True, db_index=True)
    answered_at = models.DateTimeField(_("ответ"), null=True, blank=True)
    ended_at = models.DateTimeField(_("конец"), null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(_("длительность, с"), null=True, blank=True)
    billsec = models.PositiveIntegerField(_("оплачиваемые секунды"), null=True, blank=True)
    hangup_cause = models.CharField(_("причина завершения"), max_length=64, blank=True)
    recording_path = models.CharField(_("запись"), max_length=500, blank=True)
    # Our own channel variables (pbx_*), without the `variable_` prefix.
    variables = models.JSONField(default=dict, blank=True)
    # Which deliveries contributed: "event" (ESL), "http" (mod_json_cdr).
    sources = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "started_at"], name="callrecord_customer_start")
        ]
        verbose_name = _("звонок")
        verbose_name_plural = _("звонки")

    def __str__(self) -> str:
        return f"{self.uuid} {self.caller_number} -> {self.callee_number}"

    @property
    def is_complete(self) -> bool:
        """The final data is in: the call has ended and FreeSWITCH said why."""
        return self.ended_at is not None and bool(self.hangup_cause)
