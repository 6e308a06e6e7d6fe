"""Voice prompts: the catalog, generating WAVs with espeak-ng, and the path flows play."""

from __future__ import annotations

import re
import shutil
import wave
from io import StringIO
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from portal.prompts import audio, catalog
from portal.prompts.models import CustomPrompt
from portal.prompts.selectors import (
    SAFE_PATH_RE,
    digit_paths,
    playback_arg,
    prompt_path,
    prompts_root,
)
from tests import factories

FLOW_KEYS = {
    # issue 4 (callback), shared
    "callback_offer",
    "callback_confirmed",
    "callback_connecting",
    "service_unavailable",
    "invalid_input",
    "goodbye",
    # issue 5 (fictive numbers)
    "fictive_unknown_caller",
    "fictive_enter_destination",
    "fictive_enter_id",
    "fictive_list_intro",
    "fictive_pending_call",
    "fictive_enter_sequence",
    "fictive_no_pending",
    "fictive_bad_destination",
    # issue 6 (auto-redial)
    "redial_offer",
    "redial_accepted",
    "redial_connecting",
    # reading lists
    "word_id",
    "word_number",
    *(f"digit_{d}" for d in range(10)),
}


@pytest.fixture
def prompts_dir(settings, tmp_path_factory):
    # tmp_path_factory, not tmp_path: parametrized test names put "[...]" into tmp_path.
    root = tmp_path_factory.mktemp("prompts")
    settings.PROMPTS_DIR = root
    return root


@pytest.fixture
def tools():
    missing = [name for name in ("espeak-ng", "sox") if shutil.which(name) is None]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not installed: the prompt tests need them "
            "(tests/run installs them: apt-get install espeak-ng sox)"
        )


def wav_params(path: Path) -> tuple[int, int, int, int]:
    with wave.open(str(path), "rb") as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF")
    return path


# --- catalog --------------------------------------------------------------------------------


def test_every_prompt_has_a_non_empty_text_in_every_catalog_language():
    assert {"ru", "en"} <= set(catalog.LANGUAGES)
    for prompt in catalog.PROMPTS.values():
        for language in catalog.LANGUAGES:
            assert prompt.texts.get(language, "").strip(), (prompt.key, language)


def test_the_flows_find_every_key_they_need():
    assert FLOW_KEYS <= set(catalog.PROMPTS)


def test_keys_are_safe_file_names():
    for key in catalog.PROMPTS:
        assert catalog.KEY_RE.match(key), key


def test_the_callback_offer_is_the_seed_text():
    assert (
        catalog.get("callback_offer").text("ru")
        == "Если вы хотите, чтобы мы вам перезвонили при первой возможности, нажмите 1."
    )


def test_the_id_prompt_tells_about_0_hash_for_the_list_in_every_language():
    zero = {"ru": "ноль", "en": "zero", "cs": "nul", "kk": "нөл", "bg": "нула"}
    for language, word in zero.items():
        assert word in catalog.get("fictive_enter_id").text(language).lower(), language


def test_every_language_has_an_espeak_voice_configured():
    assert set(catalog.ESPEAK_VOICES) == set(catalog.LANGUAGES)


@pytest.mark.parametrize("key", ["nope", "", None, 1, "callback_offer "])
def test_an_unknown_key_is_a_clear_lookup_error(key):
    with pytest.raises(catalog.UnknownPrompt, match="unknown voice prompt key"):
        catalog.get(key)


# --- generation with espeak-ng -------------------------------------------------------------


