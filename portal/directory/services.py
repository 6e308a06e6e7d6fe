"""Directory writes: departments, employees and numbers — the one write path for the portal
pages and the API.

Every function takes keyword-only arguments, validates everything (tenant ownership of the
department, E.164 numbers, uniqueness, field rules) and writes under `transaction.atomic`, so
a failed call changes nothing. A successful one announces the change to FreeSWITCH after
commit (`portal.events.announce_config_change`). Errors are `ValidationError`s keyed by field
name; a row of another customer is `<Model>.DoesNotExist`.

`*_create` takes the required fields plus any of the others (model defaults fill the rest);
`*_update` changes only the fields it is given.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, models, transaction
from django.utils.translation import gettext as _

from pbx.xmlbuild import RenderError, fs_safe_secret
from portal.directory.models import Department, Employee, PhoneNumber, PlatformNumber
from portal.directory.phone import to_e164
from portal.events import announce_config_change
from portal.notifications.http import UrlRefused, parse_http_url
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
EMPLOYEE_FIELDS = (
    "extension",
    "name",
    "department",
    "mobile_number",
    "caller_id_option",
    "is_active",
    "sip_password",
)
NUMBER_FIELDS = ("e164", "kind", "department", "label")

SIP_PASSWORD_RE = re.compile(r"^[\x21-\x7e]{12,64}$")


# --- field rules (also used by the portal form to show every error at once) -----------------


def clean_notification_emails(value: str) -> str:
    """One address a line, blank lines dropped; a ValidationError names the bad ones."""
    lines = [line.strip() for line in (value or "").splitlines() if line.strip()]
    bad = []
    for line in lines:
        try:
            validate_email(line)
        except ValidationError:
            bad.append(line)
    if bad:
        raise ValidationError(
            _("Неверный адрес e-mail: %(bad)s") % {"bad": ", ".join(bad)[:200]}, code="invalid"
        )
    return "\n".join(lines)


def check_webhook(*, notify_webhook: bool, webhook_url: str | None) -> None:
    """Webhook notifications need an address to call."""
    if notify_webhook and not webhook_url:
        raise ValidationError(
            _("Укажите адрес вебхука или отключите оповещение."), code="webhook_url_missing"
        )
    if webhook_url:
        try:
            parse_http_url(webhook_url)
        except UrlRefused:
            # userinfo, backslashes, odd hosts: the HTTP client could call somewhere else
            raise ValidationError(
                _(
                    "Адрес вебхука: только http(s)://имя-сервера[:порт]/путь, без имени "
                    "пользователя, пароля, пробелов и обратной косой черты."
                ),
                code="webhook_url_refused",
            ) from None


def _optional_e164(value: str | None) -> str:
    value = (value or "").strip()
    return to_e164(value) if value else ""


def _check_sip_password(value: str) -> str:
    if not SIP_PASSWORD_RE.match(value or ""):
        raise ValidationError(
            _("Пароль SIP: от 12 до 64 печатных символов ASCII, без пробелов."), code="invalid"
        )
    try:
        # the directory renderer's own rule: a password it would refuse (`${hostname}`, quotes,
        # `<`, ...) used to be saved and then silently drop the employee from the directory
        fs_safe_secret(value)
    except RenderError:
        raise ValidationError(
            _(
                "Пароль SIP: латинские буквы, цифры и знаки . _ ~ + / = : @ ! * # - "
                "(без $, скобок и кавычек: FreeSWITCH подставил бы вместо них значения)."
            ),
            code="invalid",
        ) from None
    return value


def _own_department(customer: Customer, department: Department | int | None) -> Department | None:
    """The customer's department, or a ValidationError if it belongs to somebody else."""
    if department is None:
        return None
    dept_id = department.pk if isinstance(department, Department) else department
    found = Department.objects.for_customer(customer).filter(pk=dept_id).first()
    if found is None:
        raise ValidationError(_("Такого отдела нет."), code="foreign_department")
    return found


# --- shared machinery ------------------------------------------------------------------------


class _Errors(dict):
    """Field errors collected over one write, raised together."""

    def check(self, field: str, rule, *args, **kwargs):
        try:
            return rule(*args, **kwargs)
        except ValidationError as exc:
            self.setdefault(field, []).extend(exc.messages)
            return None


