"""Who may call the API: per-customer tokens, portal sessions, and the read-only staff role."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from portal.directory.models import Department
from portal.tenants.models import ApiToken, User
from tests import factories


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_customer_token_reads_that_customers_departments(customer):
    factories.department(customer, name="Продажи")
    _token, key = ApiToken.issue(customer=customer, name="crm")
    response = token_client(key).get("/api/v1/departments/")
    assert response.status_code == 200
    assert [d["name"] for d in response.json()["results"]] == ["Продажи"]


def test_using_a_token_records_when_it_was_last_used(customer):
    token, key = ApiToken.issue(customer=customer, name="crm")
    token_client(key).get("/api/v1/balance/")
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_a_token_may_write_as_the_customers_administrator(customer):
    _token, key = ApiToken.issue(customer=customer, name="crm")
    response = token_client(key).post("/api/v1/departments/", {"name": "Склад"}, format="json")
    assert response.status_code == 201
    assert Department.objects.filter(customer=customer, name="Склад").exists()


def test_a_revoked_token_is_refused_with_401(customer):
    token, key = ApiToken.issue(customer=customer, name="old")
    token.revoked_at = timezone.now()
    token.save()
    response = token_client(key).get("/api/v1/departments/")
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


@pytest.mark.parametrize(
    "header",
    ["Token not-a-real-key", "Token", "Token two parts", "token \u00ff"],
    ids=["unknown key", "no key", "three words", "non-ascii"],
)
def test_an_invalid_token_is_refused_with_401(db, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/departments/")
    assert response.status_code == 401
    assert response.json()["detail"]
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/departments/",
        "/api/v1/employees/",
        "/api/v1/numbers/",
        "/api/v1/options/",
        "/api/v1/ledger/",
        "/api/v1/balance/",
        "/api/v1/tokens/",
    ],
)
def test_no_credentials_at_all_is_a_401(db, url):
    response = APIClient().get(url)
    assert response.status_code == 401


def test_a_platform_operator_without_a_customer_gets_403(db):
    operator = factories.user(None, is_staff=True)
    client = APIClient()
    client.force_login(operator)
    assert client.get("/api/v1/departments/").status_code == 403


def test_a_signed_in_customer_admin_uses_the_api_with_the_portal_session(customer, admin_user):
    client = APIClient()
    client.force_login(admin_user)
    assert client.get("/api/v1/balance/").json() == {"balance": "0.00", "currency": "RUB"}


@pytest.fixture
def staff_client(customer):
    staff = factories.user(customer, role=User.Role.DEPARTMENT_STAFF)
    client = APIClient()
    client.force_login(staff)
    return client


def test_department_staff_may_read(customer, staff_client):
    factories.department(customer, name="Продажи")
    assert staff_client.get("/api/v1/departments/").status_code == 200
    assert staff_client.get("/api/v1/options/").status_code == 200


@pytest.mark.parametrize(
    "method,url,body",
    [
        ("post", "/api/v1/departments/", {"name": "Новый"}),
        ("put", "/api/v1/departments/{dept}/", {"name": "Новый"}),
        ("patch", "/api/v1/departments/{dept}/", {"name": "Новый"}),
        ("delete", "/api/v1/departments/{dept}/", None),
        ("post", "/api/v1/employees/", {"name": "Иван", "extension": "555"}),
        ("patch", "/api/v1/employees/{emp}/", {"name": "Иван"}),
        ("delete", "/api/v1/employees/{emp}/", None),
        ("post", "/api/v1/numbers/", {"e164": "+74957654321"}),
        ("patch", "/api/v1/numbers/{num}/", {"label": "x"}),
        ("delete", "/api/v1/numbers/{num}/", None),
        ("post", "/api/v1/options/callback/", {"enabled": True}),
        ("put", "/api/v1/options/callback/", {"enabled": True}),
        ("post", "/api/v1/tokens/", {"name": "mine"}),
    ],
)
def test_department_staff_cannot_write_anything(customer, staff_client, method, url, body):
    dept = factories.department(customer, name="Продажи")
    emp = factories.employee(customer, dept, name="Пётр")
    num = factories.number(customer)
    url = url.format(dept=dept.pk, emp=emp.pk, num=num.pk)
    response = getattr(staff_client, method)(url, body, format="json")
    assert response.status_code == 403
    dept.refresh_from_db()
    emp.refresh_from_db()
    num.refresh_from_db()
    assert (dept.name, emp.name, num.label) == ("Продажи", "Пётр", "")
    assert Department.objects.count() == 1


def test_the_api_token_command_prints_a_key_that_works(customer):
    out = io.StringIO()
    call_command("api_token", str(customer.pk), "1C export", stdout=out, stderr=io.StringIO())
    key = out.getvalue().strip()
    assert ApiToken.objects.get(customer=customer).name == "1C export"
    assert token_client(key).get("/api/v1/balance/").status_code == 200


def test_the_api_token_command_refuses_an_unknown_customer(db):
    with pytest.raises(CommandError, match="No customer"):
        call_command("api_token", "999999", "x", stdout=io.StringIO())
