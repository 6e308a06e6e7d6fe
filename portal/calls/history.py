"""The customer's call history: which calls (filters) and which recording file a call may serve.

Always one customer's rows: a call of another customer is not found (a 404 for the pages and
the API). A recording is served only when it is counted against this customer's storage quota
(a `Recording` row of theirs for the call's path) and its file lies in the customer's own
folder under RECORDINGS_DIR: a path in a CDR alone never opens a file.
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path

from django import forms
from django.db.models import CharField, OuterRef, Q, QuerySet, Subquery
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils.translation import gettext_lazy as _

from portal.billing.selectors import storage_used_bytes
from portal.calls import recordings
from portal.calls.models import CallRecord, Recording
from portal.directory.models import Employee
from portal.statistics.forms import PeriodForm
from portal.statistics.selectors import Period
from portal.tenants.models import Customer

ANSWERED = "answered"
MISSED = "missed"
NON_DIGITS = re.compile(r"[^0-9]")
PAGE_SIZE = 25


class HistoryForm(PeriodForm):
    """The period (as on the statistics page) plus number, employee, direction and status."""

    number = forms.RegexField(
        label=_("Номер"), required=False, max_length=20, regex=r"^\+?[0-9 ()-]{1,24}$"
    )
    employee = forms.ModelChoiceField(
        label=_("Сотрудник"), required=False, queryset=Employee.objects.none(), empty_label=_("все")
    )
    direction = forms.ChoiceField(
        label=_("Направление"),
        required=False,
        choices=[("", _("все")), *CallRecord.Direction.choices],
    )
    status = forms.ChoiceField(
        label=_("Статус"),
        required=False,
        choices=[("", _("все")), (ANSWERED, _("с ответом")), (MISSED, _("без ответа"))],
    )

    def __init__(self, *args, customer: Customer, **kwargs):
        super().__init__(*args, customer=customer, **kwargs)
        self.fields["employee"].queryset = Employee.objects.filter(customer=customer).order_by(
            "name"
        )

    def filters(self) -> dict:
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        employee = data.get("employee")
        return {
            "period": self.period() if data else self.default_period(),
            "number": NON_DIGITS.sub("", data.get("number") or ""),
            "employee_id": employee.pk if employee else None,
            "direction": data.get("direction") or "",
            "status": data.get("status") or "",
        }


def call_history(
    customer: Customer | int,
    *,
    period: Period | None = None,
    number: str = "",
    employee_id: int | None = None,
    direction: str = "",
    status: str = "",
) -> QuerySet[CallRecord]:
    """The customer's calls, newest first, with `employee_name` (the call's `pbx_employee`, one
    of this customer's employees) and `recording_id` (the counted recording of its file)."""
    customer_id = customer if isinstance(customer, int) else customer.pk
    qs = CallRecord.objects.filter(customer_id=customer_id)
    if period is not None:
        qs = qs.filter(started_at__gte=period.start, started_at__lt=period.end)
    digits = NON_DIGITS.sub("", number or "")
    if digits:
        qs = qs.filter(Q(caller_number__contains=digits) | Q(callee_number__contains=digits))
    if employee_id:
        qs = qs.filter(variables__pbx_employee=str(int(employee_id)))
    if direction:
        qs = qs.filter(direction=direction)
    if status == ANSWERED:
        qs = qs.filter(billsec__gt=0)
    elif status == MISSED:
        qs = qs.filter(Q(billsec=0) | Q(billsec__isnull=True))
    employee = Employee.objects.annotate(key=Cast("pk", CharField())).filter(
        customer_id=customer_id, key=OuterRef("employee_key")
    )
    recording = Recording.objects.filter(customer_id=customer_id, path=OuterRef("recording_path"))
    return (
        qs.annotate(employee_key=KeyTextTransform("pbx_employee", "variables"))
        .annotate(
            employee_name=Subquery(employee.values("name")[:1]),
            recording_id=Subquery(recording.order_by("id").values("id")[:1]),
        )
        .order_by("-started_at", "-id")
    )


def storage_used(customer: Customer | int) -> int:
    """Bytes counted against the customer's storage quota (recordings and hold music)."""
    return storage_used_bytes(customer)


def recording_file(customer: Customer | int, call_id: int) -> tuple[CallRecord, Path] | None:
    """The call of this customer and its recording's file, or None (no such call for this
    customer, no counted recording, or a file outside the customer's folder or gone)."""
    customer_id = customer if isinstance(customer, int) else customer.pk
    call = CallRecord.objects.filter(customer_id=customer_id, pk=call_id).first()
    if call is None or not call.recording_path:
        return None
    counted = Recording.objects.filter(customer_id=customer_id, path=call.recording_path)
    if not counted.exists():
        return None
    file = recordings._inside_recordings_dir(call.recording_path)
    if file is None or not recordings._owned_by(file, customer_id) or not file.is_file():
        return None
    return call, file


def content_type(file: Path) -> str:
    return mimetypes.guess_type(file.name)[0] or "application/octet-stream"
