"""Operator alerts of integrated numbers: a new call or a caller's chat message becomes a live
portal notice for the operator who answered, on whatever portal page they have open."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from portal.asgi import application
from portal.billing import services as billing
from portal.billing.models import Option
from portal.integrated import services as integrated
from portal.integrated.models import Caller, IntegratedService, Operator
from portal.notifications import services
from portal.notifications.models import Delivery, Notification, PortalNotice
from tests import factories
from tests.ws import ws_headers

pytestmark = pytest.mark.django_db
CALLER = "+79161234567"


@pytest.fixture(autouse=True)
def keep_the_test_transaction(monkeypatch):
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)


class Service:
    def __init__(self, customer, e164="+74950000123", ext="101"):
        self.customer = customer
        self.number = factories.number(customer, e164)
        self.service = IntegratedService.objects.create(customer=customer, name="Медсоветы")
        self.service.numbers.add(self.number)
        billing.option_set(customer=customer, code=Option.INTEGRATED_NUMBER, enabled=True)
        self.employee = factories.employee(customer, extension=ext)
        self.user = factories.user(customer, role="staff", username=f"op{customer.pk}")
        Operator.objects.create(employee=self.employee, user=self.user)

    def live(self, uuid="a-leg-1"):
        return integrated.call_live(
            customer_id=self.customer.pk,
            number_id=self.number.pk,
            call_uuid=uuid,
            operator_uuid=f"b-{uuid}",
            caller_number=CALLER,
            operator_extension=self.employee.extension,
        )


def send_all(django_capture_on_commit_callbacks, fn):
    """Run `fn` and send what it queued, as the worker would (its send is the real one)."""
    with django_capture_on_commit_callbacks(execute=False):
        result = fn()
    for delivery in Delivery.objects.filter(status=Delivery.Status.PENDING):
        services.delivery_send(delivery.pk)
    return result


def test_a_new_call_pops_up_for_its_operator_on_any_page(
    customer, django_capture_on_commit_callbacks
):
    svc = Service(customer)
    Caller.objects.create(phone=CALLER, name="Иван Петров")
    client = Client()
    client.force_login(svc.user)

    async def scenario():
        ws = WebsocketCommunicator(application, "/ws/notifications/", headers=ws_headers(client))
        assert (await ws.connect())[0]
        assert (await ws.receive_json_from())["type"] == "hello"
        call = await database_sync_to_async(send_all)(django_capture_on_commit_callbacks, svc.live)
        frame = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return call, frame

    call, frame = async_to_sync(scenario)()
    notice = frame["notice"]
    assert frame["type"] == "notice" and notice["kind"] == "integrated"
    assert notice["title"] == "Звонок на интегрированный номер: Иван Петров (+7 916 123-45-67)"
    assert notice["url"] == f"/pbx/integrated/calls/{call.pk}/"
    # The tariff page (any page) carries the live script that shows it; the notices page links it.
    page = client.get("/notifications/").content.decode()
    assert f'href="/pbx/integrated/calls/{call.pk}/"' in page


def test_the_callers_messages_alert_the_operator_and_the_operators_own_do_not(
    customer, django_capture_on_commit_callbacks
):
    svc = Service(customer)
    call = send_all(django_capture_on_commit_callbacks, svc.live)
    integrated.chat_enable(call, svc.user)
    long_text = "Болит голова третий день, " * 10
    send_all(
        django_capture_on_commit_callbacks,
        lambda: integrated.message_add(call, author="caller", text=long_text),
    )
    send_all(
        django_capture_on_commit_callbacks,
        lambda: integrated.message_add(call, author="operator", text="Опишите симптомы"),
    )
    send_all(
        django_capture_on_commit_callbacks,
        lambda: integrated.message_add(call, author="caller", photo="x.jpg"),
    )
    titles = list(
        PortalNotice.objects.filter(user=svc.user)
        .order_by("pk")
        .values_list("notification__title", "notification__body")
    )
    assert [t for t, _ in titles] == [
        "Звонок на интегрированный номер: +7 916 123-45-67",
        "Сообщение в чате звонка: +7 916 123-45-67",
        "Сообщение в чате звонка: +7 916 123-45-67",
    ]
    assert titles[1][1].startswith("Болит голова") and titles[1][1].endswith("…")
    assert len(titles[1][1]) == 120 and titles[2][1] == "Фотография"


def test_nobody_else_hears_of_the_call(
    customer, other_customer, django_capture_on_commit_callbacks
):
    svc = Service(customer)
    admin = factories.user(customer, username="boss")
    theirs = factories.user(other_customer, username="them")
    # A call nobody of ours answered as an operator (unknown extension): no alert at all.
    orphan = send_all(
        django_capture_on_commit_callbacks,
        lambda: integrated.call_live(
            customer_id=customer.pk,
            number_id=svc.number.pk,
            call_uuid="x-1",
            operator_uuid="b-x-1",
            caller_number=CALLER,
            operator_extension="999",
        ),
    )
    assert orphan is not None and not Delivery.objects.exists()
    send_all(django_capture_on_commit_callbacks, svc.live)
    assert set(PortalNotice.objects.values_list("user_id", flat=True)) == {svc.user.pk}
    assert not PortalNotice.objects.filter(user__in=[admin, theirs]).exists()


def test_a_notice_links_only_to_our_own_paths(customer):
    for url, shown in [
        ("/pbx/integrated/calls/1/", "/pbx/integrated/calls/1/"),
        ("//evil.example/x", ""),
        ("https://evil.example/", ""),
        ("javascript:alert(1)", ""),
        (None, ""),
    ]:
        n = Notification.objects.create(
            customer=customer, kind="integrated", title="t", payload={"url": url}
        )
        notice = PortalNotice.objects.create(notification=n, user=factories.user(customer))
        assert notice.url == shown
        assert notice.as_message().get("url", "") == shown
