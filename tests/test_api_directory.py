"""Departments, employees and numbers through the API: writes, validation, FreeSWITCH events."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from portal.directory.models import Department, Employee, PhoneNumber
from portal.events import config_changed
from portal.tenants.models import ApiToken
from tests import factories

NOT_OFFERED = "Этого номера нет среди свободных номеров платформы: выберите номер из списка."


@pytest.fixture
def api(customer, django_capture_on_commit_callbacks):
    """A token client whose every request commits, as in production (on_commit runs)."""

    class CommittingClient(APIClient):
        def request(self, *args, **kwargs):
            with django_capture_on_commit_callbacks(execute=True):
                return super().request(*args, **kwargs)

    _token, key = ApiToken.issue(customer=customer, name="mine")
    client = CommittingClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def announced():
    """Config-change events sent to FreeSWITCH (after commit) during the test."""
    seen: list[tuple[int, str]] = []

    def receiver(sender, customer_id, what, **kwargs):
        seen.append((customer_id, what))

    config_changed.connect(receiver, weak=False)
    yield seen
    config_changed.disconnect(receiver)


# --- departments -----------------------------------------------------------------------------


def test_a_department_is_created_read_updated_and_deleted(api, customer, announced):
    created = api.post(
        "/api/v1/departments/",
        {"name": " Продажи ", "notify_callback": True, "queue_announce_interval": 45},
        format="json",
    )
    assert created.status_code == 201, created.json()
    dept_id = created.json()["id"]
    assert created.json()["name"] == "Продажи"
    assert api.get(f"/api/v1/departments/{dept_id}/").json()["notify_callback"] is True

    updated = api.patch(f"/api/v1/departments/{dept_id}/", {"name": "Сбыт"}, format="json")
    assert updated.status_code == 200
    assert Department.objects.get(pk=dept_id).name == "Сбыт"

    assert api.delete(f"/api/v1/departments/{dept_id}/").status_code == 204
    assert not Department.objects.filter(pk=dept_id).exists()
    assert announced == [(customer.pk, "department")] * 3


def test_department_names_are_unique_within_a_customer(api, customer, announced):
    factories.department(customer, name="Продажи")
    response = api.post("/api/v1/departments/", {"name": "Продажи"}, format="json")
    assert response.status_code == 400
    assert response.json()["name"] == ["Отдел с таким названием уже есть."]
    assert Department.objects.count() == 1
    assert announced == []


@pytest.mark.parametrize(
    "body,field",
    [
        ({"name": "А", "queue_announce_interval": -5}, "queue_announce_interval"),
        ({"name": "А", "queue_announce_interval": 5}, "queue_announce_interval"),
        ({"name": "А", "queue_announce_interval": 601}, "queue_announce_interval"),
        ({"name": "А", "queue_announce_interval": "often"}, "queue_announce_interval"),
        ({"name": "   "}, "name"),
        ({}, "name"),
        (
            {"name": "А", "notification_emails": "a@example.com\nnot-an-email"},
            "notification_emails",
        ),
        ({"name": "А", "webhook_url": "javascript:alert(1)"}, "webhook_url"),
        ({"name": "А", "notify_webhook": True}, "webhook_url"),
        ({"name": "А", "notify_sms": "maybe"}, "notify_sms"),
    ],
)
def test_invalid_department_input_is_a_400_with_a_message_and_saves_nothing(
    api, announced, body, field
):
    response = api.post("/api/v1/departments/", body, format="json")
    assert response.status_code == 400
    assert response.json()[field][0]
    assert Department.objects.count() == 0
    assert announced == []


def test_notification_emails_are_stored_one_per_line(api):
    response = api.post(
        "/api/v1/departments/",
        {"name": "А", "notification_emails": " a@example.com \n\n b@example.com "},
        format="json",
    )
    assert response.json()["notification_emails"] == "a@example.com\nb@example.com"


def test_the_webhook_secret_is_not_exposed(api, customer):
    dept = factories.department(customer)
    assert "webhook_secret" not in api.get(f"/api/v1/departments/{dept.pk}/").json()


# --- employees -------------------------------------------------------------------------------


def test_an_employees_sip_password_is_shown_only_in_the_create_response(api, customer, announced):
    dept = factories.department(customer)
    created = api.post(
        "/api/v1/employees/",
        {
            "name": "Иван",
            "extension": "201",
            "department": dept.pk,
            "mobile_number": "8 916 123-45-67",
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    employee = Employee.objects.get(pk=body["id"])
    assert body["sip_password"] == employee.sip_password and len(employee.sip_password) >= 12
    assert body["mobile_number"] == "+79161234567"
    assert body["department"] == dept.pk

    assert "sip_password" not in api.get(f"/api/v1/employees/{employee.pk}/").json()
    assert "sip_password" not in api.get("/api/v1/employees/").json()["results"][0]
    patched = api.patch(f"/api/v1/employees/{employee.pk}/", {"name": "Иван П."}, format="json")
    assert "sip_password" not in patched.json()
    assert announced == [(customer.pk, "employee")] * 2


def test_an_employees_sip_password_can_be_set_but_not_read_back(api, customer):
    employee = factories.employee(customer)
    response = api.patch(
        f"/api/v1/employees/{employee.pk}/", {"sip_password": "S3cret-pass-word!"}, format="json"
    )
    assert response.status_code == 200
    assert "sip_password" not in response.json()
    employee.refresh_from_db()
    assert employee.sip_password == "S3cret-pass-word!"


@pytest.mark.parametrize(
    "password",
    [
        "${hostname}-abcdef",
        "$${domain}-abcdefgh",
        'pass"word-1234567',
        "pass<word>-1234567",
        "pass&word-1234567",
        "X-PRE-PROCESS-1234",
    ],
)
def test_a_sip_password_freeswitch_would_expand_is_a_400_and_the_phone_stays_registered(
    api, customer, password
):
    """`${hostname}-abcdef` used to be accepted, and then the directory renderer refused it and
    silently dropped the employee (their phone could no longer register)."""
    employee = factories.employee(customer)
    before = employee.sip_password
    response = api.patch(
        f"/api/v1/employees/{employee.pk}/", {"sip_password": password}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["sip_password"][0].startswith("Пароль SIP")
    employee.refresh_from_db()
    assert employee.sip_password == before
    created = api.post(
        "/api/v1/employees/",
        {"name": "Иван", "extension": "301", "sip_password": password},
        format="json",
    )
    assert created.status_code == 400


@pytest.mark.parametrize(
    "body,field",
    [
        ({"name": "И", "extension": "0123"}, "extension"),
        ({"name": "И", "extension": "1"}, "extension"),
        ({"name": "И", "extension": "-12"}, "extension"),
        ({"name": "И", "extension": "12a"}, "extension"),
        ({"name": "И", "extension": "1234567"}, "extension"),
        ({"name": "", "extension": "300"}, "name"),
        ({"name": "И", "extension": "300", "mobile_number": "12345"}, "mobile_number"),
        ({"name": "И", "extension": "300", "mobile_number": "call me"}, "mobile_number"),
        ({"name": "И", "extension": "300", "sip_password": "short"}, "sip_password"),
        ({"name": "И", "extension": "300", "sip_password": "has spaces in it"}, "sip_password"),
        ({"name": "И", "extension": "300", "department": 999999}, "department"),
        ({"name": "И", "extension": "300", "department": "sales"}, "department"),
        ({"name": "И", "extension": "300", "is_active": "perhaps"}, "is_active"),
    ],
)
def test_invalid_employee_input_is_a_400_with_a_message_and_saves_nothing(
    api, announced, body, field
):
    response = api.post("/api/v1/employees/", body, format="json")
    assert response.status_code == 400
    assert response.json()[field][0]
    assert Employee.objects.count() == 0
    assert announced == []


def test_an_extension_is_unique_within_a_customer(api, customer, other_customer, announced):
    factories.employee(customer, extension="200")
    factories.employee(other_customer, extension="201")
    taken = api.post("/api/v1/employees/", {"name": "И", "extension": "200"}, format="json")
    assert taken.status_code == 400
    assert taken.json()["extension"] == ["Внутренний номер 200 уже занят."]
    assert Employee.objects.filter(customer=customer).count() == 1
    assert announced == []
    free = api.post("/api/v1/employees/", {"name": "И", "extension": "201"}, format="json")
    assert free.status_code == 201


# --- numbers ---------------------------------------------------------------------------------


def test_a_number_is_stored_in_e164_whatever_the_spelling(api, customer, announced):
    dept = factories.department(customer)
    factories.platform_numbers("+74951234567")
    response = api.post(
        "/api/v1/numbers/",
        {"e164": "8 (495) 123-45-67", "kind": "multichannel", "department": dept.pk},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["e164"] == "+74951234567"
    number = PhoneNumber.objects.get(customer=customer)
    assert (number.e164, number.kind, number.department) == ("+74951234567", "multichannel", dept)
    assert announced == [(customer.pk, "number")]


def test_a_number_can_be_renumbered_relabelled_and_removed(api, customer, announced):
    number = factories.number(customer, e164="+74951234567")
    factories.platform_numbers("+74951234567", "+74951234568")
    response = api.put(
        f"/api/v1/numbers/{number.pk}/",
        {"e164": "+74951234568", "kind": "regular", "label": "Офис"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    number.refresh_from_db()
    assert (number.e164, number.label) == ("+74951234568", "Офис")
    # Saving a number under its own value is not a duplicate.
    assert api.patch(f"/api/v1/numbers/{number.pk}/", {"e164": "+74951234568"}).status_code == 200
    assert api.delete(f"/api/v1/numbers/{number.pk}/").status_code == 204
    assert not PhoneNumber.objects.exists()
    assert announced == [(customer.pk, "number")] * 3


@pytest.mark.parametrize(
    "value",
    ["", "abc", "+7 495", "12345", "+999 123 456 789", "+7 495 123 45 67 89 00", "1" * 40],
)
def test_a_malformed_phone_number_is_a_400_with_a_message_and_saves_nothing(api, announced, value):
    response = api.post("/api/v1/numbers/", {"e164": value}, format="json")
    assert response.status_code == 400
    assert response.json()["e164"][0]
    assert not PhoneNumber.objects.exists()
    assert announced == []


def test_a_number_already_used_by_any_customer_is_a_400(api, customer, other_customer, announced):
    factories.platform_numbers("+74951234567")
    factories.number(other_customer, e164="+74951234567")
    response = api.post("/api/v1/numbers/", {"e164": "8 495 123 45 67"}, format="json")
    assert response.status_code == 400
    message = response.json()["e164"][0]
    assert message == NOT_OFFERED
    assert other_customer.name not in response.content.decode()
    assert PhoneNumber.objects.count() == 1
    assert announced == []


def test_changing_a_number_to_one_already_in_use_is_a_400_and_keeps_the_old_one(
    api, customer, announced
):
    factories.platform_numbers("+74951234567", "+74951234568")
    factories.number(customer, e164="+74951234567")
    mine = factories.number(customer, e164="+74951234568")
    response = api.patch(f"/api/v1/numbers/{mine.pk}/", {"e164": "+74951234567"}, format="json")
    assert response.status_code == 400
    assert response.json()["e164"] == [NOT_OFFERED]
    mine.refresh_from_db()
    assert mine.e164 == "+74951234568"
    assert announced == []


def test_an_unknown_number_kind_is_a_400(api, announced):
    response = api.post("/api/v1/numbers/", {"e164": "+74951234567", "kind": "vip"}, format="json")
    assert response.status_code == 400
    assert response.json()["kind"][0]
    assert not PhoneNumber.objects.exists()
    assert announced == []


def test_a_non_numeric_id_is_a_404(api):
    assert api.get("/api/v1/numbers/abc/").status_code == 404
    assert api.get("/api/v1/numbers/-1/").status_code == 404


# --- one write path: the API and the portal pages say the same ---------------------------------


def test_the_api_and_the_portal_reject_a_taken_number_with_the_same_message(
    api, customer, admin_client
):
    factories.platform_numbers("+74951234567")
    factories.number(customer, e164="+74951234567")
    from_api = api.post("/api/v1/numbers/", {"e164": "+74951234567"}, format="json")
    from_page = admin_client.post(
        reverse("web:number_create"), {"e164": "+74951234567", "kind": "regular"}
    )
    assert from_api.json()["e164"] == [NOT_OFFERED]
    assert NOT_OFFERED in from_page.content.decode()


@pytest.mark.parametrize(
    "body,field,message",
    [
        (
            {"name": "А", "notification_emails": "a@example.com\nnot-an-email"},
            "notification_emails",
            "Неверный адрес e-mail: not-an-email",
        ),
        (
            {"name": "А", "notify_webhook": True},
            "webhook_url",
            "Укажите адрес вебхука или отключите оповещение.",
        ),
    ],
)
def test_department_field_rules_speak_the_portals_words(api, announced, body, field, message):
    response = api.post("/api/v1/departments/", body, format="json")
    assert response.status_code == 400
    assert response.json()[field] == [message]
    assert not Department.objects.exists()
    assert announced == []


def test_turning_on_webhooks_for_a_department_without_an_address_is_a_400(api, customer):
    dept = factories.department(customer)
    response = api.patch(f"/api/v1/departments/{dept.pk}/", {"notify_webhook": True})
    assert response.status_code == 400
    assert response.json()["webhook_url"]
    dept.refresh_from_db()
    assert not dept.notify_webhook


def test_a_department_that_does_not_exist_and_another_customers_read_alike(
    api, customer, other_customer, announced
):
    theirs = factories.department(other_customer, name="Их отдел")
    bodies = [{"name": "И", "extension": "301", "department": pk} for pk in (theirs.pk, 999999)]
    first, second = (api.post("/api/v1/employees/", body, format="json") for body in bodies)
    assert first.status_code == second.status_code == 400
    assert first.json() == second.json() == {"department": ["Такого отдела нет."]}
    assert not Employee.objects.exists()
    assert announced == []


def test_a_patch_changes_only_the_fields_it_names(api, customer):
    dept = factories.department(customer)
    employee = factories.employee(
        customer, dept, extension="150", mobile_number="+79161234567", caller_id_option=True
    )
    password = employee.sip_password
    response = api.patch(f"/api/v1/employees/{employee.pk}/", {"name": "Пётр"}, format="json")
    assert response.status_code == 200, response.json()
    employee.refresh_from_db()
    assert (employee.name, employee.extension, employee.department) == ("Пётр", "150", dept)
    assert (employee.mobile_number, employee.caller_id_option) == ("+79161234567", True)
    assert employee.sip_password == password


def test_an_employee_can_be_moved_out_of_a_department(api, customer):
    employee = factories.employee(customer, factories.department(customer))
    response = api.patch(f"/api/v1/employees/{employee.pk}/", {"department": None}, format="json")
    assert response.status_code == 200
    assert response.json()["department"] is None
    employee.refresh_from_db()
    assert employee.department is None


def test_deleting_a_department_keeps_its_employees_and_numbers(api, customer, announced):
    dept = factories.department(customer)
    employee = factories.employee(customer, dept)
    number = factories.number(customer, department=dept)
    assert api.delete(f"/api/v1/departments/{dept.pk}/").status_code == 204
    employee.refresh_from_db()
    number.refresh_from_db()
    assert employee.department is None and number.department is None
    assert announced == [(customer.pk, "department")]


def test_an_employee_is_deleted_and_freeswitch_is_told(api, customer, announced):
    employee = factories.employee(customer)
    assert api.delete(f"/api/v1/employees/{employee.pk}/").status_code == 204
    assert not Employee.objects.exists()
    assert announced == [(customer.pk, "employee")]


def test_a_mobile_number_may_be_typed_as_people_write_it(api):
    response = api.post(
        "/api/v1/employees/",
        {"name": "И", "extension": "301", "mobile_number": "+7 (916) 123-45-67"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["mobile_number"] == "+79161234567"
