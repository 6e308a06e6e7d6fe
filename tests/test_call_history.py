"""Call history: the customer's calls searchable by number, employee, direction, status and
period; recordings played and downloaded only by their customer's administrators (a stranger's
call is a 404); the same list over the API."""

from __future__ import annotations

import datetime as dt
import wave

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from portal.calls.models import CallRecord, Recording
from portal.tenants.models import ApiToken
from tests import factories

_n = iter(range(10**6))


def call(
    customer,
    *,
    minutes_ago=60,
    direction="inbound",
    billsec=30,
    caller="+79160000001",
    callee="+74951110000",
    recording="",
    **tags,
):
    now = dt.datetime.now(dt.UTC)
    return CallRecord.objects.create(
        customer=customer,
        uuid=f"hist-{next(_n)}",
        direction=direction,
        caller_number=caller,
        callee_number=callee,
        started_at=now - dt.timedelta(minutes=minutes_ago),
        ended_at=now,
        duration_seconds=billsec + 5,
        billsec=billsec,
        hangup_cause="NORMAL_CLEARING",
        recording_path=recording,
        variables={k: str(v) for k, v in tags.items()},
    )


def wav(path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x00" * 8000)
    return str(path)


@pytest.fixture
def office(customer, other_customer, settings, tmp_path):
    settings.RECORDINGS_DIR = tmp_path
    anna = factories.employee(customer, name="Анна")
    boris = factories.employee(customer, name="Борис")
    theirs = factories.employee(other_customer, name="Их сотрудник")
    mine = wav(tmp_path / f"c{customer.pk}" / "a.wav")
    Recording.objects.create(customer=customer, path=mine, size_bytes=16044)
    uncounted = wav(tmp_path / f"c{customer.pk}" / "b.wav")
    their_file = wav(tmp_path / f"c{other_customer.pk}" / "t.wav")
    Recording.objects.create(customer=other_customer, path=their_file, size_bytes=16044)
    return {
        "anna": anna,
        "boris": boris,
        "theirs": theirs,
        "recorded": call(customer, pbx_employee=anna.pk, recording=mine),
        "missed": call(customer, billsec=0, caller="+79165550000", pbx_employee=boris.pk),
        "outbound": call(
            customer,
            direction="outbound",
            caller="101",
            callee="+74957770000",
            pbx_employee=boris.pk,
        ),
        "uncounted": call(customer, recording=uncounted, caller="+79160000002"),
        "old": call(customer, minutes_ago=60 * 24 * 40, caller="+79161234567"),
        "their": call(
            other_customer, recording=their_file, caller="+79169990000", pbx_employee=theirs.pk
        ),
    }


def rows(html: str) -> set[int]:
    return {int(part.split('"')[0]) for part in html.split('data-call="')[1:]}


def ids(*calls) -> set[int]:
    return {c.pk for c in calls}


def test_the_history_lists_this_customers_calls_of_the_period(admin_client, office):
    html = admin_client.get(reverse("call_history:index")).content.decode()
    o = office
    assert rows(html) == ids(o["recorded"], o["missed"], o["outbound"], o["uncounted"])
    assert "Анна" in html and "Их сотрудник" not in html
    assert "<audio" in html and f"/pbx/call-history/{o['recorded'].pk}/recording/" in html
    assert f"/pbx/call-history/{o['uncounted'].pk}/recording/" not in html  # not counted


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"number": "5550000"}, ["missed"]),
        ({"number": "+7 (495) 777"}, ["outbound"]),
        ({"direction": "outbound"}, ["outbound"]),
        ({"status": "missed"}, ["missed"]),
        ({"status": "answered", "direction": "inbound"}, ["recorded", "uncounted"]),
        ({"preset": "last_month"}, []),
    ],
)
def test_the_history_is_searchable(admin_client, office, query, expected):
    html = admin_client.get(reverse("call_history:index"), query).content.decode()
    assert rows(html) == ids(*(office[name] for name in expected))


def test_a_longer_period_finds_older_calls(admin_client, office):
    today = dt.date.today()
    query = {
        "date_from": (today - dt.timedelta(days=60)).isoformat(),
        "date_to": (today + dt.timedelta(days=1)).isoformat(),
    }
    html = admin_client.get(reverse("call_history:index"), query).content.decode()
    assert office["old"].pk in rows(html)


def test_the_per_employee_view_shows_only_their_calls(admin_client, office):
    html = admin_client.get(reverse("call_history:index"), {"employee": office["boris"].pk})
    html = html.content.decode()
    assert rows(html) == ids(office["missed"], office["outbound"])
    assert "История звонков: Борис" in html


def test_another_customers_employee_is_a_form_error_not_their_calls(admin_client, office):
    response = admin_client.get(reverse("call_history:index"), {"employee": office["theirs"].pk})
    assert response.status_code == 400
    assert rows(response.content.decode()) == set()


