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


def test_a_recording_registered_while_freeswitch_writes_it_counts_at_its_final_size(
    db, recordings_dir
):
    """Registered at the start of a call, the file is FreeSWITCH's 44-byte WAV header; the
    periodic task measures it again until it is closed, and the close measures it for good."""
    import datetime as dt

    from portal.calls.recordings import recording_closed

    cust = factories.customer()
    path = recordings_dir / f"c{cust.pk}" / "fictive" / "call.wav"
    write_wav(path, 0)
    recording = recording_register(customer_id=cust.pk, path=str(path))
    assert recording.size_bytes == 44 and recording.closed_at is None
    write_wav(path, 2)  # the call goes on
    recordings_measure()
    recording.refresh_from_db()
    assert recording.size_bytes == path.stat().st_size and recording.duration_seconds == 2
    write_wav(path, 5)  # hangup: RECORD_STOP
    closed = recording_closed(customer_id=cust.pk, path=str(path))
    assert closed.pk == recording.pk and closed.closed_at is not None
    assert (closed.size_bytes, closed.duration_seconds) == (path.stat().st_size, 5)
    page = selectors.tariff_page(customer=cust, month=dt.date.today())
    assert page.storage_used_bytes == path.stat().st_size


def test_a_closed_recording_nobody_registered_is_counted_and_a_discarded_one_is_not(
    db, recordings_dir
):
    from portal.calls.recordings import recording_closed

    cust = factories.customer()
    kept = recordings_dir / f"c{cust.pk}" / "n1" / "kept.wav"
    write_wav(kept, 1)
    recording = recording_closed(customer_id=cust.pk, path=str(kept))
    assert recording.customer_id == cust.pk and recording.size_bytes == kept.stat().st_size
    # FreeSWITCH removes a recording with nothing in it (RECORD_BRIDGE_REQ, never bridged)
    discarded = recordings_dir / f"c{cust.pk}" / "fictive" / "missed.wav"
    write_wav(discarded, 0)
    assert recording_register(customer_id=cust.pk, path=str(discarded)).size_bytes == 44
    discarded.unlink()
    assert recording_closed(customer_id=cust.pk, path=str(discarded)) is None
    assert list(Recording.objects.values_list("path", flat=True)) == [str(kept)]
    # another customer's id never takes over a recording
    other = factories.customer()
    assert recording_closed(customer_id=other.pk, path=str(kept)).customer_id == cust.pk


def test_an_open_recording_left_unchanged_is_closed_by_the_periodic_task(db, recordings_dir):
    """A RECORD_STOP lost while call control was away: the file stops changing."""
    import os
    import time

    cust = factories.customer()
    path = recordings_dir / f"c{cust.pk}" / "fictive" / "lost.wav"
    write_wav(path, 1)
    recording = recording_register(customer_id=cust.pk, path=str(path))
    recordings_measure()
    recording.refresh_from_db()
    assert recording.closed_at is None  # still being written, as far as we know
    old = time.time() - 16 * 60
    os.utime(path, (old, old))
    recordings_measure()
    recording.refresh_from_db()
    assert recording.closed_at is not None and recording.size_bytes == path.stat().st_size
