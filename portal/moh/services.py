"""Writes: customers' hold music uploads (decoded, re-encoded, quota-checked, saved) and deletes.

An upload in any format sox reads here (WAV, FLAC, Ogg Vorbis, AIFF, AU; not MP3: Debian's sox
has no MP3 reader without libsox-fmt-mp3) is decoded and re-encoded with sox into the format FreeSWITCH plays natively
on a telephone call, 8 kHz mono 16-bit PCM WAV, written to a temporary file next to its
destination and renamed into place only when every check passed: the size of the upload, the
duration, and the customer's storage quota (call recordings plus hold music). The file name is
built from the customer and department ids and a random suffix; the uploaded name is kept for
display only. A change announces itself as a department change, so FreeSWITCH's dialplan
answers are renewed and the customer's queues reloaded with the new `moh-sound`.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.billing import selectors as billing_selectors
from portal.events import announce_config_change
from portal.moh.models import HoldMusic
from portal.moh.selectors import MOH_DIR, music_file
from portal.prompts import audio
from portal.prompts.selectors import prompts_root

log = logging.getLogger(__name__)

GB = 1024**3
#: file name suffix -> sox input type (the type is given to sox, never guessed from the name)
FORMATS = {
    ".wav": "wav",
    ".flac": "flac",
    ".ogg": "vorbis",
    ".oga": "vorbis",
    ".aif": "aiff",
    ".aiff": "aiff",
    ".au": "au",
}
SOX_TIMEOUT = 120  # seconds


class HoldMusicError(Exception):
    """The upload passed the checks but could not be converted or saved (message for users)."""


def max_upload_bytes() -> int:
    return int(getattr(settings, "MOH_UPLOAD_MAX_BYTES", 20 * 1024 * 1024))


def max_seconds() -> int:
    return int(getattr(settings, "MOH_MAX_SECONDS", 15 * 60))


def storage_quota_bytes(customer) -> int:
    """The customer's storage (the tariff's plus bought packages), as "Тариф и опции" shows it."""
    tariff = customer.tariff
    if tariff is None:
        return 0
    gb = tariff.recording_storage_gb + customer.extra_storage_packages * tariff.storage_package_gb
    return gb * GB


def storage_used_bytes(customer_id: int) -> int:
    return billing_selectors.storage_used_bytes(customer_id)


@dataclass(frozen=True)
class Converted:
    path: Path  # temporary file next to the destination
    info: audio.WavInfo


def _sox_type(name: str) -> str:
    suffix = Path(name or "").suffix.lower()
    if suffix not in FORMATS:
        raise ValidationError(
            _("Формат %(ext)s не поддерживается: загрузите WAV, FLAC, OGG, AIFF или AU.")
            % {"ext": suffix or "?"}
        )
    return FORMATS[suffix]


def convert(source: Path, sox_type: str, dest_dir: Path) -> Converted:
    """Decode `source` (of sox type `sox_type`) and re-encode it as a telephony WAV in a
    temporary file under `dest_dir`; `ValidationError` when sox cannot read it."""
    sox = audio.tool("sox")
    dest_dir.mkdir(parents=True, exist_ok=True)
    out = dest_dir / f".tmp-{secrets.token_hex(8)}.wav"
    args = [sox, "-q", "-G", "-t", sox_type, str(source)]
    args += ["-t", "wav", "-r", str(audio.TELEPHONY_RATE), "-c", str(audio.TELEPHONY_CHANNELS)]
    args += ["-b", str(audio.TELEPHONY_SAMPLE_WIDTH * 8), "-e", "signed-integer", str(out)]
    try:
        proc = subprocess.run(args, capture_output=True, timeout=SOX_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        out.unlink(missing_ok=True)
        raise HoldMusicError(_("Файл не удалось перекодировать: слишком долго."))
    try:
        if proc.returncode != 0:
            log.info("moh: sox refused an upload: %s", proc.stderr[-300:])
            raise ValidationError(_("Файл не читается как звук этого формата."))
        info = audio.wav_info(out)
    except audio.AudioError:
        out.unlink(missing_ok=True)
        raise ValidationError(_("В файле нет звука."))
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    if not info.is_telephony:  # cannot happen with the arguments above
        out.unlink(missing_ok=True)
        raise HoldMusicError(_("Файл не удалось перекодировать."))
    return Converted(out, info)


def hold_music_upload(*, customer, upload, department=None, user=None) -> HoldMusic:
    """Save `upload` (a Django UploadedFile) as the hold music of `customer` (of `department`
    when given: it must be the customer's), replacing the previous one.

    `ValidationError` (message for the user) for a file that is too big, in a format we do not
    take, unreadable, too long or over the storage quota; nothing is left behind then.
    """
    if department is not None and department.customer_id != customer.pk:
        raise ValidationError(_("Нет такого отдела."))
    if upload.size > max_upload_bytes():
        raise ValidationError(
            _("Файл больше %(max)s.") % {"max": filesizeformat(max_upload_bytes())}
        )
    sox_type = _sox_type(upload.name)
    root = prompts_root()
    rel_dir = Path(MOH_DIR) / f"c{int(customer.pk)}"
    dest_dir = root / rel_dir
    dest_dir.mkdir(parents=True, exist_ok=True)
    source = dest_dir / f".upload-{secrets.token_hex(8)}"
    try:
        with open(source, "wb") as fh:
            for chunk in upload.chunks():
                fh.write(chunk)
        converted = convert(source, sox_type, dest_dir)
    finally:
        source.unlink(missing_ok=True)
    try:
        info = converted.info
        if info.duration > max_seconds():
            raise ValidationError(
                _("Запись длиннее %(minutes)s мин.") % {"minutes": max_seconds() // 60}
            )
        size = os.path.getsize(converted.path)
        who = f"d{int(department.pk)}" if department is not None else "all"
        rel = rel_dir / f"{who}-{secrets.token_hex(6)}.wav"
        with transaction.atomic():
            type(customer).objects.select_for_update().get(pk=customer.pk)  # one upload at a time
            music = (
                HoldMusic.objects.select_for_update()
                .filter(customer=customer, department=department)
                .first()
            )
            replaced = music.size_bytes if music is not None else 0
            used = storage_used_bytes(customer.pk) - replaced
            quota = storage_quota_bytes(customer)
            if used + size > quota:
                raise ValidationError(
                    _("Не хватает места: свободно %(free)s, нужно %(size)s.")
                    % {
                        "free": filesizeformat(max(0, quota - used)),
                        "size": filesizeformat(size),
                    }
                )
            old = music.file_path if music is not None else None
            music = music or HoldMusic(customer=customer, department=department)
            music.file_path = str(rel)
            music.size_bytes = size
            music.duration_ms = round(info.duration * 1000)
            music.original_name = Path(upload.name or "").name[:255]
            music.uploaded_at = timezone.now()
            music.uploaded_by = user
            music.save()
            audio.install(converted.path, root / rel)
            if old:
                transaction.on_commit(lambda: _remove(old))
            announce_config_change(customer_id=customer.pk, what="department")
    except BaseException:
        converted.path.unlink(missing_ok=True)
        raise
    return music


def hold_music_delete(*, customer, pk: int) -> bool:
    """Remove one of the customer's hold music files (another customer's id: False)."""
    with transaction.atomic():
        music = HoldMusic.objects.select_for_update().filter(customer=customer, pk=pk).first()
        if music is None:
            return False
        path = music.file_path
        music.delete()
        transaction.on_commit(lambda: _remove(path))
        announce_config_change(customer_id=customer.pk, what="department")
    return True


def _remove(rel_path: str) -> None:
    root = prompts_root()
    file = (root / rel_path).resolve()
    if file.is_relative_to(root.resolve() / MOH_DIR):
        file.unlink(missing_ok=True)


__all__ = ["HoldMusicError", "hold_music_delete", "hold_music_upload", "music_file"]
