"""POST /freeswitch/cdr/: what mod_json_cdr sends, with HTTP basic auth."""

from __future__ import annotations

import base64
import json

import pytest

from portal.calls.models import CallRecord
from portal.calls.services import cdr_ingest
from tests.test_cdr_ingest import UUID_02D, fs_url_encode, json_cdr_from_event, plain_event, row

URL = "/freeswitch/cdr/"
USER, PASSWORD = "freeswitch", "cdr-secret-9f2"


@pytest.fixture(autouse=True)
def cdr_credentials(settings):
    settings.FREESWITCH_CDR_USER = USER
    settings.FREESWITCH_CDR_PASSWORD = PASSWORD


@pytest.fixture
def event(customer):
    event = plain_event("02d-originate-answer-park-kill.txt")
    event["variable_pbx_customer"] = str(customer.pk)
    return event


def basic(user: str = USER, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def post(client, body, content_type="application/json", auth=None, url=URL, **extra):
    if auth is not None:
        extra["HTTP_AUTHORIZATION"] = auth
    return client.post(url, data=body, content_type=content_type, **extra)


def raw_json(doc) -> bytes:
    """`encode` false (mod_json_cdr's default): the JSON as the body."""
    return json.dumps(doc, separators=(",", ":")).encode()


# --- auth ------------------------------------------------------------------------------------


def test_a_post_without_credentials_is_asked_to_authenticate(client, event):
    response = post(client, raw_json(json_cdr_from_event(event)))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic ")
    assert not CallRecord.objects.exists()


@pytest.mark.parametrize(
    "auth",
    [basic(password="wrong"), basic(user="admin"), "Basic !!!notbase64", "Bearer " + PASSWORD],
)
def test_wrong_credentials_are_refused(client, event, auth):
    assert post(client, raw_json(json_cdr_from_event(event)), auth=auth).status_code == 401
    assert not CallRecord.objects.exists()


def test_everything_is_refused_while_no_cdr_password_is_configured(client, event, settings):
    settings.FREESWITCH_CDR_PASSWORD = ""
    response = post(client, raw_json(json_cdr_from_event(event)), auth=basic(password=""))
    assert response.status_code == 403
    assert "FREESWITCH_CDR_PASSWORD" in response.content.decode()


def test_only_post_is_allowed(client):
    assert client.get(URL, HTTP_AUTHORIZATION=basic()).status_code == 405


# --- bad bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty body"),
        (b'{"variables": {"uuid": "x"', "malformed JSON"),
        (b"[1, 2]", "must be an object"),
        (b'{"callflow": {}}', "no variables"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
)
def test_a_malformed_body_gets_400_with_a_message(client, body, message):
    response = post(client, body, auth=basic())
    assert response.status_code == 400
    assert message in response.content.decode()


def test_a_cdr_without_any_unique_id_gets_400(client, db):
    response = post(client, b'{"variables": {"direction": "inbound"}}', auth=basic())
    assert response.status_code == 400
    assert "Unique-ID" in response.content.decode()


def test_a_form_post_without_the_cdr_field_gets_400(client):
    response = post(
        client, b"foo=bar", content_type="application/x-www-form-urlencoded", auth=basic()
    )
    assert response.status_code == 400


# --- what mod_json_cdr really sends ----------------------------------------------------------


def test_a_raw_json_cdr_is_stored(client, event, customer):
    response = post(client, raw_json(json_cdr_from_event(event)), auth=basic())
    assert response.status_code == 200
    record = CallRecord.objects.get()
    assert record.uuid == UUID_02D and record.customer == customer
    assert record.sources == ["http"]
    assert (record.caller_number, record.callee_number, record.billsec) == ("74950000001", "100", 2)


def test_a_url_encoded_cdr_form_field_is_stored(client, event):
    """`encode` true: `cdr=<switch_url_encode(json)>` as application/x-www-form-urlencoded."""
    doc = json_cdr_from_event(event)
    doc["variables"]["pbx_note"] = fs_url_encode("звонок +7 & co")
    body = ("cdr=" + fs_url_encode(json.dumps(doc, ensure_ascii=False))).encode()
    response = post(
        client,
        body,
        content_type="application/x-www-form-urlencoded",
        auth=basic(),
        url=URL + f"?uuid={UUID_02D}",
    )
    assert response.status_code == 200, response.content
    record = CallRecord.objects.get()
    assert record.variables["pbx_note"] == "звонок +7 & co"
    assert record.callee_number == "100"


def test_a_base64_cdr_form_field_is_stored(client, event):
    """`encode` base64: `cdr=<base64(json)>` as application/x-www-form-base64-encoded."""
    body = b"cdr=" + base64.b64encode(raw_json(json_cdr_from_event(event)))
    response = post(
        client, body, content_type="application/x-www-form-base64-encoded", auth=basic()
    )
    assert response.status_code == 200
    assert CallRecord.objects.get().uuid == UUID_02D


def test_repeated_callflow_keys_use_the_first_that_is_the_current_profile(client, event):
    doc = json_cdr_from_event(event)
    current = json.dumps(doc.pop("callflow"))
    older = json.dumps({"caller_profile": {"destination_number": "9999", "context": "public"}})
    body = raw_json(doc)[:-1] + f',"callflow":{current},"callflow":{older}}}'.encode()
    assert post(client, body, auth=basic()).status_code == 200
    assert CallRecord.objects.get().callee_number == "100"


def test_the_uuid_query_parameter_is_the_fallback_unique_id(client, db):
    response = post(
        client,
        b'{"variables": {"hangup_cause": "NO_ANSWER"}}',
        auth=basic(),
        url=URL + "?uuid=0b7c6f1e-9a7b-4a55-9d2a-6b3a0f4e1c22",
    )
    assert response.status_code == 200
    assert CallRecord.objects.get().uuid == "0b7c6f1e-9a7b-4a55-9d2a-6b3a0f4e1c22"


def test_the_node_in_the_path_names_the_node(client, event):
    response = post(client, raw_json(json_cdr_from_event(event)), auth=basic(), url=URL + "fs1/")
    assert response.status_code == 200
    assert CallRecord.objects.get().node == "fs1"


def test_a_retried_post_and_the_hangup_event_leave_one_identical_row_in_any_order(client, event):
    body = raw_json(json_cdr_from_event(event))
    for _ in range(2):  # mod_json_cdr retries
        assert post(client, body, auth=basic(), url=URL + "fs1/").status_code == 200
    cdr_ingest(event, source="event", node="fs1")
    http_first = row(UUID_02D)
    CallRecord.objects.all().delete()

    cdr_ingest(event, source="event", node="fs1")
    assert post(client, body, auth=basic(), url=URL + "fs1/").status_code == 200
    event_first = row(UUID_02D)

    ignore = {"created_at", "updated_at"}
    assert CallRecord.objects.count() == 1
    assert {k: v for k, v in http_first.items() if k not in ignore} == {
        k: v for k, v in event_first.items() if k not in ignore
    }
