"""Recordings count against the storage quota once FreeSWITCH has written them."""

import wave

import pytest

from portal.billing import selectors
from portal.calls.models import Recording
from portal.calls.recordings import recording_register, recordings_measure
from portal.calls.services import cdr_ingest
from tests import factories
from tests.test_cdr_ingest import plain_event


def write_wav(path, seconds: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\0\0" * 8000 * seconds)


@pytest.fixture
def recordings_dir(settings, tmp_path):
    settings.RECORDINGS_DIR = tmp_path
    return tmp_path


def test_a_recorded_call_counts_against_the_quota_once_its_file_exists(
    db, recordings_dir, django_capture_on_commit_callbacks
):
    import datetime as dt

    cust = factories.customer()
    path = recordings_dir / f"c{cust.pk}" / "n1" / "call.wav"
    event = plain_event("02d-originate-answer-park-kill.txt")
    event["variable_pbx_customer"] = str(cust.pk)
    event["variable_pbx_recording"] = str(path)
    with django_capture_on_commit_callbacks(execute=True):
        cdr_ingest(event, source="event")
    recording = Recording.objects.get(customer=cust)
    assert recording.size_bytes == 0  # FreeSWITCH has not closed the file yet
    write_wav(path, 3)
    assert recordings_measure() == 1
    recording.refresh_from_db()
    assert recording.duration_seconds == 3 and recording.size_bytes == path.stat().st_size
    page = selectors.tariff_page(customer=cust, month=dt.date.today())
    assert page.storage_used_bytes == path.stat().st_size
    # The same CDR again registers nothing more.
    with django_capture_on_commit_callbacks(execute=True):
        cdr_ingest(event, source="http")
    assert Recording.objects.filter(customer=cust).count() == 1


def test_a_path_outside_the_recordings_directory_is_never_registered_or_read(
    db, recordings_dir, tmp_path_factory
):
    cust = factories.customer()
    outside = tmp_path_factory.mktemp("elsewhere") / "secret.wav"
    write_wav(outside, 1)
    assert recording_register(customer_id=cust.pk, path=str(outside)) is None
    sneaky = str(recordings_dir / ".." / outside.parent.name / "secret.wav")
    assert recording_register(customer_id=cust.pk, path=sneaky) is None
    assert not Recording.objects.exists()
