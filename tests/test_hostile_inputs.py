"""Hostile inputs found by probing a running portal: each answered 500 and is now a 4xx with a
message (issue 14, item 6). Run on PostgreSQL, where NUL characters and huge integers reach the
database driver and used to blow up there."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from portal.integrated import services as integrated
from portal.integrated.models import ChatMessage, TrustedPerson
from portal.tenants.models import ApiToken
from portal.video import services as video
from portal.video.models import VideoMessage
from tests import factories
from tests.test_cdr_http import PASSWORD, USER, basic, raw_json
from tests.test_cdr_ingest import json_cdr_from_event, plain_event
from tests.test_integrated import Service, caller_client
from tests.test_video import joined, new_session

HUGE = "9223372036854775808"  # 2**63: one past PostgreSQL's bigint


@pytest.fixture(autouse=True)
def media(settings, tmp_path, monkeypatch):
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def cdr_password(settings):
    settings.FREESWITCH_CDR_USER, settings.FREESWITCH_CDR_PASSWORD = USER, PASSWORD


@pytest.fixture
def event(customer):
    event = plain_event("02d-originate-answer-park-kill.txt")
    event["variable_pbx_customer"] = str(customer.pk)
    return event


@pytest.fixture
def api(customer):
    _token, key = ApiToken.issue(customer=customer, name="t")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def is_clear_4xx(response) -> bool:
    return 400 <= response.status_code < 500 and bool(response.content.strip())


# -- video chat -----------------------------------------------------------------------------------


@pytest.mark.parametrize("reply_to", ["abc", "1.5", HUGE, "-1", "\x00"])
def test_a_specialists_reply_to_that_is_not_a_message_id_is_a_400(customer, reply_to):
    specialist = factories.user(customer, username="spec")
    session, token = new_session(specialist)
    joined(token)
    client = Client()
    client.force_login(specialist)
    response = client.post(
        f"/pbx/video/{session.pk}/messages/", {"text": "hi", "reply_to": reply_to}
    )
    assert response.status_code == 400
    assert not VideoMessage.objects.exists()


def test_a_nul_in_a_video_chat_text_is_a_400_from_either_party(customer):
    specialist = factories.user(customer, username="spec")
    session, token = new_session(specialist)
    phone = joined(token)
    assert phone.post(f"/v/{token}/messages/", {"text": "a\x00b"}).status_code == 400
    client = Client()
    client.force_login(specialist)
    response = client.post(f"/pbx/video/{session.pk}/messages/", {"text": "a\x00b"})
    assert response.status_code == 400
    assert not VideoMessage.objects.exists()
    video.message_add  # the service is the one write path both views use


# -- integrated numbers -------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", HUGE, "1e3", "\x00"])
def test_removing_a_trusted_person_by_a_non_integer_id_is_a_400(db, value):
    client, caller = caller_client()
    TrustedPerson.objects.create(caller=caller, name="Мама", phone="+79160000001")
    response = client.post("/c/profile/", {"form": "untrust", "id": value})
    assert response.status_code == 400
    assert TrustedPerson.objects.count() == 1


def test_a_nul_in_an_integrated_chat_text_is_a_400(customer):
    svc = Service(customer)
    call = svc.live()
    integrated.chat_enable(call, svc.user)
    client, _caller = caller_client()
    assert client.post(f"/c/calls/{call.pk}/messages/", {"text": "a\x00b"}).status_code == 400
    operator = Client()
    operator.force_login(svc.user)
    response = operator.post(f"/pbx/integrated/calls/{call.pk}/messages/", {"text": "a\x00b"})
    assert response.status_code == 400
    assert not ChatMessage.objects.exists()


# -- tariff and options -------------------------------------------------------------------------


def test_a_nul_in_an_option_code_is_a_400(admin_client):
    response = admin_client.post("/pbx/tariff/options/", {"code": "call\x00back", "enabled": "on"})
    assert is_clear_4xx(response)


@pytest.mark.parametrize("month", ["0000-01", "9999-12", "10000-01", "2026-13", "-001-01"])
def test_a_month_out_of_range_is_a_400_on_the_ledger_api(api, month):
    response = api.get("/api/v1/ledger/", {"month": month})
    assert response.status_code == 400
    assert response.json()["month"]


@pytest.mark.parametrize("month", ["0000-01", "9999-12"])
def test_a_month_out_of_range_on_the_tariff_page_falls_back_with_a_message(admin_client, month):
    response = admin_client.get("/pbx/tariff/", {"month": month})
    assert response.status_code in (200, 400)
    assert response.status_code != 500


# -- API pagination -------------------------------------------------------------------------------


LIST_ENDPOINTS = [
    "/api/v1/departments/",
    "/api/v1/employees/",
    "/api/v1/numbers/",
    "/api/v1/ledger/",
    "/api/v1/callbacks/",
    "/api/v1/fictive-calls/",
]


@pytest.mark.parametrize("url", LIST_ENDPOINTS)
@pytest.mark.parametrize("param", ["limit", "offset"])
def test_a_huge_limit_or_offset_is_capped_not_a_500(api, customer, url, param):
    factories.department(customer)
    response = api.get(url, {param: HUGE})
    assert response.status_code in (200, 400), (url, response.status_code)
    if response.status_code == 200 and param == "limit":
        assert "limit=1000" in (response.json().get("next") or "limit=1000")


def test_a_huge_limit_on_tokens_is_capped(admin_client):
    assert admin_client.get("/api/v1/tokens/", {"limit": HUGE}).status_code == 200


# -- CDR intake -------------------------------------------------------------------------------


def cdr_with(event, **variables):
    doc = json_cdr_from_event(event)
    doc["variables"].update(variables)
    return raw_json(doc)


@pytest.mark.parametrize(
    "variables",
    [
        {"billsec": "inf"},
        {"billsec": "1e30"},
        {"billsec": "nan"},
        {"duration": "-inf"},
        {"end_epoch": "1e20"},
        {"start_epoch": "99999999999999"},
        {"answer_epoch": "-1e300"},
        {"sip_user_agent": "evil\x00agent"},
        {"caller_id_name": "\x00"},
    ],
)
def test_a_cdr_with_out_of_range_numbers_or_nul_is_a_400(client, event, variables):
    response = client.post(
        "/freeswitch/cdr/",
        data=cdr_with(event, **variables),
        content_type="application/json",
        HTTP_AUTHORIZATION=basic(),
    )
    assert response.status_code == 400, response.content
    assert response.content.startswith(b"Bad CDR")


def test_a_100k_deep_json_cdr_is_a_400(client, db):
    body = b"[" * 100_000 + b"]" * 100_000
    response = client.post(
        "/freeswitch/cdr/", data=body, content_type="application/json", HTTP_AUTHORIZATION=basic()
    )
    assert response.status_code == 400
    body = ('{"variables": ' * 50_000 + "{}" + "}" * 50_000).encode()
    response = client.post(
        "/freeswitch/cdr/", data=body, content_type="application/json", HTTP_AUTHORIZATION=basic()
    )
    assert response.status_code == 400


def test_an_ordinary_cdr_still_goes_in(client, event):
    response = client.post(
        "/freeswitch/cdr/",
        data=cdr_with(event),
        content_type="application/json",
        HTTP_AUTHORIZATION=basic(),
    )
    assert response.status_code == 200, response.content
    assert json.loads(raw_json({"a": 1})) == {"a": 1}