def test_the_list_is_paginated(admin_client, customer):
    for n in range(30):
        call(customer, minutes_ago=n + 1, caller=f"+7916000{n:04d}")
    first = admin_client.get(reverse("call_history:index")).content.decode()
    second = admin_client.get(reverse("call_history:index"), {"page": 2}).content.decode()
    assert len(rows(first)) == 25 and len(rows(second)) == 5
    assert rows(first).isdisjoint(rows(second))
    assert "Страница 1 из 2" in first


def test_a_recording_is_played_and_downloaded_by_its_customer(admin_client, office):
    url = reverse("call_history:recording", args=[office["recorded"].pk])
    played = admin_client.get(url)
    assert played.status_code == 200 and played["Content-Type"] == "audio/x-wav"
    assert b"".join(played.streaming_content)[:4] == b"RIFF"
    saved = admin_client.get(url, {"download": "1"})
    assert saved["Content-Disposition"].startswith("attachment")


def test_another_customers_or_an_uncounted_recording_is_a_404(admin_client, office):
    for name in ("their", "uncounted", "missed"):
        url = reverse("call_history:recording", args=[office[name].pk])
        assert admin_client.get(url).status_code == 404, name
    assert admin_client.get(reverse("call_history:recording", args=[10**9])).status_code == 404


def test_a_recording_outside_the_customers_folder_is_never_served(
    admin_client, customer, office, tmp_path
):
    stray = wav(tmp_path / "elsewhere.wav")
    Recording.objects.create(customer=customer, path=stray)
    sneaky = call(customer, recording=stray)
    url = reverse("call_history:recording", args=[sneaky.pk])
    assert admin_client.get(url).status_code == 404


def test_staff_see_the_list_but_not_the_recordings(client, customer, office):
    client.force_login(factories.user(customer, role="department_staff"))
    html = client.get(reverse("call_history:index")).content.decode()
    assert office["recorded"].pk in rows(html) and "<audio" not in html
    url = reverse("call_history:recording", args=[office["recorded"].pk])
    assert client.get(url).status_code == 403
    assert client.post(reverse("call_history:index")).status_code in (403, 405)


def test_strangers_are_sent_to_log_in(client, office):
    response = client.get(reverse("call_history:index"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_page_speaks_english(admin_client, office):
    admin_client.cookies["django_language"] = "en"
    html = admin_client.get(reverse("call_history:index")).content.decode()
    assert "Call history" in html and "inbound" in html and "История звонков" not in html


@pytest.fixture
def api(customer):
    _token, key = ApiToken.issue(customer=customer, name="history")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_the_api_lists_and_filters_this_customers_calls(api, office):
    body = api.get("/api/v1/calls/").json()
    assert {c["id"] for c in body["results"]} == ids(
        office["recorded"], office["missed"], office["outbound"], office["uncounted"]
    )
    body = api.get("/api/v1/calls/", {"employee": office["anna"].pk}).json()
    [only] = body["results"]
    assert only["employee"] == office["anna"].pk and only["employee_name"] == "Анна"
    assert only["has_recording"] is True and only["answered"] is True
    assert api.get("/api/v1/calls/", {"employee": office["theirs"].pk}).status_code == 400


def test_the_api_serves_only_this_customers_calls_and_recordings(api, office):
    mine, theirs = office["recorded"].pk, office["their"].pk
    assert api.get(f"/api/v1/calls/{mine}/").status_code == 200
    assert api.get(f"/api/v1/calls/{theirs}/").status_code == 404
    file = api.get(f"/api/v1/calls/{mine}/recording/")
    assert file.status_code == 200 and file["Content-Disposition"].startswith("attachment")
    assert api.get(f"/api/v1/calls/{theirs}/recording/").status_code == 404
    assert APIClient().get("/api/v1/calls/").status_code == 401


def test_the_menu_and_the_employee_list_lead_to_the_history(admin_client, office):
    html = admin_client.get(reverse("web:employees")).content.decode()
    menu = html[html.index('class="menu"') :]
    assert 'href="/pbx/call-history/"' in menu and "История звонков" in menu
    assert f'href="/pbx/call-history/?employee={office["anna"].pk}"' in html


def test_an_incoming_caller_is_put_on_the_blacklist_from_the_history(
    admin_client, office, customer
):
    from portal.billing.services import option_set
    from portal.blacklist.models import BlacklistEntry

    page = reverse("call_history:index")
    assert "В чёрный список" not in admin_client.get(page).content.decode()  # option off
    option_set(customer=customer, code="blacklist", enabled=True)
    html = admin_client.get(page).content.decode()
    missed = office["missed"]
    action = reverse("blacklist:from_call", args=[missed.pk])
    assert f'action="{action}"' in html
    # outgoing calls have no caller to block
    assert reverse("blacklist:from_call", args=[office["outbound"].pk]) not in html
    response = admin_client.post(action, {"next": page})
    assert response.status_code == 302 and response["Location"] == page
    assert BlacklistEntry.objects.filter(customer=customer, digits="79165550000").exists()
    # another customer's call cannot be used to add its caller
    their = reverse("blacklist:from_call", args=[office["their"].pk])
    assert admin_client.post(their, {"next": page}).status_code == 404
