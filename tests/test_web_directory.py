"""Departments, employees and numbers: forms, services, clear errors, nothing half-saved."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from portal.billing import services as billing_services
from portal.directory.models import Department, Employee, PhoneNumber, PlatformNumber
from portal.events import config_changed
from tests import factories

NOT_OFFERED = "Этого номера нет среди свободных номеров платформы: выберите номер из списка."


@pytest.fixture
def announced():
    """(customer_id, what) of every config change announced after commit."""
    seen: list[tuple[int, str]] = []

    def receiver(sender, customer_id, what, **kwargs):
        seen.append((customer_id, what))

    config_changed.connect(receiver, weak=False)
    yield seen
    config_changed.disconnect(receiver)


def department_data(**overrides):
    data = {
        "name": "Отдел продаж",
        "notify_callback": "on",
        "notify_email": "on",
        "notify_sms": "on",
        "notify_portal": "",
        "notify_webhook": "on",
        "notification_emails": "sales@example.com\n  boss@example.com \n",
        "webhook_url": "https://crm.example.com/hook",
        "queue_announce_interval": "45",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v != ""}


def errors_of(response) -> str:
    assert response.status_code == 400, response.status_code
    return response.content.decode()


def field_errors(response) -> dict[str, str]:
    """{field name: its error text} from the rendered form."""
    html = errors_of(response)
    found = re.findall(r'<ul class="errorlist" id="id_(\w+)_error">(.*?)</ul>', html, re.S)
    return {field: re.sub(r"<[^>]+>", " ", text).strip() for field, text in found}


# --- departments -----------------------------------------------------------------------------


def test_creating_a_department_saves_every_notification_setting(
    admin_client, customer, announced, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("web:department_create"), department_data())
    assert response.status_code == 302 and response["Location"] == reverse("web:departments")
    dept = Department.objects.get(customer=customer)
    assert dept.name == "Отдел продаж"
    assert dept.notify_callback and dept.notify_email and dept.notify_sms and dept.notify_webhook
    assert not dept.notify_portal
    assert dept.notification_emails == "sales@example.com\nboss@example.com"
    assert dept.webhook_url == "https://crm.example.com/hook"
    assert dept.queue_announce_interval == 45
    assert announced == [(customer.pk, "department")]


def test_editing_a_department_can_clear_the_callback_flag(admin_client, customer):
    dept = factories.department(customer, name="Продажи", notify_callback=True)
    form = admin_client.get(reverse("web:department_edit", args=[dept.pk])).content.decode()
    assert 'value="Продажи"' in form
    response = admin_client.post(
        reverse("web:department_edit", args=[dept.pk]),
        department_data(name="Продажи и маркетинг", notify_callback="", notify_webhook=""),
    )
    assert response.status_code == 302
    dept.refresh_from_db()
    assert dept.name == "Продажи и маркетинг" and not dept.notify_callback


def test_a_duplicate_department_name_is_a_form_error(admin_client, customer):
    factories.department(customer, name="Поддержка")
    response = admin_client.post(
        reverse("web:department_create"), department_data(name="Поддержка")
    )
    assert field_errors(response) == {"name": "Отдел с таким названием уже есть."}
    assert Department.objects.filter(customer=customer).count() == 1


def test_department_form_rejects_bad_emails_webhook_and_interval(admin_client, customer):
    errors = field_errors(
        admin_client.post(
            reverse("web:department_create"),
            department_data(
                notification_emails="ok@example.com\nnot an email",
                webhook_url="",
                queue_announce_interval="5",
                name="x" * 121,
            ),
        )
    )
    assert errors == {
        "name": "Убедитесь, что это значение содержит не более 120 символов (сейчас 121).",
        "notification_emails": "Неверный адрес e-mail: not an email",
        "webhook_url": "Укажите адрес вебхука или отключите оповещение.",
        "queue_announce_interval": "Убедитесь, что это значение больше либо равно 10.",
    }
    assert not Department.objects.filter(customer=customer).exists()


# --- employees -------------------------------------------------------------------------------


def test_creating_an_employee_normalises_the_mobile_number(
    admin_client, customer, announced, django_capture_on_commit_callbacks
):
    dept = factories.department(customer)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("web:employee_create"),
            {
                "extension": "105",
                "name": "Иван Петров",
                "department": dept.pk,
                "mobile_number": "8 (912) 345-67-89",
                "caller_id_option": "on",
                "is_active": "on",
            },
        )
    assert response.status_code == 302
    emp = Employee.objects.get(customer=customer)
    assert (emp.extension, emp.name, emp.department, emp.mobile_number, emp.caller_id_option) == (
        "105",
        "Иван Петров",
        dept,
        "+79123456789",
        True,
    )
    assert announced == [(customer.pk, "employee")]


def test_editing_an_employee(admin_client, customer):
    emp = factories.employee(customer, extension="110", name="Старое имя")
    response = admin_client.post(
        reverse("web:employee_edit", args=[emp.pk]),
        {"extension": "111", "name": "Новое имя", "mobile_number": "", "is_active": "on"},
    )
    assert response.status_code == 302
    emp.refresh_from_db()
    assert (emp.extension, emp.name, emp.department, emp.mobile_number) == (
        "111",
        "Новое имя",
        None,
        "",
    )


def test_a_malformed_mobile_number_is_a_form_error(admin_client, customer):
    errors = field_errors(
        admin_client.post(
            reverse("web:employee_create"),
            {"extension": "105", "name": "Иван", "mobile_number": "12-ab"},
        )
    )
    assert errors == {"mobile_number": "«12-ab» не похоже на номер телефона."}
    assert not Employee.objects.filter(customer=customer).exists()


def test_a_duplicate_extension_is_a_form_error(admin_client, customer):
    factories.employee(customer, extension="105", name="Первый")
    response = admin_client.post(
        reverse("web:employee_create"), {"extension": "105", "name": "Второй"}
    )
    assert field_errors(response) == {"extension": "Внутренний номер 105 уже занят."}
    assert list(Employee.objects.filter(customer=customer).values_list("name", flat=True)) == [
        "Первый"
    ]


def test_the_same_extension_is_fine_at_another_customer(admin_client, customer, other_customer):
    factories.employee(other_customer, extension="105")
    response = admin_client.post(
        reverse("web:employee_create"), {"extension": "105", "name": "Свой"}
    )
    assert response.status_code == 302


def test_a_bad_extension_and_a_too_long_name_are_form_errors(admin_client, customer):
    errors = field_errors(
        admin_client.post(reverse("web:employee_create"), {"extension": "0123", "name": "x" * 121})
    )
    assert errors == {
        "extension": "Внутренний номер: от 2 до 6 цифр, не начинается с 0.",
        "name": "Убедитесь, что это значение содержит не более 120 символов (сейчас 121).",
    }
    assert not Employee.objects.exists()


def test_another_customers_department_is_not_offered_and_not_accepted(
    admin_client, customer, other_customer
):
    foreign = factories.department(other_customer, name="Чужой отдел")
    own = factories.department(customer, name="Свой отдел")
    form = admin_client.get(reverse("web:employee_create")).content.decode()
    assert "Свой отдел" in form and "Чужой отдел" not in form
    html = errors_of(
        admin_client.post(
            reverse("web:employee_create"),
            {"extension": "105", "name": "Иван", "department": foreign.pk},
        )
    )
    assert "Выберите один из ваших отделов." in html
    html = errors_of(
        admin_client.post(
            reverse("web:number_create"),
            {"e164": "+74951234567", "kind": "regular", "department": foreign.pk},
        )
    )
    assert "Выберите один из ваших отделов." in html
    assert not Employee.objects.exists() and not PhoneNumber.objects.exists()
    assert own.employees.count() == 0


# --- numbers ---------------------------------------------------------------------------------


def test_creating_a_number_picks_one_of_the_platforms_free_numbers(
    admin_client, customer, announced, django_capture_on_commit_callbacks
):
    dept = factories.department(customer)
    factories.platform_numbers("+74951234567")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("web:number_create"),
            {"e164": "+74951234567", "kind": "multichannel", "department": dept.pk},
        )
    assert response.status_code == 302
    num = PhoneNumber.objects.get(customer=customer)
    assert (num.e164, num.kind, num.department) == ("+74951234567", "multichannel", dept)
    assert announced == [(customer.pk, "number")]


def test_the_new_number_form_offers_only_free_platform_numbers(
    admin_client, customer, other_customer
):
    factories.platform_numbers("+74951234567", "+74951234568", "+74951234569")
    factories.number(other_customer, "+74951234568")
    PlatformNumber.objects.filter(e164="+74951234569").update(is_available=False)
    html = admin_client.get(reverse("web:number_create")).content.decode()
    assert 'value="+74951234567"' in html
    assert "+74951234568" not in html and "+74951234569" not in html


def test_editing_a_number(admin_client, customer):
    num = factories.number(customer, "+74951234567")
    dept = factories.department(customer)
    response = admin_client.post(
        reverse("web:number_edit", args=[num.pk]),
        {"e164": "+74951234567", "kind": "multichannel", "department": dept.pk, "label": "Офис"},
    )
    assert response.status_code == 302
    num.refresh_from_db()
    assert (num.kind, num.department, num.label) == ("multichannel", dept, "Офис")


@pytest.mark.parametrize(
    "typed", ["+74950000009", "8 495 123-45-67", "12345", "not a number", "+74951234568"]
)
def test_a_number_not_offered_is_a_form_error_that_never_says_who_has_it(
    admin_client, customer, other_customer, typed
):
    factories.platform_numbers("+74951234567", "+74951234568")
    factories.number(other_customer, "+74951234568")
    response = admin_client.post(reverse("web:number_create"), {"e164": typed, "kind": "regular"})
    assert field_errors(response) == {"e164": NOT_OFFERED}
    assert other_customer.name not in response.content.decode()
    assert not PhoneNumber.objects.filter(customer=customer).exists()


def test_a_number_already_connected_here_is_a_form_error(admin_client, customer):
    factories.platform_numbers("+74951234567")
    factories.number(customer, "+74951234567")
    response = admin_client.post(
        reverse("web:number_create"), {"e164": "+74951234567", "kind": "regular"}
    )
    assert field_errors(response) == {"e164": NOT_OFFERED}
    assert PhoneNumber.objects.count() == 1


def test_editing_a_number_into_a_taken_one_changes_nothing(admin_client, customer):
    factories.platform_numbers("+74951234567", "+74957654321")
    mine = factories.number(customer, "+74951234567")
    factories.number(customer, "+74957654321")
    html = errors_of(
        admin_client.post(
            reverse("web:number_edit", args=[mine.pk]),
            {"e164": "+74957654321", "kind": "multichannel", "label": "x"},
        )
    )
    assert NOT_OFFERED in html
    mine.refresh_from_db()
    assert (mine.e164, mine.kind, mine.label) == ("+74951234567", "regular", "")


# --- list pages ------------------------------------------------------------------------------


def test_departments_page_lists_departments_with_their_employees_and_numbers(
    admin_client, customer
):
    dept = factories.department(customer, name="Продажи", notify_callback=True)
    factories.employee(customer, dept, extension="101", name="Анна")
    factories.number(customer, "+74951234567", department=dept)
    factories.employee(customer, None, extension="102", name="Без отдела Борис")
    html = admin_client.get(reverse("web:departments")).content.decode()
    assert "Продажи" in html and "Анна" in html and "+74951234567" in html
    assert "Оповещает об обратном вызове" in html
    assert "Без отдела Борис" in html


def test_departments_page_warns_while_callback_is_on_and_no_department_is_flagged(
    admin_client, customer
):
    dept = factories.department(customer, notify_callback=False)
    url = reverse("web:departments")
    assert 'data-warning="callback"' not in admin_client.get(url).content.decode()
    billing_services.option_set(customer=customer, code="callback", enabled=True)
    assert 'data-warning="callback"' in admin_client.get(url).content.decode()
    Department.objects.filter(pk=dept.pk).update(notify_callback=True)
    assert 'data-warning="callback"' not in admin_client.get(url).content.decode()
