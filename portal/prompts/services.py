"""Writes: generating the default prompts, and customers' uploads (validated, converted, saved).

An upload is checked completely (size, WAV header, PCM, channels, duration), converted with sox
into a temporary file next to its destination, and only then saved: the row and the renamed
file together, inside one transaction. Nothing is left behind when any step fails. File names
are built from the customer id, the language, the catalog key and a random suffix; the
uploaded file's own name is kept only for display.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from portal.events import announce_config_change
from portal.prompts import audio, catalog
from portal.prompts.models import CustomPrompt
from portal.prompts.selectors import custom_file, prompts_root

log = logging.getLogger(__name__)

# Bump when the way prompts are synthesized changes, so `prompts_generate` redoes every file.
GENERATOR_VERSION = "1"
MANIFEST = ".manifest.json"


class PromptUploadError(Exception):
    """The upload passed validation but could not be converted or saved (message is for users)."""


# --- customers' uploads -------------------------------------------------------------------


def upload_max_bytes() -> int:
    return int(settings.PROMPT_UPLOAD_MAX_BYTES)


def upload_max_seconds() -> int:
    return int(settings.PROMPT_UPLOAD_MAX_SECONDS)


def validate_upload(upload) -> tuple[bytes, audio.WavInfo]:
    """The upload's bytes and WAV header, or a `ValidationError` with a message for the user."""
    max_bytes = upload_max_bytes()
    size = upload.size or 0
    if size == 0:
        raise ValidationError(_("Файл пустой."), code="empty")
    if size > max_bytes:
        raise ValidationError(
            _("Файл слишком большой (%(size)s). Можно загрузить не больше %(max)s.")
            % {"size": filesizeformat(size), "max": filesizeformat(max_bytes)},
            code="too_big",
        )
    data = b"".join(upload.chunks())
    if len(data) > max_bytes:  # the declared size lied
        raise ValidationError(
            _("Файл слишком большой. Можно загрузить не больше %(max)s.")
            % {"max": filesizeformat(max_bytes)},
            code="too_big",
        )
    if not data:
        raise ValidationError(_("Файл пустой."), code="empty")
    try:
        info = audio.wav_info(io.BytesIO(data))
    except audio.NotWav:
        raise ValidationError(
            _("Это не WAV-файл. Загрузите запись в формате WAV (PCM)."), code="not_wav"
        )
    except audio.UnsupportedWav:
        raise ValidationError(
            _(
                "Этот WAV-файл не подходит: нужна несжатая запись (PCM), моно или стерео. "
                "Сохраните её как WAV PCM 16 бит."
            ),
            code="unsupported_wav",
        )
    _check_duration(info)
    return data, info


def _check_duration(info: audio.WavInfo) -> None:
    limit = upload_max_seconds()
    if info.duration > limit:
        raise ValidationError(
            _("Запись слишком длинная (%(duration)s с). Можно не больше %(max)s с.")
            % {"duration": number_format(info.duration, 1), "max": limit},
            code="too_long",
        )


def _check_key_language(key: str, language: str) -> None:
    catalog.get(key)
    if not catalog.is_language(language):
        raise ValueError(f"unknown prompt language {language!r}")


def custom_prompt_upload(
    *, customer, key: str, language: str, data: bytes, original_name: str = "", user=None
) -> CustomPrompt:
    """Convert `data` (already validated) to 8 kHz mono and make it the customer's prompt."""
    _check_key_language(key, language)
    rel_dir = Path("customers") / str(int(customer.pk)) / language
    dest_dir = prompts_root() / rel_dir
    name = f"{key}-{secrets.token_hex(6)}.wav"
    final = dest_dir / name
    try:
        with audio.temp_file(dest_dir) as src, audio.temp_file(dest_dir) as out:
            src.write_bytes(data)
            try:
                info = audio.to_telephony(src, out)
            except audio.AudioError:
                log.exception("converting an uploaded prompt failed (customer %s)", customer.pk)
                raise PromptUploadError(
                    _("Не удалось обработать запись. Попробуйте сохранить её заново как WAV PCM.")
                )
            try:
                _check_duration(info)
            except ValidationError as exc:
                raise PromptUploadError(exc.messages[0])
            with transaction.atomic():
                custom = (
                    CustomPrompt.objects.select_for_update()
                    .filter(customer=customer, key=key, language=language)
                    .first()
                ) or CustomPrompt(customer=customer, key=key, language=language)
                old = custom.file_path
                custom.file_path = str(rel_dir / name)
                custom.size_bytes = out.stat().st_size
                custom.duration_ms = round(info.duration * 1000)
                custom.original_name = (original_name or "")[:255]
                custom.uploaded_by = user
                custom.uploaded_at = timezone.now()
                custom.save()
                audio.install(out, final)
                if old:
                    transaction.on_commit(lambda: _remove(old))
                _announce(customer, key)
    except BaseException:
        final.unlink(missing_ok=True)  # the row did not commit: the file must not stay
        raise
    return custom


