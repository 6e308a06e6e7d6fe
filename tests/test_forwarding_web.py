"""Call forwarding page and API: rules saved and refused with their reason, another tenant's
rule or employee a 404 / refused, CSRF and roles."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from portal.forwarding import services
from portal.forwarding.models import ForwardingRule
from portal.tenants.models import ApiToken, User
from tests import factories


@pytest.fixture
def staff(customer):
    dept = factories.department(customer)
    return (
        factories.employee(customer, dept, extension="101"),
        factories.employee(customer, dept, extension="102"),
    )


@pytest.fixture
def api(customer):
    _token, key = ApiToken.issue(customer=customer, name="mine")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_rule_is_saved_and_a_loop_refused_on_the_page(admin_client, staff):
    a, b = staff
    ok = admin_client.post(
        "/pbx/forwarding/",
        {"employee": a.pk, "when": "busy", "target_employee": b.pk, "ring_seconds": 20},
    )
    assert ok.status_code == 302
    loop = admin_client.post(
        "/pbx/forwarding/",
        {"employee": b.pk, "when": "always", "target_employee": a.pk, "ring_seconds": 20},
    )
    assert loop.status_code == 400 and "по кругу" in loop.content.decode()
    mobile = admin_client.post(
        "/pbx/forwarding/",
        {
            "employee": b.pk,
            "when": "unregistered",
            "target_number": "+7 916 123-45-67",
            "ring_seconds": 20,
        },
    )
    assert mobile.status_code == 302
    page = admin_client.get("/pbx/forwarding/").content.decode()
    assert "+79161234567" in page and "если занято" in page
    assert ForwardingRule.objects.count() == 2


def test_another_customers_rule_and_employees_are_out_of_reach(admin_client, staff, other_customer):
    a, _b = staff
    x = factories.employee(other_customer, extension="201")
    y = factories.employee(other_customer, extension="202")
    theirs = services.rule_save(
        customer=other_customer, employee=x, when="always", target_employee=y
    )
    assert admin_client.post(f"/pbx/forwarding/{theirs.pk}/delete/").status_code == 404
    refused = admin_client.post(
        "/pbx/forwarding/",
        {"employee": a.pk, "when": "always", "target_employee": y.pk, "ring_seconds": 20},
    )
    assert refused.status_code == 400
    assert ForwardingRule.objects.filter(customer__isnull=False).count() == 1
    assert "202" not in admin_client.get("/pbx/forwarding/").content.decode()


def test_posts_need_csrf_and_the_admin_role(customer, staff):
    a, b = staff
    data = {"employee": a.pk, "when": "busy", "target_employee": b.pk, "ring_seconds": 20}
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(factories.user(customer))
    assert csrf_client.post("/pbx/forwarding/", data).status_code == 403
    reader = Client()
    reader.force_login(factories.user(customer, role=User.Role.DEPARTMENT_STAFF))
    assert reader.post("/pbx/forwarding/", data).status_code == 403
    assert not ForwardingRule.objects.exists()


def test_the_api_creates_refuses_and_isolates(api, staff, other_customer):
    a, b = staff
    created = api.post(
        "/api/v1/forwarding-rules/",
        {"employee": a.pk, "when": "no_answer", "target_employee": b.pk, "ring_seconds": 15},
        format="json",
    )
    assert created.status_code == 201, created.content
    again = api.post(
        "/api/v1/forwarding-rules/",
        {"employee": a.pk, "when": "no_answer", "target_number": "+79161234567"},
        format="json",
    )
    assert again.status_code == 201 and ForwardingRule.objects.count() == 1  # replaced
    premium = api.post(
        "/api/v1/forwarding-rules/",
        {"employee": b.pk, "when": "always", "target_number": "+442079460000"},
        format="json",
    )
    assert premium.status_code == 400
    x = factories.employee(other_customer, extension="201")
    assert (
        api.post(
            "/api/v1/forwarding-rules/",
            {"employee": x.pk, "when": "always", "target_employee": a.pk},
            format="json",
        ).status_code
        == 400
    )
    y = factories.employee(other_customer, extension="202")
    theirs = services.rule_save(
        customer=other_customer, employee=x, when="always", target_employee=y
    )
    assert api.get(f"/api/v1/forwarding-rules/{theirs.pk}/").status_code == 404
    assert api.delete(f"/api/v1/forwarding-rules/{theirs.pk}/").status_code == 404
    assert [r["id"] for r in api.get("/api/v1/forwarding-rules/").json()["results"]] == [
        again.json()["id"]
    ]


def test_the_schema_describes_the_endpoints(admin_client):
    schema = admin_client.get(
        "/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json"
    ).json()
    for path in [
        "/api/v1/forwarding-rules/",
        "/api/v1/voicemail-boxes/",
        "/api/v1/voicemail-messages/{id}/audio/",
        "/api/v1/voicemail-messages/{id}/heard/",
    ]:
        assert path in schema["paths"], path


def test_english_page(admin_client):
    admin_client.post("/i18n/setlang/", {"language": "en"})
    page = admin_client.get("/pbx/forwarding/").content.decode()
    assert "Call forwarding" in page and "Переадресация" not in page


def test_to_the_employees_own_mobile_from_the_card(admin_client, staff):
    a, _b = staff
    data = {"employee": a.pk, "when": "unregistered", "to_mobile": "on", "ring_seconds": 20}
    refused = admin_client.post("/pbx/forwarding/", data)  # no mobile on the card yet
    assert refused.status_code == 400 and "мобильный" in refused.content.decode()
    a.mobile_number = "+79161234567"
    a.save()
    assert admin_client.post("/pbx/forwarding/", data).status_code == 302
    assert ForwardingRule.objects.get(employee=a).target_number == "+79161234567"
