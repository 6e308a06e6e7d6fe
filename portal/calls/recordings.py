"""Call recordings count against the customer's storage quota ("Тариф и опции").

A recording is registered when something knows its path: a finished call's CDR (the dialplan's
`record_session`), a callback conversation, a fictive-number call. FreeSWITCH writes the file
later than we learn its name, so sizes are measured by a periodic task (`recordings_measure`),
reading only files under settings.RECORDINGS_DIR.
"""

from __future__ import annotations

import contextlib
import logging
import wave
from pathlib import Path

from django.conf import settings

from portal.calls.models import CallRecord, Recording

log = logging.getLogger(__name__)


def _inside_recordings_dir(path: str) -> Path | None:
    root = Path(settings.RECORDINGS_DIR).resolve()
    try:
        resolved = Path(path).resolve()
    except (OSError, RuntimeError):
        return None
    return resolved if resolved.is_relative_to(root) else None


def recording_register(*, customer_id: int, path: str) -> Recording | None:
    """Remember a recording of `customer_id` at `path` (once per path), measuring it if it is
    already there. Paths outside RECORDINGS_DIR are refused."""
    if not path or _inside_recordings_dir(path) is None:
        return None
    recording, _created = Recording.objects.get_or_create(customer_id=customer_id, path=path)
    recording_measure(recording)
    return recording


def recording_measure(recording: Recording) -> bool:
    """Fill in size and duration from the file; False while the file is not there yet."""
    file = _inside_recordings_dir(recording.path)
    if file is None or not file.is_file():
        return False
    size = file.stat().st_size
    duration = 0
    with contextlib.suppress(wave.Error, EOFError, OSError), wave.open(str(file)) as wav:
        duration = round(wav.getnframes() / max(wav.getframerate(), 1))
    if (recording.size_bytes, recording.duration_seconds) != (size, duration):
        Recording.objects.filter(pk=recording.pk).update(size_bytes=size, duration_seconds=duration)
    return True


def recordings_measure(limit: int = 5000) -> int:
    """The periodic task: measure recordings whose files have appeared since. Returns how many."""
    measured = 0
    for recording in Recording.objects.filter(size_bytes=0).order_by("-id")[:limit]:
        measured += recording_measure(recording)
    log.info("recordings measured: %d", measured)
    return measured


def on_cdr_batch_ingested(sender, *, records: list[dict], **kwargs) -> None:
    """Register the recordings of the complete calls of a written CDR batch (one query)."""
    complete = [r["call_record_id"] for r in records if r["complete"]]
    if not complete:
        return
    rows = (
        CallRecord.objects.filter(pk__in=complete, customer__isnull=False)
        .exclude(recording_path="")
        .order_by("pk")
        .values_list("customer_id", "recording_path")
    )
    for customer_id, path in rows:
        recording_register(customer_id=customer_id, path=path)
