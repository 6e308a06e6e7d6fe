"""Which file FreeSWITCH plays for a prompt: the public API of this app for call flows.

    prompt_path(customer=c, key="callback_offer")          -> "/…/pbx/ru/callback_offer.wav"
    digit_paths(customer=c, digits="42")                    -> [".../digit_4.wav", ".../digit_2.wav"]
    playback_arg([...paths])                                -> "file_string://a.wav!b.wav"

Order: the customer's own recording in the language, else the generated default in the
language; then the same for Russian (the fallback language). A file that is missing on disk is
skipped while there is another candidate, so a customer never hears silence because one
language was not generated. Every returned path is absolute and made only of
`[A-Za-z0-9_./-]` (checked), so it can go into a FreeSWITCH application argument as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from portal.prompts import catalog
from portal.prompts.catalog import UnknownPrompt  # noqa: F401  (re-exported for flows)
from portal.prompts.models import CustomPrompt

SAFE_PATH_RE = re.compile(r"/[A-Za-z0-9_./-]+\Z")
PLAYBACK_SEPARATOR = "!"  # FreeSWITCH's file_string:// delimiter


def prompts_root() -> Path:
    """settings.PROMPTS_DIR, refused unless it is absolute and safe in an application argument."""
    root = str(settings.PROMPTS_DIR)
    if not SAFE_PATH_RE.match(root) or "/../" in f"{root}/":
        raise ImproperlyConfigured(
            f"PROMPTS_DIR={root!r} must be an absolute path of letters, digits and _ . - / only "
            "(FreeSWITCH application arguments cannot hold spaces, quotes, $ or braces)"
        )
    return Path(root)


def _safe(path: Path) -> str:
    text = str(path)
    if not SAFE_PATH_RE.match(text) or "/../" in text:
        raise ValueError(f"unsafe prompt path {text!r}")  # cannot happen with catalog keys
    return text


def default_path(key: str, language: str) -> Path:
    """Where `prompts_generate` writes a prompt: <PROMPTS_DIR>/<language>/<key>.wav."""
    catalog.get(key)
    if not catalog.is_language(language):
        raise ValueError(f"unknown prompt language {language!r}")
    return prompts_root() / language / f"{key}.wav"


def custom_file(custom: CustomPrompt) -> Path:
    return prompts_root() / custom.file_path


def _languages(customer, language: str | None) -> list[str]:
    wanted = language or (customer.language if customer is not None else None)
    out = [wanted] if catalog.is_language(wanted) else []
    if catalog.FALLBACK_LANGUAGE not in out:
        out.append(catalog.FALLBACK_LANGUAGE)
    return out


def prompt_path(*, customer, key: str, language: str | None = None) -> str:
    """Absolute path of the file FreeSWITCH should play for `key` to `customer`'s callers.

    `language` defaults to the customer's; `customer=None` gives the product default.
    Raises `UnknownPrompt` for a key that is not in the catalog.
    """
    catalog.get(key)
    languages = _languages(customer, language)
    customs = {}
    if customer is not None:
        customs = {
            c.language: c
            for c in CustomPrompt.objects.for_customer(customer).filter(
                key=key, language__in=languages
            )
        }
    candidates: list[Path] = []
    for lang in languages:
        if lang in customs:
            candidates.append(custom_file(customs[lang]))
        candidates.append(default_path(key, lang))
    for path in candidates:
        if path.is_file():
            return _safe(path)
    # Nothing on this machine (PROMPTS_DIR may be mounted only on the FreeSWITCH hosts):
    # the generated default in the wanted language is where it will be.
    return _safe(default_path(key, languages[0]))


def prompt_paths(*, customer, keys: Iterable[str], language: str | None = None) -> list[str]:
    return [prompt_path(customer=customer, key=k, language=language) for k in keys]


def digit_paths(*, customer, digits: str | int, language: str | None = None) -> list[str]:
    """One prompt per digit, to read an ID or a phone number digit by digit."""
    text = str(digits)
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"digits only, got {text!r}")
    return prompt_paths(customer=customer, keys=[f"digit_{d}" for d in text], language=language)


def playback_arg(paths: Iterable[str]) -> str:
    """One `playback` argument for several files: file_string://a.wav!b.wav (one file: itself)."""
    items = [_safe(Path(p)) for p in paths]
    if not items:
        raise ValueError("nothing to play")
    if len(items) == 1:
        return items[0]
    return "file_string://" + PLAYBACK_SEPARATOR.join(items)
