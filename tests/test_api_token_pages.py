""" "API-токены" page: a customer admin creates a token (its key shown once), uses it against the
API, sees its last use, and revokes it; nobody else can see or revoke a customer's tokens."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from portal.tenants.models import ApiToken
from tests import factories

pytestmark = pytest.mark.django_db
URL = "/pbx/api-tokens/"


def admin_client(customer, **kw) -> Client:
    client = Client(**kw)
    client.force_login(factories.user(customer))
    return client


def created_key(response) -> str:
    match = re.search(r'value="([^"]+)"[^>]*data-token-key', response.text)
    assert match, "the new key is not on the page"
    return match.group(1)


def test_an_admin_creates_uses_and_revokes_a_token(customer):
    client = admin_client(customer)
    response = client.post(URL, {"name": "CRM"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    key = created_key(response)
    token = ApiToken.objects.get(customer=customer)
    assert token.name == "CRM" and key.startswith(token.prefix) and key not in token.key_hash

    api = Client()
    assert api.get("/api/v1/departments/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    page = client.get(URL).text
    assert key not in page  # shown once only
    assert "CRM" in page and token.prefix in page and "не использовался" not in page

    assert client.post(f"{URL}{token.pk}/revoke/").status_code == 302
    assert api.get("/api/v1/departments/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401
    assert "отозван" in client.get(URL).text
    assert client.post(f"{URL}{token.pk}/revoke/").status_code == 302  # twice is harmless


def test_a_blank_name_is_refused_and_nothing_is_created(customer):
    response = admin_client(customer).post(URL, {"name": "   "})
    assert response.status_code == 200 and "data-token-key" not in response.text
    assert not ApiToken.objects.exists()


def test_a_name_is_shown_escaped(customer):
    admin_client(customer).post(URL, {"name": "<script>alert(1)</script>"})
    page = admin_client(customer).get(URL).text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def test_staff_and_strangers_cannot_see_or_make_tokens(customer):
    staff = Client()
    staff.force_login(factories.user(customer, role="staff"))
    assert staff.get(URL).status_code == 403
    assert staff.post(URL, {"name": "x"}).status_code == 403
    assert Client().get(URL).status_code == 302  # to the login page
    assert not ApiToken.objects.exists()


def test_another_customers_token_cannot_be_revoked_or_seen(customer):
    other = factories.customer()
    theirs, _ = ApiToken.issue(customer=other, name="Их токен")
    client = admin_client(customer)
    assert client.post(f"{URL}{theirs.pk}/revoke/").status_code == 404
    assert "Их токен" not in client.get(URL).text
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_revoking_needs_the_csrf_token(customer):
    token, _ = ApiToken.issue(customer=customer, name="CRM")
    client = admin_client(customer, enforce_csrf_checks=True)
    assert client.post(f"{URL}{token.pk}/revoke/").status_code == 403
    assert client.post(URL, {"name": "x"}).status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None


def test_the_more_page_links_admins_to_their_tokens(customer):
    assert URL in admin_client(customer).get("/more/").text
    staff = Client()
    staff.force_login(factories.user(customer, role="staff"))
    assert URL not in staff.get("/more/").text


def test_the_page_speaks_english_too(customer):
    client = Client()
    client.force_login(factories.user(customer))
    page = client.get(URL, HTTP_ACCEPT_LANGUAGE="en").text
    assert "API tokens" in page and "Create token" in page and "API-токены" not in page
