"""CRM card: the call-control flow's events become a call, a live card for the employee who
answered and signed webhook events (sent to a real HTTP server on 127.0.0.1, retried), the
card page with history and notes (tenant-scoped, CSRF), and the dialplan's part."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client
from django.utils import timezone

from pbx import render
from pbx.esl.protocol import Event
from pbx.flows import NodeContext
from portal.billing import services as billing
from portal.billing.models import Option
from portal.calls.models import CallRecord
from portal.crm import services
from portal.crm.dialplan import dialplan as contribution
from portal.crm.models import CallNote, CrmCall, EmployeeUser, WebhookEvent
from portal.crm.telephony import flow
from portal.directory.models import PhoneNumber
from portal.notifications.models import PortalNotice
from tests import factories
from tests.test_render import CONF, number
from tests.test_render import customer as plain_customer
from tests.test_render import employee as plain_employee

CALLER = "79161234567"
CTX = NodeContext(node="fs1", api=lambda command: "", bgapi=lambda command, job: "")


class Endpoint:
    """The customer's CRM on 127.0.0.1: answers with the queued statuses (then 200) and keeps
    every request."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict, bytes]] = []
        self.statuses: list[int] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                endpoint.requests.append((dict(self.headers), body))
                status = endpoint.statuses.pop(0) if endpoint.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook?x=1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[dict]:
        return [json.loads(body) for _, body in self.requests]


@pytest.fixture
def endpoint():
    server = Endpoint()
    yield server
    server.close()


@pytest.fixture
def office(customer, settings, endpoint):
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the test's CRM is on 127.0.0.1
    dept = factories.department(customer)
    anna = factories.employee(customer, dept, extension="101", name="Анна")
    number = factories.number(
        customer, "+74951112244", kind=PhoneNumber.Kind.REGULAR, department=dept
    )
    user = factories.user(customer, role="staff", username="anna")
    EmployeeUser.objects.create(customer=customer, employee=anna, user=user)
    billing.option_set(customer=customer, code=Option.CRM, enabled=True)
    services.crm_settings_set(customer=customer, webhook_url=endpoint.url)
    return {"customer": customer, "number": number, "anna": anna, "user": user}


def leg(name: str, office, call_uuid: str, *, uuid: str = "b-leg-1", extension: str = "101"):
    """An employee's leg of an incoming call as FreeSWITCH reports it."""
    return Event(
        [
            ("Event-Name", name),
            ("Unique-ID", uuid),
            ("Caller-Orig-Caller-ID-Number", CALLER),
            ("Caller-Caller-ID-Number", extension),
            ("variable_pbx_customer", str(office["customer"].pk)),
            ("variable_pbx_number", str(office["number"].pk)),
            ("variable_dialed_user", extension),
            ("variable_originating_leg_uuid", call_uuid),
        ]
    )


def caller_hangup(office, call_uuid: str, recording: str = "") -> Event:
    pairs = [
        ("Event-Name", "CHANNEL_HANGUP_COMPLETE"),
        ("Unique-ID", call_uuid),
        ("Call-Direction", "inbound"),
        ("Hangup-Cause", "NORMAL_CLEARING"),
        ("variable_pbx_customer", str(office["customer"].pk)),
        ("variable_dialed_user", "101"),  # the bridge copies it to the caller's leg
    ]
    if recording:
        pairs.append(("variable_pbx_recording", recording))
    return Event(pairs)


def run(capture, *events: Event) -> None:
    for event in events:
        with capture(execute=True):
            flow.on_event(CTX, event)


def signed(secret: str, headers: dict, body: bytes) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["X-PBX-Signature"], expected)


