"""Tenant isolation: another customer's rows are never found, listed, changed or referenced."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from portal.billing import services
from portal.billing.models import LedgerEntry, Option
from portal.directory.models import Department, Employee, PhoneNumber
from portal.tenants.models import ApiToken
from tests import factories


@pytest.fixture
def api(customer):
    _token, key = ApiToken.issue(customer=customer, name="mine")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def theirs(other_customer):
    dept = factories.department(other_customer, name="Их отдел")
    token, _key = ApiToken.issue(customer=other_customer, name="their token")
    return {
        "departments": dept,
        "employees": factories.employee(other_customer, dept, name="Их сотрудник"),
        "numbers": factories.number(other_customer, label="их номер", department=dept),
        "tokens": token,
    }


ID_ROUTES = [
    ("departments", "get", None),
    ("departments", "put", {"name": "Захвачен"}),
    ("departments", "patch", {"name": "Захвачен"}),
    ("departments", "delete", None),
    ("employees", "get", None),
    ("employees", "put", {"name": "Захвачен", "extension": "999"}),
    ("employees", "patch", {"name": "Захвачен"}),
    ("employees", "delete", None),
    ("numbers", "get", None),
    ("numbers", "put", {"e164": "+74957777777", "label": "Захвачен"}),
    ("numbers", "patch", {"label": "Захвачен"}),
    ("numbers", "delete", None),
]


@pytest.mark.parametrize("resource,method,body", ID_ROUTES)
def test_another_customers_object_is_a_404_and_stays_untouched(api, theirs, resource, method, body):
    obj = theirs[resource]
    before = obj.__class__.objects.filter(pk=obj.pk).values()[0]
    response = getattr(api, method)(f"/api/v1/{resource}/{obj.pk}/", body, format="json")
    assert response.status_code == 404
    assert "Их" not in response.content.decode()
    assert obj.__class__.objects.filter(pk=obj.pk).values()[0] == before


def test_another_customers_token_cannot_be_revoked_and_is_a_404(customer, admin_user, theirs):
    client = APIClient()
    client.force_login(admin_user)
    response = client.delete(f"/api/v1/tokens/{theirs['tokens'].pk}/")
    assert response.status_code == 404
    theirs["tokens"].refresh_from_db()
    assert theirs["tokens"].revoked_at is None


@pytest.mark.parametrize("resource", ["departments", "employees", "numbers"])
def test_lists_never_show_another_customers_rows(api, customer, theirs, resource):
    mine = factories.department(customer, name="Мой отдел")
    factories.employee(customer, mine, name="Мой сотрудник")
    factories.number(customer, label="мой номер")
    rows = api.get(f"/api/v1/{resource}/").json()["results"]
    assert len(rows) == 1
    assert theirs[resource].pk not in {row["id"] for row in rows}


def test_the_token_list_never_shows_another_customers_tokens(customer, admin_user, theirs):
    ApiToken.issue(customer=customer, name="mine")
    client = APIClient()
    client.force_login(admin_user)
    rows = client.get("/api/v1/tokens/").json()["results"]
    assert [row["name"] for row in rows] == ["mine"]


def test_the_ledger_and_balance_never_include_another_customers_entries(
    api, customer, other_customer
):
    services.payment_record(customer=other_customer, amount=Decimal("999"), reference="their")
    services.payment_record(customer=customer, amount=Decimal("10"), reference="ours")
    rows = api.get("/api/v1/ledger/").json()["results"]
    assert [row["amount"] for row in rows] == ["10.00"]
    assert api.get("/api/v1/balance/").json()["balance"] == "10.00"
    assert LedgerEntry.objects.count() == 2


def test_option_state_is_per_customer(api, customer, other_customer):
    services.option_set(customer=other_customer, code=Option.CALLBACK, enabled=True)
    rows = api.get("/api/v1/options/").json()
    assert {row["code"]: row["enabled"] for row in rows}[Option.CALLBACK] is False


@pytest.mark.parametrize("resource", ["employees", "numbers"])
def test_another_customers_department_cannot_be_referenced(api, theirs, resource):
    body = {
        "employees": {"name": "Иван", "extension": "301"},
        "numbers": {"e164": "+74951112233"},
    }[resource]
    body["department"] = theirs["departments"].pk
    model = {"employees": Employee, "numbers": PhoneNumber}[resource]
    count = model.objects.count()
    response = api.post(f"/api/v1/{resource}/", body, format="json")
    assert response.status_code == 400
    assert response.json()["department"]
    assert "Их отдел" not in response.content.decode()
    assert model.objects.count() == count


@pytest.mark.parametrize("resource", ["employees", "numbers"])
def test_moving_a_row_into_another_customers_department_is_refused(api, customer, theirs, resource):
    row = {
        "employees": lambda: factories.employee(customer, name="Мой"),
        "numbers": lambda: factories.number(customer),
    }[resource]()
    response = api.patch(
        f"/api/v1/{resource}/{row.pk}/",
        {"department": theirs["departments"].pk},
        format="json",
    )
    assert response.status_code == 400
    row.refresh_from_db()
    assert row.department_id is None


def test_a_department_name_used_by_another_customer_is_free_for_us(api, theirs):
    response = api.post("/api/v1/departments/", {"name": "Их отдел"}, format="json")
    assert response.status_code == 201
    assert Department.objects.filter(name="Их отдел").count() == 2


def test_the_ledger_month_filter_stays_within_the_customer(api, customer, other_customer):
    for cust in (customer, other_customer):
        services.payment_record(
            customer=cust, amount=Decimal("5"), reference=f"r{cust.pk}", on=dt.date(2026, 10, 3)
        )
    rows = api.get("/api/v1/ledger/?month=2026-10").json()["results"]
    assert len(rows) == 1
