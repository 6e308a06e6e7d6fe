"""Callback requests ("Обратный вызов") and their attempts: the whole state of the feature.

Call control keeps nothing that matters in memory: due times, claims and every step of every
attempt are rows here, so any process may die and the next one carries on (see flow.py for
the rules, services.py for the write path).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from portal.callbacks import flow
from portal.directory.models import Department, Employee, PhoneNumber
from portal.tenants.models import Customer


class CallbackRequest(models.Model):
    class Status(models.TextChoices):
        PENDING = flow.PENDING, _("ожидает")
        DIALING = flow.DIALING, _("идёт вызов")
        COMPLETED = flow.COMPLETED, _("состоялся")
        FAILED = flow.FAILED, _("не состоялся")
        CANCELLED = flow.CANCELLED, _("отменён")

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="callback_requests"
    )
    department = models.ForeignKey(
        Department,
        on_delete=models.CASCADE,
        related_name="callback_requests",
        verbose_name=_("отдел"),
    )
    number = models.ForeignKey(
        PhoneNumber,
        null=True,
        on_delete=models.SET_NULL,
        related_name="callback_requests",
        verbose_name=_("многоканальный номер"),
    )
    caller_number = models.CharField(_("номер звонившего"), max_length=16)
    status = models.CharField(
        _("статус"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    attempts_made = models.PositiveSmallIntegerField(_("попыток"), default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    first_attempt_deadline = models.DateTimeField()
    # The second attempt must start by this moment (set when the first one ends).
    retry_deadline = models.DateTimeField(null=True, blank=True)
    current_attempt = models.ForeignKey(
        "CallbackAttempt", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claimed_by = models.CharField(max_length=100, blank=True)
    claim_expires_at = models.DateTimeField(null=True, blank=True)
    employee = models.ForeignKey(
        Employee,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="callback_requests",
        verbose_name=_("сотрудник"),
    )
    origin_uuid = models.CharField(max_length=64, unique=True)
    close_reason = models.CharField(max_length=200, blank=True)
    # The portal user who last acted on the request (called now, marked done, cancelled).
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("кто обработал"),
    )
    handled_at = models.DateTimeField(_("когда обработан"), null=True, blank=True)
    created_at = models.DateTimeField(_("создан"))
    closed_at = models.DateTimeField(_("закрыт"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["department", "caller_number"],
                condition=Q(status__in=flow.OPEN),
                name="callback_one_open_request_per_caller",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[*flow.OPEN, *flow.CLOSED]), name="callback_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="callback_due"),
            models.Index(fields=["status", "claim_expires_at"], name="callback_claims"),
            models.Index(fields=["customer", "-created_at"], name="callback_customer_created"),
        ]
        verbose_name = _("запрос обратного вызова")
        verbose_name_plural = _("запросы обратного вызова")

    def __str__(self) -> str:
        return f"callback {self.pk} {self.caller_number} {self.status}"

    @property
    def is_open(self) -> bool:
        return self.status in flow.OPEN


class CallbackAttempt(models.Model):
    class Status(models.TextChoices):
        DIALING_EMPLOYEE = flow.DIALING_EMPLOYEE, _("вызов сотрудника")
        DIALING_CALLER = flow.DIALING_CALLER, _("вызов абонента")
        BRIDGED = flow.BRIDGED, _("разговор")
        FINISHED = flow.FINISHED, _("завершена")

    request = models.ForeignKey(CallbackRequest, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField(_("попытка"))
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.DIALING_EMPLOYEE
    )
    employee = models.ForeignKey(
        Employee,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="callback_attempts",
        verbose_name=_("сотрудник"),
    )
    employee_uuid = models.CharField(max_length=64, blank=True)
    caller_uuid = models.CharField(max_length=64, blank=True)
    caller_id_shown = models.CharField(max_length=16, blank=True)
    worker = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField(_("начало"))
    employee_answered_at = models.DateTimeField(null=True, blank=True)
    caller_answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    cause = models.CharField(_("причина"), max_length=64, blank=True)
    recording_path = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["started_at", "id"]
        constraints = [
            # At most one live attempt per request: one call at a time, whatever the workers do.
            models.UniqueConstraint(
                fields=["request"],
                condition=~Q(status=flow.FINISHED),
                name="callback_one_live_attempt",
            )
        ]
        indexes = [
            models.Index(fields=["employee", "employee_answered_at"], name="callback_emp_last")
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of callback {self.request_id}"
