"""Callback pages and the read-only API: filters, roles, tenant isolation, recordings."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from portal.billing import services as billing_services
from portal.callbacks import services as callback_services
from portal.callbacks.models import CallbackAttempt, CallbackRequest
from portal.calls.models import CallRecord
from portal.calls.services import cdr_ingest
from portal.directory.models import PhoneNumber
from portal.tenants.models import ApiToken, User
from tests import factories

T0 = dt.datetime(2024, 3, 1, 9, 0, tzinfo=dt.UTC)
MIN = dt.timedelta(minutes=1)


def make_request(customer, dept, *, caller="+79161234567", status="pending", created=T0, **kw):
    number = PhoneNumber.objects.filter(customer=customer, department=dept).first()
    if number is None:
        number = factories.number(customer, kind=PhoneNumber.Kind.MULTICHANNEL, department=dept)
    return CallbackRequest.objects.create(
        customer=customer,
        department=dept,
        number=number,
        caller_number=caller,
        status=status,
        next_attempt_at=created,
        first_attempt_deadline=created + 10 * MIN,
        origin_uuid=kw.pop("origin_uuid", f"{caller}-{created.isoformat()}-{status}"),
        created_at=created,
        **kw,
    )


@pytest.fixture
def data(customer, other_customer):
    sales = factories.department(customer, "Продажи")
    support = factories.department(customer, "Поддержка")
    emp = factories.employee(customer, sales, extension="201", name="Анна")
    done = make_request(
        customer,
        sales,
        caller="+79160000001",
        status="completed",
        employee=emp,
        close_reason="connected",
        closed_at=T0 + 5 * MIN,
    )
    CallbackAttempt.objects.create(
        request=done,
        number=1,
        status="finished",
        employee=emp,
        started_at=T0,
        ended_at=T0 + MIN,
        cause="NO_ANSWER",
    )
    CallbackAttempt.objects.create(
        request=done,
        number=2,
        status="finished",
        employee=emp,
        started_at=T0 + 6 * MIN,
        ended_at=T0 + 8 * MIN,
        cause="NORMAL_CLEARING",
        recording_path="c1/call.wav",
    )
    failed = make_request(
        customer,
        support,
        caller="+79160000002",
        status="failed",
        created=T0 + dt.timedelta(days=2),
        close_reason="caller did not answer",
    )
    theirs_dept = factories.department(other_customer, "Их отдел")
    theirs = make_request(other_customer, theirs_dept, caller="+79169999999")
    return {"sales": sales, "support": support, "done": done, "failed": failed, "theirs": theirs}


def rows(response):
    html = response.content.decode()
    return {r.pk for r in CallbackRequest.objects.all() if f'data-request="{r.pk}"' in html}


@pytest.mark.django_db
def test_the_list_shows_requests_with_attempts_causes_and_employee(admin_client, data):
    response = admin_client.get("/pbx/callbacks/")
    assert response.status_code == 200
    html = response.content.decode()
    assert rows(response) == {data["done"].pk, data["failed"].pk}
    assert "+79160000001" in html and "Продажи" in html and "Анна" in html
    assert "NO_ANSWER" in html and "NORMAL_CLEARING" in html
    assert "состоялся" in html and "абонент не ответил" in html
    attempt = data["done"].attempts.get(number=2)
    assert f"/pbx/callbacks/attempts/{attempt.pk}/recording.wav" in html
    assert "+79169999999" not in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=failed", {"failed"}),
        ("status=completed", {"done"}),
        ("department={sales}", {"done"}),
        ("date_from=2024-03-02", {"failed"}),
        ("date_to=2024-03-01", {"done"}),
        ("date_from=2024-03-01&date_to=2024-03-03", {"done", "failed"}),
    ],
)
def test_the_list_filters_by_status_department_and_dates(admin_client, data, query, expected):
    response = admin_client.get("/pbx/callbacks/?" + query.format(sales=data["sales"].pk))
    assert response.status_code == 200
    assert rows(response) == {data[name].pk for name in expected}


@pytest.mark.django_db
def test_another_customers_department_in_the_filter_is_refused(admin_client, data):
    response = admin_client.get(f"/pbx/callbacks/?department={data['theirs'].department_id}")
    assert response.status_code == 400
    assert "+79169999999" not in response.content.decode()


@pytest.mark.django_db
def test_another_customers_request_and_recording_are_404(admin_client, data):
    assert admin_client.get(f"/pbx/callbacks/{data['theirs'].pk}/").status_code == 404
    theirs_attempt = CallbackAttempt.objects.create(
        request=data["theirs"], number=1, started_at=T0, recording_path="x.wav"
    )
    url = f"/pbx/callbacks/attempts/{theirs_attempt.pk}/recording.wav"
    assert admin_client.get(url).status_code == 404


@pytest.mark.django_db
def test_the_detail_page_shows_every_attempt(admin_client, data):
    response = admin_client.get(f"/pbx/callbacks/{data['done'].pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "попытка 1" in html and "попытка 2" in html and "разговор состоялся" in html


@pytest.mark.django_db
def test_department_staff_may_view_the_list(client, customer, data):
    client.force_login(factories.user(customer, role=User.Role.DEPARTMENT_STAFF))
    assert client.get("/pbx/callbacks/").status_code == 200
    assert client.get(f"/pbx/callbacks/{data['done'].pk}/").status_code == 200


@pytest.mark.django_db
def test_the_pages_need_a_login_and_a_customer(client, data):
    assert client.get("/pbx/callbacks/").status_code == 302
    client.force_login(factories.user(None, username="platform"))
    assert client.get("/pbx/callbacks/").status_code == 403


@pytest.mark.django_db
def test_a_recording_is_served_to_its_customer_only_from_the_recordings_dir(
    admin_client, data, tmp_path
):
    attempt = data["done"].attempts.get(number=2)
    (tmp_path / "c1").mkdir()
    (tmp_path / "c1" / "call.wav").write_bytes(b"RIFF....WAVE")
    (tmp_path.parent / "secret.wav").write_bytes(b"secret")
    url = f"/pbx/callbacks/attempts/{attempt.pk}/recording.wav"
    with override_settings(RECORDINGS_DIR=tmp_path):
        response = admin_client.get(url)
        assert response.status_code == 200 and response["Content-Type"] == "audio/wav"
        assert b"".join(response.streaming_content) == b"RIFF....WAVE"
        CallbackAttempt.objects.filter(pk=attempt.pk).update(recording_path="../secret.wav")
        assert admin_client.get(url).status_code == 404


@pytest.mark.django_db
def test_the_page_warns_when_the_option_is_off(admin_client, data):
    assert 'data-warning="option-off"' in admin_client.get("/pbx/callbacks/").content.decode()


# -- API ----------------------------------------------------------------------------------------


@pytest.fixture
def api(customer):
    _token, key = ApiToken.issue(customer=customer, name="crm")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.mark.django_db
def test_the_api_lists_the_customers_requests_with_attempts(api, data):
    body = api.get("/api/v1/callbacks/").json()
    assert body["count"] == 2
    by_id = {r["id"]: r for r in body["results"]}
    done = by_id[data["done"].pk]
    assert done["status"] == "completed" and done["caller_number"] == "+79160000001"
    assert [a["cause"] for a in done["attempts"]] == ["NO_ANSWER", "NORMAL_CLEARING"]
    assert [a["has_recording"] for a in done["attempts"]] == [False, True]
    assert "recording_path" not in done["attempts"][0]


@pytest.mark.django_db
def test_the_api_filters_and_isolates_tenants(api, data):
    body = api.get("/api/v1/callbacks/", {"status": "failed"}).json()
    assert [r["id"] for r in body["results"]] == [data["failed"].pk]
    body = api.get("/api/v1/callbacks/", {"department": data["sales"].pk}).json()
    assert [r["id"] for r in body["results"]] == [data["done"].pk]
    assert api.get("/api/v1/callbacks/", {"status": "nonsense"}).status_code == 400
    assert api.get(f"/api/v1/callbacks/{data['theirs'].pk}/").status_code == 404
    assert api.get(f"/api/v1/callbacks/{data['done'].pk}/").status_code == 200


@pytest.mark.django_db
def test_the_api_is_read_only(api, data):
    assert api.post("/api/v1/callbacks/", {}, format="json").status_code == 405
    url = f"/api/v1/callbacks/{data['done'].pk}/"
    assert api.delete(url).status_code == 405
    assert CallbackRequest.objects.filter(pk=data["done"].pk).exists()


# -- staff act on requests: call now, done, cancel; the caller getting through -------------------


def act(client, r, action, **extra):
    return client.post(f"/pbx/callbacks/{r.pk}/act/", {"action": action, **extra})


@pytest.fixture
def pending(customer, data):
    billing_services.option_set(customer=customer, code="callback", enabled=True)
    now = timezone.now()
    r = make_request(
        customer, data["sales"], caller="+79160000003", created=now - 2 * MIN, origin_uuid="p1"
    )
    r.next_attempt_at = now + 3 * MIN  # waiting for the 5-minute retry, say
    r.save(update_fields=["next_attempt_at"])
    return r


@pytest.mark.django_db
def test_call_now_makes_the_request_due_and_call_control_claims_it(
    admin_client, admin_user, pending
):
    before = timezone.now()
    response = act(admin_client, pending, "call_now")
    assert response.status_code == 302 and response["Location"] == f"/pbx/callbacks/{pending.pk}/"
    pending.refresh_from_db()
    assert pending.status == "pending" and before <= pending.next_attempt_at <= timezone.now()
    assert pending.handled_by == admin_user and pending.handled_at >= before
    # Nothing was dialled by the web process: call control's claim (CAS) takes it.
    plans = callback_services.callback_claim_due(now=timezone.now(), worker="node-1")
    assert [p.request_id for p in plans] == [pending.pk]
    pending.refresh_from_db()
    assert pending.status == "dialing"
    # Now it is being dialled: staff can no longer cancel it.
    response = act(admin_client, pending, "cancel")
    pending.refresh_from_db()
    assert pending.status == "dialing"
    page = admin_client.get(response["Location"]).content.decode()
    assert "Сейчас идёт вызов" in page


@pytest.mark.django_db
def test_cancel_and_done_close_the_request_and_show_who_handled_it(admin_client, pending, data):
    response = act(admin_client, pending, "cancel", next="/pbx/callbacks/?status=pending")
    assert response["Location"] == "/pbx/callbacks/?status=pending"
    pending.refresh_from_db()
    assert pending.status == "cancelled" and pending.close_reason == "cancelled by staff"
    assert pending.closed_at is not None
    html = admin_client.get(f"/pbx/callbacks/{pending.pk}/").content.decode()
    assert "отменён сотрудником" in html and "data-handled" in html
    # A failed request may be marked done (reached some other way) but not cancelled.
    failed = data["failed"]
    act(admin_client, failed, "cancel")
    failed.refresh_from_db()
    assert failed.status == "failed"
    act(admin_client, failed, "done")
    failed.refresh_from_db()
    assert failed.status == "completed" and failed.close_reason == "marked done by staff"
    # A conversation that took place stays as it was.
    for action in ("call_now", "done", "cancel"):
        act(admin_client, data["done"], action)
    data["done"].refresh_from_db()
    assert data["done"].status == "completed" and data["done"].close_reason == "connected"


@pytest.mark.django_db
def test_call_now_reopens_a_failed_request_for_one_more_attempt(admin_client, pending, data):
    act(admin_client, pending, "cancel")
    act(admin_client, pending, "call_now")
    pending.refresh_from_db()
    assert pending.status == "pending" and pending.closed_at is None
    assert pending.first_attempt_deadline > timezone.now() + 9 * MIN
    # The caller already has an open request in the department: no second one.
    failed = data["failed"]
    make_request(failed.customer, failed.department, caller=failed.caller_number, origin_uuid="x")
    act(admin_client, failed, "call_now")
    failed.refresh_from_db()
    assert failed.status == "failed"


@pytest.mark.django_db
def test_call_now_is_refused_while_the_option_is_off(admin_client, customer, pending):
    billing_services.option_set(customer=customer, code="callback", enabled=False)
    html = admin_client.get(f"/pbx/callbacks/{pending.pk}/").content.decode()
    assert 'value="done"' in html and 'value="call_now"' not in html
    response = act(admin_client, pending, "call_now")
    pending.refresh_from_db()
    assert pending.next_attempt_at > timezone.now()
    assert "отключена" in admin_client.get(response["Location"]).content.decode()


@pytest.mark.django_db
def test_staff_act_on_their_departments_requests_only(client, customer, pending, data):
    staff = factories.user(customer, role=User.Role.DEPARTMENT_STAFF, username="anna")
    client.force_login(staff)
    assert act(client, pending, "done").status_code == 403
    assert "data-actions" not in client.get(f"/pbx/callbacks/{pending.pk}/").content.decode()
    staff.departments.add(data["sales"])
    assert act(client, pending, "done").status_code == 302
    pending.refresh_from_db()
    assert pending.status == "completed" and pending.handled_by == staff


@pytest.mark.django_db
def test_hostile_requests_change_nothing(client, admin_client, admin_user, pending, data):
    theirs = data["theirs"]
    assert act(admin_client, theirs, "cancel").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "pending"
    assert admin_client.get(f"/pbx/callbacks/{pending.pk}/act/").status_code == 405
    response = act(admin_client, pending, "drop table")
    pending.refresh_from_db()
    assert response.status_code == 302 and pending.status == "pending"
    # Somewhere else to go back to: refused, back to the request.
    response = act(admin_client, pending, "done", next="https://evil.example/")
    assert response["Location"] == f"/pbx/callbacks/{pending.pk}/"
    # Without the CSRF token.
    client.handler.enforce_csrf_checks = True
    client.force_login(admin_user)
    assert act(client, data["failed"], "done").status_code == 403
    data["failed"].refresh_from_db()
    assert data["failed"].status == "failed"
    client.logout()
    assert act(client, data["failed"], "done").status_code in (302, 403)
    data["failed"].refresh_from_db()
    assert data["failed"].status == "failed"


def inbound_cdr(uuid, *, customer, caller, callee, answered=True, started=None):
    start = int((started or timezone.now()).timestamp())
    return {
        "Unique-ID": uuid,
        "Caller-ANI": caller,
        "Caller-Destination-Number": callee,
        "Caller-Context": "public",
        "Hangup-Cause": "NORMAL_CLEARING",
        "variable_pbx_customer": str(customer.pk),
        "variable_start_epoch": str(start),
        "variable_answer_epoch": str(start + 5) if answered else "0",
        "variable_end_epoch": str(start + 65),
        "variable_billsec": "60" if answered else "0",
    }


def ingest(uuid, **kwargs):
    return cdr_ingest(inbound_cdr(uuid, **kwargs), source="event")


@pytest.mark.django_db(transaction=True)
def test_a_request_closes_when_the_caller_gets_through_to_the_department(customer, pending, data):
    other_customer = data["theirs"].customer
    number = pending.number.e164
    caller = "79160000003"
    # Not answered, to a number of no department, from someone else, another customer's CDR,
    # a call that started before the request (the one in which they pressed 1): no change.
    ingest("a1", customer=customer, caller=caller, callee=number, answered=False)
    ingest("a2", customer=customer, caller=caller, callee="+74990000000")
    ingest("a3", customer=customer, caller="79160000009", callee=number)
    ingest("a4", customer=other_customer, caller=caller, callee=number)
    ingest("a5", customer=customer, caller=caller, callee=number, started=pending.created_at - MIN)
    # Another department's number.
    factories.number(customer, "+74950000077", department=data["support"])
    ingest("a6", customer=customer, caller=caller, callee="+74950000077")
    pending.refresh_from_db()
    assert pending.status == "pending"
    # The caller's own answered call to another number of the department: "дозвонился сам".
    factories.number(customer, "+74950000078", department=data["sales"])
    ingest("a7", customer=customer, caller=caller, callee="74950000078")
    pending.refresh_from_db()
    assert pending.status == "completed" and pending.close_reason == "caller got through"
    assert callback_services.reason_text(pending.close_reason) == "дозвонился сам"
    assert pending.closed_at == CallRecord.objects.get(uuid="a7").ended_at


@pytest.mark.django_db(transaction=True)
def test_a_request_being_dialled_is_left_to_its_attempt(customer, pending):
    pending.status = "dialing"
    pending.save(update_fields=["status"])
    ingest("b1", customer=customer, caller="79160000003", callee=pending.number.e164)
    pending.refresh_from_db()
    assert pending.status == "dialing"


@pytest.mark.django_db
def test_a_claim_for_one_customer_leaves_the_others_due_requests(customer, pending, data):
    theirs = data["theirs"]
    billing_services.option_set(customer=theirs.customer, code="callback", enabled=True)
    now = timezone.now()
    CallbackRequest.objects.filter(pk__in=[pending.pk, theirs.pk]).update(
        next_attempt_at=now - MIN, first_attempt_deadline=now + 5 * MIN
    )
    plans = callback_services.callback_claim_due(now=now, worker="demo", customer_id=customer.pk)
    assert [p.request_id for p in plans] == [pending.pk]
    theirs.refresh_from_db()
    assert theirs.status == "pending" and not theirs.claimed_by
