"""Call recordings count against the customer's storage quota ("Тариф и опции").

A recording is registered when something knows its path: a finished call's CDR (the dialplan's
`record_session`), a callback conversation, a fictive-number call (at its start, when the file
is only FreeSWITCH's 44-byte WAV header). FreeSWITCH says when it has closed a file: the
channel's RECORD_STOP event (at `stop_record_session` or hangup; the file is closed before the
event is fired, and a file with nothing written is removed first). Call control hands every
RECORD_STOP to `recording_closed` (portal/calls/telephony.py), which measures the file for good
and registers a closed file nobody registered, so no recording on disk goes uncounted.

Until then the periodic task (`recordings_measure`) measures open rows again, and closes those
whose file has not changed for `IDLE_CLOSE` (a RECORD_STOP lost while call control was away).
Only files under settings.RECORDINGS_DIR are ever read, and a customer's files are those under
`c<customer id>/` there (every path we build starts so).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import wave
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from portal.calls.models import CallRecord, Recording

log = logging.getLogger(__name__)

#: an open recording whose file has not changed for this long is taken as closed
IDLE_CLOSE = dt.timedelta(minutes=15)
#: an open recording whose file never appeared is given up after this long (counted as is)
MISSING_CLOSE = dt.timedelta(days=1)


def _root() -> Path:
    return Path(settings.RECORDINGS_DIR).resolve()


def _inside_recordings_dir(path: str) -> Path | None:
    root = _root()
    try:
        resolved = Path(path).resolve()
    except (OSError, RuntimeError):
        return None
    return resolved if resolved.is_relative_to(root) else None


def _owned_by(file: Path, customer_id: int) -> bool:
    """Is `file` (resolved, under the root) in the directory of `customer_id`?"""
    parts = file.relative_to(_root()).parts
    return len(parts) > 1 and parts[0] == f"c{int(customer_id)}"


def recording_register(*, customer_id: int, path: str) -> Recording | None:
    """Remember a recording of `customer_id` at `path` (once per path), measuring it if it is
    already there. Paths outside RECORDINGS_DIR are refused."""
    if not path or _inside_recordings_dir(path) is None:
        return None
    recording, _created = Recording.objects.get_or_create(customer_id=customer_id, path=path)
    recording_measure(recording)
    return recording


def _measure_file(file: Path) -> tuple[int, int, float] | None:
    """(size, whole seconds, mtime) of a WAV file, None when it is not there."""
    try:
        stat = file.stat()
    except OSError:
        return None
    duration = 0
    with contextlib.suppress(wave.Error, EOFError, OSError), wave.open(str(file)) as wav:
        duration = round(wav.getnframes() / max(wav.getframerate(), 1))
    return stat.st_size, duration, stat.st_mtime


def recording_measure(recording: Recording, *, close_at: dt.datetime | None = None) -> bool:
    """Fill in size and duration from the file (and close the row at `close_at`); False while
    the file is not there yet."""
    file = _inside_recordings_dir(recording.path)
    measured = _measure_file(file) if file is not None and file.is_file() else None
    if measured is None:
        return False
    size, duration, _mtime = measured
    fields = {}
    if (recording.size_bytes, recording.duration_seconds) != (size, duration):
        fields.update(size_bytes=size, duration_seconds=duration)
    if close_at is not None and recording.closed_at is None:
        fields["closed_at"] = close_at
    if fields:
        Recording.objects.filter(pk=recording.pk).update(**fields)
        for name, value in fields.items():
            setattr(recording, name, value)
    return True


def recording_closed(
    *, customer_id: int | None, path: str, now: dt.datetime | None = None
) -> Recording | None:
    """FreeSWITCH has closed the recording at `path` (RECORD_STOP): its size is final.

    A file nobody registered yet is registered for `customer_id` when it lies in that
    customer's directory. A file FreeSWITCH removed (nothing was recorded) is not counted:
    its row, if any, goes. Returns the row, or None when there is nothing to count.
    """
    now = now or timezone.now()
    file = _inside_recordings_dir(path) if path else None
    if file is None:
        return None
    if not file.is_file():
        deleted, _ = Recording.objects.filter(path=path).delete()
        if deleted:
            log.info("recording %s: discarded by FreeSWITCH, no longer counted", path)
        return None
    recording = Recording.objects.filter(path=path).order_by("id").first()
    if recording is None:
        if not customer_id or not _owned_by(file, customer_id):
            log.warning("recording %s: closed, but whose is it (customer %s)?", path, customer_id)
            return None
        recording, _ = Recording.objects.get_or_create(customer_id=customer_id, path=path)
    recording_measure(recording, close_at=now)
    return recording


def recordings_measure(limit: int = 5000, now: dt.datetime | None = None) -> int:
    """The periodic task: measure the recordings FreeSWITCH has not been seen closing; close
    those left unchanged for IDLE_CLOSE (or missing for MISSING_CLOSE). Returns how many files
    were measured."""
    now = now or timezone.now()
    measured = 0
    open_rows = Recording.objects.filter(closed_at__isnull=True).order_by("-id")[:limit]
    for recording in open_rows:
        file = _inside_recordings_dir(recording.path)
        stats = _measure_file(file) if file is not None else None
        if stats is None:
            if recording.created_at and recording.created_at < now - MISSING_CLOSE:
                Recording.objects.filter(pk=recording.pk).update(closed_at=now)
            continue
        idle = now.timestamp() - stats[2] >= IDLE_CLOSE.total_seconds()
        measured += recording_measure(recording, close_at=now if idle else None)
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
