"""API tokens are managed by customer administrators in the portal; the key is shown once."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from portal.tenants.models import ApiToken, User
from tests import factories


@pytest.fixture
def portal_admin(admin_user):
    client = APIClient()
    client.force_login(admin_user)
    return client


def test_an_admin_issues_a_token_and_sees_its_key_only_once(portal_admin, customer, admin_user):
    response = portal_admin.post("/api/v1/tokens/", {"name": " 1C "}, format="json")
    assert response.status_code == 201
    body = response.json()
    key = body["key"]
    assert body["name"] == "1C" and body["prefix"] == key[:8]
    assert body["created_by"] == admin_user.username

    token = ApiToken.objects.get(pk=body["id"])
    assert token.customer == customer and key not in token.key_hash

    listed = portal_admin.get("/api/v1/tokens/").json()["results"]
    assert [row["id"] for row in listed] == [token.pk]
    assert "key" not in listed[0]

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/balance/").status_code == 200


def test_a_revoked_token_stops_working_at_once(portal_admin, customer):
    token, key = ApiToken.issue(customer=customer, name="crm")
    assert portal_admin.delete(f"/api/v1/tokens/{token.pk}/").status_code == 204
    token.refresh_from_db()
    assert token.revoked_at is not None
    listed = portal_admin.get("/api/v1/tokens/").json()["results"]
    assert listed[0]["revoked_at"] is not None

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/balance/").status_code == 401


def test_revoking_twice_keeps_the_first_revocation_time(portal_admin, customer):
    token, _key = ApiToken.issue(customer=customer, name="crm")
    portal_admin.delete(f"/api/v1/tokens/{token.pk}/")
    token.refresh_from_db()
    first = token.revoked_at
    assert portal_admin.delete(f"/api/v1/tokens/{token.pk}/").status_code == 204
    token.refresh_from_db()
    assert token.revoked_at == first


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 101}])
def test_a_token_needs_a_sensible_name(portal_admin, body):
    response = portal_admin.post("/api/v1/tokens/", body, format="json")
    assert response.status_code == 400
    assert response.json()["name"][0]
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("method,url", [("get", "/api/v1/tokens/"), ("post", "/api/v1/tokens/")])
def test_an_api_token_cannot_manage_tokens(customer, method, url):
    _token, key = ApiToken.issue(customer=customer, name="crm")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = getattr(client, method)(url, {"name": "another"}, format="json")
    assert response.status_code == 403
    assert ApiToken.objects.count() == 1


def test_an_api_token_cannot_revoke_itself_or_others(customer):
    token, key = ApiToken.issue(customer=customer, name="crm")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.delete(f"/api/v1/tokens/{token.pk}/").status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None


def test_department_staff_cannot_see_tokens(customer):
    ApiToken.issue(customer=customer, name="crm")
    client = APIClient()
    client.force_login(factories.user(customer, role=User.Role.DEPARTMENT_STAFF))
    assert client.get("/api/v1/tokens/").status_code == 403
