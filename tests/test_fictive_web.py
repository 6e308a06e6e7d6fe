"""Fictive-number pages and the read-only API: roles, tenant isolation, bad input, recordings."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.test import APIClient

from portal.calls.models import CallRecord
from portal.fictive import services
from portal.fictive.models import FictiveCall, FictiveNumber, PendingMissedCall, Shopper
from portal.tenants.models import ApiToken
from tests import factories

T0 = dt.datetime(2024, 3, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def setup(customer, other_customer, settings, tmp_path):
    settings.RECORDINGS_DIR = tmp_path
    factories.number(customer, "+420234234399", kind="access", label="přístup")
    factories.number(customer, "+420234234390", kind="return")
    project = services.project_save(customer=customer, name="Auta", allowed_prefixes="+420")
    shopper = services.shopper_save(
        customer=customer, name="Jana", real_number="+420601000001", project=project
    )
    n1 = factories.number(customer, "+420234234301", kind="fictive")
    free = factories.number(customer, "+420234234302", kind="fictive")
    f1 = services.fictive_pair(customer=customer, shopper=shopper, number=n1)
    wav = tmp_path / "out-1.wav"
    wav.write_bytes(b"RIFF....WAVEfmt ")
    call = FictiveCall.objects.create(
        customer=customer,
        project=project,
        shopper=shopper,
        fictive=f1,
        fictive_e164=n1.e164,
        direction="outbound",
        other_number="+420777123456",
        uuid="out-1",
        bridged=True,
        recording_path=str(wav),
        started_at=T0,
    )
    CallRecord.objects.create(customer=customer, uuid="out-1", billsec=42, duration_seconds=50)
    pending = PendingMissedCall.objects.create(
        customer=customer,
        shopper=shopper,
        fictive=f1,
        fictive_e164=n1.e164,
        dealer_number="+420603000111",
        sequence=1,
        created_at=T0,
    )
    # another tenant
    theirs_project = services.project_save(customer=other_customer, name="Jejich")
    theirs_shopper = services.shopper_save(
        customer=other_customer, name="Cizí", real_number="+420601000009", project=theirs_project
    )
    tn = factories.number(other_customer, "+420234235301", kind="fictive")
    theirs_f = services.fictive_pair(customer=other_customer, shopper=theirs_shopper, number=tn)
    theirs_call = FictiveCall.objects.create(
        customer=other_customer,
        shopper=theirs_shopper,
        fictive=theirs_f,
        fictive_e164=tn.e164,
        direction="inbound",
        other_number="+420777000999",
        uuid="in-9",
        recording_path=str(wav),
        started_at=T0,
    )
    return {
        "project": project,
        "shopper": shopper,
        "fictive": f1,
        "free": free,
        "call": call,
        "pending": pending,
        "theirs_project": theirs_project,
        "theirs_shopper": theirs_shopper,
        "theirs_fictive": theirs_f,
        "theirs_number": tn,
        "theirs_call": theirs_call,
    }


@pytest.fixture
def staff_client(client, customer):
    client.force_login(factories.user(customer, role="staff"))
    return client


@pytest.mark.django_db
def test_the_overview_shows_access_and_return_numbers_projects_shoppers_and_their_ids(
    admin_client, setup
):
    html = admin_client.get("/pbx/fictive/").content.decode()
    assert "+420234234399" in html and "+420234234390" in html
    assert "Auta" in html and "+420" in html
    assert (
        "Jana" in html and "+420601000001" in html and "<strong>1</strong>: +420234234301" in html
    )
    assert "Cizí" not in html and "Jejich" not in html


@pytest.mark.django_db
def test_the_calls_page_shows_direction_numbers_duration_from_the_cdr_and_the_recording(
    admin_client, setup
):
    html = admin_client.get("/pbx/fictive/calls/").content.decode()
    call = setup["call"]
    assert f'data-call="{call.pk}"' in html and "+420777123456" in html
    assert "<td data-duration>42</td>" in html
    assert (
        f'<audio controls preload="none" src="/pbx/fictive/calls/{call.pk}/recording.wav">' in html
    )
    assert "+420777000999" not in html
    html = admin_client.get(f"/pbx/fictive/calls/?shopper={setup['shopper'].pk}").content.decode()
    assert f'data-call="{call.pk}"' in html
    # another tenant's shopper is no valid filter
    response = admin_client.get(f"/pbx/fictive/calls/?shopper={setup['theirs_shopper'].pk}")
    assert response.status_code == 400


@pytest.mark.django_db
def test_a_recording_is_played_and_downloaded_only_by_its_customer(admin_client, setup):
    call = setup["call"]
    response = admin_client.get(f"/pbx/fictive/calls/{call.pk}/recording.wav")
    assert response.status_code == 200 and response["Content-Type"] == "audio/wav"
    assert b"".join(response.streaming_content).startswith(b"RIFF")
    response = admin_client.get(f"/pbx/fictive/calls/{call.pk}/recording.wav?download=1")
    assert "attachment" in response["Content-Disposition"]
    theirs = setup["theirs_call"]
    assert admin_client.get(f"/pbx/fictive/calls/{theirs.pk}/recording.wav").status_code == 404


@pytest.mark.django_db
def test_a_recording_path_outside_the_recordings_dir_is_never_served(admin_client, setup):
    call = setup["call"]
    FictiveCall.objects.filter(pk=call.pk).update(recording_path="/etc/passwd")
    assert admin_client.get(f"/pbx/fictive/calls/{call.pk}/recording.wav").status_code == 404
    FictiveCall.objects.filter(pk=call.pk).update(recording_path="../../etc/passwd")
    assert admin_client.get(f"/pbx/fictive/calls/{call.pk}/recording.wav").status_code == 404


@pytest.mark.django_db
def test_pending_calls_and_the_sms_log_show_only_the_customers_rows(admin_client, setup):
    html = admin_client.get("/pbx/fictive/pending/?status=open").content.decode()
    assert f'data-pending="{setup["pending"].pk}"' in html and "+420603000111" in html
    assert admin_client.get("/pbx/fictive/sms/").status_code == 200


@pytest.mark.django_db
def test_an_admin_adds_a_project_a_shopper_and_pairs_a_number_with_the_next_id(
    admin_client, setup, customer
):
    r = admin_client.post(
        "/pbx/fictive/projects/new/", {"name": "Banky", "allowed_prefixes": "420\n421"}
    )
    assert r.status_code == 302
    project = customer.fictive_projects.get(name="Banky")
    assert project.prefixes == ("+420", "+421")
    r = admin_client.post(
        "/pbx/fictive/shoppers/new/",
        {"name": "Petr", "real_number": "+420 601 000 002", "project": project.pk},
    )
    assert r.status_code == 302
    shopper = Shopper.objects.get(customer=customer, name="Petr")
    assert shopper.real_number == "+420601000002"
    r = admin_client.post(
        "/pbx/fictive/numbers/pair/", {"shopper": shopper.pk, "number": setup["free"].pk}
    )
    assert r.status_code == 302
    assert FictiveNumber.objects.get(number=setup["free"]).ordinal == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("real_number", "error"),
    [
        ("12", "не существует"),
        ("not a number", "не похоже на номер"),
        ("+420601000001", "уже есть"),  # duplicate of Jana's number
    ],
)
def test_a_bad_or_duplicate_shopper_number_is_refused_with_a_message(
    admin_client, setup, real_number, error
):
    r = admin_client.post(
        "/pbx/fictive/shoppers/new/",
        {"name": "Petr", "real_number": real_number, "project": setup["project"].pk},
    )
    assert r.status_code == 400 and error in r.content.decode()
    assert not Shopper.objects.filter(name="Petr").exists()


@pytest.mark.django_db
def test_an_id_already_used_by_the_shopper_is_refused(admin_client, setup):
    r = admin_client.post(
        "/pbx/fictive/numbers/pair/",
        {"shopper": setup["shopper"].pk, "number": setup["free"].pk, "ordinal": 1},
    )
    assert r.status_code == 400 and "уже занят" in r.content.decode()
    assert not FictiveNumber.objects.filter(number=setup["free"]).exists()


@pytest.mark.django_db
def test_another_customers_rows_are_404_or_not_offered(admin_client, setup):
    assert (
        admin_client.get(f"/pbx/fictive/projects/{setup['theirs_project'].pk}/").status_code == 404
    )
    assert (
        admin_client.get(f"/pbx/fictive/shoppers/{setup['theirs_shopper'].pk}/").status_code == 404
    )
    r = admin_client.post(f"/pbx/fictive/shoppers/{setup['theirs_shopper'].pk}/delete/")
    assert r.status_code == 404
    r = admin_client.post(f"/pbx/fictive/numbers/{setup['theirs_fictive'].pk}/unpair/")
    assert r.status_code == 404
    # their number or shopper cannot be chosen in the pairing form
    r = admin_client.post(
        "/pbx/fictive/numbers/pair/",
        {"shopper": setup["shopper"].pk, "number": setup["theirs_number"].pk},
    )
    assert r.status_code == 400
    r = admin_client.post(
        "/pbx/fictive/numbers/pair/",
        {"shopper": setup["theirs_shopper"].pk, "number": setup["free"].pk},
    )
    assert r.status_code == 400
    r = admin_client.post(
        "/pbx/fictive/shoppers/new/",
        {"name": "X", "real_number": "+420601000005", "project": setup["theirs_project"].pk},
    )
    assert r.status_code == 400
    assert Shopper.objects.filter(pk=setup["theirs_shopper"].pk).exists()


@pytest.mark.django_db
def test_staff_may_look_but_not_change_anything(staff_client, setup):
    for url in (
        "/pbx/fictive/",
        "/pbx/fictive/calls/",
        "/pbx/fictive/pending/",
        "/pbx/fictive/sms/",
    ):
        assert staff_client.get(url).status_code == 200, url
    html = staff_client.get("/pbx/fictive/").content.decode()
    assert "/pbx/fictive/shoppers/new/" not in html and "открепить" not in html
    assert staff_client.post("/pbx/fictive/projects/new/", {"name": "X"}).status_code == 403
    r = staff_client.post(f"/pbx/fictive/shoppers/{setup['shopper'].pk}/delete/")
    assert r.status_code == 403
    r = staff_client.post(f"/pbx/fictive/numbers/{setup['fictive'].pk}/unpair/")
    assert r.status_code == 403
    assert FictiveNumber.objects.filter(pk=setup["fictive"].pk).exists()


@pytest.mark.django_db
def test_an_admin_unpairs_a_number_and_deletes_a_shopper(admin_client, setup):
    r = admin_client.post(f"/pbx/fictive/numbers/{setup['fictive'].pk}/unpair/")
    assert (
        r.status_code == 302 and not FictiveNumber.objects.filter(pk=setup["fictive"].pk).exists()
    )
    r = admin_client.post(f"/pbx/fictive/shoppers/{setup['shopper'].pk}/delete/")
    assert r.status_code == 302 and not Shopper.objects.filter(pk=setup["shopper"].pk).exists()
    # the call log stays
    assert FictiveCall.objects.filter(pk=setup["call"].pk).exists()


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_the_login_page(client, setup):
    assert client.get("/pbx/fictive/").status_code == 302


@pytest.mark.django_db
def test_the_api_lists_only_the_customers_calls_with_duration(customer, setup):
    _, key = ApiToken.issue(customer=customer, name="t")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    r = api.get("/api/v1/fictive-calls/")
    assert r.status_code == 200
    rows = r.json()["results"] if isinstance(r.json(), dict) else r.json()
    assert [row["id"] for row in rows] == [setup["call"].pk]
    assert rows[0]["duration_seconds"] == 42 and rows[0]["has_recording"] is True
    assert rows[0]["direction"] == "outbound" and rows[0]["other_number"] == "+420777123456"
    assert api.get(f"/api/v1/fictive-calls/{setup['theirs_call'].pk}/").status_code == 404
    assert api.get("/api/v1/fictive-calls/?direction=sideways").status_code == 400
    assert api.post("/api/v1/fictive-calls/", {}).status_code == 405


def test_every_page_links_to_the_fictive_numbers_and_speaks_english_when_asked(admin_client, setup):
    html = admin_client.get("/pbx/").content.decode()
    assert 'href="/pbx/fictive/"' in html and "Фиктивные номера" in html
    admin_client.cookies["django_language"] = "en"
    for url in ("/pbx/fictive/", "/pbx/fictive/calls/", "/pbx/fictive/pending/"):
        html = admin_client.get(url).content.decode()
        assert "Fictive numbers" in html, url
        assert not any(word in html for word in ("Покупатель", "Проекты", "Кто звонил")), url