def generate(out: Path, *args: str) -> list[str]:
    stdout, stderr = StringIO(), StringIO()
    call_command("prompts_generate", "--out", str(out), *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue().splitlines() + stderr.getvalue().splitlines()


def test_generated_prompts_are_8khz_mono_16bit_wavs(tools, tmp_path):
    lines = generate(tmp_path, "--lang", "ru,en", "--keys", "callback_offer,digit_1")
    for language in ("ru", "en"):
        for key in ("callback_offer", "digit_1"):
            rate, channels, width, frames = wav_params(tmp_path / language / f"{key}.wav")
            assert (rate, channels, width) == (8000, 1, 2)
            assert frames > 0.3 * rate
    offer = tmp_path / "ru" / "callback_offer.wav"
    assert wav_params(offer)[3] > 3 * 8000  # a whole sentence, not a blip
    assert offer.stat().st_mode & 0o444 == 0o444  # readable by the FreeSWITCH user
    assert re.fullmatch(r"\[1/4\] ru/callback_offer\.wav \d+\.\d s", lines[0])
    assert lines[-1].startswith("4 generated, 0 up to date")
    assert not list(tmp_path.rglob(".tmp-*"))


def test_generation_is_idempotent_and_force_redoes_everything(tools, tmp_path):
    generate(tmp_path, "--lang", "ru", "--keys", "goodbye,digit_2")
    target = tmp_path / "ru" / "goodbye.wav"
    before = target.stat().st_mtime_ns
    lines = generate(tmp_path, "--lang", "ru", "--keys", "goodbye,digit_2")
    assert lines[:2] == ["[1/2] ru/goodbye.wav up to date", "[2/2] ru/digit_2.wav up to date"]
    assert target.stat().st_mtime_ns == before
    lines = generate(tmp_path, "--lang", "ru", "--keys", "goodbye,digit_2", "--force")
    assert lines[-1].startswith("2 generated, 0 up to date")


def test_a_changed_text_or_a_damaged_file_is_regenerated(tools, tmp_path, monkeypatch):
    generate(tmp_path, "--lang", "en", "--keys", "goodbye,connecting")
    prompt = catalog.PROMPTS["goodbye"]
    monkeypatch.setitem(prompt.texts, "en", "Goodbye and good luck.")
    (tmp_path / "en" / "connecting.wav").write_bytes(b"garbage")
    lines = generate(tmp_path, "--lang", "en", "--keys", "goodbye,connecting")
    assert not lines[0].endswith("up to date")
    assert not lines[1].endswith("up to date")
    assert wav_params(tmp_path / "en" / "connecting.wav")[:3] == (8000, 1, 2)


def test_every_language_of_the_catalog_has_a_voice_in_espeak_ng(tools):
    voices = audio.espeak_voices()
    assert {catalog.ESPEAK_VOICES[code] for code in catalog.LANGUAGES} <= voices


def test_a_language_without_a_voice_is_skipped_with_a_warning(tools, tmp_path, monkeypatch):
    monkeypatch.setitem(catalog.ESPEAK_VOICES, "cs", "xx-no-such-voice")
    lines = generate(tmp_path, "--lang", "cs,ru", "--keys", "goodbye")
    assert any("no voice 'xx-no-such-voice' for cs" in line for line in lines)
    assert (tmp_path / "ru" / "goodbye.wav").is_file()
    assert not (tmp_path / "cs").exists()


def test_nothing_to_generate_without_any_voice_is_an_error(tools, tmp_path, monkeypatch):
    monkeypatch.setitem(catalog.ESPEAK_VOICES, "bg", "xx-no-such-voice")
    with pytest.raises(CommandError, match="no requested language has an espeak-ng voice"):
        generate(tmp_path, "--lang", "bg", "--keys", "goodbye")


@pytest.mark.parametrize("missing", ["espeak-ng", "sox"])
def test_a_missing_program_is_a_clear_error(tmp_path, monkeypatch, missing):
    real = shutil.which
    monkeypatch.setattr(audio.shutil, "which", lambda name: None if name == missing else real(name))
    with pytest.raises(CommandError, match=f"{missing} is not installed.*apt-get install"):
        generate(tmp_path, "--lang", "ru", "--keys", "goodbye")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lang", "de"], "unknown language"),
        (["--lang", "ru", "--keys", "callback_offer,nope"], "unknown voice prompt key 'nope'"),
    ],
)
def test_bad_arguments_are_refused(tmp_path, args, message):
    with pytest.raises(CommandError, match=message):
        generate(tmp_path, *args)


def test_the_default_output_is_prompts_dir(tools, prompts_dir):
    call_command("prompts_generate", "--lang", "ru", "--keys", "digit_0", stdout=StringIO())
    assert (prompts_dir / "ru" / "digit_0.wav").is_file()


# --- prompt_path: what flows play ----------------------------------------------------------


@pytest.fixture
def en_customer(db):
    return factories.customer(language="en")


def custom(customer, key, language, root: Path) -> CustomPrompt:
    rel = f"customers/{customer.pk}/{language}/{key}-abc123.wav"
    touch(root / rel)
    return CustomPrompt.objects.create(
        customer=customer, key=key, language=language, file_path=rel, size_bytes=4, duration_ms=1
    )


def test_without_any_file_the_path_is_the_default_in_the_customers_language(
    prompts_dir, en_customer
):
    assert prompt_path(customer=en_customer, key="callback_offer") == str(
        prompts_dir / "en" / "callback_offer.wav"
    )


def test_the_generated_default_in_the_customers_language_comes_first(prompts_dir, en_customer):
    touch(prompts_dir / "ru" / "goodbye.wav")
    en = touch(prompts_dir / "en" / "goodbye.wav")
    assert prompt_path(customer=en_customer, key="goodbye") == str(en)


