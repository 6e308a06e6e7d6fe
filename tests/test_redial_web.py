"""Auto-redial pages: requests with state, reason, timeline and outcome; limits; phone settings.
Tenant isolation, read-only staff, bad input."""

from __future__ import annotations

import pytest
from django.utils import timezone

from portal.redial import services
from portal.redial.models import RedialLimits, RedialRequest, SubscriberSettings
from tests import factories

pytestmark = pytest.mark.django_db


def request_for(customer, uuid, cause="USER_BUSY", ext=("101", "102")):
    caller = factories.employee(customer, extension=ext[0], name="Анна")
    callee = factories.employee(customer, extension=ext[1], name="Борис")
    offer = services.offer_start(
        customer_id=customer.pk,
        caller_id=caller.pk,
        callee_id=callee.pk,
        cause=cause,
        origin_uuid=uuid,
        now=timezone.now(),
    )
    return RedialRequest.objects.get(pk=offer.request_id)


@pytest.fixture
def rows(customer, other_customer):
    return request_for(customer, "ours"), request_for(other_customer, "theirs", ext=("201", "202"))


def test_the_list_shows_the_customers_requests_with_status_and_reason(admin_client, rows):
    ours, theirs = rows
    html = admin_client.get("/pbx/redial/").content.decode()
    assert f'data-request="{ours.pk}"' in html and f'data-request="{theirs.pk}"' not in html
    assert "не предложен" in html and "опция отключена" in html  # option off: refused


def test_the_detail_shows_the_timeline_and_another_tenants_request_is_404(admin_client, rows):
    ours, theirs = rows
    html = admin_client.get(f"/pbx/redial/{ours.pk}/").content.decode()
    assert 'data-event="failed_call"' in html and 'data-event="refused"' in html
    assert admin_client.get(f"/pbx/redial/{theirs.pk}/").status_code == 404
    assert admin_client.get(f"/pbx/redial/phones/{theirs.caller_id}/").status_code == 404


def test_an_admin_sets_limits_and_a_phones_settings(admin_client, rows, customer):
    ours, _ = rows
    response = admin_client.post(
        "/pbx/redial/", {"max_open_per_caller": "2", "max_per_minute": "5"}
    )
    assert response.status_code == 302
    limits = RedialLimits.objects.get(customer=customer)
    assert (limits.max_open_per_caller, limits.max_per_minute) == (2, 5)
    response = admin_client.post(
        f"/pbx/redial/phones/{ours.callee_id}/",
        {"call_waiting": "on", "blacklist": " 101\n\n+79161234567 "},
    )
    assert response.status_code == 302
    settings = SubscriberSettings.objects.get(employee_id=ours.callee_id)
    assert settings.call_waiting and settings.blacklist == "101\n+79161234567"


@pytest.mark.parametrize(
    ("url", "data"),
    [
        ("/pbx/redial/", {"max_open_per_caller": "0", "max_per_minute": "5"}),
        ("/pbx/redial/phones/{id}/", {"blacklist": "${system(id)}"}),
    ],
)
def test_bad_input_is_refused_with_a_message_and_nothing_saved(admin_client, rows, url, data):
    ours, _ = rows
    response = admin_client.post(url.format(id=ours.callee_id), data)
    assert response.status_code == 400 and 'class="error"' in response.content.decode()
    assert not RedialLimits.objects.exists() and not SubscriberSettings.objects.exists()


def test_staff_may_look_but_not_change(client, customer, rows):
    client.force_login(factories.user(customer, role="staff"))
    assert client.get("/pbx/redial/").status_code == 200
    response = client.post("/pbx/redial/", {"max_open_per_caller": "9", "max_per_minute": "9"})
    assert response.status_code == 403 and not RedialLimits.objects.exists()


def test_the_menu_links_here_and_the_page_speaks_english(admin_client, rows):
    assert 'href="/pbx/redial/"' in admin_client.get("/pbx/").content.decode()
    admin_client.cookies["django_language"] = "en"
    html = admin_client.get("/pbx/redial/").content.decode()
    assert "Auto-redial" in html and "Limits" in html and "Автодозвон" not in html
