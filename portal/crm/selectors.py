"""CRM card reads: who the caller is and what happened with that number before, from our own
database (CDRs, callback requests, notes). Every read goes through the customer."""

from __future__ import annotations

from django.db.models import QuerySet

from portal.calls.models import CallRecord
from portal.crm.models import CallNote, CrmCall, CrmSettings, EmployeeUser
from portal.directory.models import Employee

HISTORY = 20


def spellings(e164: str) -> list[str]:
    """The ways a trunk writes one E.164 number into a CDR's caller number."""
    if not e164.startswith("+") or len(e164) < 4:
        return []
    digits = e164[1:]
    out = [e164, digits, "00" + digits]
    if digits.startswith("7") and len(digits) == 11:
        out += ["8" + digits[1:], digits[1:]]
    return out


def crm_settings(customer_id: int) -> CrmSettings | None:
    return CrmSettings.objects.filter(customer_id=customer_id).first()


def calls(customer_id: int) -> QuerySet[CrmCall]:
    return CrmCall.objects.filter(customer_id=customer_id).select_related(
        "employee", "number", "answered_by"
    )


def caller_name(customer_id: int, e164: str) -> str:
    """The caller's name where we know it: one of the customer's employees calling from their
    mobile number."""
    if not e164:
        return ""
    employee = Employee.objects.filter(customer_id=customer_id, mobile_number=e164).first()
    return employee.name if employee else ""


def past_calls(customer_id: int, e164: str, *, exclude_uuid: str = "") -> QuerySet[CallRecord]:
    return (
        CallRecord.objects.filter(customer_id=customer_id, caller_number__in=spellings(e164))
        .exclude(uuid=exclude_uuid)
        .order_by("-started_at", "-id")
    )


def callback_requests(customer_id: int, e164: str):
    from portal.callbacks.models import CallbackRequest

    if not e164:
        return CallbackRequest.objects.none()
    return CallbackRequest.objects.filter(customer_id=customer_id, caller_number=e164).order_by(
        "-created_at"
    )


def notes(customer_id: int, e164: str, *, call: CrmCall | None = None) -> QuerySet[CallNote]:
    """Notes of this call and of the caller's earlier calls, newest first."""
    query = CallNote.objects.filter(customer_id=customer_id).select_related("call", "author")
    if e164:
        query = query.filter(call__caller_e164=e164)
    elif call is not None:
        query = query.filter(call=call)
    else:
        return query.none()
    return query.order_by("-created_at", "-id")


def history_counts(customer_id: int, e164: str, *, exclude_uuid: str = "") -> dict[str, int]:
    if not e164:
        return {"calls": 0, "notes": 0}
    return {
        "calls": past_calls(customer_id, e164, exclude_uuid=exclude_uuid).count(),
        "notes": notes(customer_id, e164).count(),
    }


def employee_users(customer_id: int) -> dict[int, int]:
    return dict(
        EmployeeUser.objects.filter(customer_id=customer_id).values_list("employee_id", "user_id")
    )
