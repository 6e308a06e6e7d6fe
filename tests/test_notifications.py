"""Department notifications: each transport at its boundary, and the send/retry service.

Twilio and webhooks are asserted against a real HTTP server on 127.0.0.1 (nothing leaves the
machine); e-mail through Django's locmem backend.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import queue
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from portal.notifications import services
from portal.notifications.models import Delivery, Notification, PortalNotice
from portal.tenants.models import User
from tests import factories

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-test-token"
FROM = "+15005550006"
Status = Delivery.Status


@dataclass
class Captured:
    method: str
    path: str
    headers: object  # email.message.Message: case-insensitive .get()
    body: bytes


class FakeServer:
    """Records every request; answers with queued (status, body, delay) or the default."""

    def __init__(self):
        self.requests: queue.Queue[Captured] = queue.Queue()
        self.replies: list[tuple[int, bytes, float]] = []
        self.default = (200, b"{}", 0.0)
        self.url = ""

    def reply(self, status: int, body: dict | bytes = b"{}", delay: float = 0.0):
        raw = json.dumps(body).encode() if isinstance(body, dict) else body
        self.replies.append((status, raw, delay))

    def take(self) -> Captured:
        return self.requests.get(timeout=5)

    def nothing_received(self) -> bool:
        return self.requests.empty()


@pytest.fixture
def server():
    fake = FakeServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            fake.requests.put(Captured(self.command, self.path, self.headers, body))
            status, payload, delay = fake.replies.pop(0) if fake.replies else fake.default
            time.sleep(delay)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:  # the client gave up (timeout test)
                pass

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{httpd.server_port}"
    yield fake
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def twilio(settings, server):
    settings.TWILIO_ACCOUNT_SID = SID
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.TWILIO_FROM_NUMBER = FROM
    settings.TWILIO_API_BASE = server.url
    settings.WEBHOOK_TIMEOUT = 2
    return server


@pytest.fixture
def allow_private(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True


def department(customer, **kw):
    """A department with the callback flag and only the channels the test names."""
    channels = {"notify_email": False, "notify_sms": False, "notify_portal": False}
    return factories.department(customer, notify_callback=True, **{**channels, **kw})


def notify(dept, **kw):
    kw.setdefault("kind", Notification.Kind.CALLBACK_REQUESTED)
    kw.setdefault("title", "Запрос обратного вызова")
    kw.setdefault("body", "Перезвоните +7 916 765-43-21")
    kw.setdefault("payload", {"caller": "+79167654321", "request_id": 17})
    return services.notify_department(department=dept, **kw)


@pytest.fixture
def send_on_commit(django_capture_on_commit_callbacks):
    """Run notify_department and the on-commit sends it schedules (django-q runs sync)."""

    def run(dept, **kw):
        with django_capture_on_commit_callbacks(execute=True):
            return notify(dept, **kw)

    return run


def deliveries(channel=None):
    qs = Delivery.objects.order_by("id")
    return list(qs.filter(channel=channel) if channel else qs)


def make_due(delivery):
    Delivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
    )


# --- SMS through Twilio ----------------------------------------------------------------------


def test_sms_is_posted_to_the_accounts_twilio_messages_with_to_from_body_and_basic_auth(
    customer, twilio, send_on_commit
):
    dept = department(customer, notify_sms=True)
    factories.employee(customer, dept, mobile_number="8 916 1234567")
    twilio.reply(201, {"sid": "SM" + "f" * 32, "status": "queued"})

    send_on_commit(dept)

    request = twilio.take()
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert parse_qs(request.body.decode()) == {
        "To": ["+79161234567"],
        "From": [FROM],
        "Body": ["Запрос обратного вызова. Перезвоните +7 916 765-43-21"],
    }
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    expected_auth = base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected_auth}"
    (sms,) = deliveries("sms")
    assert (sms.status, sms.target, sms.external_id) == (
        Status.SENT,
        "+79161234567",
        "SM" + "f" * 32,
    )
    assert sms.attempts == 1 and sms.sent_at is not None


def test_a_twilio_4xx_is_a_permanent_failure_logged_with_twilios_error(
    customer, twilio, send_on_commit
):
    dept = department(customer, notify_sms=True)
    factories.employee(customer, dept, mobile_number="+79161234567")
    twilio.reply(400, {"code": 21211, "message": "The 'To' number is not valid.", "status": 400})

    send_on_commit(dept)

    (sms,) = deliveries("sms")
    assert (sms.status, sms.permanent, sms.attempts) == (Status.FAILED, True, 1)
    assert "HTTP 400" in sms.last_error and "21211" in sms.last_error
    assert "not valid" in sms.last_error


def test_a_twilio_5xx_is_temporary_and_the_sms_is_due_again_a_minute_later(
    customer, twilio, send_on_commit
):
    dept = department(customer, notify_sms=True)
    factories.employee(customer, dept, mobile_number="+79161234567")
    twilio.reply(503, {"code": 20500, "message": "Service unavailable", "status": 503})
    before = timezone.now()

    send_on_commit(dept)

    (sms,) = deliveries("sms")
    assert (sms.status, sms.permanent, sms.attempts) == (Status.PENDING, False, 1)
    assert "HTTP 503" in sms.last_error
    assert sms.next_attempt_at - before >= dt.timedelta(minutes=1)
    assert sms.claimed_at is None


def test_sms_without_twilio_settings_fails_permanently_and_calls_nobody(
    customer, settings, server, send_on_commit
):
    settings.TWILIO_ACCOUNT_SID = ""
    settings.TWILIO_API_BASE = server.url
    dept = department(customer, notify_sms=True)
    factories.employee(customer, dept, mobile_number="+79161234567")

    send_on_commit(dept)

    (sms,) = deliveries("sms")
    assert (sms.status, sms.permanent) == (Status.FAILED, True)
    assert "not configured" in sms.last_error
    assert server.nothing_received()


def test_a_malformed_mobile_number_is_a_permanent_failure_of_that_sms_only(
    customer, twilio, send_on_commit
):
    dept = department(customer, notify_sms=True)
    factories.employee(customer, dept, mobile_number="12")
    factories.employee(customer, dept, mobile_number="+79161234567")
    twilio.reply(201, {"sid": "SMok"})

    send_on_commit(dept)

    bad, good = deliveries("sms")
    assert (bad.status, bad.permanent) == (Status.FAILED, True)
    assert good.status == Status.SENT
    assert parse_qs(twilio.take().body.decode())["To"] == ["+79161234567"]
    assert twilio.nothing_received()


# --- webhook ---------------------------------------------------------------------------------


def test_the_webhook_is_a_json_post_whose_signature_verifies_with_the_department_secret(
    customer, server, allow_private, send_on_commit
):
    dept = department(customer, notify_webhook=True, webhook_url=f"{server.url}/hooks/pbx?x=1")

    notification = send_on_commit(dept)

    request = server.take()
    assert (request.method, request.path) == ("POST", "/hooks/pbx?x=1")
    assert request.headers["Content-Type"] == "application/json"
    expected = hmac.new(dept.webhook_secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["X-PBX-Signature"], f"sha256={expected}")
    body = json.loads(request.body)
    assert request.headers["X-PBX-Timestamp"] == str(body["timestamp"])
    assert abs(body["timestamp"] - time.time()) < 60
    (hook,) = deliveries("webhook")
    assert request.headers["X-PBX-Delivery"] == str(hook.pk)
    assert request.headers["X-PBX-Event"] == "callback_requested"
    assert body == {
        "event": "callback_requested",
        "notification_id": notification.pk,
        "delivery_id": hook.pk,
        "timestamp": body["timestamp"],
        "created_at": notification.created_at.isoformat(),
        "customer_id": customer.pk,
        "department": {"id": dept.pk, "name": dept.name},
        "title": "Запрос обратного вызова",
        "body": "Перезвоните +7 916 765-43-21",
        "data": {"caller": "+79167654321", "request_id": 17},
    }
    assert (hook.status, hook.external_id) == (Status.SENT, "HTTP 200")


def test_a_webhook_4xx_is_permanent(customer, server, allow_private, send_on_commit):
    dept = department(customer, notify_webhook=True, webhook_url=f"{server.url}/gone")
    server.reply(410, b"no such hook")

    send_on_commit(dept)

    (hook,) = deliveries("webhook")
    assert (hook.status, hook.permanent) == (Status.FAILED, True)
    assert hook.last_error == "HTTP 410: no such hook"


def test_a_webhook_429_is_temporary(customer, server, allow_private, send_on_commit):
    dept = department(customer, notify_webhook=True, webhook_url=f"{server.url}/slow-down")
    server.reply(429)

    send_on_commit(dept)

    (hook,) = deliveries("webhook")
    assert (hook.status, hook.permanent) == (Status.PENDING, False)


def test_a_webhook_redirect_is_not_followed(customer, server, allow_private, send_on_commit):
    dept = department(customer, notify_webhook=True, webhook_url=f"{server.url}/moved")
    server.reply(302)

    send_on_commit(dept)

    (hook,) = deliveries("webhook")
    assert (hook.status, hook.permanent) == (Status.FAILED, True)
    assert "redirects are not followed" in hook.last_error
    server.take()
    assert server.nothing_received()


def test_a_webhook_that_times_out_is_a_temporary_failure(
    customer, server, allow_private, settings, send_on_commit
):
    settings.WEBHOOK_TIMEOUT = 0.2
    dept = department(customer, notify_webhook=True, webhook_url=f"{server.url}/sleepy")
    server.reply(200, delay=1.0)

    send_on_commit(dept)

    (hook,) = deliveries("webhook")
    assert (hook.status, hook.permanent) == (Status.PENDING, False)
    assert "timed out" in hook.last_error


def test_a_webhook_to_a_loopback_address_is_refused_unless_private_targets_are_allowed(
    customer, server, settings, send_on_commit
):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    dept = department(customer, notify_webhook=True, webhook_url=f"{server.url}/internal")

    send_on_commit(dept)

    (hook,) = deliveries("webhook")
    assert (hook.status, hook.permanent) == (Status.FAILED, True)
    assert "non-public address 127.0.0.1" in hook.last_error
    assert server.nothing_received()


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "http:///nohost"])
def test_a_webhook_url_that_is_not_http_is_refused(customer, allow_private, send_on_commit, url):
    dept = department(customer, notify_webhook=True, webhook_url=url)

    send_on_commit(dept)

    (hook,) = deliveries("webhook")
    assert (hook.status, hook.permanent) == (Status.FAILED, True)
    assert "not an http(s) URL" in hook.last_error


# --- e-mail ----------------------------------------------------------------------------------


def test_email_goes_to_the_listed_addresses_and_the_departments_staff_once_each(
    customer, other_customer, send_on_commit
):
    dept = department(
        customer, notify_email=True, notification_emails="ops@example.com\n\n Boss@Example.com \n"
    )
    staff = factories.user(customer, role=User.Role.DEPARTMENT_STAFF, email="boss@example.com")
    staff2 = factories.user(customer, role=User.Role.DEPARTMENT_STAFF, email="anna@example.com")
    stranger = factories.user(other_customer, email="stranger@example.com")
    for user in (staff, staff2, stranger):  # a wrongly linked user of another customer too
        user.departments.add(dept)

    send_on_commit(dept)

    assert sorted(m.to[0] for m in mail.outbox) == [
        "Boss@Example.com",
        "anna@example.com",
        "ops@example.com",
    ]
    message = mail.outbox[0]
    assert message.subject == "Запрос обратного вызова"
    assert "Перезвоните +7 916 765-43-21" in message.body
    assert "/notifications/" in message.body
    sent = deliveries("email")
    assert [d.status for d in sent] == [Status.SENT] * 3
    assert {d.external_id for d in sent} == {m.extra_headers["Message-ID"] for m in mail.outbox}


def test_an_invalid_email_address_is_logged_as_a_permanent_failure(customer, send_on_commit):
    dept = department(
        customer, notify_email=True, notification_emails="not-an-address\nok@example.com"
    )

    send_on_commit(dept)

    bad, good = deliveries("email")
    assert (bad.status, bad.permanent, bad.target) == (Status.FAILED, True, "not-an-address")
    assert good.status == Status.SENT
    assert [m.to for m in mail.outbox] == [["ok@example.com"]]


# --- the service -----------------------------------------------------------------------------


def test_a_department_without_the_callback_flag_is_sent_nothing(
    customer, twilio, allow_private, send_on_commit
):
    dept = factories.department(
        customer,
        notify_callback=False,
        notify_sms=True,
        notify_webhook=True,
        webhook_url=f"{twilio.url}/hook",
        notification_emails="ops@example.com",
    )
    factories.employee(customer, dept, mobile_number="+79161234567")

    assert send_on_commit(dept) is None

    assert not Notification.objects.exists() and not Delivery.objects.exists()
    assert mail.outbox == []
    assert twilio.nothing_received()


def test_without_only_if_flag_a_department_is_notified_regardless_of_the_callback_flag(
    customer, send_on_commit
):
    dept = factories.department(
        customer, notify_callback=False, notification_emails="ops@example.com"
    )

    notification = send_on_commit(dept, kind="missed_call", only_if_flag=None)

    assert notification.kind == "missed_call"
    assert [m.to for m in mail.outbox] == [["ops@example.com"]]


def test_each_channel_and_target_is_logged_as_its_own_delivery_row(
    customer, twilio, allow_private, send_on_commit
):
    dept = department(
        customer,
        notify_email=True,
        notify_sms=True,
        notify_portal=True,
        notify_webhook=True,
        webhook_url=f"{twilio.url}/hook",
        notification_emails="a@example.com\nb@example.com",
    )
    factories.employee(customer, dept, mobile_number="+79161234567")
    factories.employee(customer, dept, mobile_number="+79161234568")
    factories.employee(customer, dept, mobile_number="8 916 1234567")  # same phone: one SMS
    factories.employee(customer, dept)  # no mobile: no SMS
    admin = factories.user(customer)
    twilio.default = (201, b'{"sid": "SMx"}', 0.0)

    notification = send_on_commit(dept)

    rows = [(d.channel, d.target, d.status) for d in notification.deliveries.order_by("id")]
    assert sorted(rows) == sorted(
        [
            ("email", "a@example.com", Status.SENT),
            ("email", "b@example.com", Status.SENT),
            ("sms", "+79161234567", Status.SENT),
            ("sms", "+79161234568", Status.SENT),
            ("portal", str(admin.pk), Status.SENT),
            ("webhook", f"{twilio.url}/hook", Status.SENT),
        ]
    )


def test_a_failing_webhook_does_not_stop_email_sms_and_portal_and_is_retried_when_due(
    customer, twilio, allow_private, send_on_commit
):
    dept = department(
        customer,
        notify_email=True,
        notify_sms=True,
        notify_portal=True,
        notify_webhook=True,
        webhook_url=f"{twilio.url}/hook",
        notification_emails="ops@example.com",
    )
    factories.employee(customer, dept, mobile_number="+79161234567")
    admin = factories.user(customer)

    # The order of sends is the registry's: email, sms, portal, webhook.
    twilio.reply(201, {"sid": "SMok"})
    twilio.reply(500, b"internal error")

    send_on_commit(dept)

    by_channel = {d.channel: d for d in deliveries()}
    assert by_channel["email"].status == Status.SENT and len(mail.outbox) == 1
    assert by_channel["sms"].status == Status.SENT
    assert by_channel["portal"].status == Status.SENT
    assert PortalNotice.objects.filter(user=admin).count() == 1
    hook = by_channel["webhook"]
    assert (hook.status, hook.attempts, hook.permanent) == (Status.PENDING, 1, False)
    assert hook.last_error == "HTTP 500: internal error"
    assert twilio.take().path.endswith("/Messages.json")
    assert twilio.take().path == "/hook"

    assert services.deliveries_retry_due() == 0  # not due yet: nothing is sent
    assert twilio.nothing_received()

    make_due(hook)
    assert services.deliveries_retry_due() == 1

    hook.refresh_from_db()
    assert (hook.status, hook.attempts, hook.last_error) == (Status.SENT, 2, "")
    assert twilio.take().path == "/hook"
    assert twilio.nothing_received()  # nothing else was sent again
    assert len(mail.outbox) == 1


def test_a_delivery_that_keeps_failing_gives_up_after_the_last_attempt(
    customer, server, allow_private, send_on_commit
):
    dept = department(customer, notify_webhook=True, webhook_url=f"{server.url}/down")
    server.default = (503, b"down", 0.0)

    send_on_commit(dept)
    (hook,) = deliveries()
    delays = []
    for _ in range(services.MAX_ATTEMPTS - 1):
        hook.refresh_from_db()
        delays.append(round((hook.next_attempt_at - timezone.now()).total_seconds() / 60))
        make_due(hook)
        services.deliveries_retry_due()

    hook.refresh_from_db()
    assert (hook.status, hook.attempts, hook.permanent) == (
        Status.FAILED,
        services.MAX_ATTEMPTS,
        False,
    )
    assert hook.next_attempt_at is None and hook.last_error == "HTTP 503: down"
    assert delays == [1, 5, 15, 60]
    assert server.requests.qsize() == services.MAX_ATTEMPTS


def test_of_two_workers_claiming_the_same_attempt_only_one_sends(
    customer, server, allow_private, django_capture_on_commit_callbacks
):
    dept = department(customer, notify_webhook=True, webhook_url=f"{server.url}/once")
    with django_capture_on_commit_callbacks(execute=False):
        notify(dept)
    (hook,) = deliveries()
    now = timezone.now()

    assert services._claim(hook.pk, now) is True
    assert services._claim(hook.pk, now) is False
    assert services.delivery_send(hook.pk) == "not-claimed"
    assert server.nothing_received()


def test_a_claim_left_by_a_dead_worker_is_taken_over_after_the_lease(
    customer, server, allow_private, django_capture_on_commit_callbacks
):
    dept = department(customer, notify_webhook=True, webhook_url=f"{server.url}/again")
    with django_capture_on_commit_callbacks(execute=False):
        notify(dept)
    (hook,) = deliveries()
    stale = timezone.now() - services.CLAIM_LEASE - dt.timedelta(seconds=1)
    Delivery.objects.filter(pk=hook.pk).update(claimed_at=stale, attempts=1)

    assert services.deliveries_retry_due() == 1

    hook.refresh_from_db()
    assert (hook.status, hook.attempts, hook.claimed_at) == (Status.SENT, 2, None)
    assert server.take().path == "/again"


def test_nothing_is_sent_before_commit_and_nothing_at_all_after_a_rollback(
    customer, django_capture_on_commit_callbacks
):
    dept = department(customer, notify_email=True, notification_emails="ops@example.com")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        notify(dept)
    assert len(callbacks) == 1 and mail.outbox == []
    assert Delivery.objects.get().status == Status.PENDING

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            notify(dept)
            raise RuntimeError("the callback request could not be saved")
    assert callbacks == [] and mail.outbox == []
    assert Notification.objects.count() == 1


def test_portal_notices_go_to_department_staff_and_customer_admins_of_that_customer_only(
    customer, other_customer, send_on_commit
):
    dept = department(customer, notify_portal=True)
    staff = factories.user(customer, role=User.Role.DEPARTMENT_STAFF)
    staff.departments.add(dept)
    other_staff = factories.user(customer, role=User.Role.DEPARTMENT_STAFF)  # another dept
    admin = factories.user(customer)
    inactive = factories.user(customer, is_active=False)
    foreign_admin = factories.user(other_customer)
    foreign_staff = factories.user(other_customer, role=User.Role.DEPARTMENT_STAFF)
    foreign_staff.departments.add(dept)  # wrongly linked: still never notified

    send_on_commit(dept)

    recipients = set(PortalNotice.objects.values_list("user_id", flat=True))
    assert recipients == {staff.pk, admin.pk}
    assert not recipients & {other_staff.pk, inactive.pk, foreign_admin.pk, foreign_staff.pk}


def test_retries_run_every_minute_from_a_schedule_installed_by_migration(db):
    schedule = Schedule.objects.get(func="portal.notifications.services.deliveries_retry_due")
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        Schedule.MINUTES,
        1,
        -1,
    )


def test_the_platform_operator_reads_the_send_log_in_the_admin(client, customer, send_on_commit):
    dept = department(customer, notify_email=True, notification_emails="bad address")
    notification = send_on_commit(dept)
    operator = User.objects.create_superuser("operator", "op@example.com", "pw-12345678")
    client.force_login(operator)

    log_page = client.get("/admin/notifications/delivery/?status=failed")
    detail = client.get(f"/admin/notifications/notification/{notification.pk}/change/")

    assert log_page.status_code == 200 and "bad address" in log_page.content.decode()
    assert detail.status_code == 200 and "not an e-mail address" in detail.content.decode()
