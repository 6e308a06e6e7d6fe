"""Photos people send in chats: checked by decoding, re-encoded as JPEG without metadata."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

MAX_PHOTO_BYTES = 8 * 1024 * 1024
MAX_PHOTO_SIDE = 2048
PHOTO_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "MPO"}


def store_photo(data: bytes, *, folder: str) -> str:
    """Decode `data` (refused unless it is a photo of a known format and at most 8 MB), shrink
    it to 2048 px, save it as JPEG without EXIF/GPS/ICC. Returns the path under MEDIA_ROOT."""
    if len(data) > MAX_PHOTO_BYTES:
        raise ValidationError(_("Фото больше 8 МБ."))
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format not in PHOTO_FORMATS:
                raise ValidationError(_("Это не фотография."))
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.thumbnail((MAX_PHOTO_SIDE, MAX_PHOTO_SIDE))
            clean = image.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError):
        raise ValidationError(_("Это не фотография.")) from None
    rel = Path(folder) / f"{uuid.uuid4().hex}.jpg"
    path = Path(settings.MEDIA_ROOT) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    clean.save(path, "JPEG", quality=85)
    return str(rel)


def photo_discard(rel: str) -> None:
    """Remove a photo stored by store_photo whose message was then refused."""
    if not rel:
        return
    root = Path(settings.MEDIA_ROOT).resolve()
    path = (root / rel).resolve()
    if path.is_relative_to(root):
        path.unlink(missing_ok=True)


def photo_response(rel: str) -> FileResponse:
    root = Path(settings.MEDIA_ROOT).resolve()
    path = (root / rel).resolve()
    if not rel or not path.is_relative_to(root) or not path.exists():
        raise Http404
    return FileResponse(path.open("rb"), content_type="image/jpeg")