def test_ring_answer_and_hangup_reach_the_webhook_signed(
    office, endpoint, django_capture_on_commit_callbacks
):
    run(
        django_capture_on_commit_callbacks,
        leg("CHANNEL_CREATE", office, "a-leg-1"),
        leg("CHANNEL_PROGRESS", office, "a-leg-1"),
        leg("CHANNEL_PROGRESS", office, "a-leg-1", uuid="b-leg-2", extension="102"),
        leg("CHANNEL_ANSWER", office, "a-leg-1"),
        caller_hangup(office, "a-leg-1"),
    )
    assert [e["event"] for e in endpoint.events()] == ["call.ring", "call.answer", "call.hangup"]
    secret = office["customer"].crm.webhook_secret
    for headers, body in endpoint.requests:
        assert signed(secret, headers, body)
        assert headers["Content-Type"] == "application/json"
        assert headers["X-PBX-Event"] == json.loads(body)["event"]
    answer = endpoint.events()[1]["call"]
    assert answer["caller_number"] == "+79161234567"
    assert answer["number"] == "+74951112244"
    assert answer["employee"]["extension"] == "101"
    assert answer["card_url"].endswith(f"/pbx/crm/calls/{answer['id']}/")
    hangup = endpoint.events()[2]["call"]
    assert hangup["hangup_cause"] == "NORMAL_CLEARING" and hangup["recording_url"] is None
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"sent"}


def test_a_tampered_body_does_not_verify(office, endpoint, django_capture_on_commit_callbacks):
    run(django_capture_on_commit_callbacks, leg("CHANNEL_PROGRESS", office, "a-leg-1"))
    headers, body = endpoint.requests[0]
    secret = office["customer"].crm.webhook_secret
    assert signed(secret, headers, body)
    assert not signed(secret, headers, body.replace(b"79161234567", b"79161234568"))
    assert not signed("another-secret", headers, body)


def test_the_hangup_links_the_recording_once_the_cdr_is_in(
    office, endpoint, django_capture_on_commit_callbacks
):
    run(django_capture_on_commit_callbacks, leg("CHANNEL_ANSWER", office, "a-leg-1"))
    run(django_capture_on_commit_callbacks, caller_hangup(office, "a-leg-1", "/rec/c1/a.wav"))
    hangup = WebhookEvent.objects.get(kind="hangup")
    assert hangup.status == "pending" and "CDR" in hangup.last_error  # waits for the CDR
    record = CallRecord.objects.create(
        customer=office["customer"], uuid="a-leg-1", recording_path="/rec/c1/a.wav"
    )
    assert services.webhooks_retry_due(now=timezone.now() + dt.timedelta(minutes=1)) == 1
    sent = endpoint.events()[-1]
    assert sent["event"] == "call.hangup"
    assert sent["call"]["recording_url"].endswith(f"/api/v1/calls/{record.pk}/recording/")


def test_a_failed_post_is_retried_later_and_a_4xx_is_given_up(
    office, endpoint, django_capture_on_commit_callbacks
):
    endpoint.statuses = [503]
    run(django_capture_on_commit_callbacks, leg("CHANNEL_PROGRESS", office, "a-leg-1"))
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts) == ("pending", 1)
    assert event.next_attempt_at > timezone.now() + dt.timedelta(seconds=20)
    assert services.webhooks_retry_due() == 0  # not due yet
    assert services.webhooks_retry_due(now=event.next_attempt_at) == 1
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("sent", 2)
    assert len(endpoint.requests) == 2
    endpoint.statuses = [404]
    run(django_capture_on_commit_callbacks, leg("CHANNEL_ANSWER", office, "a-leg-1"))
    answer = WebhookEvent.objects.get(kind="answer")
    assert answer.status == "failed" and "404" in answer.last_error


