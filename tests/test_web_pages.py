"""Every portal page: login, roles, tenant isolation, CSRF, and what the simple pages show."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from portal.billing import services as billing_services
from portal.billing.models import LedgerEntry, OptionPeriod
from portal.directory.models import Department, Employee, PhoneNumber
from portal.tenants.models import User
from tests import factories
from tests.test_web_tariff import collect

PAGES = [
    "web:home",
    "web:pbx",
    "web:tariff",
    "web:departments",
    "web:department_create",
    "web:employees",
    "web:employee_create",
    "web:numbers",
    "web:number_create",
    "web:ivr",
    "web:statistics",
    "web:more",
    "web:profile",
    "web:password_change",
]
OBJECT_PAGES = ["web:department_edit", "web:employee_edit", "web:number_edit"]


@pytest.fixture
def objects(customer):
    dept = factories.department(customer, name="Продажи")
    return {
        "web:department_edit": dept,
        "web:employee_edit": factories.employee(customer, dept, extension="201"),
        "web:number_edit": factories.number(
            customer, "+74951112233", kind=PhoneNumber.Kind.MULTICHANNEL, department=dept
        ),
    }


@pytest.fixture
def foreign_objects(other_customer):
    dept = factories.department(other_customer, name="Чужой отдел")
    return {
        "web:department_edit": dept,
        "web:employee_edit": factories.employee(other_customer, dept, extension="301"),
        "web:number_edit": factories.number(other_customer, "+74953334455", department=dept),
    }


def all_urls(objects) -> list[str]:
    return [reverse(name) for name in PAGES] + [
        reverse(name, args=[objects[name].pk]) for name in OBJECT_PAGES
    ]


def test_every_page_asks_anonymous_visitors_to_log_in(client, objects):
    for url in [*all_urls(objects), reverse("web:option_toggle")]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("web:login") + "?next="), url


def test_every_page_opens_for_a_customer_admin(admin_client, objects):
    for url in all_urls(objects):
        response = admin_client.get(url)
        expected = 302 if url == reverse("web:home") else 200
        assert response.status_code == expected, url


def test_a_platform_user_without_a_customer_gets_403(client, objects):
    client.force_login(factories.user(None, is_staff=True))
    for url in all_urls(objects):
        assert client.get(url).status_code == 403, url
    assert client.post(reverse("web:option_toggle"), {"code": "callback"}).status_code == 403


def test_another_customers_id_in_the_url_is_404(admin_client, foreign_objects):
    for name, obj in foreign_objects.items():
        url = reverse(name, args=[obj.pk])
        assert admin_client.get(url).status_code == 404, url
        assert admin_client.post(url, {"name": "Захват"}).status_code == 404, url
    assert Department.objects.get(pk=foreign_objects["web:department_edit"].pk).name == (
        "Чужой отдел"
    )


def test_department_staff_can_look_but_not_change_anything(client, customer, objects):
    staff = factories.user(customer, role=User.Role.DEPARTMENT_STAFF)
    client.force_login(staff)
    for url in all_urls(objects):
        assert client.get(url).status_code in (200, 302), url
    writes = {
        reverse("web:option_toggle"): {"code": "callback", "enabled": "on"},
        reverse("web:department_create"): {"name": "Новый", "queue_announce_interval": 30},
        reverse("web:department_edit", args=[objects["web:department_edit"].pk]): {
            "name": "Переименован",
            "queue_announce_interval": 30,
        },
        reverse("web:employee_create"): {"extension": "555", "name": "Иван"},
        reverse("web:employee_edit", args=[objects["web:employee_edit"].pk]): {
            "extension": "556",
            "name": "Иван",
        },
        reverse("web:number_create"): {"e164": "+74955556677", "kind": "regular"},
        reverse("web:number_edit", args=[objects["web:number_edit"].pk]): {
            "e164": "+74955556678",
            "kind": "regular",
        },
    }
    for url, data in writes.items():
        assert client.post(url, data).status_code == 403, url
    assert not OptionPeriod.objects.filter(customer=customer).exists()
    assert list(Department.objects.for_customer(customer).values_list("name", flat=True)) == [
        "Продажи"
    ]
    assert list(Employee.objects.for_customer(customer).values_list("extension", flat=True)) == [
        "201"
    ]
    assert list(PhoneNumber.objects.for_customer(customer).values_list("e164", flat=True)) == [
        "+74951112233"
    ]


def test_department_staff_sees_disabled_switches(client, customer):
    client.force_login(factories.user(customer, role=User.Role.DEPARTMENT_STAFF))
    html = client.get(reverse("web:tariff")).content.decode()
    assert "Менять опции может только администратор." in html
    assert "disabled" in html


def test_department_staff_may_change_their_own_profile(client, customer):
    staff = factories.user(customer, role=User.Role.DEPARTMENT_STAFF)
    client.force_login(staff)
    response = client.post(
        reverse("web:profile"),
        {"first_name": "Ольга", "last_name": "", "email": "olga@example.com", "language": "ru"},
    )
    assert response.status_code == 302
    staff.refresh_from_db()
    assert (staff.first_name, staff.email) == ("Ольга", "olga@example.com")


# --- CSRF ------------------------------------------------------------------------------------


@pytest.fixture
def csrf_client(admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    return client


def test_the_option_toggle_rejects_a_post_without_csrf_token(csrf_client, customer):
    response = csrf_client.post(
        reverse("web:option_toggle"),
        {"code": "callback", "enabled": "on"},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 403
    assert not OptionPeriod.objects.filter(customer=customer).exists()


def test_directory_forms_reject_a_post_without_csrf_token(csrf_client, customer):
    data = {"name": "Без токена", "queue_announce_interval": 30}
    assert csrf_client.post(reverse("web:department_create"), data).status_code == 403
    assert csrf_client.post(reverse("web:number_create"), {"e164": "+74951230000"}).status_code == (
        403
    )
    assert not Department.objects.filter(customer=customer).exists()
    assert not PhoneNumber.objects.filter(customer=customer).exists()


def test_the_option_toggle_accepts_the_token_from_the_page_in_a_header(csrf_client, customer):
    csrf_client.get(reverse("web:tariff"))
    token = csrf_client.cookies["csrftoken"].value
    response = csrf_client.post(
        reverse("web:option_toggle"),
        {"code": "callback", "enabled": "on"},
        HTTP_ACCEPT="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 200
    assert OptionPeriod.objects.filter(customer=customer, ended_at__isnull=True).count() == 1


# --- login, logout, menu ---------------------------------------------------------------------


def test_logging_in_through_the_form_leads_to_the_pbx_page(client, admin_user):
    response = client.post(
        reverse("web:login"), {"username": admin_user.username, "password": factories.PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == reverse("web:pbx")


def test_a_wrong_password_shows_the_form_again(client, admin_user):
    response = client.post(
        reverse("web:login"), {"username": admin_user.username, "password": "nope"}
    )
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_logout_is_a_post(admin_client):
    response = admin_client.post(reverse("web:logout"))
    assert response.status_code == 302 and response["Location"] == reverse("web:login")
    assert admin_client.get(reverse("web:pbx")).status_code == 302


def test_pbx_page_has_the_menu_customer_name_profile_link_and_the_tariff_block(
    admin_client, customer
):
    response = admin_client.get(reverse("web:pbx"))
    html = response.content.decode()
    for label in ("АТС", "Номера и отделы", "Голосовое меню", "Статистика", "Дополнительно"):
        assert f">{label}</a>" in html
    assert customer.name in html
    assert f'href="{reverse("web:profile")}"' in html
    assert f'href="{reverse("web:tariff")}" data-block="tariff"' in html
    fig = collect(html)
    assert fig["tariff-name"] == "Средний"
    assert fig["balance"] == "0"


# --- Статистика, Голосовое меню, Дополнительно, профиль --------------------------------------


def test_statistics_shows_the_ledger_per_month(admin_client, customer):
    today = timezone.now().astimezone(ZoneInfo(customer.time_zone)).date()
    last_month = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    for category, amount, day in [
        (LedgerEntry.Category.TARIFF, "41.93", today),
        (LedgerEntry.Category.EXTRA_SERVICES, "10.00", today),
        (LedgerEntry.Category.TARIFF, "41.93", last_month),
    ]:
        LedgerEntry.objects.create(
            customer=customer,
            kind=LedgerEntry.Kind.CHARGE,
            category=category,
            amount=Decimal(amount),
            period_start=day,
            period_end=day,
            source_key=f"test:{category}:{day}",
        )
    billing_services.payment_record(customer=customer, amount=Decimal("100"), reference="p1")
    html = admin_client.get(reverse("web:statistics")).content.decode()
    months = collect(html, "data-month")
    assert len(months) == 12
    this = months[f"{today:%Y-%m}"]
    assert "41.93" in this and "51.93" in this and "100" in this
    assert "41.93" in months[f"{last_month:%Y-%m}"]
    assert collect(html)["balance"] == "6.14"


def test_statistics_shows_only_this_customers_ledger(admin_client, other_customer):
    billing_services.payment_record(customer=other_customer, amount=Decimal("999"), reference="x")
    html = admin_client.get(reverse("web:statistics")).content.decode()
    assert "999" not in html


def test_ivr_page_shows_where_each_multichannel_number_leads(admin_client, customer, objects):
    factories.number(customer, "+74950009999", kind=PhoneNumber.Kind.MULTICHANNEL)
    factories.number(customer, "+74950008888", kind=PhoneNumber.Kind.REGULAR)
    html = admin_client.get(reverse("web:ivr")).content.decode()
    rows = collect(html, "data-number")
    assert set(rows) == {"+74951112233", "+74950009999"}
    assert "Продажи" in rows["+74951112233"]
    assert "не назначен" in rows["+74950009999"]


def test_more_page_links_to_the_api_docs(admin_client):
    html = admin_client.get(reverse("web:more")).content.decode()
    assert 'href="/api/v1/docs/"' in html


def test_choosing_english_in_the_profile_switches_the_interface(admin_client, admin_user):
    response = admin_client.post(
        reverse("web:profile"),
        {"first_name": "Anna", "last_name": "K", "email": "anna@example.com", "language": "en"},
    )
    assert response.status_code == 302
    assert response.cookies["django_language"].value == "en"
    html = admin_client.get(reverse("web:pbx")).content.decode()
    assert "Numbers and departments" in html and "Profile settings" in html
    admin_user.refresh_from_db()
    assert admin_user.email == "anna@example.com"


def test_a_bad_profile_email_is_a_form_error(admin_client, admin_user):
    response = admin_client.post(
        reverse("web:profile"), {"email": "not-an-email", "language": "ru"}
    )
    assert response.status_code == 400
    admin_user.refresh_from_db()
    assert admin_user.email == ""


def test_password_change_works_for_a_customer_user(admin_client, admin_user):
    response = admin_client.post(
        reverse("web:password_change"),
        {
            "old_password": factories.PASSWORD,
            "new_password1": "a-much-Longer-pass-42",
            "new_password2": "a-much-Longer-pass-42",
        },
    )
    assert response.status_code == 302
    admin_user.refresh_from_db()
    assert admin_user.check_password("a-much-Longer-pass-42")


def test_statistics_counts_calls_and_callback_requests_of_this_customer_only(
    admin_client, customer, other_customer
):
    import datetime as dt

    from django.utils import timezone

    from portal.callbacks.models import CallbackRequest
    from portal.calls.models import CallRecord

    now = timezone.now()
    dept = factories.department(customer)
    other_dept = factories.department(other_customer)
    for n, (cust, direction, billsec) in enumerate(
        [
            (customer, "outbound", 125),
            (customer, "outbound", 0),
            (customer, "inbound", 60),
            (other_customer, "outbound", 600),
        ]
    ):
        CallRecord.objects.create(
            customer=cust,
            uuid=f"u{n}",
            direction=direction,
            billsec=billsec,
            started_at=now - dt.timedelta(hours=1),
            ended_at=now,
        )
    for cust, d, status, caller in [
        (customer, dept, "completed", "+79160000001"),
        (customer, dept, "failed", "+79160000002"),
        (other_customer, other_dept, "completed", "+79160000003"),
    ]:
        CallbackRequest.objects.create(
            customer=cust,
            department=d,
            caller_number=caller,
            status=status,
            first_attempt_deadline=now,
            created_at=now - dt.timedelta(minutes=5),
            origin_uuid=caller,
        )
    response = admin_client.get(reverse("web:statistics"))
    assert response.status_code == 200, response.content[:300]
    html = response.content.decode()
    outbound = html.split('data-direction="outbound"')[1].split("</tr>")[0]
    assert 'data-col="total">2<' in outbound and 'data-col="answered">1<' in outbound
    assert 'data-col="minutes">2<' in outbound  # 125 s
    callbacks = html.split('data-table="callbacks"')[1].split("</table>")[0]
    assert 'data-status="completed"><td>состоялся</td><td data-col="count">1<' in callbacks
    assert 'data-status="total"><td>Всего</td><td data-col="count">2<' in callbacks


def test_form_labels_are_capitalised_without_colons(customer):
    """Core forms showed lowercase labels with colons ("имя:", checkboxes "активен:") while the
    rest of the portal capitalises them."""
    client = Client()
    client.force_login(factories.user(customer))
    for url in ("/profile/", "/employees/new/", "/departments/new/"):
        html = client.get(url).content.decode()
        labels = re.findall(r"<label[^>]*>([^<]*)</label>", html)
        assert labels, url
        for text in labels:
            assert not text.rstrip().endswith(":"), (url, text)
            assert text[:1] == text[:1].upper(), (url, text)


def test_the_menu_leads_to_callback_requests_and_exports(customer):
    client = Client()
    client.force_login(factories.user(customer, role="staff"))
    html = client.get("/pbx/").content.decode()
    menu = html[html.index('class="menu"') :]
    assert 'href="/pbx/callbacks/"' in menu and "Обратный вызов" in menu
    assert 'href="/pbx/exports/"' in menu
    assert client.get("/pbx/callbacks/").status_code == 200


def test_the_portal_pages_offer_the_language_switch_with_the_current_language_chosen(customer):
    client = Client()
    client.force_login(factories.user(customer))
    html = client.get("/pbx/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'action="/i18n/setlang/"' in html
    assert '<option value="en" selected>EN</option>' in html
    assert '<option value="ru">RU</option>' in html