def custom_prompt_delete(*, customer, key: str, language: str) -> bool:
    """Go back to the generated prompt. False when the customer had no own recording."""
    _check_key_language(key, language)
    with transaction.atomic():
        custom = (
            CustomPrompt.objects.select_for_update()
            .filter(customer=customer, key=key, language=language)
            .first()
        )
        if custom is None:
            return False
        path = custom.file_path
        custom.delete()
        transaction.on_commit(lambda: _remove(path))
        _announce(customer, key)
    return True


# Prompts that FreeSWITCH's configuration names (the rest are chosen per call by the flows).
CONFIGURED_KEYS = frozenset({"callback_offer"})  # mod_callcenter's announce-sound


def _announce(customer, key: str) -> None:
    """A prompt baked into the rendered config changed: the queues reload after commit."""
    if key in CONFIGURED_KEYS:
        announce_config_change(customer_id=customer.pk, what="customer")


def _remove(rel_path: str) -> None:
    root = prompts_root()
    path = (root / rel_path).resolve()
    if root.resolve() in path.parents:
        path.unlink(missing_ok=True)


def custom_prompt_file(custom: CustomPrompt) -> Path:
    return custom_file(custom)


# --- generating the defaults --------------------------------------------------------------


@dataclass(frozen=True)
class Generated:
    language: str
    key: str
    path: Path
    duration: float
    skipped: bool  # already up to date


def fingerprint(text: str, voice: str) -> str:
    raw = f"{GENERATOR_VERSION}|{voice}|{audio.ESPEAK_SPEED}|{audio.TELEPHONY_RATE}|{text}"
    return hashlib.sha256(raw.encode()).hexdigest()


def _read_manifest(directory: Path) -> dict[str, str]:
    try:
        data = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_manifest(directory: Path, manifest: dict[str, str]) -> None:
    with audio.temp_file(directory, suffix=".json") as tmp:
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
        audio.install(tmp, directory / MANIFEST)


def prompts_generate(
    *, languages: Iterable[str], out_dir: Path, keys: Iterable[str] | None = None, force=False
) -> Iterator[Generated]:
    """Synthesize every catalog prompt into <out_dir>/<language>/<key>.wav, one at a time.

    A file is up to date when it exists and the language's manifest records the fingerprint of
    its current text and voice; those are skipped unless `force`.
    """
    keys = list(keys) if keys is not None else list(catalog.PROMPTS)
    for key in keys:
        catalog.get(key)
    for language in languages:
        voice = catalog.ESPEAK_VOICES[language]
        directory = out_dir / language
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o755)  # noqa: S103  (FreeSWITCH runs as another user)
        manifest = _read_manifest(directory)
        for key in keys:
            text = catalog.get(key).text(language)
            dest = directory / f"{key}.wav"
            fp = fingerprint(text, voice)
            if not force and manifest.get(key) == fp and dest.is_file():
                try:
                    info = audio.wav_info(dest)
                except audio.AudioError:
                    info = None
                if info is not None and info.is_telephony:
                    yield Generated(language, key, dest, info.duration, skipped=True)
                    continue
            info = audio.synthesize(text, voice=voice, dest=dest)
            manifest[key] = fp
            _write_manifest(directory, manifest)
            yield Generated(language, key, dest, info.duration, skipped=False)
