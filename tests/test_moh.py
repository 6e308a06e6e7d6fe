"""Custom hold music: uploads (decoded and re-encoded by sox, size, duration and storage quota),
what FreeSWITCH is told (the queue's `moh-sound`, the caller's `hold_music`), the page and the
API with their tenant isolation."""

from __future__ import annotations

import shutil
import subprocess
import wave
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from portal.billing.models import Option
from portal.billing.services import option_set
from portal.calls.models import Recording
from portal.directory.models import PhoneNumber
from portal.moh import selectors, services
from portal.moh.models import HoldMusic
from portal.switch import xmldata
from tests import factories

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed"),
]


@pytest.fixture(autouse=True)
def prompts_dir(settings, tmp_path):
    root = tmp_path / "prompts"
    root.mkdir()
    settings.PROMPTS_DIR = root
    return root


def sound(tmp_path: Path, fmt: str, seconds: float = 1.0, rate: int = 44100) -> bytes:
    """A sine tone in `fmt` made by sox (stereo, CD rate: nothing a phone line plays as is)."""
    out = tmp_path / f"tone.{fmt}"
    subprocess.run(
        ["sox", "-n", "-r", str(rate), "-c", "2", str(out), "synth", str(seconds), "sine", "440"],
        check=True,
    )
    return out.read_bytes()


def upload(data: bytes, name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


@pytest.fixture
def cust(db):
    c = factories.customer()
    option_set(customer=c, code=Option.MOH, enabled=True)
    return c


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "aiff", "au"])
def test_an_upload_in_a_common_format_becomes_an_8khz_mono_wav_under_the_customers_dir(
    cust, tmp_path, prompts_dir, fmt
):
    music = services.hold_music_upload(
        customer=cust, upload=upload(sound(tmp_path, fmt, 2.0), f"Моя песня.{fmt}")
    )
    path = Path(selectors.music_path(music))
    assert path.parent == prompts_dir / "moh" / f"c{cust.pk}"
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert abs(w.getnframes() / 8000 - 2.0) < 0.05
    assert music.size_bytes == path.stat().st_size
    assert music.original_name == f"Моя песня.{fmt}"
    assert "Моя" not in str(path)  # the uploaded name never reaches the file system


def test_garbage_in_an_audio_name_is_refused_and_nothing_is_left(cust, prompts_dir):
    with pytest.raises(ValidationError):
        services.hold_music_upload(customer=cust, upload=upload(b"RIFF not really" * 100, "a.wav"))
    assert not HoldMusic.objects.exists()
    assert list((prompts_dir / "moh").rglob("*")) == [prompts_dir / "moh" / f"c{cust.pk}"]


@pytest.mark.parametrize("name", ["song.mp4", "song.exe", "song", "../../etc/passwd.wav.sh"])
def test_a_format_we_do_not_take_is_refused(cust, tmp_path, name):
    with pytest.raises(ValidationError):
        services.hold_music_upload(customer=cust, upload=upload(sound(tmp_path, "wav"), name))


def test_an_upload_over_the_size_limit_is_refused_before_decoding(cust, tmp_path, settings):
    settings.MOH_UPLOAD_MAX_BYTES = 1000
    with pytest.raises(ValidationError, match="больше"):
        services.hold_music_upload(customer=cust, upload=upload(sound(tmp_path, "wav"), "a.wav"))


def test_music_longer_than_the_limit_is_refused(cust, tmp_path, settings):
    settings.MOH_MAX_SECONDS = 1
    with pytest.raises(ValidationError, match="длиннее"):
        services.hold_music_upload(
            customer=cust, upload=upload(sound(tmp_path, "flac", 3.0), "a.flac")
        )
    assert not HoldMusic.objects.exists()


def test_music_counts_against_the_storage_quota_with_the_recordings(cust, tmp_path):
    quota = services.storage_quota_bytes(cust)
    Recording.objects.create(customer=cust, path="/x.wav", size_bytes=quota - 10_000)
    with pytest.raises(ValidationError, match="Не хватает места"):
        services.hold_music_upload(customer=cust, upload=upload(sound(tmp_path, "wav"), "a.wav"))
    Recording.objects.all().delete()
    music = services.hold_music_upload(
        customer=cust, upload=upload(sound(tmp_path, "wav"), "a.wav")
    )
    assert services.storage_used_bytes(cust.pk) == music.size_bytes


def test_the_tariff_page_and_the_call_history_count_the_music_as_the_upload_does(cust, tmp_path):
    import datetime as dt

    from portal.billing.selectors import tariff_page
    from portal.calls.history import storage_used

    Recording.objects.create(customer=cust, path="/x.wav", size_bytes=1000)
    music = services.hold_music_upload(
        customer=cust, upload=upload(sound(tmp_path, "wav"), "a.wav")
    )
    page = tariff_page(customer=cust, month=dt.date.today().replace(day=1))
    assert page.storage_used_bytes == 1000 + music.size_bytes == storage_used(cust)
    assert services.storage_used_bytes(cust.pk) == page.storage_used_bytes