def test_a_language_that_was_not_generated_falls_back_to_russian(prompts_dir, en_customer):
    ru = touch(prompts_dir / "ru" / "goodbye.wav")
    assert prompt_path(customer=en_customer, key="goodbye") == str(ru)


def test_the_customers_own_recording_wins(prompts_dir, en_customer):
    touch(prompts_dir / "en" / "goodbye.wav")
    own = custom(en_customer, "goodbye", "en", prompts_dir)
    assert prompt_path(customer=en_customer, key="goodbye") == str(prompts_dir / own.file_path)


def test_an_own_recording_in_another_language_is_not_used(prompts_dir, en_customer):
    en = touch(prompts_dir / "en" / "goodbye.wav")
    custom(en_customer, "goodbye", "ru", prompts_dir)
    assert prompt_path(customer=en_customer, key="goodbye") == str(en)


def test_the_russian_own_recording_is_the_fallback_before_the_russian_default(
    prompts_dir, en_customer
):
    touch(prompts_dir / "ru" / "goodbye.wav")
    own = custom(en_customer, "goodbye", "ru", prompts_dir)
    assert prompt_path(customer=en_customer, key="goodbye") == str(prompts_dir / own.file_path)


def test_an_own_recording_whose_file_is_gone_falls_back_to_the_default(prompts_dir, en_customer):
    en = touch(prompts_dir / "en" / "goodbye.wav")
    own = custom(en_customer, "goodbye", "en", prompts_dir)
    (prompts_dir / own.file_path).unlink()
    assert prompt_path(customer=en_customer, key="goodbye") == str(en)


def test_another_customers_recording_is_never_played(prompts_dir, en_customer, other_customer):
    en = touch(prompts_dir / "en" / "goodbye.wav")
    custom(other_customer, "goodbye", "en", prompts_dir)
    assert prompt_path(customer=en_customer, key="goodbye") == str(en)


def test_an_explicit_language_overrides_the_customers(prompts_dir, en_customer):
    cs = touch(prompts_dir / "cs" / "goodbye.wav")
    assert prompt_path(customer=en_customer, key="goodbye", language="cs") == str(cs)


def test_an_unknown_language_means_russian(prompts_dir, en_customer):
    assert prompt_path(customer=en_customer, key="goodbye", language="de") == str(
        prompts_dir / "ru" / "goodbye.wav"
    )


def test_without_a_customer_the_product_default_is_played(prompts_dir):
    assert prompt_path(customer=None, key="goodbye") == str(prompts_dir / "ru" / "goodbye.wav")


def test_an_unknown_key_raises(prompts_dir, en_customer):
    with pytest.raises(LookupError, match="unknown voice prompt key 'callback_ofer'"):
        prompt_path(customer=en_customer, key="callback_ofer")


@pytest.mark.parametrize(
    "root", ["/srv/my prompts", "/srv/${x}", "/srv/{a}", "/srv/'q'", 'srv/"q"', "relative/dir"]
)
def test_a_prompts_dir_unsafe_for_freeswitch_is_refused(settings, db, root):
    settings.PROMPTS_DIR = root
    with pytest.raises(ImproperlyConfigured, match="PROMPTS_DIR"):
        prompt_path(customer=None, key="goodbye")
    with pytest.raises(ImproperlyConfigured):
        prompts_root()


def test_the_system_check_reports_an_unsafe_prompts_dir(settings):
    from portal.prompts.checks import check_prompts_dir

    settings.PROMPTS_DIR = "/srv/my prompts"
    assert [e.id for e in check_prompts_dir()] == ["prompts.E001"]


def test_every_returned_path_is_safe_in_an_application_argument(prompts_dir, en_customer):
    custom(en_customer, "callback_offer", "en", prompts_dir)
    for key in catalog.PROMPTS:
        for language in catalog.LANGUAGES:
            assert SAFE_PATH_RE.match(prompt_path(customer=en_customer, key=key, language=language))


def test_digits_and_lists_are_played_as_one_file_string(prompts_dir, en_customer):
    paths = digit_paths(customer=en_customer, digits="402")
    assert paths == [str(prompts_dir / "en" / f"digit_{d}.wav") for d in "402"]
    assert playback_arg(paths) == "file_string://" + "!".join(paths)
    assert playback_arg(paths[:1]) == paths[0]
    with pytest.raises(ValueError):
        digit_paths(customer=en_customer, digits="4a")
    with pytest.raises(ValueError):
        playback_arg(["/tmp/a b.wav"])
