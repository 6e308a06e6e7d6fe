"""The "Исходящие звонки" page of "Настроить АТС" and the spend line of the tariff page."""

from __future__ import annotations

import pytest

from portal.billing import callpolicy
from portal.billing.models import CallBarring, CallPolicy
from portal.calls.services import cdr_ingest
from tests import factories
from tests.test_call_policy_services import charged_call, pay

URL = "/pbx/calls/"
FORM = {
    "international": "on",
    "special": "on",
    "max_calls": "4",
    "max_calls_per_phone": "1",
    "calls_per_minute": "9",
    "daily_spend_cap": "250.00",
}


@pytest.fixture
def phones(customer):
    return factories.employee(customer, extension="101"), factories.employee(
        customer, extension="102"
    )


def test_the_page_shows_the_defaults_off_for_risky_classes(admin_client, phones):
    html = admin_client.get(URL).content.decode()
    assert "Международные направления" in html
    assert 'name="international"' in html and 'name="international" checked' not in html


def test_an_admin_opens_international_for_one_employee_only(
    admin_client, customer, phones, django_capture_on_commit_callbacks
):
    a, b = phones
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(URL, {**FORM, f"e{a.pk}_international": "on"})
    assert response.status_code == 302
    row = CallPolicy.objects.get(customer=customer)
    assert row.allow_international and not row.allow_premium and row.max_calls == 4
    assert list(CallBarring.objects.values_list("employee_id", "call_class")) == [
        (b.pk, "international")
    ]


def test_bad_limits_store_nothing(admin_client, customer, phones):
    response = admin_client.post(URL, {**FORM, "max_calls": "0", "daily_spend_cap": "x"})
    assert response.status_code == 200
    assert not CallPolicy.objects.filter(customer=customer).exists()


def test_department_staff_may_look_but_not_change(client, customer, phones):
    staff = factories.user(customer, role="staff")
    client.force_login(staff)
    assert client.get(URL).status_code == 200
    assert client.post(URL, FORM).status_code == 403
    assert not CallPolicy.objects.filter(customer=customer).exists()


def test_another_customers_employee_ids_are_ignored(admin_client, customer, other_customer, phones):
    stranger = factories.employee(other_customer, extension="101")
    admin_client.post(URL, {**FORM, f"e{stranger.pk}_international": "on"})
    assert not CallBarring.objects.filter(employee=stranger).exists()


def test_the_tariff_page_shows_the_spend_of_the_day_and_the_cap(
    admin_client, customer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        pay(customer, "1000", "p1")
        callpolicy.call_policy_update(customer=customer, daily_spend_cap="1.00")
        cdr_ingest(charged_call(customer, billsec=30), source="event")
    html = admin_client.get("/pbx/tariff/").content.decode()
    assert 'data-figure="spend-today">1,50' in html or 'data-figure="spend-today">1.50' in html
    assert 'data-figure="spend-cap"' in html
    assert "достигнут дневной лимит расходов" in html