def test_a_new_upload_replaces_the_old_file(cust, tmp_path, django_capture_on_commit_callbacks):
    first = services.hold_music_upload(
        customer=cust, upload=upload(sound(tmp_path, "wav"), "a.wav")
    )
    old = Path(selectors.music_path(first))
    with django_capture_on_commit_callbacks(execute=True):
        second = services.hold_music_upload(
            customer=cust, upload=upload(sound(tmp_path, "ogg"), "b.ogg")
        )
    assert HoldMusic.objects.count() == 1 and second.pk == first.pk
    assert not old.exists() and Path(selectors.music_path(second)).exists()


def test_another_customers_department_is_refused(cust, tmp_path):
    other = factories.department(factories.customer())
    with pytest.raises(ValidationError):
        services.hold_music_upload(
            customer=cust, department=other, upload=upload(sound(tmp_path, "wav"), "a.wav")
        )


# --- what FreeSWITCH is told -----------------------------------------------------------------


def queue_params(xml: str) -> dict[str, dict[str, str]]:
    root = ET.fromstring(xml)
    return {
        q.get("name"): {p.get("name"): p.get("value") for p in q.iter("param")}
        for q in root.iter("queue")
    }


def actions(xml: str) -> list[tuple[str, str]]:
    return [(a.get("application"), a.get("data") or "") for a in ET.fromstring(xml).iter("action")]


@pytest.fixture
def setup(cust, tmp_path):
    sales, support = factories.department(cust), factories.department(cust)
    factories.number(cust, kind=PhoneNumber.Kind.MULTICHANNEL, department=sales)
    factories.number(cust, kind=PhoneNumber.Kind.MULTICHANNEL, department=support)
    everyone = services.hold_music_upload(
        customer=cust, upload=upload(sound(tmp_path, "wav"), "all.wav")
    )
    own = services.hold_music_upload(
        customer=cust, department=sales, upload=upload(sound(tmp_path, "ogg"), "sales.ogg")
    )
    return sales, support, selectors.music_path(everyone), selectors.music_path(own)


def test_each_queue_plays_its_departments_music_else_the_customers(cust, setup):
    sales, support, everyone, own = setup
    params = queue_params(xmldata.configuration_xml("callcenter.conf"))
    assert params[f"c{cust.pk}_d{sales.pk}@default"]["moh-sound"] == own
    assert params[f"c{cust.pk}_d{support.pk}@default"]["moh-sound"] == everyone


def test_switching_the_option_off_gives_the_stock_music_back(cust, setup):
    sales, support, _, _ = setup
    option_set(customer=cust, code=Option.MOH, enabled=False)
    params = queue_params(xmldata.configuration_xml("callcenter.conf"))
    assert {p["moh-sound"] for p in params.values()} == {"$${pbx_hold_music}"}
    number = PhoneNumber.objects.filter(department=sales).get()
    assert not any(
        app == "set" and data.startswith("hold_music=")
        for app, data in actions(xmldata.public_dialplan_xml(number.e164))
    )


def test_a_caller_to_a_number_gets_the_music_for_hold_before_the_queue(cust, setup):
    sales, _, _, own = setup
    number = PhoneNumber.objects.filter(department=sales).get()
    got = actions(xmldata.public_dialplan_xml(number.e164))
    apps = [app for app, _ in got]
    assert ("set", f"hold_music={own}") in got
    assert apps.index("set", apps.index("set")) < apps.index("callcenter")
    assert got.index(("set", f"hold_music={own}")) < apps.index("callcenter")


def test_a_regular_number_without_department_music_gets_the_customers(cust, setup, tmp_path):
    _, _, everyone, _ = setup
    employee = factories.employee(cust, factories.department(cust))
    number = factories.number(cust, department=employee.department)
    got = actions(xmldata.public_dialplan_xml(number.e164))
    assert got.index(("set", f"hold_music={everyone}")) < [a for a, _ in got].index("bridge")


def test_a_row_with_an_unsafe_path_plays_the_stock_music(cust, setup):
    sales, _, _, _ = setup
    HoldMusic.objects.filter(department=sales).update(file_path="moh/c1/x y.wav")
    HoldMusic.objects.filter(department=None).update(file_path=f"moh/c{cust.pk}/../../etc/x.wav")
    params = queue_params(xmldata.configuration_xml("callcenter.conf"))
    assert {p["moh-sound"] for p in params.values()} == {"$${pbx_hold_music}"}


