"""Call forwarding rules: per employee, one per condition, to another employee or to an
outside number (the employee's mobile)."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from portal.directory.models import Employee
from portal.tenants.models import Customer


class ForwardingRule(models.Model):
    class When(models.TextChoices):
        ALWAYS = "always", _("всегда")
        BUSY = "busy", _("если занято")
        NO_ANSWER = "no_answer", _("если не ответил")
        UNREGISTERED = "unregistered", _("если телефон не в сети")

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="forwarding_rules"
    )
    employee = models.ForeignKey(
        Employee, on_delete=models.CASCADE, related_name="forwarding_rules"
    )
    when = models.CharField(_("когда"), max_length=16, choices=When.choices)
    target_employee = models.ForeignKey(
        Employee,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("на сотрудника"),
    )
    # E.164, checked against the customer's outbound call policy when saved and at every call.
    target_number = models.CharField(_("на внешний номер"), max_length=16, blank=True)
    ring_seconds = models.PositiveSmallIntegerField(
        _("ждать ответа, с"),
        default=20,
        validators=[MinValueValidator(5), MaxValueValidator(60)],
    )
    enabled = models.BooleanField(_("включено"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["employee__extension", "when", "id"]
        constraints = [
            models.UniqueConstraint(fields=["employee", "when"], name="forwarding_one_per_when"),
            models.CheckConstraint(
                condition=(Q(target_employee__isnull=False) & Q(target_number=""))
                | (Q(target_employee__isnull=True) & ~Q(target_number="")),
                name="forwarding_one_target",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.employee_id} {self.when}"

    @property
    def target_label(self) -> str:
        if self.target_employee_id:
            return f"{self.target_employee.extension} {self.target_employee.name}"
        return self.target_number
