"""Voice prompts in the portal: listening, uploading own recordings, roles, tenants, CSRF."""

from __future__ import annotations

import io
import math
import shutil
import struct
import wave
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from portal.prompts import audio, services
from portal.prompts.models import CustomPrompt
from portal.prompts.selectors import prompt_path
from portal.tenants.models import User
from tests import factories

LIST = reverse("prompts:list")


def upload_url(key="callback_offer", language="ru"):
    return reverse("prompts:upload", args=[language, key])


def make_wav(
    seconds: float = 1.0, rate: int = 16000, channels: int = 2, width: int = 2, frames=None
) -> bytes:
    n = int(seconds * rate) if frames is None else frames
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        if width == 2:
            sample = [
                struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
                for i in range(min(n, rate))
            ]
            one_second = b"".join(s * channels for s in sample)
            data = (one_second * (n // rate + 1))[: n * channels * width]
        else:
            data = b"\x80" * (n * channels * width)
        w.writeframes(data)
    return buf.getvalue()


def float_wav() -> bytes:
    """A valid WAV header with format 3 (IEEE float): not PCM."""
    data = struct.pack("<4f", 0.0, 0.5, -0.5, 0.0)
    fmt = struct.pack("<HHIIHH", 3, 1, 8000, 8000 * 4, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.fixture(autouse=True)
def prompts_dir(settings, tmp_path_factory):
    root = tmp_path_factory.mktemp("prompts")
    settings.PROMPTS_DIR = root
    return root


@pytest.fixture
def tools():
    missing = [name for name in ("sox",) if shutil.which(name) is None]
    if missing:
        pytest.fail("sox not installed: tests/run installs it (apt-get install espeak-ng sox)")


def post_file(client, data: bytes, name="greeting.wav", url=None):
    return client.post(url or upload_url(), {"file": SimpleUploadedFile(name, data, "audio/wav")})


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


# --- the page ---------------------------------------------------------------------------------


def test_the_page_lists_every_prompt_with_players_and_upload_forms(admin_client, prompts_dir):
    (prompts_dir / "ru").mkdir()
    (prompts_dir / "ru" / "callback_offer.wav").write_bytes(make_wav(rate=8000, channels=1))
    response = admin_client.get(LIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-prompt="callback_offer"' in html
    assert "нажмите 1" in html
    assert reverse("prompts:default_audio", args=["ru", "callback_offer"]) in html
    assert "<audio controls" in html
    assert 'enctype="multipart/form-data"' in html
    assert "csrfmiddlewaretoken" in html


def test_the_page_shows_another_language_on_request(admin_client):
    html = admin_client.get(LIST, {"lang": "cs"}).content.decode()
    assert "stiskněte 1" in html
    assert reverse("prompts:upload", args=["cs", "callback_offer"]) in html


def test_department_staff_may_listen_but_sees_no_upload_forms(client, customer):
    client.force_login(factories.user(customer, role=User.Role.DEPARTMENT_STAFF))
    response = client.get(LIST)
    assert response.status_code == 200
    assert 'enctype="multipart/form-data"' not in response.content.decode()


def test_anonymous_users_are_sent_to_login(client):
    assert client.get(LIST).status_code == 302
    response = client.get(reverse("prompts:default_audio", args=["ru", "goodbye"]))
    assert response.status_code == 302


def test_platform_users_without_a_customer_get_403(client, db):
    client.force_login(factories.user(None))
    assert client.get(LIST).status_code == 403


# --- uploading ----------------------------------------------------------------------------


def test_an_uploaded_wav_becomes_the_customers_prompt_at_8khz_mono(
    tools, admin_client, admin_user, customer, prompts_dir
):
    response = post_file(admin_client, make_wav(seconds=2.0, rate=44100, channels=2))
    assert response.status_code == 302
    assert response.url.endswith("?lang=ru#prompt-callback_offer")
    custom = CustomPrompt.objects.get(customer=customer)
    assert (custom.key, custom.language, custom.uploaded_by) == ("callback_offer", "ru", admin_user)
    assert custom.original_name == "greeting.wav"
    assert 1900 <= custom.duration_ms <= 2100
    path = prompts_dir / custom.file_path
    assert custom.file_path.startswith(f"customers/{customer.pk}/ru/callback_offer-")
    assert "greeting" not in custom.file_path
    info = audio.wav_info(path)
    assert (info.rate, info.channels, info.sample_width) == (8000, 1, 2)
    assert custom.size_bytes == path.stat().st_size
    assert prompt_path(customer=customer, key="callback_offer") == str(path)
    assert not list(prompts_dir.rglob(".tmp-*"))

    html = admin_client.get(response.url).content.decode()
    assert reverse("prompts:custom_audio", args=[custom.pk]) in html
    assert "загружена" in html


def test_uploading_again_replaces_the_recording(
    tools, admin_client, customer, prompts_dir, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        post_file(admin_client, make_wav(seconds=1.0))
    first = CustomPrompt.objects.get(customer=customer)
    with django_capture_on_commit_callbacks(execute=True):
        post_file(admin_client, make_wav(seconds=3.0, rate=8000, channels=1))
    second = CustomPrompt.objects.get(customer=customer)
    assert second.pk == first.pk
    assert second.duration_ms == 3000
    assert second.file_path != first.file_path
    assert files_under(prompts_dir) == [prompts_dir / second.file_path]


def test_an_8bit_mono_wav_at_any_rate_is_accepted(tools, admin_client, customer):
    response = post_file(admin_client, make_wav(seconds=0.5, rate=11025, channels=1, width=1))
    assert response.status_code == 302
    assert CustomPrompt.objects.filter(customer=customer).count() == 1


BAD_FILES = {
    "mp3 renamed to .wav": (
        b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" * 400,
        "Это не WAV-файл",
    ),
    "random bytes": (bytes(range(256)) * 20, "Это не WAV-файл"),
    "a text file": (b"hello, this is not audio\n" * 10, "Это не WAV-файл"),
    "RIFF of another kind": (b"RIFF\x24\x00\x00\x00AVI LIST" + b"\x00" * 40, "Это не WAV-файл"),
    "header only": (b"RIFF\x04\x00\x00\x00WAVE", "Этот WAV-файл не подходит"),
    "float samples": (float_wav(), "Этот WAV-файл не подходит"),
    "no samples": (make_wav(frames=0, channels=1), "Этот WAV-файл не подходит"),
    "six channels": (make_wav(seconds=0.1, channels=6), "Этот WAV-файл не подходит"),
    "empty file": (b"", "Файл пустой"),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_a_bad_file_is_refused_with_a_clear_error_and_nothing_saved(
    admin_client, customer, prompts_dir, name
):
    data, message = BAD_FILES[name]
    response = post_file(admin_client, data)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert "Ничего не сохранено." in html
    assert not CustomPrompt.objects.exists()
    assert files_under(prompts_dir) == []


def test_no_file_at_all_is_refused(admin_client):
    response = admin_client.post(upload_url(), {})
    assert response.status_code == 400
    assert "Выберите файл WAV." in response.content.decode()


def test_a_file_over_the_size_limit_is_refused(admin_client, settings, prompts_dir):
    settings.PROMPT_UPLOAD_MAX_BYTES = 5 * 1024 * 1024
    data = make_wav(seconds=30, rate=48000, channels=2)  # 5.5 MB, 30 s: only too big
    assert len(data) > settings.PROMPT_UPLOAD_MAX_BYTES
    response = post_file(admin_client, data)
    assert response.status_code == 400
    assert "Файл слишком большой" in response.content.decode()
    assert "5,0" in response.content.decode()
    assert not CustomPrompt.objects.exists()
    assert files_under(prompts_dir) == []


def test_a_recording_over_the_duration_limit_is_refused(admin_client, settings, prompts_dir):
    settings.PROMPT_UPLOAD_MAX_SECONDS = 60
    response = post_file(admin_client, make_wav(seconds=61, rate=8000, channels=1, width=1))
    assert response.status_code == 400
    assert "Запись слишком длинная (61,0 с). Можно не больше 60 с." in response.content.decode()
    assert not CustomPrompt.objects.exists()
    assert files_under(prompts_dir) == []


def test_errors_are_in_english_for_english_users(admin_client):
    response = admin_client.post(
        upload_url(),
        {"file": SimpleUploadedFile("x.wav", b"ID3" + b"\x00" * 100)},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    assert "This is not a WAV file" in response.content.decode()


def test_a_conversion_failure_leaves_nothing_behind(admin_client, monkeypatch, prompts_dir):
    def fail(src, dest, **kw):
        dest.write_bytes(b"half")
        raise audio.AudioError("sox failed: boom")

    monkeypatch.setattr(audio, "to_telephony", fail)
    response = post_file(admin_client, make_wav())
    assert response.status_code == 400
    assert "Не удалось обработать запись" in response.content.decode()
    assert not CustomPrompt.objects.exists()
    assert files_under(prompts_dir) == []


def test_a_database_failure_leaves_no_file(tools, admin_client, monkeypatch, prompts_dir):
    def broken_save(self, *a, **kw):
        raise RuntimeError("database is gone")

    monkeypatch.setattr(CustomPrompt, "save", broken_save)
    with pytest.raises(RuntimeError):
        post_file(admin_client, make_wav())
    assert files_under(prompts_dir) == []


def test_unknown_keys_and_languages_are_404(admin_client):
    data = make_wav()
    assert post_file(admin_client, data, url=upload_url(key="nope")).status_code == 404
    assert post_file(admin_client, data, url=upload_url(language="de")).status_code == 404
    assert (
        admin_client.get(reverse("prompts:default_audio", args=["ru", "nope"])).status_code == 404
    )


def test_department_staff_cannot_upload_or_delete(client, customer, prompts_dir):
    client.force_login(factories.user(customer, role=User.Role.DEPARTMENT_STAFF))
    assert post_file(client, make_wav()).status_code == 403
    response = client.post(reverse("prompts:delete", args=["ru", "callback_offer"]))
    assert response.status_code == 403
    assert not CustomPrompt.objects.exists()
    assert files_under(prompts_dir) == []


def test_uploads_need_a_csrf_token(customer, admin_user, prompts_dir):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert post_file(client, make_wav()).status_code == 403
    assert not CustomPrompt.objects.exists()
    assert files_under(prompts_dir) == []


def test_deleting_the_own_recording_brings_back_the_default(
    tools, admin_client, customer, prompts_dir, django_capture_on_commit_callbacks
):
    post_file(admin_client, make_wav())
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("prompts:delete", args=["ru", "callback_offer"]))
    assert response.status_code == 302
    assert not CustomPrompt.objects.exists()
    assert files_under(prompts_dir) == []
    assert prompt_path(customer=customer, key="callback_offer") == str(
        prompts_dir / "ru" / "callback_offer.wav"
    )


# --- audio and tenants --------------------------------------------------------------------


@pytest.fixture
def foreign_prompt(tools, other_customer):
    return services.custom_prompt_upload(
        customer=other_customer, key="goodbye", language="ru", data=make_wav()
    )


def test_the_customers_own_recording_is_served_as_wav(tools, admin_client, customer):
    own = services.custom_prompt_upload(
        customer=customer, key="goodbye", language="ru", data=make_wav()
    )
    response = admin_client.get(reverse("prompts:custom_audio", args=[own.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav"
    assert b"".join(response.streaming_content)[:4] == b"RIFF"


def test_default_audio_is_served_and_a_missing_one_is_404(admin_client, prompts_dir):
    (prompts_dir / "en").mkdir()
    (prompts_dir / "en" / "goodbye.wav").write_bytes(make_wav(rate=8000, channels=1))
    url = reverse("prompts:default_audio", args=["en", "goodbye"])
    assert admin_client.get(url).status_code == 200
    missing = reverse("prompts:default_audio", args=["en", "connecting"])
    assert admin_client.get(missing).status_code == 404


def test_another_customers_recording_is_404(admin_client, foreign_prompt):
    response = admin_client.get(reverse("prompts:custom_audio", args=[foreign_prompt.pk]))
    assert response.status_code == 404


def test_another_customers_recording_is_not_listed_nor_deleted(
    admin_client, foreign_prompt, prompts_dir
):
    html = admin_client.get(LIST).content.decode()
    assert reverse("prompts:custom_audio", args=[foreign_prompt.pk]) not in html
    admin_client.post(reverse("prompts:delete", args=["ru", "goodbye"]))
    assert CustomPrompt.objects.filter(pk=foreign_prompt.pk).exists()
    assert (prompts_dir / foreign_prompt.file_path).is_file()


def test_department_staff_may_listen_to_their_customers_recording(client, customer, tools):
    own = services.custom_prompt_upload(
        customer=customer, key="goodbye", language="ru", data=make_wav()
    )
    client.force_login(factories.user(customer, role=User.Role.DEPARTMENT_STAFF))
    assert client.get(reverse("prompts:custom_audio", args=[own.pk])).status_code == 200


def test_a_missing_standard_prompt_is_explained_to_customers_not_developers(admin_client):
    """No prompt generated on this machine: the customer reads what they can do, never a
    management command."""
    html = admin_client.get(LIST).content.decode()
    assert "стандартная запись пока не готова" in html
    assert "manage.py" not in html and "prompts_generate" not in html
