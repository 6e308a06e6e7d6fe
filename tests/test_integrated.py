"""Integrated numbers without a browser: the mark and its API, login by SMS code, trusted
persons and their notices, who may see a call's chat (every route and the websocket), bad input.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from urllib.parse import parse_qs

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone
from PIL import Image

from portal.asgi import application
from portal.billing import services as billing
from portal.billing.models import Option
from portal.integrated import services
from portal.integrated.models import (
    Caller,
    ChatMessage,
    IntegratedCall,
    IntegratedService,
    LoginCode,
    Operator,
)
from portal.web.photos import store_photo
from tests import factories
from tests.ws import first_frame, ws_headers

pytestmark = pytest.mark.django_db
CALLER = "+79161234567"


@pytest.fixture(autouse=True)
def isolated(monkeypatch, settings, tmp_path):
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SITE_URL = "https://pbx.example.com"


class Service:
    def __init__(self, customer, e164="+74950000123", ext="101"):
        self.customer = customer
        self.number = factories.number(customer, e164)
        self.service = IntegratedService.objects.create(
            customer=customer, name="Медицинские советы", description="Врач онлайн"
        )
        self.service.numbers.add(self.number)
        billing.option_set(customer=customer, code=Option.INTEGRATED_NUMBER, enabled=True)
        self.employee = factories.employee(customer, extension=ext)
        self.user = factories.user(customer, role="staff", username=f"op{customer.pk}")
        Operator.objects.create(employee=self.employee, user=self.user)

    def live(self, uuid="a-leg-1", caller=CALLER):
        return services.call_live(
            customer_id=self.customer.pk,
            number_id=self.number.pk,
            call_uuid=uuid,
            operator_uuid=f"b-{uuid}",
            caller_number=caller,
            operator_extension=self.employee.extension,
        )


@pytest.fixture
def svc(customer):
    return Service(customer)


def caller_client(phone=CALLER) -> tuple[Client, Caller]:
    caller, _ = Caller.objects.get_or_create(phone=phone, defaults={"verified_at": timezone.now()})
    client = Client()
    session = client.session
    session["integrated_caller"] = caller.pk
    session.save()
    return client, caller


def operator_client(svc) -> Client:
    client = Client()
    client.force_login(svc.user)
    return client


# -- the mark ------------------------------------------------------------------------------------


def test_the_lookup_api_marks_integrated_numbers_only(svc, other_customer):
    plain = factories.number(other_customer, "+74950000999")
    ok = Client().get("/api/integrated/lookup/", {"number": "8 495 000-01-23"}).json()
    assert ok == {
        "integrated": True,
        "service": {"name": "Медицинские советы", "description": "Врач онлайн", "info_url": ""},
    }
    assert Client().get("/api/integrated/lookup/", {"number": plain.e164}).json() == {
        "integrated": False
    }
    assert Client().get("/api/integrated/lookup/", {"number": "junk"}).json() == {
        "integrated": False
    }
    billing.option_set(customer=svc.customer, code=Option.INTEGRATED_NUMBER, enabled=False)
    assert (
        not Client()
        .get("/api/integrated/lookup/", {"number": svc.number.e164})
        .json()["integrated"]
    )


# -- login by SMS code ---------------------------------------------------------------------------


def test_a_caller_logs_in_with_the_code_from_the_sms(twilio, django_capture_on_commit_callbacks):
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/c/login/", {"phone": "+7 916 123-45-67"}).status_code == 200
    form = parse_qs(twilio.requests[-1][2].decode())
    assert form["To"] == [CALLER]
    code = re.search(r"\d{6}", form["Body"][0]).group(0)
    assert not LoginCode.objects.filter(code_hash__contains=code).exists()  # stored hashed
    response = client.post("/c/login/", {"phone": CALLER, "code": code})
    assert response.status_code == 302 and response["Location"] == "/c/calls/"
    assert client.get("/c/calls/").status_code == 200
    assert Caller.objects.get().verified_at is not None


def test_a_wrong_code_counts_and_five_wrong_codes_kill_it(twilio):
    client = Client()
    client.post("/c/login/", {"phone": CALLER})
    for _ in range(5):
        assert client.post("/c/login/", {"phone": CALLER, "code": "000000"}).status_code == 400
    login = LoginCode.objects.get()
    assert login.attempts == 5
    # Even the right code no longer works.
    code = "123456"
    login.code_hash = services._hash(f"{CALLER}:{code}")
    login.save()
    assert client.post("/c/login/", {"phone": CALLER, "code": code}).status_code == 400
    assert client.get("/c/calls/").status_code == 302  # still not logged in


# -- live calls, chat, permissions ----------------------------------------------------------------


def test_a_live_call_shows_on_the_callers_calls_page_with_the_mark(svc):
    client, caller = caller_client()
    call = svc.live()
    html = client.get("/c/calls/").content.decode()
    assert f'data-call="{call.pk}" data-live="yes"' in html and 'data-mark="integrated"' in html
    assert "Медицинские советы" in html


def test_chat_is_unavailable_until_the_operator_enables_it_and_nothing_is_stored(svc):
    client, caller = caller_client()
    call = svc.live()
    page = client.get(f"/c/calls/{call.pk}/").content.decode()
    assert "когда оператор его включит" in page
    response = client.post(f"/c/calls/{call.pk}/messages/", {"text": "Здравствуйте"})
    assert response.status_code == 400 and "оператор" in response.json()["error"]
    assert not ChatMessage.objects.exists()
    # Only the operator who answered can enable it: not another staff member, not the caller.
    other = Client()
    other.force_login(factories.user(svc.customer, role="staff", username="someone"))
    assert other.post(f"/pbx/integrated/calls/{call.pk}/enable/").status_code == 404
    assert client.post(f"/pbx/integrated/calls/{call.pk}/enable/").status_code == 302  # login
    call.refresh_from_db()
    assert call.chat_enabled_at is None
    operator = operator_client(svc)
    assert operator.post(f"/pbx/integrated/calls/{call.pk}/enable/").status_code == 302
    call.refresh_from_db()
    assert call.chat_enabled_at is not None
    assert client.post(f"/c/calls/{call.pk}/messages/", {"text": "Здравствуйте"}).status_code == 201


def photo_upload(data=None, name="IMG.jpg"):
    if data is None:
        buf = io.BytesIO()
        exif = Image.Exif()
        exif[0x010F] = "SecretPhoneMaker"
        Image.new("RGB", (30, 20), "blue").save(buf, "JPEG", exif=exif.tobytes())
        data = buf.getvalue()
    upload = io.BytesIO(data)
    upload.name = name
    return upload


def test_photos_are_checked_re_encoded_and_served_only_to_the_chat(svc, other_customer, settings):
    client, caller = caller_client()
    call = svc.live()
    services.chat_enable(call, svc.user)
    ok = client.post(f"/c/calls/{call.pk}/messages/", {"photo": photo_upload()})
    assert ok.status_code == 201
    stored = (settings.MEDIA_ROOT / ChatMessage.objects.get().photo).read_bytes()
    assert b"SecretPhoneMaker" not in stored
    url = ok.json()["photo"]
    assert client.get(url).status_code == 200
    assert operator_client(svc).get(url).status_code == 200
    stranger, _ = caller_client("+79160000000")
    assert stranger.get(url).status_code == 404
    other_staff = Client()
    other_staff.force_login(factories.user(svc.customer, role="staff", username="x"))
    assert other_staff.get(url).status_code == 404
    bad = client.post(f"/c/calls/{call.pk}/messages/", {"photo": photo_upload(b"%PDF", "a.jpg")})
    assert bad.status_code == 400 and ChatMessage.objects.count() == 1


def test_messages_to_a_finished_call_are_refused(svc):
    client, _ = caller_client()
    call = svc.live()
    services.chat_enable(call, svc.user)
    services.call_ended(uuid="b-a-leg-1")  # the operator's leg hung up
    response = client.post(f"/c/calls/{call.pk}/messages/", {"text": "ещё"})
    assert response.status_code == 400 and not ChatMessage.objects.exists()


def test_another_caller_and_another_services_operator_get_404(svc, other_customer):
    call = svc.live()
    stranger, _ = caller_client("+79160000000")
    assert stranger.get(f"/c/calls/{call.pk}/").status_code == 404
    assert stranger.post(f"/c/calls/{call.pk}/messages/", {"text": "x"}).status_code == 404
    theirs = Service(other_customer, e164="+74950000777", ext="201")
    assert operator_client(theirs).get(f"/pbx/integrated/calls/{call.pk}/").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"lat": 100, "lon": 1},
        {"lat": 1, "lon": 181},
        {"lat": "a", "lon": 1},
        {"lat": "nan", "lon": 1},
        {"lat": 1, "lon": "-inf"},
        {"lat": True, "lon": True},
        {"lat": [1], "lon": 2},
        [55.7, 37.6],
        "не json",
        {},
    ],
)
def test_malformed_coordinates_are_refused(svc, body):
    client, caller = caller_client()
    data = body if isinstance(body, str) else json.dumps(body)
    response = client.post("/c/profile/location/", data, "application/json")
    assert response.status_code == 400 and response.json()["error"]
    caller.refresh_from_db()
    assert caller.latitude is None


def test_trusted_persons_hear_of_the_call_with_the_location_and_read_the_chat_by_link(
    svc, twilio, django_capture_on_commit_callbacks
):
    client, caller = caller_client()
    client.post("/c/profile/location/", {"lat": 55.7558, "lon": 37.6173}, "application/json")
    assert (
        client.post(
            "/c/profile/",
            {
                "form": "trusted",
                "name": "Мама",
                "phone": "+79169998877",
                "notify_calls": "on",
                "share_location": "on",
            },
        ).status_code
        == 302
    )
    with django_capture_on_commit_callbacks(execute=True):
        call = svc.live()
    (sms,) = [parse_qs(b.decode()) for p, _, b in twilio.requests if "Messages.json" in p]
    assert sms["To"] == ["+79169998877"]
    assert "openstreetmap.org/?mlat=55.755800&mlon=37.617300" in sms["Body"][0]
    link = re.search(r"https://pbx.example.com(/t/\S+/)", sms["Body"][0]).group(1)
    services.chat_enable(call, svc.user)
    services.message_add(call, author="caller", text="Мне плохо")
    page = Client().get(link)
    assert page.status_code == 200 and "Мне плохо" in page.content.decode()
    assert 'id="chat-form"' not in page.content.decode()  # read only
    assert Client().get("/t/not-a-token/").status_code == 404
    call.links.update(expires_at=timezone.now())
    assert Client().get(link).status_code == 404  # expired


def test_a_caller_with_a_call_to_a_number_without_the_service_has_no_chat(customer):
    number = factories.number(customer, "+74950000555")
    employee = factories.employee(customer, extension="105")
    assert (
        services.call_live(
            customer_id=customer.pk,
            number_id=number.pk,
            call_uuid="x",
            operator_uuid="y",
            caller_number=CALLER,
            operator_extension=employee.extension,
        )
        is None
    )
    assert not IntegratedCall.objects.exists()


# -- the websocket ---------------------------------------------------------------------------------


def test_the_websocket_admits_the_caller_the_operator_and_trusted_links_only(svc, other_customer):
    call = svc.live()
    caller, _ = caller_client()
    path = f"/ws/integrated/{call.pk}/"
    assert '"role": "caller"' in first_frame(path, caller)["text"]
    assert '"role": "operator"' in first_frame(path, operator_client(svc))["text"]
    refused = {"type": "websocket.close", "code": 4403}
    assert first_frame(path, caller_client("+79160000000")[0]) == refused
    other_staff = Client()
    other_staff.force_login(factories.user(svc.customer, role="staff", username="x"))
    assert first_frame(path, other_staff) == refused
    theirs = Service(other_customer, e164="+74950000777", ext="201")
    assert first_frame(path, operator_client(theirs)) == refused
    assert first_frame(path + "?t=forged", Client()) == refused


def test_messages_arrive_live_and_read_state_follows_the_operator_being_online(svc):
    call = svc.live()
    services.chat_enable(call, svc.user)
    caller, _ = caller_client()
    operator = operator_client(svc)
    path = f"/ws/integrated/{call.pk}/"

    async def scenario():
        cli = WebsocketCommunicator(application, path, headers=ws_headers(caller))
        await cli.connect()
        assert (await cli.receive_json_from())["role"] == "caller"
        response = await database_sync(caller.post)(
            f"/c/calls/{call.pk}/messages/", {"text": "Добрый день"}
        )
        assert response.status_code == 201
        chat = await cli.receive_json_from()
        assert chat["type"] == "chat" and chat["message"]["text"] == "Добрый день"
        op = WebsocketCommunicator(application, path, headers=ws_headers(operator))
        await op.connect()
        assert (await op.receive_json_from())["role"] == "operator"
        read = await cli.receive_json_from()  # the operator came online
        assert read["type"] == "read" and read["until"] > chat["message"]["at"]
        await op.disconnect()
        await cli.disconnect()

    async_to_sync(scenario)()


def database_sync(fn):
    from channels.db import database_sync_to_async

    return database_sync_to_async(fn)


def test_the_operators_view_shows_the_callers_profile_and_last_location(svc):
    client, caller = caller_client()
    caller.name = "Иван"
    caller.save()
    services.location_set(caller, lat=55.7558, lon=37.6173)
    call = svc.live()
    html = operator_client(svc).get(f"/pbx/integrated/calls/{call.pk}/").content.decode()
    assert "Иван" in html and "openstreetmap.org/?mlat=55.755800&amp;mlon=37.617300" in html
    assert 'id="enable"' in html


def test_the_admin_sets_up_the_service_and_links_an_operator(customer, admin_client):
    number = factories.number(customer, "+74950000321")
    employee = factories.employee(customer, extension="107")
    staff = factories.user(customer, role="staff", username="nurse")
    response = admin_client.post(
        "/pbx/integrated/",
        {"form": "service", "name": "Советы", "description": "d", "numbers": [number.pk]},
    )
    assert response.status_code == 302
    assert list(IntegratedService.objects.get(customer=customer).numbers.all()) == [number]
    response = admin_client.post(
        "/pbx/integrated/", {"form": "operator", "employee": employee.pk, "user": staff.pk}
    )
    assert response.status_code == 302 and Operator.objects.get().user == staff


def test_another_customers_number_cannot_be_made_integrated(customer, other_customer, admin_client):
    theirs = factories.number(other_customer, "+74950000654")
    response = admin_client.post(
        "/pbx/integrated/", {"form": "service", "name": "X", "numbers": [theirs.pk]}
    )
    assert response.status_code == 400 and not IntegratedService.objects.exists()


def test_the_callers_pages_speak_english_when_asked(svc):
    client = Client()
    client.cookies["django_language"] = "en"
    html = client.get("/c/login/").content.decode()
    assert "Log in with your phone number" in html and "Get a code" in html
    caller, _ = caller_client()
    caller.cookies["django_language"] = "en"
    html = caller.get("/c/calls/").content.decode()
    assert "No active call now." in html and "Вызовы" not in html


def test_a_trusted_link_opens_its_own_call_only(svc, twilio, django_capture_on_commit_callbacks):
    client, caller = caller_client()
    services.trusted_save(caller, name="Мама", phone="+79169998877")
    with django_capture_on_commit_callbacks(execute=True):
        first = svc.live("first")
    other_caller, _ = caller_client("+79160000000")
    second = svc.live("second", caller="+79160000000")
    body = [parse_qs(b.decode()) for p, _, b in twilio.requests if "Messages.json" in p][0]
    token = re.search(r"/t/(\S+)/", body["Body"][0]).group(1)
    assert Client().get(f"/t/{token}/").status_code == 200
    path = f"/ws/integrated/{second.pk}/?t={token}"
    assert first_frame(path, Client()) == {"type": "websocket.close", "code": 4403}
    assert (
        '"role": "trusted"'
        in first_frame(f"/ws/integrated/{first.pk}/?t={token}", Client())["text"]
    )


def test_the_lookup_answer_is_public_and_cacheable_without_a_session(svc):
    response = Client().get("/api/integrated/lookup/", {"number": svc.number.e164})
    assert response.json()["integrated"] is True
    assert "public" in response["Cache-Control"] and "max-age=300" in response["Cache-Control"]
    assert not response.cookies  # nothing per visitor: a proxy may share the answer
    assert "Cookie" not in response.get("Vary", "")


def test_photos_and_websocket_refuse_expired_and_foreign_trusted_links(
    svc, other_customer, twilio, django_capture_on_commit_callbacks
):
    _, caller = caller_client()
    services.trusted_save(caller, name="Мама", phone="+79169998877")
    with django_capture_on_commit_callbacks(execute=True):
        mine = svc.live("mine")
    other = svc.live("other", caller="+79160000000")
    body = [parse_qs(b.decode()) for p, _, b in twilio.requests if "Messages.json" in p][0]
    token = re.search(r"/t/(\S+)/", body["Body"][0]).group(1)
    for call in (mine, other):
        services.chat_enable(call, svc.user)
    jpeg = photo_upload().getvalue()
    mine_photo = services.message_add(
        mine, author="caller", photo=store_photo(jpeg, folder=f"integrated/{mine.pk}")
    )
    other_photo = services.message_add(
        other, author="caller", photo=store_photo(jpeg, folder=f"integrated/{other.pk}")
    )
    assert Client().get(f"/integrated/photos/{mine_photo.pk}.jpg?t={token}").status_code == 200
    # Someone else's trusted person: a valid link of another call opens no photo of this one.
    assert Client().get(f"/integrated/photos/{other_photo.pk}.jpg?t={token}").status_code == 404
    assert Client().get(f"/integrated/photos/{mine_photo.pk}.jpg").status_code == 404
    theirs = Service(other_customer, e164="+74950000777", ext="201")
    assert operator_client(theirs).get(f"/integrated/photos/{mine_photo.pk}.jpg").status_code == 404
    stranger, _ = caller_client("+79160000001")
    assert stranger.get(f"/integrated/photos/{mine_photo.pk}.jpg").status_code == 404
    # Once the link expires: no page, no photo, no websocket.
    mine.links.update(expires_at=timezone.now())
    assert Client().get(f"/t/{token}/").status_code == 404
    assert Client().get(f"/integrated/photos/{mine_photo.pk}.jpg?t={token}").status_code == 404
    refused = {"type": "websocket.close", "code": 4403}
    assert first_frame(f"/ws/integrated/{mine.pk}/?t={token}", Client()) == refused


def media_files(settings) -> list:
    return [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()]


def test_refused_photos_leave_no_message_and_no_file(svc, settings):
    client, _ = caller_client()
    call = svc.live()
    services.chat_enable(call, svc.user)
    url = f"/c/calls/{call.pk}/messages/"
    huge = photo_upload(b"\xff\xd8\xff" + b"0" * (8 * 1024 * 1024), "big.jpg")
    response = client.post(url, {"photo": huge})
    assert response.status_code == 400 and "8 МБ" in response.json()["error"]
    not_image = client.post(url, {"photo": photo_upload(b"GIF89a not really", "x.gif")})
    assert not_image.status_code == 400 and "не фотография" in not_image.json()["error"]
    # A good photo with a refused text: the message is refused and the re-encoded file removed.
    too_long = client.post(url, {"photo": photo_upload(), "text": "ы" * (services.MAX_TEXT + 1)})
    assert too_long.status_code == 400 and "длинное" in too_long.json()["error"]
    assert not ChatMessage.objects.exists() and media_files(settings) == []


def test_login_codes_expire_and_work_once(twilio, django_capture_on_commit_callbacks):
    client = Client()
    client.post("/c/login/", {"phone": CALLER})
    code = re.search(r"\d{6}", parse_qs(twilio.requests[-1][2].decode())["Body"][0]).group(0)
    LoginCode.objects.update(expires_at=timezone.now())
    expired = client.post("/c/login/", {"phone": CALLER, "code": code})
    assert expired.status_code == 400 and client.get("/c/calls/").status_code == 302
    client.post("/c/login/", {"phone": CALLER})
    code = re.search(r"\d{6}", parse_qs(twilio.requests[-1][2].decode())["Body"][0]).group(0)
    assert client.post("/c/login/", {"phone": CALLER, "code": code}).status_code == 302
    again = Client()
    assert again.post("/c/login/", {"phone": CALLER, "code": code}).status_code == 400
    assert again.get("/c/calls/").status_code == 302


def test_every_chat_route_refuses_everyone_but_the_chats_people(
    svc, other_customer, twilio, django_capture_on_commit_callbacks
):
    _, caller = caller_client()
    caller.name = "Иван Секретов"
    caller.save()
    services.trusted_save(caller, name="Мама", phone="+79169998877")
    with django_capture_on_commit_callbacks(execute=True):
        call = svc.live()
    body = [parse_qs(b.decode()) for p, _, b in twilio.requests if "Messages.json" in p][0]
    token = re.search(r"/t/(\S+)/", body["Body"][0]).group(1)
    same_customer_staff = Client()
    same_customer_staff.force_login(factories.user(svc.customer, role="staff", username="x"))
    outsiders = {
        "anonymous": Client(),
        "another caller": caller_client("+79160000000")[0],
        "another service's operator": operator_client(
            Service(other_customer, e164="+74950000777", ext="201")
        ),
        "staff who did not answer": same_customer_staff,
    }
    routes = [
        ("get", f"/c/calls/{call.pk}/"),
        ("post", f"/c/calls/{call.pk}/messages/"),
        ("get", f"/pbx/integrated/calls/{call.pk}/"),
        ("post", f"/pbx/integrated/calls/{call.pk}/enable/"),
        ("post", f"/pbx/integrated/calls/{call.pk}/messages/"),
    ]
    for who, client in outsiders.items():
        for method, url in routes:
            for suffix in ("", f"?t={token}"):  # the trusted link opens only /t/<token>/
                response = getattr(client, method)(url + suffix, {"text": "x"})
                assert response.status_code in (302, 403, 404), (who, method, url)
                if response.status_code == 302:
                    assert "login" in response["Location"], (who, url)
                assert "Иван Секретов" not in response.content.decode()
    call.refresh_from_db()
    assert call.chat_enabled_at is None and not ChatMessage.objects.exists()
    # The trusted person's own page is read-only: writing through it is not a thing.
    assert Client().post(f"/t/{token}/", {"text": "x"}).status_code == 405
    # While the people of the chat do get in.
    assert caller_client()[0].get(f"/c/calls/{call.pk}/").status_code == 200
    own = operator_client(svc).get(f"/pbx/integrated/calls/{call.pk}/")
    assert own.status_code == 200 and "Иван Секретов" in own.content.decode()


def test_trusted_persons_get_what_the_callers_settings_say(
    svc, twilio, mailoutbox, django_capture_on_commit_callbacks
):
    _, caller = caller_client()
    services.location_set(
        caller, lat=59.9386, lon=30.3141, now=dt.datetime(2026, 3, 1, 9, 5, tzinfo=dt.UTC)
    )
    services.trusted_save(caller, name="Сын", phone="+79169998877", share_location=False)
    services.trusted_save(caller, name="Дочь", email="doch@example.com")
    services.trusted_save(caller, name="Сосед", phone="+79165554433", notify_calls=False)
    with django_capture_on_commit_callbacks(execute=True):
        call = svc.live()
    (sms,) = [parse_qs(b.decode()) for p, _, b in twilio.requests if "Messages.json" in p]
    assert sms["To"] == ["+79169998877"]  # the neighbour is not told of calls
    assert "openstreetmap" not in sms["Body"][0]  # the son does not get the location
    (mail,) = mailoutbox
    assert mail.to == ["doch@example.com"]
    assert "openstreetmap.org/?mlat=59.938600&mlon=30.314100" in mail.body
    assert "Геопозиция на 01.03.2026 12:05:" in mail.body  # when it was shared (Moscow time)
    links = [re.search(r"/t/\S+/", text).group(0) for text in (sms["Body"][0], mail.body)]
    assert links[0] != links[1] and call.links.count() == 2  # personal links
    for link in links:
        assert Client().get(link).status_code == 200


# -- issue 19: what people see on a phone; the operator's alert -------------------------------------


def test_messages_show_their_author_time_and_read_state_in_words(svc):
    client, caller = caller_client()
    caller.name = "Иван"
    caller.save()
    call = svc.live()
    services.chat_enable(call, svc.user)
    assert client.post(f"/c/calls/{call.pk}/messages/", {"text": "Болит голова"}).status_code == 201
    operator = operator_client(svc)
    operator.post(f"/pbx/integrated/calls/{call.pk}/messages/", {"text": "Сейчас помогу"})
    page = client.get(f"/c/calls/{call.pk}/").content.decode()
    mine = page.split('data-author="caller"', 1)[1].split("</li>", 1)[0]
    theirs = page.split('data-author="operator"', 1)[1].split("</li>", 1)[0]
    assert ">Вы<" in mine and "<time" in mine and "отправлено" in mine
    assert ">Оператор<" in theirs and "<time" in theirs and "msg-read" not in theirs
    assert 'capture="' not in page  # the gallery is reachable, not only the camera
    services.operator_seen(call, svc.user)  # the operator comes online: read
    page = client.get(f"/c/calls/{call.pk}/").content.decode()
    mine = page.split('data-author="caller"', 1)[1].split("</li>", 1)[0]
    assert 'data-read="yes"' in mine and "прочитано" in mine
    desk = operator.get(f"/pbx/integrated/calls/{call.pk}/").content.decode()
    theirs = desk.split('data-author="caller"', 1)[1].split("</li>", 1)[0]
    assert ">Иван<" in theirs  # the operator sees the caller's name, not "caller"


def test_the_operator_is_alerted_of_their_own_live_calls_and_the_callers_last_message(svc):
    client, _ = caller_client()
    operator = operator_client(svc)
    assert operator.get("/pbx/integrated/alerts/").json() == {"calls": []}
    call = svc.live()
    services.chat_enable(call, svc.user)
    (row,) = operator.get("/pbx/integrated/alerts/").json()["calls"]
    assert row["id"] == call.pk and row["caller"] == CALLER and row["message"] == 0
    assert row["url"] == f"/pbx/integrated/calls/{call.pk}/"
    client.post(f"/c/calls/{call.pk}/messages/", {"text": "Помогите"})
    (row,) = operator.get("/pbx/integrated/alerts/").json()["calls"]
    assert row["message"] == ChatMessage.objects.get().pk and row["text"] == "Помогите"
    index = operator.get("/pbx/integrated/").content.decode()
    assert 'id="integrated-alerts"' in index and "integrated/alerts.js" in index
    desk = operator.get(f"/pbx/integrated/calls/{call.pk}/").content.decode()
    assert f'data-call="{call.pk}"' in desk.split('id="integrated-alerts"', 1)[1][:400]
    services.call_ended(uuid="a-leg-1")
    assert operator.get("/pbx/integrated/alerts/").json() == {"calls": []}


def test_alerts_tell_nobody_about_other_operators_or_other_customers_calls(svc, other_customer):
    call = svc.live()
    assert operator_client(svc).get("/pbx/integrated/alerts/").json()["calls"][0]["id"] == call.pk
    colleague = Client()  # staff of the same customer who did not answer the call
    colleague.force_login(factories.user(svc.customer, role="staff", username="colleague"))
    assert colleague.get("/pbx/integrated/alerts/").json() == {"calls": []}
    stranger_svc = Service(other_customer, e164="+74950000777", ext="201")
    stranger = operator_client(stranger_svc)  # an operator of another customer
    assert stranger.get("/pbx/integrated/alerts/").json() == {"calls": []}
    caller, _ = caller_client()  # a caller's session is no portal login
    assert caller.get("/pbx/integrated/alerts/").status_code == 302
    assert Client().get("/pbx/integrated/alerts/").status_code == 302


def test_the_callers_pages_carry_the_service_not_the_portals_name_or_menu(svc):
    client, _ = caller_client()
    call = svc.live()
    for path in ("/c/calls/", f"/c/calls/{call.pk}/", "/c/profile/"):
        page = client.get(path).content.decode()
        assert "Настроить АТС" not in page and "/pbx/" not in page, path
        assert 'name="language"' in page  # the language can still be chosen
    chat = client.get(f"/c/calls/{call.pk}/").content.decode()
    assert 'id="brand">Медицинские советы<' in chat
    login = Client().get("/c/login/").content.decode()
    assert "Настроить АТС" not in login
