"""Live portal notices: the websocket (through the real ASGI application) and the notices page.

Runs on whichever channel layer the settings pick: Redis with REDIS_URL, in-memory without.
"""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.urls import reverse

from portal.asgi import application
from portal.notifications import services
from portal.notifications.models import PortalNotice
from portal.tenants.models import User
from tests import factories

WS = "/ws/notifications/"


def session_headers(client: Client | None) -> list[tuple[bytes, bytes]]:
    headers = [(b"origin", b"http://testserver")]
    if client is not None:
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    return headers


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def keep_the_test_transaction(monkeypatch):
    """channels' database_sync_to_async closes "old" connections around each call, and inside
    the test's transaction Django counts ours as old (autocommit is off): keep it open."""
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)


@pytest.fixture
def callback_department(customer):
    return factories.department(
        customer, notify_callback=True, notify_email=False, notify_portal=True
    )


@pytest.fixture
def notify(django_capture_on_commit_callbacks):
    def run(dept, title="Запрос обратного вызова от +7 916 765-43-21"):
        with django_capture_on_commit_callbacks(execute=True):
            return services.notify_department(
                department=dept, kind="callback_requested", title=title, body="Очередь: продажи"
            )

    return run


def run_async(coro_fn):
    return async_to_sync(coro_fn)()


def test_a_staff_user_with_the_portal_open_sees_the_callback_notice_live(
    customer, callback_department, notify
):
    staff = factories.user(customer, role=User.Role.DEPARTMENT_STAFF)
    staff.departments.add(callback_department)

    headers = session_headers(logged_in(staff))

    async def scenario():
        ws = WebsocketCommunicator(application, WS, headers=headers)
        connected, _ = await ws.connect()
        assert connected
        assert await ws.receive_json_from() == {"type": "hello", "unread": 0}

        notification = await database_sync_to_async(notify)(callback_department)

        message = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return notification, message

    notification, message = run_async(scenario)

    notice = PortalNotice.objects.get(user=staff)
    assert message == {
        "type": "notice",
        "notice": {
            "id": notice.pk,
            "kind": "callback_requested",
            "title": "Запрос обратного вызова от +7 916 765-43-21",
            "body": "Очередь: продажи",
            "department": callback_department.name,
            "created_at": notification.created_at.isoformat(),
            "read": False,
        },
    }


def test_the_websocket_greets_with_the_number_of_unread_notices(
    customer, admin_user, callback_department, notify
):
    notify(callback_department)
    notify(callback_department)

    headers = session_headers(logged_in(admin_user))

    async def scenario():
        ws = WebsocketCommunicator(application, WS, headers=headers)
        await ws.connect()
        hello = await ws.receive_json_from()
        await ws.disconnect()
        return hello

    assert run_async(scenario) == {"type": "hello", "unread": 2}


def test_an_anonymous_websocket_is_closed_with_4401(db):
    async def scenario():
        ws = WebsocketCommunicator(application, WS, headers=session_headers(None))
        await ws.connect()
        closed = await ws.receive_output(timeout=2)
        await ws.wait()
        return closed

    assert run_async(scenario) == {"type": "websocket.close", "code": 4401}


def test_a_websocket_from_a_foreign_origin_is_refused(admin_user):
    headers = session_headers(logged_in(admin_user))
    headers[0] = (b"origin", b"https://evil.example")

    async def scenario():
        ws = WebsocketCommunicator(application, WS, headers=headers)
        connected, _ = await ws.connect()
        return connected

    assert run_async(scenario) is False


def test_another_customers_user_never_receives_the_notice(
    customer, other_customer, callback_department, notify
):
    foreign_admin = factories.user(other_customer)
    foreign_staff = factories.user(other_customer, role=User.Role.DEPARTMENT_STAFF)
    foreign_staff.departments.add(callback_department)  # even if wrongly linked
    own_admin = factories.user(customer)

    users = (foreign_admin, foreign_staff, own_admin)
    all_headers = [session_headers(logged_in(user)) for user in users]

    async def scenario():
        sockets = []
        for headers in all_headers:
            ws = WebsocketCommunicator(application, WS, headers=headers)
            await ws.connect()
            await ws.receive_json_from()  # hello
            sockets.append(ws)
        await database_sync_to_async(notify)(callback_department)
        own = await sockets[2].receive_json_from(timeout=5)
        silent = [await ws.receive_nothing(timeout=0.3) for ws in sockets[:2]]
        for ws in sockets:
            await ws.disconnect()
        return own, silent

    own, silent = run_async(scenario)
    assert own["type"] == "notice"
    assert silent == [True, True]
    assert not PortalNotice.objects.filter(user__customer=other_customer).exists()


# --- the notices page ------------------------------------------------------------------------


def test_the_notices_page_lists_only_the_users_own_notices(
    customer, other_customer, callback_department, notify
):
    staff = factories.user(customer, role=User.Role.DEPARTMENT_STAFF)
    staff.departments.add(callback_department)
    foreign_admin = factories.user(other_customer)
    foreign_dept = factories.department(other_customer, notify_callback=True, notify_email=False)
    notify(callback_department, title="Перезвонить +7 916 000-00-01")
    notify(foreign_dept, title="Чужой запрос +7 916 000-00-02")

    own = logged_in(staff).get(reverse("notifications:list"))
    foreign = logged_in(foreign_admin).get(reverse("notifications:list"))

    assert own.status_code == 200
    assert "Перезвонить +7 916 000-00-01" in own.content.decode()
    assert "Чужой запрос" not in own.content.decode()
    assert "Чужой запрос +7 916 000-00-02" in foreign.content.decode()
    assert "Перезвонить" not in foreign.content.decode()


def test_the_notices_page_needs_a_login(client, db):
    response = client.get(reverse("notifications:list"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_marking_a_notice_read_is_a_post_with_the_csrf_token(customer, callback_department, notify):
    staff = factories.user(customer, role=User.Role.DEPARTMENT_STAFF)
    staff.departments.add(callback_department)
    notify(callback_department)
    notice = PortalNotice.objects.get(user=staff)
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    url = reverse("notifications:read", args=[notice.pk])

    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403  # no CSRF token
    notice.refresh_from_db()
    assert notice.read_at is None

    page = client.get(reverse("notifications:list"))
    token = page.context["csrf_token"]
    response = client.post(url, {"csrfmiddlewaretoken": str(token)})

    assert response.status_code == 302
    notice.refresh_from_db()
    assert notice.read_at is not None


def test_a_user_cannot_mark_another_users_or_customers_notice_read(
    customer, other_customer, callback_department, notify
):
    admin = factories.user(customer)
    notify(callback_department)
    notice = PortalNotice.objects.get(user=admin)
    colleague = factories.user(customer)
    foreign = factories.user(other_customer)

    for user in (colleague, foreign):
        response = logged_in(user).post(reverse("notifications:read", args=[notice.pk]))
        assert response.status_code == 404
    notice.refresh_from_db()
    assert notice.read_at is None


def test_mark_all_read_clears_the_unread_count(customer, admin_user, callback_department, notify):
    notify(callback_department)
    notify(callback_department)
    client = logged_in(admin_user)

    response = client.post(reverse("notifications:read_all"))

    assert response.status_code == 302
    assert not PortalNotice.objects.filter(user=admin_user, read_at__isnull=True).exists()


def test_every_portal_page_has_the_notices_badge_and_the_live_script(admin_client):
    html = admin_client.get(reverse("notifications:list")).content.decode()
    assert 'id="notify-badge"' in html and 'data-ws="/ws/notifications/"' in html
    assert 'id="notify-live"' in html
    assert "js/notifications.js" in html
