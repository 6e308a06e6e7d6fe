"""Small builders for test data: explicit arguments, sensible defaults, no shared fixture DB."""

from __future__ import annotations

import itertools

from portal.billing import catalog
from portal.billing.models import Tariff
from portal.directory.models import Department, Employee, PhoneNumber, PlatformNumber
from portal.tenants.models import Customer, User

_seq = itertools.count(1)
PASSWORD = "test-pass-123"


def customer(name: str | None = None, tariff: str = "Средний", **kw) -> Customer:
    catalog.ensure()  # a transactional test before this one may have flushed the catalog
    return Customer.objects.create(
        name=name or f"Клиент {next(_seq)}", tariff=Tariff.objects.get(name=tariff), **kw
    )


def user(cust: Customer | None, role: str = User.Role.CUSTOMER_ADMIN, **kw) -> User:
    return User.objects.create_user(
        username=kw.pop("username", f"user{next(_seq)}"),
        password=PASSWORD,
        customer=cust,
        role=role,
        **kw,
    )


def department(cust: Customer, name: str | None = None, **kw) -> Department:
    return Department.objects.create(customer=cust, name=name or f"Отдел {next(_seq)}", **kw)


def employee(cust: Customer, dept: Department | None = None, **kw) -> Employee:
    n = next(_seq)
    kw.setdefault("extension", str(100 + n))
    kw.setdefault("name", f"Сотрудник {n}")
    return Employee.objects.create(customer=cust, department=dept, **kw)


def number(cust: Customer, e164: str | None = None, **kw) -> PhoneNumber:
    return PhoneNumber.objects.create(
        customer=cust, e164=e164 or f"+7495{next(_seq) + 1000000:07d}", **kw
    )


def platform_numbers(*e164s: str) -> list[PlatformNumber]:
    """Numbers the platform owns (the inventory customers pick from), free for the taking."""
    return [PlatformNumber.objects.get_or_create(e164=e164)[0] for e164 in e164s]
