"""Blacklist in the portal and the API: the page, adding and deleting, CSV import (all or
nothing), adding the caller of a call from the history, the log of rejected calls from the
CDRs the dialplan tagged; another tenant's ids are 404s, writes need CSRF and the admin role."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from portal.blacklist import services
from portal.blacklist.models import BlacklistEntry, BlacklistSettings
from portal.calls.models import CallRecord
from portal.switch.models import ConfigChange
from portal.tenants.models import ApiToken
from tests import factories


def entries(customer) -> list[tuple[str, str]]:
    return list(BlacklistEntry.objects.filter(customer=customer).values_list("kind", "digits"))


def test_the_page_adds_deletes_and_announces_each_change(
    customer, admin_client, django_capture_on_commit_callbacks
):
    assert admin_client.get("/pbx/blacklist/").status_code == 200
    before = ConfigChange.objects.filter(customer=customer).count()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post("/pbx/blacklist/entries/", {"kind": "number", "value": "8 916 123-45-67"})
        admin_client.post("/pbx/blacklist/entries/", {"kind": "prefix", "value": "+7 812"})
        admin_client.post("/pbx/blacklist/entries/", {"kind": "number", "value": "+79161234567"})
    assert sorted(entries(customer)) == [("number", "79161234567"), ("prefix", "7812")]
    assert ConfigChange.objects.filter(customer=customer, what="blacklist").count() == before + 2
    page = admin_client.get("/pbx/blacklist/").content.decode()
    assert "+79161234567" in page and "+7812…" in page and "уже в списке" in page
    entry = BlacklistEntry.objects.get(kind="prefix")
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.post(f"/pbx/blacklist/entries/{entry.pk}/delete/").status_code == 302
    assert entries(customer) == [("number", "79161234567")]
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post("/pbx/blacklist/settings/", {"action": "prompt", "block_anonymous": "on"})
    saved = BlacklistSettings.objects.get(customer=customer)
    assert (saved.action, saved.block_anonymous) == ("prompt", True)


def test_csv_import_is_all_or_nothing(customer, admin_client):
    good = "Номер;Комментарий\n+7 916 123-45-67;спам\nprefix;+7812;Петербург\n84951112233\n"
    bad = good + "prefix;+7\nчепуха\n"
    admin_client.post(
        "/pbx/blacklist/entries/import/", {"file": SimpleUploadedFile("bl.csv", bad.encode())}
    )
    assert entries(customer) == []
    response = admin_client.post(
        "/pbx/blacklist/entries/import/",
        {"file": SimpleUploadedFile("bl.csv", good.encode("cp1251"))},
        follow=True,
    )
    assert sorted(entries(customer)) == [
        ("number", "74951112233"),
        ("number", "79161234567"),
        ("prefix", "7812"),
    ]
    assert "Добавлено: 3" in response.content.decode()
    result = services.entries_import_csv(customer=customer, data=good.encode())
    assert (result.added, result.duplicates, result.errors) == (0, 3, [])


def test_staff_add_the_caller_of_a_call_from_the_history(customer, other_customer):
    call = CallRecord.objects.create(
        customer=customer,
        uuid="c1",
        caller_number="89161234567",
        direction="inbound",
        started_at=timezone.now(),
    )
    theirs = CallRecord.objects.create(
        customer=other_customer, uuid="c2", caller_number="89160000000", direction="inbound"
    )
    staff = Client(enforce_csrf_checks=True)
    staff.force_login(factories.user(customer, role="staff"))
    page = staff.get("/pbx/blacklist/")
    assert "89161234567" in page.content.decode()
    assert staff.post(f"/pbx/blacklist/from-call/{call.pk}/").status_code == 403  # no CSRF
    token = staff.cookies["csrftoken"].value
    assert (
        staff.post(
            f"/pbx/blacklist/from-call/{call.pk}/", {"csrfmiddlewaretoken": token}
        ).status_code
        == 302
    )
    assert entries(customer) == [("number", "79161234567")]
    assert (
        staff.post(
            f"/pbx/blacklist/from-call/{theirs.pk}/", {"csrfmiddlewaretoken": token}
        ).status_code
        == 404
    )
    # staff may not change the list otherwise
    assert (
        staff.post(
            "/pbx/blacklist/entries/",
            {"kind": "number", "value": "+79160000001", "csrfmiddlewaretoken": token},
        ).status_code
        == 403
    )


def test_another_customers_entry_is_a_404_and_stays(customer, admin_client, other_customer):
    theirs = services.entry_add(customer=other_customer, kind="number", value="+79161234567")
    assert admin_client.post(f"/pbx/blacklist/entries/{theirs.pk}/delete/").status_code == 404
    assert BlacklistEntry.objects.filter(pk=theirs.pk).exists()
    assert "+79161234567" not in admin_client.get("/pbx/blacklist/").content.decode()


def test_the_log_lists_the_calls_the_dialplan_rejected(customer, admin_client, other_customer):
    services.entry_add(customer=customer, kind="prefix", value="+7916")
    CallRecord.objects.create(
        customer=customer,
        uuid="r1",
        caller_number="+79161234567",
        callee_number="74951112244",
        direction="inbound",
        started_at=timezone.now(),
        hangup_cause="USER_BUSY",
        variables={"pbx_blacklisted": "true", "pbx_customer": str(customer.pk)},
    )
    CallRecord.objects.create(
        customer=customer,
        uuid="r2",
        caller_number="anonymous",
        callee_number="74951112244",
        direction="inbound",
        started_at=timezone.now(),
        variables={"pbx_blacklisted": "anonymous"},
    )
    CallRecord.objects.create(customer=customer, uuid="ok", caller_number="+79160000000")
    CallRecord.objects.create(
        customer=other_customer,
        uuid="x",
        caller_number="+79169999999",
        variables={"pbx_blacklisted": "true"},
    )
    page = admin_client.get("/pbx/blacklist/").content.decode()
    log = page[page.index('id="rejected"') :]
    assert "+79161234567" in log and "+7916…" in log and "скрытый номер" in log
    assert "+79160000000" not in log and "+79169999999" not in log


# --- API -----------------------------------------------------------------------------------


@pytest.fixture
def api(customer):
    _token, key = ApiToken.issue(customer=customer, name="mine")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_the_api_adds_lists_and_deletes_entries_and_sets_the_settings(
    api, customer, other_customer
):
    created = api.post("/api/v1/blacklist/entries/", {"kind": "number", "value": "8 916 123 45 67"})
    assert created.status_code == 201, created.content
    assert created.json()["e164"] == "+79161234567"
    assert (
        api.post("/api/v1/blacklist/entries/", {"kind": "prefix", "value": "7"}).status_code == 400
    )
    theirs = services.entry_add(customer=other_customer, kind="number", value="+79160000000")
    listed = api.get("/api/v1/blacklist/entries/").json()["results"]
    assert [e["e164"] for e in listed] == ["+79161234567"]
    assert api.delete(f"/api/v1/blacklist/entries/{theirs.pk}/").status_code == 404
    assert api.delete(f"/api/v1/blacklist/entries/{created.json()['id']}/").status_code == 204
    assert entries(customer) == []
    put = api.put(
        "/api/v1/blacklist/settings/", {"action": "prompt", "block_anonymous": True}, format="json"
    )
    assert put.json() == {"action": "prompt", "block_anonymous": True}
    assert api.get("/api/v1/blacklist/settings/").json()["action"] == "prompt"
    assert api.get("/api/v1/blacklist/rejected/").json()["results"] == []


def test_the_page_and_its_messages_speak_english(customer, admin_user):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(admin_user)
    page = client.post(
        "/pbx/blacklist/entries/", {"kind": "prefix", "value": "+7"}, follow=True
    ).content.decode()
    for text in ("Blacklist", "Numbers and prefixes", "Rejected calls", "What the caller hears"):
        assert text in page
    assert "with the country code" in page  # the refused prefix, explained in English
    assert "Отклонённые звонки" not in page and "Номера и префиксы" not in page
    assert "Blacklist" in client.get("/pbx/").content.decode()  # the "Настроить АТС" tile


def test_the_api_takes_a_number_without_its_kind_and_refuses_an_empty_settings_put(api):
    # found by the API fuzz test: both were server errors
    added = api.post("/api/v1/blacklist/entries/", {"value": "+7 916 765-43-21"}, format="json")
    assert added.status_code == 201 and added.json()["kind"] == "number"
    assert (
        api.post("/api/v1/blacklist/entries/", {"value": "lat"}, format="json").status_code == 400
    )
    assert api.put("/api/v1/blacklist/settings/", {}, format="json").status_code == 400
    assert api.put("/api/v1/blacklist/settings/", {}).status_code == 400  # multipart
