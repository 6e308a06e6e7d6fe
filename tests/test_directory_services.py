"""Directory services directly: the one write path of the portal pages and the API."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from portal.directory import services
from portal.directory.models import Department, Employee, PhoneNumber, PlatformNumber
from portal.events import config_changed
from tests import factories

NOT_OFFERED = "Этого номера нет среди свободных номеров платформы: выберите номер из списка."


@pytest.fixture
def announced(monkeypatch) -> list[tuple[int, str]]:
    """(customer_id, what) of each config change sent to FreeSWITCH (sent only on commit)."""
    sent: list[tuple[int, str]] = []
    monkeypatch.setattr(
        config_changed, "send", lambda sender, **kw: sent.append((kw["customer_id"], kw["what"]))
    )
    return sent


@pytest.fixture
def committing(django_capture_on_commit_callbacks):
    """Run the block and then its on-commit callbacks, as a committed request would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


# --- the announcement follows the commit -----------------------------------------------------


def test_a_write_is_announced_only_when_its_transaction_commits(
    customer, announced, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        services.department_create(customer=customer, name="Продажи")
        assert announced == []
    for callback in callbacks:
        callback()
    assert announced == [(customer.pk, "department")]


def test_a_write_rolled_back_by_the_caller_announces_nothing(customer, announced, committing):
    factories.platform_numbers("+74951234567")
    with committing():
        with pytest.raises(RuntimeError), transaction.atomic():
            services.number_create(customer=customer, e164="+74951234567")
            raise RuntimeError("caller fails after the service")
    assert not PhoneNumber.objects.exists()
    assert announced == []


# --- departments -----------------------------------------------------------------------------


def test_a_department_is_created_updated_and_deleted_each_time_announced(
    customer, announced, committing
):
    with committing():
        dept = services.department_create(
            customer=customer,
            name="  Продажи ",
            notification_emails=" a@example.com \n\n b@example.com ",
        )
    assert (dept.name, dept.notification_emails) == ("Продажи", "a@example.com\nb@example.com")
    with committing():
        services.department_update(customer=customer, department_id=dept.pk, notify_sms=True)
    dept.refresh_from_db()
    assert dept.notify_sms and dept.name == "Продажи"
    with committing():
        services.department_delete(customer=customer, department_id=dept.pk)
    assert not Department.objects.exists()
    assert announced == [(customer.pk, "department")] * 3


def test_deleting_a_department_leaves_its_employees_and_numbers_without_one(customer, committing):
    dept = factories.department(customer)
    emp = factories.employee(customer, dept)
    num = factories.number(customer, department=dept)
    with committing():
        services.department_delete(customer=customer, department_id=dept.pk)
    emp.refresh_from_db()
    num.refresh_from_db()
    assert emp.department is None and num.department is None


def test_department_rules_are_reported_together_and_nothing_is_saved(
    customer, announced, committing
):
    factories.department(customer, name="Продажи")
    with committing(), pytest.raises(ValidationError) as err:
        services.department_create(
            customer=customer,
            name="Продажи",
            notify_webhook=True,
            notification_emails="ok@example.com\nnope",
            queue_announce_interval=5,
        )
    assert err.value.message_dict == {
        "name": ["Отдел с таким названием уже есть."],
        "webhook_url": ["Укажите адрес вебхука или отключите оповещение."],
        "notification_emails": ["Неверный адрес e-mail: nope"],
        "queue_announce_interval": ["Убедитесь, что это значение больше либо равно 10."],
    }
    assert Department.objects.count() == 1
    assert announced == []


def test_a_partial_update_checks_the_row_as_it_would_be_saved(customer):
    dept = factories.department(customer, webhook_url="")
    with pytest.raises(ValidationError) as err:
        services.department_update(customer=customer, department_id=dept.pk, notify_webhook=True)
    assert list(err.value.message_dict) == ["webhook_url"]
    dept.refresh_from_db()
    assert not dept.notify_webhook


def test_an_unknown_field_is_a_programming_error(customer):
    with pytest.raises(TypeError):
        services.department_create(customer=customer, name="А", webhook_secret="x")
    with pytest.raises(TypeError):
        services.employee_create(customer=customer, extension="101", name="И", customer_id=2)
    with pytest.raises(TypeError):
        services.number_create(customer=customer, e164="+74951234567", e_164="x")


# --- employees -------------------------------------------------------------------------------


def test_an_employee_is_created_with_a_generated_sip_password_updated_and_deleted(
    customer, announced, committing
):
    dept = factories.department(customer)
    with committing():
        emp = services.employee_create(
            customer=customer,
            extension=" 105 ",
            name="Иван",
            department=dept.pk,
            mobile_number="8 (912) 345-67-89",
        )
    assert (emp.extension, emp.department, emp.mobile_number) == ("105", dept, "+79123456789")
    assert len(emp.sip_password) >= 12
    with committing():
        services.employee_update(
            customer=customer, employee_id=emp.pk, sip_password="S3cret-pass-word!"
        )
    emp.refresh_from_db()
    assert emp.sip_password == "S3cret-pass-word!"
    assert (emp.name, emp.department, emp.mobile_number) == ("Иван", dept, "+79123456789")
    with committing():
        services.employee_delete(customer=customer, employee_id=emp.pk)
    assert not Employee.objects.exists()
    assert announced == [(customer.pk, "employee")] * 3


def test_employee_rules_are_reported_together_and_nothing_is_saved(
    customer, other_customer, announced, committing
):
    factories.employee(customer, extension="105")
    foreign = factories.department(other_customer)
    with committing(), pytest.raises(ValidationError) as err:
        services.employee_create(
            customer=customer,
            extension="105",
            name="Иван",
            department=foreign,
            mobile_number="12-ab",
            sip_password="short",
        )
    assert err.value.message_dict == {
        "extension": ["Внутренний номер 105 уже занят."],
        "department": ["Такого отдела нет."],
        "mobile_number": ["«12-ab» не похоже на номер телефона."],
        "sip_password": ["Пароль SIP: от 12 до 64 печатных символов ASCII, без пробелов."],
    }
    assert Employee.objects.count() == 1
    assert announced == []


def test_an_extension_taken_at_another_customer_is_free(customer, other_customer):
    factories.employee(other_customer, extension="105")
    assert services.employee_create(customer=customer, extension="105", name="Свой").pk


# --- numbers ---------------------------------------------------------------------------------


def test_a_number_is_stored_as_e164_updated_and_deleted(customer, announced, committing):
    factories.platform_numbers("+74951234567")
    with committing():
        num = services.number_create(customer=customer, e164="8 495 123-45-67")
    assert (num.e164, num.kind) == ("+74951234567", PhoneNumber.Kind.REGULAR)
    with committing():
        services.number_update(customer=customer, number_id=num.pk, label=" Офис ")
    num.refresh_from_db()
    assert (num.e164, num.label) == ("+74951234567", "Офис")
    with committing():
        services.number_delete(customer=customer, number_id=num.pk)
    assert not PhoneNumber.objects.exists()
    assert announced == [(customer.pk, "number")] * 3


def test_a_number_held_by_any_customer_is_taken_without_saying_by_whom(
    customer, other_customer, announced, committing
):
    factories.platform_numbers("+74951234567")
    factories.number(other_customer, "+74951234567")
    with committing(), pytest.raises(ValidationError) as err:
        services.number_create(customer=customer, e164="+7 495 123 45 67")
    assert err.value.message_dict == {"e164": [NOT_OFFERED]}
    assert announced == []


def test_a_number_the_platform_does_not_own_cannot_be_claimed_and_says_the_same(
    customer, announced, committing
):
    """Free-typed numbers were first come, first served: +74950000009 -> 201, then used as
    caller ID. Now only the platform's own free numbers can be picked, and the refusal is the
    same whether the number is unknown, held back or another customer's."""
    factories.platform_numbers("+74950000001")
    PlatformNumber.objects.create(e164="+74950000002", is_available=False)
    for e164 in ("+74950000009", "+74950000002"):
        with committing(), pytest.raises(ValidationError) as err:
            services.number_create(customer=customer, e164=e164)
        assert err.value.message_dict == {"e164": [NOT_OFFERED]}
    assert not PhoneNumber.objects.exists()
    assert announced == []
    services.number_create(customer=customer, e164="+74950000001")
    assert list(services.free_platform_numbers()) == []


def test_renumbering_needs_a_free_platform_number_too(customer):
    num = factories.number(customer, "+74951234567")
    with pytest.raises(ValidationError) as err:
        services.number_update(customer=customer, number_id=num.pk, e164="+74950000009")
    assert err.value.message_dict == {"e164": [NOT_OFFERED]}
    factories.platform_numbers("+74950000009")
    services.number_update(customer=customer, number_id=num.pk, e164="+74950000009")
    num.refresh_from_db()
    assert num.e164 == "+74950000009"


def test_the_platform_adds_numbers_once_and_removes_only_free_ones(customer):
    added = services.platform_number_add(e164="8 495 000-00-01", note="контракт 17")
    assert added.e164 == "+74950000001"
    with pytest.raises(ValidationError):
        services.platform_number_add(e164="+74950000001")
    services.number_create(customer=customer, e164="+74950000001")
    with pytest.raises(ValidationError):
        services.platform_number_remove(e164="+74950000001")
    services.number_delete(customer=customer, number_id=PhoneNumber.objects.get().pk)
    services.platform_number_remove(e164="+74950000001")
    assert not PlatformNumber.objects.exists()


def test_a_number_keeps_its_own_value_on_update(customer):
    num = factories.number(customer, "+74951234567")
    services.number_update(customer=customer, number_id=num.pk, e164="84951234567")
    num.refresh_from_db()
    assert num.e164 == "+74951234567"


def test_number_rules_are_reported_together(customer, other_customer):
    foreign = factories.department(other_customer)
    with pytest.raises(ValidationError) as err:
        services.number_create(customer=customer, e164="abc", kind="vip", department=foreign.pk)
    assert set(err.value.message_dict) == {"e164", "kind", "department"}
    assert not PhoneNumber.objects.exists()


# --- tenants ---------------------------------------------------------------------------------


def test_services_refuse_another_customers_department_and_announce_nothing(
    customer, other_customer, announced, committing
):
    foreign = factories.department(other_customer)
    with committing():
        with pytest.raises(ValidationError) as err:
            services.number_create(customer=customer, e164="+74951234567", department=foreign)
        assert "department" in err.value.message_dict
        with pytest.raises(ValidationError):
            services.employee_create(
                customer=customer, extension="105", name="Иван", department=foreign.pk
            )
    assert not PhoneNumber.objects.exists() and not Employee.objects.exists()
    assert announced == []


@pytest.mark.parametrize(
    "make,call",
    [
        (
            lambda c: factories.department(c, name="Чужой"),
            lambda me, pk: services.department_update(customer=me, department_id=pk, name="Мой"),
        ),
        (
            lambda c: factories.department(c, name="Чужой"),
            lambda me, pk: services.department_delete(customer=me, department_id=pk),
        ),
        (
            lambda c: factories.employee(c, name="Чужой"),
            lambda me, pk: services.employee_update(customer=me, employee_id=pk, name="Мой"),
        ),
        (
            lambda c: factories.employee(c, name="Чужой"),
            lambda me, pk: services.employee_delete(customer=me, employee_id=pk),
        ),
        (
            lambda c: factories.number(c, label="Чужой"),
            lambda me, pk: services.number_update(customer=me, number_id=pk, label="Мой"),
        ),
        (
            lambda c: factories.number(c, label="Чужой"),
            lambda me, pk: services.number_delete(customer=me, number_id=pk),
        ),
    ],
)
def test_another_customers_row_is_not_found_and_stays_untouched(
    customer, other_customer, announced, committing, make, call
):
    theirs = make(other_customer)
    before = type(theirs).objects.filter(pk=theirs.pk).values()[0]
    with committing(), pytest.raises(type(theirs).DoesNotExist):
        call(customer, theirs.pk)
    assert type(theirs).objects.filter(pk=theirs.pk).values()[0] == before
    assert announced == []


@pytest.mark.parametrize(
    "service",
    [
        services.department_create,
        services.department_delete,
        services.employee_create,
        services.employee_delete,
        services.number_create,
        services.number_delete,
    ],
)
def test_services_take_keyword_arguments_only(customer, service):
    with pytest.raises(TypeError):
        service(customer, 1)
