"""Reads of call forwarding: the rules as the dialplan needs them (a fixed number of queries),
and the rules of a customer for the pages and the API."""

from __future__ import annotations

from django.db.models import QuerySet

from pbx import render
from portal.billing.selectors import options_enabled
from portal.directory.models import Employee, PhoneNumber
from portal.forwarding.dialplan import Loaded, Target
from portal.forwarding.models import ForwardingRule


def _load(customer_id: int, employees: list[Employee]) -> Loaded | None:
    if not employees:
        return None
    rows = list(
        ForwardingRule.objects.filter(
            customer_id=customer_id, enabled=True, employee__in=employees
        ).select_related("target_employee")
    )
    if not rows:
        return None
    loaded = Loaded(employees={e.pk: e for e in employees})
    outside = False
    for row in rows:
        if row.target_employee_id:
            if not row.target_employee.is_active or row.target_employee.customer_id != customer_id:
                continue
            target = Target(
                row.when, extension=row.target_employee.extension, ring_seconds=row.ring_seconds
            )
        else:
            outside = True
            target = Target(row.when, number=row.target_number, ring_seconds=row.ring_seconds)
        loaded.rules.setdefault(row.employee_id, {})[row.when] = target
    if outside:
        numbers = list(
            PhoneNumber.objects.filter(
                customer_id=customer_id,
                kind__in=[PhoneNumber.Kind.REGULAR, PhoneNumber.Kind.MULTICHANNEL],
            ).order_by("e164")[:50]
        )
        options = options_enabled(customer_id)
        for employee in employees:
            presented = render.outbound_number(employee, numbers, options)
            if presented:
                loaded.presented[employee.pk] = presented
    return loaded


def load_for_department(customer_id: int, department_id: int | None) -> Loaded | None:
    if not department_id:
        return None
    employees = list(
        Employee.objects.filter(
            customer_id=customer_id, department_id=department_id, is_active=True
        )
    )
    return _load(customer_id, employees)


def load_for_extension(customer_id: int, extension: str) -> Loaded | None:
    employees = list(
        Employee.objects.filter(customer_id=customer_id, extension=extension, is_active=True)
    )
    return _load(customer_id, employees)


def load_for_employee(customer_id: int, employee_id: int) -> Loaded | None:
    employees = list(
        Employee.objects.filter(customer_id=customer_id, pk=employee_id, is_active=True)
    )
    return _load(customer_id, employees)


def rules_of(customer) -> QuerySet[ForwardingRule]:
    return ForwardingRule.objects.filter(customer=customer).select_related(
        "employee", "target_employee"
    )
