"""Voicemail pages and API: a box created and configured, a message listed and played,
marked heard and deleted; another tenant's box or message is a 404; CSRF and roles hold."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from portal.tenants.models import ApiToken, User
from portal.voicemail import services
from portal.voicemail.models import Mailbox, Message
from tests import factories

from .test_voicemail_services import message_file

UUID2 = "1c8b5f1f-6b90-4b63-8e2f-1d2a3b4c5d6e"


@pytest.fixture
def recordings_dir(settings, tmp_path):
    settings.RECORDINGS_DIR = tmp_path / "rec"
    settings.PROMPTS_DIR = tmp_path / "prompts"
    settings.RECORDINGS_DIR.mkdir()
    return settings.RECORDINGS_DIR


@pytest.fixture
def emp(customer):
    return factories.employee(customer, factories.department(customer), extension="101")


@pytest.fixture
def message(customer, emp, recordings_dir):
    box = services.mailbox_save(customer=customer, box=Mailbox(customer=customer, employee=emp))
    path = message_file(recordings_dir, customer, box)
    return services.message_recorded(path=str(path), caller_number="+74957654321")


@pytest.fixture
def theirs(other_customer, recordings_dir):
    stranger = factories.employee(other_customer, extension="101")
    box = services.mailbox_save(
        customer=other_customer, box=Mailbox(customer=other_customer, employee=stranger)
    )
    path = message_file(recordings_dir, other_customer, box, uuid=UUID2)
    return box, services.message_recorded(path=str(path))


@pytest.fixture
def api(customer):
    _token, key = ApiToken.issue(customer=customer, name="mine")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_box_is_created_with_a_pin_from_the_page(admin_client, customer, emp):
    response = admin_client.post(
        "/pbx/voicemail/",
        {
            "employee": emp.pk,
            "enabled": "on",
            "email": "a@example.com",
            "max_seconds": 60,
            "pin": "2468",
        },
    )
    assert response.status_code == 302
    box = Mailbox.objects.get(employee=emp)
    assert box.email == "a@example.com" and services.pin_matches(box, "2468")
    page = admin_client.get(f"/pbx/voicemail/boxes/{box.pk}/")
    assert page.status_code == 200 and "PIN задан" in page.content.decode()


def test_a_message_is_listed_played_marked_heard_and_deleted(admin_client, message):
    page = admin_client.get("/pbx/voicemail/").content.decode()
    assert f'data-message="{message.pk}" data-heard="0"' in page and "+74957654321" in page
    audio = admin_client.get(f"/pbx/voicemail/messages/{message.pk}.wav")
    assert audio.status_code == 200 and audio["Content-Type"] == "audio/wav"
    assert b"".join(audio.streaming_content)[:4] == b"RIFF"
    assert admin_client.post(f"/pbx/voicemail/messages/{message.pk}/heard/").status_code == 302
    message.refresh_from_db()
    assert message.heard_at is not None
    assert admin_client.post(f"/pbx/voicemail/messages/{message.pk}/delete/").status_code == 302
    assert not Message.objects.filter(pk=message.pk).exists()


def test_another_customers_box_and_message_are_404(admin_client, message, theirs):
    box, msg = theirs
    assert admin_client.get(f"/pbx/voicemail/boxes/{box.pk}/").status_code == 404
    assert admin_client.get(f"/pbx/voicemail/messages/{msg.pk}.wav").status_code == 404
    assert admin_client.post(f"/pbx/voicemail/messages/{msg.pk}/delete/").status_code == 404
    assert admin_client.post(f"/pbx/voicemail/boxes/{box.pk}/delete/").status_code == 404
    assert (
        admin_client.post(
            f"/pbx/voicemail/boxes/{box.pk}/greeting/", {"action": "reset"}
        ).status_code
        == 404
    )
    assert Message.objects.filter(pk=msg.pk).exists() and Mailbox.objects.filter(pk=box.pk).exists()
    page = admin_client.get("/pbx/voicemail/").content.decode()
    assert f'data-message="{msg.pk}"' not in page
    # another customer's employee is not offered (and refused) for a new box
    stranger = box.employee
    response = admin_client.post("/pbx/voicemail/", {"employee": stranger.pk, "max_seconds": 60})
    assert response.status_code == 400 and Mailbox.objects.filter(employee=stranger).count() == 1


def test_posts_need_csrf_and_the_admin_role(customer, message):
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(factories.user(customer))
    assert csrf_client.post(f"/pbx/voicemail/messages/{message.pk}/delete/").status_code == 403
    staff = Client()
    staff.force_login(factories.user(customer, role=User.Role.DEPARTMENT_STAFF))
    assert staff.post(f"/pbx/voicemail/messages/{message.pk}/delete/").status_code == 403
    assert staff.get("/pbx/voicemail/").status_code == 200
    assert Message.objects.filter(pk=message.pk).exists()


def test_the_api_lists_marks_plays_and_isolates(api, message, theirs, emp):
    box, msg = theirs
    listed = api.get("/api/v1/voicemail-messages/").json()
    assert [m["id"] for m in listed["results"]] == [message.pk]
    assert api.get(f"/api/v1/voicemail-messages/{msg.pk}/").status_code == 404
    assert (
        api.post(f"/api/v1/voicemail-messages/{msg.pk}/heard/", {"heard": True}).status_code == 404
    )
    assert api.get(f"/api/v1/voicemail-messages/{msg.pk}/audio/").status_code == 404
    assert api.delete(f"/api/v1/voicemail-boxes/{box.pk}/").status_code == 404
    heard = api.post(
        f"/api/v1/voicemail-messages/{message.pk}/heard/", {"heard": True}, format="json"
    )
    assert heard.status_code == 200 and heard.json()["heard_at"]
    audio = api.get(f"/api/v1/voicemail-messages/{message.pk}/audio/")
    assert audio.status_code == 200 and b"".join(audio.streaming_content)[:4] == b"RIFF"
    boxes = api.get("/api/v1/voicemail-boxes/").json()["results"]
    assert boxes[0]["has_pin"] is False and "pin" not in boxes[0] and "pin_hash" not in boxes[0]
    changed = api.patch(
        f"/api/v1/voicemail-boxes/{boxes[0]['id']}/", {"pin": "1357"}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["has_pin"] is True
    bad = api.post("/api/v1/voicemail-boxes/", {"employee": box.employee_id}, format="json")
    assert bad.status_code == 400


def test_english_pages(admin_client, message):
    admin_client.post("/i18n/setlang/", {"language": "en"})
    page = admin_client.get("/pbx/voicemail/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Voicemail" in page and "Голосовая почта" not in page


def wav_bytes(seconds: float = 1.0, rate: int = 16000) -> bytes:
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"\x00\x10" * int(rate * seconds))
    return buffer.getvalue()


def test_an_uploaded_greeting_is_converted_and_played_before_the_beep(
    admin_client, customer, emp, recordings_dir, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from portal.billing.models import Option
    from portal.billing.services import option_set
    from portal.switch.xmldata import customer_dialplan_xml

    box = services.mailbox_save(customer=customer, box=Mailbox(customer=customer, employee=emp))
    upload = SimpleUploadedFile("hello.wav", wav_bytes(), content_type="audio/wav")
    response = admin_client.post(
        f"/pbx/voicemail/boxes/{box.pk}/greeting/", {"action": "upload", "file": upload}
    )
    assert response.status_code == 302
    box.refresh_from_db()
    assert box.greeting == Mailbox.Greeting.UPLOADED
    path = recordings_dir.parent / "prompts" / box.greeting_file
    import wave

    with wave.open(str(path)) as wav:  # converted to what FreeSWITCH plays: 8 kHz mono
        assert (wav.getframerate(), wav.getnchannels()) == (8000, 1)
    played = admin_client.get(f"/pbx/voicemail/boxes/{box.pk}/greeting.wav")
    assert played.status_code == 200
    option_set(customer=customer, code=Option.VOICEMAIL, enabled=True)
    assert f'data="{path}"' in customer_dialplan_xml(customer.pk, emp.extension)
    # back to the beep only: the file goes once the change is committed
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(f"/pbx/voicemail/boxes/{box.pk}/greeting/", {"action": "reset"})
    assert not path.exists()


def test_a_file_that_is_not_a_wav_is_refused_with_a_message(admin_client, customer, emp):
    from django.core.files.uploadedfile import SimpleUploadedFile

    box = services.mailbox_save(customer=customer, box=Mailbox(customer=customer, employee=emp))
    upload = SimpleUploadedFile("evil.wav", b"<?php echo 1; ?>", content_type="audio/wav")
    response = admin_client.post(
        f"/pbx/voicemail/boxes/{box.pk}/greeting/",
        {"action": "upload", "file": upload},
        follow=True,
    )
    assert "WAV" in response.content.decode()
    box.refresh_from_db()
    assert box.greeting == Mailbox.Greeting.TONE and not box.greeting_file
