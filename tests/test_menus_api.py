"""The menus API (/api/v1/menus/, /schedules/, /menu-routes/): the same services as the
portal, tenant-scoped (another customer's id, as an object or in a destination, is a 404),
read-only for staff, and in the OpenAPI schema."""

from __future__ import annotations

import pytest

from portal.menus import services
from portal.menus.models import Menu, NumberRoute
from portal.tenants.models import User
from tests import factories

pytestmark = pytest.mark.django_db


def post(client, url, body):
    return client.post(url, body, content_type="application/json")


def put(client, url, body):
    return client.put(url, body, content_type="application/json")


def test_a_menu_with_keys_is_created_read_and_replaced(admin_client, customer):
    sales = factories.department(customer, "Продажи")
    r = post(
        admin_client,
        "/api/v1/menus/",
        {
            "name": "Главное",
            "max_retries": 1,
            "options": [
                {"key": "1", "target": f"dept:{sales.pk}", "label": "Продажи"},
                {"key": "#", "target": "number:+74951234567"},
            ],
        },
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert [o["key"] for o in body["options"]] == ["#", "1"]
    assert {"code": "missing_greeting", "key": None, "target": ""} in body["problems"]
    menu_id = body["id"]
    r = put(admin_client, f"/api/v1/menus/{menu_id}/", {"name": "Главное", "options": []})
    assert r.status_code == 200 and r.json()["options"] == []
    listed = admin_client.get("/api/v1/menus/").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [m["name"] for m in rows] == ["Главное"]


def test_another_customers_menu_or_destination_is_a_404(admin_client, customer, other_customer):
    theirs = services.menu_save(customer=other_customer, name="Чужое")
    their_dept = factories.department(other_customer, "Чужой")
    assert admin_client.get(f"/api/v1/menus/{theirs.pk}/").status_code == 404
    assert put(admin_client, f"/api/v1/menus/{theirs.pk}/", {"name": "x"}).status_code == 404
    assert admin_client.delete(f"/api/v1/menus/{theirs.pk}/").status_code == 404
    r = post(
        admin_client,
        "/api/v1/menus/",
        {"name": "Наше", "options": [{"key": "1", "target": f"dept:{their_dept.pk}"}]},
    )
    assert r.status_code == 404
    assert not Menu.objects.filter(customer=customer).exists()  # nothing half-saved


def test_bad_destinations_are_400(admin_client):
    for target in ("dept:abc", "number:12345", "repeat ", "${x}"):
        r = post(admin_client, "/api/v1/menus/", {"name": "М", "default_target": target})
        assert r.status_code == 400, target


def test_schedules_and_number_routes(admin_client, customer, other_customer):
    r = post(
        admin_client,
        "/api/v1/schedules/",
        {
            "name": "Будни",
            "time_zone": "Europe/Moscow",
            "spans": [{"weekday": d, "opens": "09:00", "closes": "18:00"} for d in range(5)],
            "exceptions": [{"date": "2027-01-01", "note": "Новый год"}],
        },
    )
    assert r.status_code == 201, r.content
    schedule = r.json()
    assert len(schedule["spans"]) == 5 and schedule["exceptions"][0]["opens"] is None
    bad = post(admin_client, "/api/v1/schedules/", {"name": "X", "time_zone": "Mars/Base"})
    assert bad.status_code == 400
    menu = services.menu_save(customer=customer, name="Главное")
    number = factories.number(customer, "+74950001122", kind="multichannel")
    r = post(
        admin_client,
        "/api/v1/menu-routes/",
        {
            "number": number.pk,
            "target": f"menu:{menu.pk}",
            "schedule": schedule["id"],
            "closed_target": "hangup",
        },
    )
    assert r.status_code == 201, r.content
    assert r.json()["e164"] == "+74950001122"
    their_number = factories.number(other_customer, "+74950003344")
    r = post(admin_client, "/api/v1/menu-routes/", {"number": their_number.pk, "target": "hangup"})
    assert r.status_code == 404
    their_schedule = services.schedule_save(customer=other_customer, name="Их", time_zone="UTC")
    r = post(
        admin_client,
        "/api/v1/menu-routes/",
        {"number": number.pk, "target": "hangup", "schedule": their_schedule.pk},
    )
    assert r.status_code == 404
    assert NumberRoute.objects.get(number=number).target == f"menu:{menu.pk}"
    # in use: the schedule cannot go
    assert admin_client.delete(f"/api/v1/schedules/{schedule['id']}/").status_code == 400


def test_staff_read_but_do_not_write(client, customer):
    services.menu_save(customer=customer, name="Главное")
    client.force_login(factories.user(customer, role=User.Role.DEPARTMENT_STAFF))
    assert client.get("/api/v1/menus/").status_code == 200
    assert post(client, "/api/v1/menus/", {"name": "x"}).status_code == 403


def test_the_schema_describes_the_menu_endpoints(admin_client):
    schema = admin_client.get("/api/v1/schema/").content.decode()
    for path in ("/api/v1/menus/", "/api/v1/schedules/", "/api/v1/menu-routes/"):
        assert path in schema
