"""Numbers come from the platform: the inventory (admin, management command, platform API),
customers pick from the free ones, and a refusal never says that another tenant has a number."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from portal.directory.models import PhoneNumber, PlatformNumber
from portal.tenants.models import ApiToken
from tests import factories

NOT_OFFERED = "Этого номера нет среди свободных номеров платформы: выберите номер из списка."


@pytest.fixture
def api(customer):
    _token, key = ApiToken.issue(customer=customer, name="mine")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def operator_client(db):
    client = APIClient()
    client.force_login(factories.user(None, is_staff=True))
    return client


def test_a_free_typed_number_is_refused_where_it_used_to_be_a_201(api, customer):
    response = api.post(
        "/api/v1/numbers/", {"e164": "+74950000009", "kind": "regular"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"e164": [NOT_OFFERED]}
    assert not PhoneNumber.objects.exists()


def test_a_customer_lists_the_free_numbers_and_picks_one(api, customer, other_customer):
    factories.platform_numbers("+74950000001", "+74950000002", "+74950000003")
    factories.number(other_customer, "+74950000002")
    PlatformNumber.objects.filter(e164="+74950000003").update(is_available=False)
    assert api.get("/api/v1/numbers/available/").json() == [{"e164": "+74950000001"}]
    picked = api.post("/api/v1/numbers/", {"e164": "8 495 000-00-01"}, format="json")
    assert picked.status_code == 201, picked.json()
    assert api.get("/api/v1/numbers/available/").json() == []


def test_another_tenants_number_and_an_unknown_one_get_the_same_answer(
    api, customer, other_customer
):
    factories.platform_numbers("+74950000002")
    factories.number(other_customer, "+74950000002")
    theirs = api.post("/api/v1/numbers/", {"e164": "+74950000002"}, format="json")
    unknown = api.post("/api/v1/numbers/", {"e164": "+74950000009"}, format="json")
    assert (theirs.status_code, theirs.json()) == (unknown.status_code, unknown.json())
    assert other_customer.name not in theirs.content.decode()


def test_platform_operators_manage_the_inventory_through_the_api(operator_client, customer):
    created = operator_client.post(
        "/api/v1/platform/numbers/", {"e164": "8 495 000-00-01", "note": "МТС"}, format="json"
    )
    assert created.status_code == 201, created.json()
    assert created.json()["e164"] == "+74950000001"
    again = operator_client.post("/api/v1/platform/numbers/", {"e164": "+74950000001"})
    assert again.status_code == 400
    factories.number(customer, "+74950000001")
    rows = operator_client.get("/api/v1/platform/numbers/").json()["results"]
    assert [(r["e164"], r["customer"]) for r in rows] == [("+74950000001", customer.pk)]
    number_id = rows[0]["id"]
    held = operator_client.delete(f"/api/v1/platform/numbers/{number_id}/")
    assert held.status_code == 400
    PhoneNumber.objects.all().delete()
    assert operator_client.delete(f"/api/v1/platform/numbers/{number_id}/").status_code == 204


def test_customers_cannot_touch_the_platform_inventory(api, admin_client, customer):
    body = {"e164": "+74950000001"}
    assert api.get("/api/v1/platform/numbers/").status_code in (401, 403)
    assert api.post("/api/v1/platform/numbers/", body, format="json").status_code in (401, 403)
    assert admin_client.post("/api/v1/platform/numbers/", body).status_code == 403
    assert not PlatformNumber.objects.exists()


def test_the_management_command_adds_ranges_lists_and_removes(customer):
    out = io.StringIO()
    call_command("platform_numbers", "add-range", "+74950000010", "3", "--note", "пул", stdout=out)
    assert list(PlatformNumber.objects.values_list("e164", flat=True)) == [
        "+74950000010",
        "+74950000011",
        "+74950000012",
    ]
    factories.number(customer, "+74950000011")
    out = io.StringIO()
    call_command("platform_numbers", "list", "--free", stdout=out)
    assert "+74950000011" not in out.getvalue() and "+74950000010" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("platform_numbers", "remove", "+74950000011", stdout=io.StringIO())
    with pytest.raises(CommandError):
        call_command("platform_numbers", "add", "+74950000010", stdout=io.StringIO())
    call_command("platform_numbers", "remove", "+74950000010", stdout=io.StringIO())
    assert PlatformNumber.objects.count() == 2


def test_the_admin_lists_the_inventory_for_platform_operators(client, db):
    client.force_login(factories.user(None, is_staff=True, is_superuser=True))
    factories.platform_numbers("+74950000001")
    assert "+74950000001" in client.get("/admin/directory/platformnumber/").content.decode()
    added = client.post(
        "/admin/directory/platformnumber/add/",
        {"e164": "8 495 000-00-02", "is_available": "on", "note": ""},
    )
    assert added.status_code == 302
    assert PlatformNumber.objects.filter(e164="+74950000002").exists()
