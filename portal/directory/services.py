"""Directory writes: departments, employees and numbers.

Every function takes keyword-only arguments, validates everything (tenant ownership of the
department, E.164 numbers, uniqueness) and writes under `transaction.atomic`, so a failed call
changes nothing. A successful one announces the change to FreeSWITCH after commit
(`portal.events.announce_config_change`). Errors are `ValidationError`s keyed by field name.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from portal.directory.models import Department, Employee, PhoneNumber
from portal.directory.phone import to_e164
from portal.events import announce_config_change
from portal.tenants.models import Customer

DEPARTMENT_FIELDS = (
    "name",
    "notify_callback",
    "notify_email",
    "notify_sms",
    "notify_portal",
    "notify_webhook",
    "notification_emails",
    "webhook_url",
    "queue_announce_interval",
)


def _own_department(customer: Customer, department: Department | int | None) -> Department | None:
    """The customer's department, or a ValidationError if it belongs to somebody else."""
    if department is None:
        return None
    dept_id = department.pk if isinstance(department, Department) else department
    found = Department.objects.for_customer(customer).filter(pk=dept_id).first()
    if found is None:
        raise ValidationError({"department": _("Такого отдела нет.")}, code="foreign_department")
    return found


def _save(obj, *, unique_errors: dict[str, str], what: str) -> None:
    """full_clean + save inside the caller's transaction; a race on a unique index is a form
    error too, not a 500."""
    obj.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError as exc:
        raise ValidationError(unique_errors, code="duplicate") from exc
    announce_config_change(customer_id=obj.customer_id, what=what)


# --- departments -----------------------------------------------------------------------------


def _department_apply(dept: Department, fields: dict) -> Department:
    unknown = set(fields) - set(DEPARTMENT_FIELDS)
    if unknown:
        raise TypeError(f"unknown department fields: {sorted(unknown)}")
    for name, value in fields.items():
        setattr(dept, name, value)
    dept.name = (dept.name or "").strip()
    if dept.notification_emails:
        dept.notification_emails = "\n".join(
            line.strip() for line in dept.notification_emails.splitlines() if line.strip()
        )
    duplicate = (
        Department.objects.for_customer(dept.customer_id)
        .filter(name=dept.name)
        .exclude(pk=dept.pk)
        .exists()
    )
    if duplicate:
        raise ValidationError({"name": _("Отдел с таким названием уже есть.")}, code="duplicate")
    _save(
        dept,
        unique_errors={"name": _("Отдел с таким названием уже есть.")},
        what="department",
    )
    return dept


@transaction.atomic
def department_create(*, customer: Customer, name: str, **settings) -> Department:
    """Create a department. `settings` are the notification fields of `DEPARTMENT_FIELDS`."""
    return _department_apply(Department(customer=customer), {"name": name, **settings})


@transaction.atomic
def department_update(*, customer: Customer, department_id: int, **fields) -> Department:
    dept = Department.objects.for_customer(customer).select_for_update().get(pk=department_id)
    return _department_apply(dept, fields)


# --- employees -------------------------------------------------------------------------------


def _employee_apply(
    emp: Employee,
    *,
    customer: Customer,
    extension: str,
    name: str,
    department: Department | int | None,
    mobile_number: str,
    caller_id_option: bool,
    is_active: bool,
) -> Employee:
    emp.extension = (extension or "").strip()
    emp.name = (name or "").strip()
    emp.department = _own_department(customer, department)
    mobile_number = (mobile_number or "").strip()
    if mobile_number:
        try:
            mobile_number = to_e164(mobile_number)
        except ValidationError as exc:
            raise ValidationError({"mobile_number": exc.messages}) from exc
    emp.mobile_number = mobile_number
    emp.caller_id_option = caller_id_option
    emp.is_active = is_active
    taken = _("Внутренний номер %(ext)s уже занят.") % {"ext": emp.extension}
    if (
        Employee.objects.for_customer(customer)
        .filter(extension=emp.extension)
        .exclude(pk=emp.pk)
        .exists()
    ):
        raise ValidationError({"extension": taken}, code="duplicate")
    _save(emp, unique_errors={"extension": taken}, what="employee")
    return emp


@transaction.atomic
def employee_create(
    *,
    customer: Customer,
    extension: str,
    name: str,
    department: Department | int | None = None,
    mobile_number: str = "",
    caller_id_option: bool = False,
    is_active: bool = True,
) -> Employee:
    return _employee_apply(
        Employee(customer=customer),
        customer=customer,
        extension=extension,
        name=name,
        department=department,
        mobile_number=mobile_number,
        caller_id_option=caller_id_option,
        is_active=is_active,
    )


@transaction.atomic
def employee_update(
    *,
    customer: Customer,
    employee_id: int,
    extension: str,
    name: str,
    department: Department | int | None = None,
    mobile_number: str = "",
    caller_id_option: bool = False,
    is_active: bool = True,
) -> Employee:
    emp = Employee.objects.for_customer(customer).select_for_update().get(pk=employee_id)
    return _employee_apply(
        emp,
        customer=customer,
        extension=extension,
        name=name,
        department=department,
        mobile_number=mobile_number,
        caller_id_option=caller_id_option,
        is_active=is_active,
    )


# --- numbers ---------------------------------------------------------------------------------


def _number_apply(
    num: PhoneNumber,
    *,
    customer: Customer,
    e164: str,
    kind: str,
    department: Department | int | None,
    label: str,
) -> PhoneNumber:
    try:
        num.e164 = to_e164(e164)
    except ValidationError as exc:
        raise ValidationError({"e164": exc.messages}) from exc
    if kind not in PhoneNumber.Kind.values:
        raise ValidationError({"kind": _("Неизвестный тип номера.")}, code="invalid")
    num.kind = kind
    num.department = _own_department(customer, department)
    num.label = (label or "").strip()
    # Numbers are unique across the platform, whoever owns them.
    taken = _("Номер уже подключён.")
    if PhoneNumber.objects.filter(e164=num.e164).exclude(pk=num.pk).exists():
        raise ValidationError({"e164": taken}, code="duplicate")
    _save(num, unique_errors={"e164": taken}, what="number")
    return num


@transaction.atomic
def number_create(
    *,
    customer: Customer,
    e164: str,
    kind: str = PhoneNumber.Kind.REGULAR,
    department: Department | int | None = None,
    label: str = "",
) -> PhoneNumber:
    return _number_apply(
        PhoneNumber(customer=customer),
        customer=customer,
        e164=e164,
        kind=kind,
        department=department,
        label=label,
    )


@transaction.atomic
def number_update(
    *,
    customer: Customer,
    number_id: int,
    e164: str,
    kind: str,
    department: Department | int | None = None,
    label: str = "",
) -> PhoneNumber:
    num = PhoneNumber.objects.for_customer(customer).select_for_update().get(pk=number_id)
    return _number_apply(
        num, customer=customer, e164=e164, kind=kind, department=department, label=label
    )
