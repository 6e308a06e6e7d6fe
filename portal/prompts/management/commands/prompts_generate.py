"""`manage.py prompts_generate`: speak the prompt catalog with espeak-ng into FreeSWITCH's WAVs."""

from __future__ import annotations

import argparse
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from portal.prompts import audio, catalog, services
from portal.prompts.selectors import SAFE_PATH_RE, prompts_root

HELP = """\
Generate the product's voice prompts with espeak-ng (text from portal/prompts/catalog.py) as
8000 Hz mono 16-bit PCM WAV, the format FreeSWITCH plays on PCMA/PCMU calls without
resampling, into <DIR>/<lang>/<key>.wav (DIR: --out, default settings.PROMPTS_DIR).

Where FreeSWITCH finds them: set PROMPTS_DIR to a directory the FreeSWITCH user can read, for
example /usr/share/freeswitch/sounds/pbx (and run this command on, or share that directory
with, every FreeSWITCH host). Flows never use sound_prefix: they play the absolute path that
portal.prompts.selectors.prompt_path(customer=..., key=...) returns, which is the customer's
own upload (<PROMPTS_DIR>/customers/<id>/<lang>/<key>-<hex>.wav) or <PROMPTS_DIR>/<lang>/<key>.wav,
falling back to Russian. The path may hold only letters, digits and _ . - /.

Idempotent: a file is skipped while its text and voice are unchanged (<lang>/.manifest.json);
--force regenerates everything. Needs the Debian packages espeak-ng and sox.
"""


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


class Command(BaseCommand):
    help = HELP

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        return parser

    def add_arguments(self, parser):
        parser.add_argument(
            "--lang",
            default=",".join(catalog.LANGUAGES),
            help=f"comma-separated languages (default: all: {','.join(catalog.LANGUAGES)})",
        )
        parser.add_argument("--out", help="output directory (default: settings.PROMPTS_DIR)")
        parser.add_argument("--keys", help="comma-separated catalog keys (default: all)")
        parser.add_argument("--force", action="store_true", help="regenerate up-to-date files")

    def handle(self, *args, lang, out, keys, force, **options):
        languages = _csv(lang)
        unknown = [code for code in languages if not catalog.is_language(code)]
        if unknown or not languages:
            raise CommandError(
                f"unknown language(s) {', '.join(unknown) or '(none given)'}; "
                f"the catalog has {', '.join(catalog.LANGUAGES)}"
            )
        key_list = _csv(keys) if keys else list(catalog.PROMPTS)
        try:
            for key in key_list:
                catalog.get(key)
        except catalog.UnknownPrompt as exc:
            raise CommandError(str(exc))
        out_dir = self._out_dir(out)

        try:
            audio.tool("espeak-ng")
            audio.tool("sox")
            voices = audio.espeak_voices()
        except audio.ToolMissing as exc:
            raise CommandError(str(exc))
        usable = []
        for code in languages:
            voice = catalog.ESPEAK_VOICES[code]
            if voice in voices:
                usable.append(code)
            else:
                self.stderr.write(
                    self.style.WARNING(
                        f"warning: espeak-ng has no voice {voice!r} for {code}: skipping {code} "
                        f"(flows fall back to {catalog.FALLBACK_LANGUAGE})"
                    )
                )
        if not usable:
            raise CommandError("no requested language has an espeak-ng voice; nothing generated")

        total = len(usable) * len(key_list)
        made = skipped = 0
        try:
            results = services.prompts_generate(
                languages=usable, out_dir=out_dir, keys=key_list, force=force
            )
            for n, item in enumerate(results, 1):
                note = "up to date" if item.skipped else f"{item.duration:.1f} s"
                self.stdout.write(f"[{n}/{total}] {item.language}/{item.key}.wav {note}")
                skipped += item.skipped
                made += not item.skipped
        except audio.AudioError as exc:
            raise CommandError(str(exc))
        self.stdout.write(
            self.style.SUCCESS(f"{made} generated, {skipped} up to date, in {out_dir}")
        )

    def _out_dir(self, out: str | None) -> Path:
        if out is None:
            try:
                return prompts_root()
            except ImproperlyConfigured as exc:
                raise CommandError(str(exc))
        path = Path(out).resolve()
        if not SAFE_PATH_RE.match(str(path)):
            self.stderr.write(
                self.style.WARNING(
                    f"warning: {path} holds characters FreeSWITCH application arguments cannot "
                    "take; flows use settings.PROMPTS_DIR "
                    f"({getattr(settings, 'PROMPTS_DIR', '?')}), copy the files there"
                )
            )
        return path