def test_a_private_address_is_refused_without_a_connection(
    office, endpoint, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    run(django_capture_on_commit_callbacks, leg("CHANNEL_PROGRESS", office, "a-leg-1"))
    event = WebhookEvent.objects.get()
    assert event.status == "failed" and "non-public" in event.last_error
    assert endpoint.requests == []


@pytest.mark.parametrize(
    "url", ["http://user@127.0.0.1/", "ftp://example.com/", "http://127.1/", "http://a b/"]
)
def test_webhook_urls_two_parsers_could_read_differently_are_refused(customer, url):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        services.crm_settings_set(customer=customer, webhook_url=url)


def test_the_answering_employees_portal_gets_the_card(office, django_capture_on_commit_callbacks):
    CallRecord.objects.create(
        customer=office["customer"],
        uuid="earlier",
        caller_number="+79161234567",
        direction="inbound",
        started_at=timezone.now() - dt.timedelta(days=1),
    )
    run(django_capture_on_commit_callbacks, leg("CHANNEL_ANSWER", office, "a-leg-1"))
    call = CrmCall.objects.get()
    assert (call.employee, call.answered_by) == (office["anna"], office["user"])
    notice = PortalNotice.objects.get(user=office["user"])
    message = notice.as_message()
    assert message["url"] == f"/pbx/crm/calls/{call.pk}/"
    assert "+79161234567" in message["title"]
    assert "1" in message["body"]  # one earlier call
    # another leg of the same call answering later changes nothing
    run(django_capture_on_commit_callbacks, leg("CHANNEL_ANSWER", office, "a-leg-1", uuid="b2"))
    assert PortalNotice.objects.count() == 1


def test_switching_the_option_off_stops_the_feature_at_the_next_call(
    office, endpoint, django_capture_on_commit_callbacks
):
    billing.option_set(customer=office["customer"], code=Option.CRM, enabled=False)
    run(
        django_capture_on_commit_callbacks,
        leg("CHANNEL_PROGRESS", office, "a-leg-9"),
        leg("CHANNEL_ANSWER", office, "a-leg-9"),
        caller_hangup(office, "a-leg-9"),
    )
    assert not CrmCall.objects.exists() and endpoint.requests == []
    assert not PortalNotice.objects.exists()


def test_legs_that_are_not_an_employees_of_an_incoming_call_are_ignored(
    office, django_capture_on_commit_callbacks
):
    own = leg("CHANNEL_ANSWER", office, "b-leg-1")  # its own caller leg: not an employee's leg
    no_user = Event(
        [p for p in leg("CHANNEL_ANSWER", office, "a").pairs if "dialed_user" not in p[0]]
    )
    other = factories.customer(name="Другой")
    foreign = Event(
        [
            (k, str(other.pk) if k == "variable_pbx_customer" else v)
            for k, v in leg("CHANNEL_ANSWER", office, "a-leg-5").pairs
        ]
    )
    billing.option_set(customer=other, code=Option.CRM, enabled=True)
    run(django_capture_on_commit_callbacks, own, no_user, foreign)  # foreign: not its number
    assert not CrmCall.objects.exists()


# --- the card page -----------------------------------------------------------------------------


@pytest.fixture
def answered(office, django_capture_on_commit_callbacks):
    run(django_capture_on_commit_callbacks, leg("CHANNEL_ANSWER", office, "a-leg-1"))
    return CrmCall.objects.get()


def test_the_card_shows_the_caller_history_and_keeps_notes(office, answered):
    cust = office["customer"]
    factories.employee(
        cust, None, extension="150", name="Пётр Мобильный", mobile_number="+79161234567"
    )
    CallRecord.objects.create(
        customer=cust,
        uuid="old",
        caller_number="89161234567",
        callee_number="74951112244",
        direction="inbound",
        started_at=timezone.now() - dt.timedelta(days=2),
    )
    client = Client(enforce_csrf_checks=True)
    client.force_login(office["user"])  # department staff: the employee who answered
    page = client.get(f"/pbx/crm/calls/{answered.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "+79161234567" in html and "Пётр Мобильный" in html and "74951112244" in html
    refused = client.post(f"/pbx/crm/calls/{answered.pk}/notes/", {"text": "хочет счёт"})
    assert refused.status_code == 403 and not CallNote.objects.exists()  # no CSRF token
    token = (
        page.cookies["csrftoken"].value
        if "csrftoken" in page.cookies
        else client.cookies["csrftoken"].value
    )
    saved = client.post(
        f"/pbx/crm/calls/{answered.pk}/notes/", {"text": "хочет счёт", "csrfmiddlewaretoken": token}
    )
    assert saved.status_code == 302
    note = CallNote.objects.get()
    assert (note.call, note.author, note.text) == (answered, office["user"], "хочет счёт")
    assert "хочет счёт" in client.get(f"/pbx/crm/calls/{answered.pk}/").content.decode()


def test_another_customers_card_and_notes_are_404(office, answered, other_customer):
    stranger = factories.user(other_customer)
    client = Client()
    client.force_login(stranger)
    assert client.get(f"/pbx/crm/calls/{answered.pk}/").status_code == 404
    assert client.post(f"/pbx/crm/calls/{answered.pk}/notes/", {"text": "x"}).status_code == 404
    assert not CallNote.objects.exists()
    anna = office["anna"]
    assert client.post(f"/pbx/crm/employees/{anna.pk}/user/", {"user": ""}).status_code == 404
    assert EmployeeUser.objects.filter(employee=anna).exists()


def test_settings_are_for_administrators(office, admin_client):
    staff = Client()
    staff.force_login(office["user"])
    assert staff.post("/pbx/crm/", {"webhook_url": "https://crm.example.com/x"}).status_code == 403
    assert admin_client.get("/pbx/crm/").status_code == 200
    response = admin_client.post("/pbx/crm/", {"webhook_url": "https://crm.example.com/x"})
    assert response.status_code == 302
    office["customer"].crm.refresh_from_db()
    assert office["customer"].crm.webhook_url == "https://crm.example.com/x"
    response = admin_client.post("/pbx/crm/", {"webhook_url": "http://u@crm.example.com/"})
    assert response.status_code == 400


# --- dialplan ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, exports", [({"crm"}, 1), (set(), 0), ({"crm", "integrated_number"}, 1)]
)
def test_a_regular_numbers_employee_legs_carry_the_customer_and_number(options, exports):
    """Exported once: an integrated number exports them itself."""

    def xml(features, options):
        call = render.PublicCall(
            number=number(kind=PhoneNumber.Kind.REGULAR),
            customer=plain_customer(),
            employees=[plain_employee()],
            options=frozenset(options),
            features=features,
        )
        return render.render_public_dialplan("74951234567", call, settings=CONF)

    rendered = xml([contribution], options)
    assert rendered.count('application="export" data="pbx_number=78"') == exports
    assert rendered.count('application="export" data="pbx_customer=12"') == exports
    if not options:
        assert rendered == xml([], options)


# --- API ---------------------------------------------------------------------------------------


def test_the_api_lists_calls_with_notes_and_takes_a_note(office, answered, other_customer):
    from rest_framework.test import APIClient

    from portal.tenants.models import ApiToken

    _token, key = ApiToken.issue(customer=office["customer"], name="crm")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    created = api.post(f"/api/v1/crm/calls/{answered.pk}/notes/", {"text": "перезвонить"})
    assert created.status_code == 201, created.content
    listed = api.get("/api/v1/crm/calls/").json()["results"]
    assert [(c["caller_e164"], [n["text"] for n in c["notes"]]) for c in listed] == [
        ("+79161234567", ["перезвонить"])
    ]
    _token, theirs = ApiToken.issue(customer=other_customer, name="their")
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION=f"Token {theirs}")
    assert stranger.get(f"/api/v1/crm/calls/{answered.pk}/").status_code == 404
    assert (
        stranger.post(f"/api/v1/crm/calls/{answered.pk}/notes/", {"text": "x"}).status_code == 404
    )
    assert stranger.get("/api/v1/crm/calls/").json()["results"] == []


def test_the_card_and_settings_speak_english(office, answered):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(office["user"])
    card = client.get(f"/pbx/crm/calls/{answered.pk}/").content.decode()
    for text in ("Call card", "Notes", "Save note", "Calls from this number", "Callback requests"):
        assert text in card
    assert "Заметки" not in card
    admin = factories.user(office["customer"])
    client.force_login(admin)
    assert "CRM webhook URL" in client.get("/pbx/crm/").content.decode()