def _only(fields: dict, allowed: tuple[str, ...], what: str) -> None:
    unknown = set(fields) - set(allowed)
    if unknown:
        raise TypeError(f"unknown {what} fields: {sorted(unknown)}")


def _save(obj: models.Model, *, errors: _Errors, unique_errors: dict[str, str], what: str) -> None:
    """full_clean + save inside the caller's transaction; raises every field error at once. A
    race on a unique index is a field error too, not a 500."""
    try:
        obj.full_clean(exclude=list(errors), validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(dict(errors))
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError as exc:
        raise ValidationError(unique_errors, code="duplicate") from exc
    announce_config_change(customer_id=obj.customer_id, what=what)


def _delete(queryset: models.QuerySet, *, pk: int, what: str) -> None:
    obj = queryset.select_for_update().get(pk=pk)
    customer_id = obj.customer_id
    obj.delete()
    announce_config_change(customer_id=customer_id, what=what)


# --- departments -----------------------------------------------------------------------------


def _department_apply(dept: Department, fields: dict) -> Department:
    _only(fields, DEPARTMENT_FIELDS, "department")
    errors = _Errors()
    for name, value in fields.items():
        setattr(dept, name, value)
    dept.name = (dept.name or "").strip()
    if "notification_emails" in fields:
        emails = errors.check(
            "notification_emails", clean_notification_emails, dept.notification_emails
        )
        if emails is not None:
            dept.notification_emails = emails
    errors.check(
        "webhook_url",
        check_webhook,
        notify_webhook=dept.notify_webhook,
        webhook_url=dept.webhook_url,
    )
    taken = _("Отдел с таким названием уже есть.")
    duplicate = (
        Department.objects.for_customer(dept.customer_id)
        .filter(name=dept.name)
        .exclude(pk=dept.pk)
        .exists()
    )
    if duplicate:
        errors.setdefault("name", []).append(taken)
    _save(dept, errors=errors, unique_errors={"name": taken}, what="department")
    return dept


@transaction.atomic
def department_create(*, customer: Customer, name: str, **settings) -> Department:
    """Create a department. `settings` are the notification fields of `DEPARTMENT_FIELDS`."""
    return _department_apply(Department(customer=customer), {"name": name, **settings})


@transaction.atomic
def department_update(*, customer: Customer, department_id: int, **fields) -> Department:
    dept = Department.objects.for_customer(customer).select_for_update().get(pk=department_id)
    return _department_apply(dept, fields)


@transaction.atomic
def department_delete(*, customer: Customer, department_id: int) -> None:
    """Delete a department; its employees and numbers stay, without a department."""
    _delete(Department.objects.for_customer(customer), pk=department_id, what="department")


# --- employees -------------------------------------------------------------------------------


def _employee_apply(emp: Employee, *, customer: Customer, fields: dict) -> Employee:
    _only(fields, EMPLOYEE_FIELDS, "employee")
    errors = _Errors()
    for name in ("extension", "name", "caller_id_option", "is_active"):
        if name in fields:
            setattr(emp, name, fields[name])
    emp.extension = (emp.extension or "").strip()
    emp.name = (emp.name or "").strip()
    if "department" in fields:
        emp.department = errors.check("department", _own_department, customer, fields["department"])
    if "mobile_number" in fields:
        emp.mobile_number = errors.check("mobile_number", _optional_e164, fields["mobile_number"])
    if "sip_password" in fields:
        emp.sip_password = errors.check("sip_password", _check_sip_password, fields["sip_password"])
    taken = _("Внутренний номер %(ext)s уже занят.") % {"ext": emp.extension}
    if (
        Employee.objects.for_customer(customer)
        .filter(extension=emp.extension)
        .exclude(pk=emp.pk)
        .exists()
    ):
        errors.setdefault("extension", []).append(taken)
    _save(emp, errors=errors, unique_errors={"extension": taken}, what="employee")
    return emp


@transaction.atomic
def employee_create(*, customer: Customer, extension: str, name: str, **fields) -> Employee:
    """Create an employee. `fields`: any other of `EMPLOYEE_FIELDS` (`department` as an
    object or an id); `sip_password` is generated when not given."""
    return _employee_apply(
        Employee(customer=customer),
        customer=customer,
        fields={"extension": extension, "name": name, **fields},
    )


@transaction.atomic
def employee_update(*, customer: Customer, employee_id: int, **fields) -> Employee:
    emp = Employee.objects.for_customer(customer).select_for_update().get(pk=employee_id)
    return _employee_apply(emp, customer=customer, fields=fields)


@transaction.atomic
def employee_delete(*, customer: Customer, employee_id: int) -> None:
    _delete(Employee.objects.for_customer(customer), pk=employee_id, what="employee")


# --- numbers ---------------------------------------------------------------------------------


def _number_not_offered() -> str:
    # One message whether the number is unknown, held back or another customer's: a tenant
    # never learns who has a number.
    return _("Этого номера нет среди свободных номеров платформы: выберите номер из списка.")


def _claim_platform_number(e164: str, *, current: PhoneNumber) -> None:
    """`e164` must be a free number of the platform's inventory (or the row's own number).
    The inventory row is locked, so two customers picking it at once cannot both get it."""
    if current.pk and current.e164 == e164:
        return
    offered = (
        PlatformNumber.objects.select_for_update().filter(e164=e164, is_available=True).first()
    )
    if offered is None or PhoneNumber.objects.filter(e164=e164).exclude(pk=current.pk).exists():
        raise ValidationError(_number_not_offered(), code="not_offered")


def _number_apply(num: PhoneNumber, *, customer: Customer, fields: dict) -> PhoneNumber:
    _only(fields, NUMBER_FIELDS, "number")
    errors = _Errors()
    if "e164" in fields:
        e164 = errors.check("e164", to_e164, fields["e164"])
        if e164 is not None:
            errors.check("e164", _claim_platform_number, e164, current=num)
            num.e164 = e164
    if "kind" in fields:
        num.kind = fields["kind"]
        if num.kind not in PhoneNumber.Kind.values:
            errors["kind"] = [_("Неизвестный тип номера.")]
    if "department" in fields:
        num.department = errors.check("department", _own_department, customer, fields["department"])
    if "label" in fields:
        num.label = (fields["label"] or "").strip()
    _save(num, errors=errors, unique_errors={"e164": _number_not_offered()}, what="number")
    return num


@transaction.atomic
def number_create(*, customer: Customer, e164: str, **fields) -> PhoneNumber:
    """Add a number. `fields`: any other of `NUMBER_FIELDS` (`department` as an object or an
    id); the number is stored as E.164 whatever the spelling."""
    return _number_apply(
        PhoneNumber(customer=customer), customer=customer, fields={"e164": e164, **fields}
    )


@transaction.atomic
def number_update(*, customer: Customer, number_id: int, **fields) -> PhoneNumber:
    num = PhoneNumber.objects.for_customer(customer).select_for_update().get(pk=number_id)
    return _number_apply(num, customer=customer, fields=fields)


@transaction.atomic
def number_delete(*, customer: Customer, number_id: int) -> None:
    _delete(PhoneNumber.objects.for_customer(customer), pk=number_id, what="number")


# --- the platform's inventory (platform staff only: admin, management command, platform API) --


def free_platform_numbers():
    """Numbers customers may pick: available and held by nobody."""
    held = PhoneNumber.objects.values("e164")
    return PlatformNumber.objects.filter(is_available=True).exclude(e164__in=held)


@transaction.atomic
def platform_number_add(*, e164: str, note: str = "", is_available: bool = True) -> PlatformNumber:
    """Add a number the platform owns to the inventory (stored as E.164 whatever the spelling)."""
    errors = _Errors()
    number = PlatformNumber(
        e164=errors.check("e164", to_e164, e164) or "",
        note=(note or "").strip()[:200],
        is_available=is_available,
    )
    if "e164" not in errors and PlatformNumber.objects.filter(e164=number.e164).exists():
        errors["e164"] = [_("Этот номер уже есть у платформы.")]
    if errors:
        raise ValidationError(dict(errors))
    number.save()
    return number


@transaction.atomic
def platform_number_remove(*, e164: str) -> None:
    """Take a number out of the inventory; refused while a customer holds it."""
    number = PlatformNumber.objects.select_for_update().get(e164=to_e164(e164))
    if PhoneNumber.objects.filter(e164=number.e164).exists():
        raise ValidationError(
            {"e164": [_("Номер подключён у клиента: сначала отключите его там.")]}
        )
    number.delete()