def test_another_customers_music_never_plays_to_this_one(cust, setup):
    other = factories.customer()
    option_set(customer=other, code=Option.MOH, enabled=True)
    dept = factories.department(other)
    factories.number(other, kind=PhoneNumber.Kind.MULTICHANNEL, department=dept)
    params = queue_params(xmldata.configuration_xml("callcenter.conf"))
    assert params[f"c{other.pk}_d{dept.pk}@default"]["moh-sound"] == "$${pbx_hold_music}"


# --- page and API ----------------------------------------------------------------------------


def test_the_page_uploads_and_lists_the_music(client, cust, tmp_path):
    client.force_login(factories.user(cust))
    dept = factories.department(cust, name="Продажи")
    response = client.post(
        reverse("moh:upload"),
        {"department": dept.pk, "file": upload(sound(tmp_path, "flac"), "jingle.flac")},
    )
    assert response.status_code == 302
    page = client.get(reverse("moh:index")).content.decode()
    assert "Продажи" in page and "jingle.flac" in page
    music = HoldMusic.objects.get()
    assert client.get(reverse("moh:audio", args=[music.pk]))["Content-Type"] == "audio/wav"


def test_a_bad_upload_shows_the_reason_and_saves_nothing(client, cust):
    client.force_login(factories.user(cust))
    response = client.post(reverse("moh:upload"), {"file": upload(b"junk", "a.ogg")})
    assert response.status_code == 400
    assert "не читается" in response.content.decode()
    assert not HoldMusic.objects.exists()


def test_another_customers_music_is_a_404_and_their_department_is_refused(client, cust, tmp_path):
    other = factories.customer()
    theirs = services.hold_music_upload(
        customer=other, upload=upload(sound(tmp_path, "wav"), "a.wav")
    )
    client.force_login(factories.user(cust))
    assert client.get(reverse("moh:audio", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("moh:delete", args=[theirs.pk])).status_code == 404
    response = client.post(
        reverse("moh:upload"),
        {
            "department": factories.department(other).pk,
            "file": upload(sound(tmp_path, "wav"), "a.wav"),
        },
    )
    assert response.status_code == 400
    assert HoldMusic.objects.filter(customer=cust).count() == 0
    assert HoldMusic.objects.filter(pk=theirs.pk).exists()


def test_staff_may_listen_but_not_change(client, cust, tmp_path):
    client.force_login(factories.user(cust, role="staff"))
    assert client.get(reverse("moh:index")).status_code == 200
    response = client.post(reverse("moh:upload"), {"file": upload(sound(tmp_path, "wav"), "a.wav")})
    assert response.status_code == 403


def test_the_upload_needs_the_csrf_token(cust, tmp_path):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(factories.user(cust))
    response = client.post(reverse("moh:upload"), {"file": upload(sound(tmp_path, "wav"), "a.wav")})
    assert response.status_code == 403


def test_the_api_uploads_lists_and_deletes(client, cust, tmp_path):
    client.force_login(factories.user(cust))
    response = client.post("/api/v1/hold-music/", {"file": upload(sound(tmp_path, "ogg"), "a.ogg")})
    assert response.status_code == 201, response.content
    pk = response.json()["id"]
    assert [m["id"] for m in client.get("/api/v1/hold-music/").json()["results"]] == [pk]
    assert client.delete(f"/api/v1/hold-music/{pk}/").status_code == 204
    assert not HoldMusic.objects.exists()


def test_the_api_refuses_junk_and_hides_other_customers(client, cust, tmp_path):
    other = factories.customer()
    theirs = services.hold_music_upload(
        customer=other, upload=upload(sound(tmp_path, "wav"), "a.wav")
    )
    client.force_login(factories.user(cust))
    response = client.post("/api/v1/hold-music/", {"file": upload(b"junk", "a.flac")})
    assert response.status_code == 400 and "file" in response.json()
    assert client.get(f"/api/v1/hold-music/{theirs.pk}/").status_code == 404
    assert client.delete(f"/api/v1/hold-music/{theirs.pk}/").status_code == 404
    response = client.post(
        "/api/v1/hold-music/",
        {
            "file": upload(sound(tmp_path, "wav"), "a.wav"),
            "department": factories.department(other).pk,
        },
    )
    assert response.status_code == 400


def test_the_page_and_the_menu_speak_english(client, cust):
    client.force_login(factories.user(cust))
    client.cookies["django_language"] = "en"
    page = client.get(reverse("moh:index"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Hold music" in page and "No music of your own" in page
    assert "Музыка" not in page
    menu = client.get(reverse("web:pbx"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "What callers hear in the queue and on hold" in menu
    assert "Rooms and who is in them now" in menu
