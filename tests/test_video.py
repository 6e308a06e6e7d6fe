"""Video assistant without a browser: links (expired, reused, foreign), consent, location,
photos, permissions of every route and of the websocket (Channels' communicator on the
channel layer the settings pick: Redis in CI)."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from portal.asgi import application
from portal.notifications.models import Delivery
from portal.video import services
from portal.video.consumers import clean_shape
from portal.video.models import VideoMessage, VideoSession
from portal.web.photos import MAX_PHOTO_BYTES
from tests import factories
from tests.ws import first_frame, ws_headers

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def keep_the_test_transaction(monkeypatch, settings, tmp_path):
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def specialist(customer):
    return factories.user(customer, username="spec")


def new_session(specialist, **kw):
    created = services.session_create(
        specialist=specialist, name="Иван", email="ivan@example.com", **kw
    )
    token = created.url.rstrip("/").rsplit("/", 1)[1]
    return created.session, token


def joined(token) -> Client:
    """A phone that opened the link and accepted the policy."""
    phone = Client()
    assert phone.get(f"/v/{token}/").status_code == 200
    assert phone.post(f"/v/{token}/", {"accept": "yes"}).status_code == 302
    return phone


def jpeg(size=(40, 30), exif=True) -> bytes:
    buf = io.BytesIO()
    image = Image.new("RGB", size, "green")
    extra = {}
    if exif:
        data = Image.Exif()
        data[0x010F] = "SecretPhoneMaker"  # Make
        data[0x8825] = {2: (55.0, 45.0, 0.0)}  # GPS
        extra["exif"] = data.tobytes()
    image.save(buf, "JPEG", **extra)
    return buf.getvalue()


# -- the link -----------------------------------------------------------------------------------


def test_the_link_goes_out_by_email_and_is_stored_only_hashed(specialist):
    session, token = new_session(specialist)
    assert token not in session.token_hash and len(token) >= 40
    assert session.token_hash == services.digest(token)
    delivery = Delivery.objects.get(notification__payload__video_session=session.pk)
    assert delivery.channel == "email" and delivery.target == "ivan@example.com"
    assert token in delivery.notification.body


def test_the_first_browser_is_bound_and_any_other_is_refused(specialist):
    session, token = new_session(specialist)
    first = joined(token)
    assert first.get(f"/v/{token}/").status_code == 200  # the same phone comes back
    other = Client()
    response = other.get(f"/v/{token}/")
    assert response.status_code == 403 and "другом устройстве" in response.content.decode()


def test_an_expired_link_and_an_unknown_one_are_refused(specialist):
    session, token = new_session(specialist)
    VideoSession.objects.filter(pk=session.pk).update(expires_at=timezone.now())
    assert Client().get(f"/v/{token}/").status_code == 410
    assert Client().get("/v/not-a-real-token/").status_code == 404


def test_an_ended_session_cannot_be_joined_again(specialist):
    session, token = new_session(specialist)
    phone = joined(token)
    services.call_ended(session.pk)
    assert phone.get(f"/v/{token}/").status_code == 410


def test_without_accepting_the_policy_nothing_else_is_possible(specialist):
    session, token = new_session(specialist)
    phone = Client()
    phone.get(f"/v/{token}/")
    assert phone.post(f"/v/{token}/", {}).status_code == 400
    assert (
        phone.post(f"/v/{token}/location/", {}, content_type="application/json").status_code == 404
    )
    assert phone.post(f"/v/{token}/messages/", {"text": "hi"}).status_code == 404
    session.refresh_from_db()
    assert session.consent_at is None and not session.messages.exists()


# -- location -------------------------------------------------------------------------------------


def test_location_is_stored_or_its_refusal_recorded(specialist):
    session, token = new_session(specialist)
    phone = joined(token)
    ok = phone.post(f"/v/{token}/location/", {"lat": 55.75, "lon": 37.62}, "application/json")
    assert ok.status_code == 200
    session.refresh_from_db()
    assert (session.latitude, session.longitude) == (55.75, 37.62)
    phone.post(f"/v/{token}/location/", {"refused": True}, "application/json")
    session.refresh_from_db()
    assert session.location_refused and session.location_answered_at


@pytest.mark.parametrize(
    "body", [{"lat": 91, "lon": 0}, {"lat": "x", "lon": 1}, {"lat": 1}, {"lat": "NaN", "lon": 1}]
)
def test_malformed_coordinates_are_refused_and_nothing_stored(specialist, body):
    session, token = new_session(specialist)
    phone = joined(token)
    response = phone.post(f"/v/{token}/location/", body, "application/json")
    assert response.status_code == 400 and response.json()["error"]
    session.refresh_from_db()
    assert session.location_answered_at is None


# -- chat and photos --------------------------------------------------------------------------------


def test_a_photo_is_re_encoded_without_metadata_and_served_only_to_the_two_parties(
    specialist, customer, other_customer
):
    session, token = new_session(specialist)
    phone = joined(token)
    upload = io.BytesIO(jpeg())
    upload.name = "IMG_0001.jpg"
    response = phone.post(f"/v/{token}/messages/", {"text": "Вот", "photo": upload})
    assert response.status_code == 201
    message = VideoMessage.objects.get()
    stored = (settings.MEDIA_ROOT / message.photo).read_bytes()
    assert b"SecretPhoneMaker" not in stored and not Image.open(io.BytesIO(stored)).getexif()
    url = response.json()["photo"]
    assert phone.get(url).status_code == 200
    staff = Client()
    staff.force_login(specialist)
    assert staff.get(url).status_code == 200
    stranger = Client()
    stranger.force_login(factories.user(other_customer, username="stranger"))
    assert stranger.get(url).status_code == 404
    assert Client().get(url).status_code == 404


@pytest.mark.parametrize(
    ("data", "name"),
    [(b"%PDF-1.4 not an image", "x.jpg"), (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "x.svg")],
)
def test_a_non_image_photo_is_refused_and_nothing_stored(specialist, data, name):
    session, token = new_session(specialist)
    phone = joined(token)
    upload = io.BytesIO(data)
    upload.name = name
    response = phone.post(f"/v/{token}/messages/", {"photo": upload})
    assert response.status_code == 400 and "фотография" in response.json()["error"]
    assert not VideoMessage.objects.exists()


def test_an_oversized_photo_is_refused(specialist):
    session, _ = new_session(specialist)
    with pytest.raises(ValidationError):
        services.photo_store(b"\xff" * (MAX_PHOTO_BYTES + 1), session_id=session.pk)


def test_messages_to_an_ended_call_are_refused(specialist):
    session, token = new_session(specialist)
    phone = joined(token)
    services.call_ended(session.pk)
    assert phone.post(f"/v/{token}/messages/", {"text": "hi"}).status_code in (400, 404)
    assert not VideoMessage.objects.exists()


def test_another_customers_specialist_gets_404_everywhere(specialist, other_customer):
    session, _ = new_session(specialist)
    stranger = Client()
    stranger.force_login(factories.user(other_customer, username="stranger"))
    assert stranger.get(f"/pbx/video/{session.pk}/").status_code == 404
    assert stranger.post(f"/pbx/video/{session.pk}/messages/", {"text": "x"}).status_code == 404
    assert f'data-session="{session.pk}"' not in stranger.get("/pbx/video/").content.decode()


def test_a_session_needs_a_name_and_a_way_to_send_the_link(specialist):
    with pytest.raises(ValidationError):
        services.session_create(specialist=specialist, name="Иван")
    with pytest.raises(ValidationError):
        services.session_create(specialist=specialist, name="Иван", phone="12")
    assert not VideoSession.objects.exists()


# -- the websocket ---------------------------------------------------------------------------------


def test_the_two_parties_connect_and_everyone_else_is_closed_with_4403(specialist, other_customer):
    session, token = new_session(specialist)
    other, other_token = new_session(specialist)
    phone = joined(token)
    staff = Client()
    staff.force_login(specialist)
    stranger = Client()
    stranger.force_login(factories.user(other_customer, username="stranger"))
    path = f"/ws/video/{session.pk}/"
    assert '"role": "client"' in first_frame(path, phone)["text"]
    assert '"role": "specialist"' in first_frame(path, staff)["text"]
    refused = {"type": "websocket.close", "code": 4403}
    assert first_frame(path, stranger) == refused  # another customer's specialist
    assert first_frame(path, Client()) == refused  # nobody
    assert first_frame(f"/ws/video/{other.pk}/", phone) == refused  # this phone, another session
    unconsented = Client()
    _, third_token = new_session(specialist)
    unconsented.get(f"/v/{third_token}/")
    third = VideoSession.objects.get(token_hash=services.digest(third_token))
    assert first_frame(f"/ws/video/{third.pk}/", unconsented) == refused  # no consent: no call


def test_signals_and_annotations_reach_only_the_other_party_and_only_from_the_specialist(
    specialist,
):
    session, token = new_session(specialist)
    phone = joined(token)
    staff = Client()
    staff.force_login(specialist)
    path = f"/ws/video/{session.pk}/"

    async def scenario():
        spec = WebsocketCommunicator(application, path, headers=ws_headers(staff))
        cli = WebsocketCommunicator(application, path, headers=ws_headers(phone))
        await spec.connect()
        await spec.receive_json_from()  # hello
        await cli.connect()
        await cli.receive_json_from()  # hello
        assert (await spec.receive_json_from())["event"] == "join"
        await cli.send_json_to({"type": "signal", "data": {"ready": True}})
        assert await spec.receive_json_from() == {"type": "signal", "data": {"ready": True}}
        shape = {"kind": "arrow", "points": [[0.1, 0.2], [0.5, 0.5]]}
        await spec.send_json_to({"type": "annotate", "shape": shape})
        assert await cli.receive_json_from() == {"type": "annotate", "shape": shape}
        await cli.send_json_to({"type": "annotate", "shape": shape})  # not the customer's
        assert (await cli.receive_json_from())["type"] == "error"
        await spec.send_json_to({"type": "annotate", "shape": {"kind": "rect", "points": [[2, 0]]}})
        assert (await spec.receive_json_from())["error"] == "bad shape"
        await cli.send_json_to({"type": "end"})
        assert (await spec.receive_json_from())["type"] == "ended"
        await spec.disconnect()
        await cli.disconnect()

    async_to_sync(scenario)()
    session.refresh_from_db()
    assert session.annotations == 1 and session.status == "ended"


@pytest.mark.parametrize(
    "shape",
    [
        None,
        {"kind": "circle", "points": [[0, 0]]},
        {"kind": "rect", "points": [[0, 0]]},
        {"kind": "arrow", "points": [[0, 0], [1.5, 0]]},
        {"kind": "freehand", "points": [[0, 0]] * 501},
        {"kind": "pointer", "points": [[True, 0]]},
        {"kind": "pointer", "points": [["0", 0]]},
    ],
)
def test_bad_shapes_are_refused(shape):
    assert clean_shape(shape) is None


def test_the_list_and_statistics_count_sessions(specialist, customer):
    session, token = new_session(specialist)
    joined(token)
    services.call_started(session.pk, now=timezone.now() - dt.timedelta(minutes=3))
    session.refresh_from_db()
    services.message_add(session, author="client", text="Счётчик не крутится")
    services.call_ended(session.pk)
    staff = Client()
    staff.force_login(specialist)
    html = staff.get("/pbx/video/").content.decode()
    assert f'data-session="{session.pk}"' in html and "Иван" in html and "0:03:" in html
    console = staff.get(f"/pbx/video/{session.pk}/").content.decode()
    assert 'id="transcript"' in console and "Счётчик не крутится" in console
    stats = staff.get(reverse("web:statistics")).content.decode()
    assert "Сеансов: 1, состоялось: 1, пометок: 0." in stats


def test_the_pages_speak_english_when_asked(specialist):
    session, token = new_session(specialist)
    staff = Client()
    staff.force_login(specialist)
    staff.cookies["django_language"] = "en"
    html = staff.get("/pbx/video/").content.decode()
    assert "Video assistant" in html and "Send the link" in html and "Видеоассистент" not in html
    phone = Client()
    phone.cookies["django_language"] = "en"
    assert "I accept the privacy policy" in phone.get(f"/v/{token}/").content.decode()


def test_a_refused_photo_message_leaves_no_file(specialist, settings):
    session, token = new_session(specialist)
    phone = joined(token)
    upload = io.BytesIO(jpeg())
    upload.name = "IMG.jpg"
    response = phone.post(f"/v/{token}/messages/", {"text": "x" * 2001, "photo": upload})
    assert response.status_code == 400 and not VideoMessage.objects.exists()
    folder = settings.MEDIA_ROOT / "video" / str(session.pk)
    assert not folder.exists() or not any(folder.iterdir())


def test_the_bound_browser_is_refused_once_the_link_has_expired(specialist):
    session, token = new_session(specialist)
    phone = joined(token)
    assert phone.post(f"/v/{token}/messages/", {"text": "hi"}).status_code == 201
    long_ago = timezone.now() - dt.timedelta(days=30)
    VideoSession.objects.filter(pk=session.pk).update(
        expires_at=long_ago + dt.timedelta(hours=24), opened_at=long_ago
    )
    assert phone.post(f"/v/{token}/messages/", {"text": "30 days later"}).status_code in (404, 410)
    assert phone.get(f"/v/{token}/").status_code == 410
    assert not VideoMessage.objects.filter(text="30 days later").exists()
    cookie = phone.cookies[next(iter(phone.cookies))].value
    assert services.client_session(session_id=session.pk, browser_key=cookie) is None


def test_a_call_opened_just_before_the_expiry_keeps_working_for_a_while(specialist):
    session, token = new_session(specialist)
    phone = joined(token)
    now = timezone.now()
    VideoSession.objects.filter(pk=session.pk).update(
        expires_at=now - dt.timedelta(minutes=1), opened_at=now - dt.timedelta(minutes=30)
    )
    assert phone.post(f"/v/{token}/messages/", {"text": "still here"}).status_code == 201


# -- issue 19: the link survives previews; what the specialist and the customer see ------------------


def test_a_preview_fetch_of_the_link_does_not_lock_the_customer_out(specialist):
    session, token = new_session(specialist)
    scanner = Client()  # a mail scanner or a messenger fetching the link for a preview
    preview = scanner.get(f"/v/{token}/")
    assert preview.status_code == 200 and "Политика конфиденциальности" in preview.content.decode()
    assert scanner.get(f"/v/{token}/").status_code == 200  # previews twice, still nothing bound
    session.refresh_from_db()
    assert session.browser_hash == "" and session.consent_at is None
    assert session.status == VideoSession.Status.NEW
    phone = joined(token)  # the customer's own browser is the one that consents
    session.refresh_from_db()
    assert session.browser_hash and session.consent_at and session.status == "opened"
    assert phone.post(f"/v/{token}/messages/", {"text": "я тут"}).status_code == 201


def test_a_preview_sees_only_the_policy_and_a_stranger_with_the_link_is_refused_after_consent(
    specialist,
):
    session, token = new_session(specialist)
    scanner = Client()
    page = scanner.get(f"/v/{token}/").content.decode()
    assert "video-config" not in page and "Продолжить звонок" not in page  # no call before consent
    assert scanner.post(f"/v/{token}/messages/", {"text": "x"}).status_code == 404
    assert scanner.get(f"/v/{token}/messages/").status_code == 404  # no history either
    joined(token)
    late = Client()  # the link forwarded, or the scanner again, after the customer consented
    assert late.get(f"/v/{token}/").status_code == 403
    assert late.post(f"/v/{token}/", {"accept": "yes"}).status_code == 403
    assert late.get(f"/v/{token}/messages/").status_code == 404
    assert Client().get("/v/guessed-token-that-does-not-exist/").status_code == 404


def test_the_link_e_mail_has_no_link_into_the_portal(specialist, settings):
    from django.core import mail

    from portal.notifications.services import delivery_send

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    session, token = new_session(specialist)
    delivery = Delivery.objects.get(notification__payload__video_session=session.pk)
    assert delivery_send(delivery.pk) == "sent"
    (message,) = mail.outbox
    assert f"/v/{token}/" in message.body
    assert "/notifications/" not in message.body  # the customer has no portal account


def test_the_specialist_sees_the_customers_link_and_can_issue_a_new_one(specialist, other_customer):
    staff = Client()
    staff.force_login(specialist)
    response = staff.post("/pbx/video/", {"name": "Иван", "phone": "", "email": "ivan@example.com"})
    session = VideoSession.objects.get()
    assert response.status_code == 302
    delivery = Delivery.objects.get(notification__payload__video_session=session.pk)
    url = delivery.notification.body.split(": ", 1)[1]
    console = staff.get(f"/pbx/video/{session.pk}/").content.decode()
    assert f'value="{url}"' in console and "Ссылка для клиента" in console
    stranger = Client()  # another customer's specialist sees neither the console nor the link
    stranger.force_login(factories.user(other_customer, username="stranger"))
    assert stranger.get(f"/pbx/video/{session.pk}/").status_code == 404
    assert stranger.post(f"/pbx/video/{session.pk}/link/").status_code == 404
    assert Client().post(f"/pbx/video/{session.pk}/link/").status_code in (302, 403, 404)
    session.refresh_from_db()
    assert session.token_hash == services.digest(url.rstrip("/").rsplit("/", 1)[1])

    assert staff.post(f"/pbx/video/{session.pk}/link/").status_code == 302  # a new link
    console = staff.get(f"/pbx/video/{session.pk}/").content.decode()
    new_url = console.split('id="link-url" readonly value="', 1)[1].split('"', 1)[0]
    assert new_url != url
    old_token = url.rstrip("/").rsplit("/", 1)[1]
    new_token = new_url.rstrip("/").rsplit("/", 1)[1]
    assert Client().get(f"/v/{old_token}/").status_code == 404  # the old link is dead
    joined(new_token)
    assert staff.post(f"/pbx/video/{session.pk}/link/").status_code == 302
    session.refresh_from_db()
    assert session.token_hash == services.digest(new_token)  # taken links are not replaced


def test_the_customers_page_carries_the_company_name_and_the_chat_with_authors_and_times(
    specialist,
):
    specialist.first_name, specialist.last_name = "Анна", "Смирнова"
    specialist.save()
    session, token = new_session(specialist)
    phone = joined(token)
    phone.post(f"/v/{token}/messages/", {"text": "Вот счётчик"})
    staff = Client()
    staff.force_login(specialist)
    staff.post(f"/pbx/video/{session.pk}/messages/", {"text": "Нажмите кнопку"})
    page = phone.get(f"/v/{token}/").content.decode()  # the customer reloads the page
    assert "Настроить АТС" not in page
    assert f'id="brand">{specialist.customer.name}<' in page
    assert "Вот счётчик" in page and "Нажмите кнопку" in page  # the history survives a reload
    assert "Специалист Анна Смирнова" in page
    mine = page.split('data-author="client"', 1)[1].split("</li>", 1)[0]
    assert ">Вы<" in mine and "<time" in mine
    history = phone.get(f"/v/{token}/messages/").json()["messages"]
    assert [m["text"] for m in history] == ["Вот счётчик", "Нажмите кнопку"]
    console = staff.get(f"/pbx/video/{session.pk}/").content.decode()
    theirs = console.split('data-author="client"', 1)[1].split("</li>", 1)[0]
    assert ">Иван<" in theirs and "<time" in theirs
    assert staff.get(f"/pbx/video/{session.pk}/messages/").json()["messages"][0]["author"] == (
        "client"
    )


def test_the_chat_history_is_not_given_to_another_customers_specialist_or_another_session(
    specialist, other_customer
):
    session, token = new_session(specialist)
    phone = joined(token)
    phone.post(f"/v/{token}/messages/", {"text": "секрет"})
    other, other_token = new_session(specialist)
    stranger = Client()
    stranger.force_login(factories.user(other_customer, username="stranger"))
    assert stranger.get(f"/pbx/video/{session.pk}/messages/").status_code == 404
    assert phone.get(f"/v/{other_token}/messages/").status_code == 404  # not this phone's call
    assert "секрет" not in phone.get(f"/v/{other_token}/").content.decode()
