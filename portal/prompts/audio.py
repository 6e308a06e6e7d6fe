"""espeak-ng, sox and WAV headers: the only module that runs external programs.

Every file we hand to FreeSWITCH is an 8000 Hz mono 16-bit PCM WAV: what FreeSWITCH plays on a
narrowband (PCMA/PCMU) call without resampling. Programs run with argument lists (no shell),
texts go to espeak-ng on stdin (so a text can never be read as an option), and every output is
written to a temporary file in the destination directory and renamed into place, so FreeSWITCH
never reads a half-written file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

TELEPHONY_RATE = 8000
TELEPHONY_CHANNELS = 1
TELEPHONY_SAMPLE_WIDTH = 2
ESPEAK_SPEED = 150  # words per minute; espeak-ng's default 175 is hard to follow on a phone line
TOOL_TIMEOUT = 120  # seconds
FILE_MODE = 0o644  # FreeSWITCH runs as another user: it must be able to read what we write
INSTALL_HINT = "apt-get install espeak-ng sox"


class AudioError(Exception):
    """An external tool failed or produced something that is not the expected audio."""


class ToolMissing(AudioError):
    pass


class NotWav(AudioError):
    """Not a RIFF/WAVE file at all."""


class UnsupportedWav(AudioError):
    """A WAV file, but not one we accept (not PCM, more than two channels, no samples)."""


@dataclass(frozen=True)
class WavInfo:
    channels: int
    sample_width: int  # bytes per sample
    rate: int
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.rate if self.rate else 0.0

    @property
    def is_telephony(self) -> bool:
        return (self.rate, self.channels, self.sample_width) == (
            TELEPHONY_RATE,
            TELEPHONY_CHANNELS,
            TELEPHONY_SAMPLE_WIDTH,
        )


def tool(name: str) -> str:
    """Absolute path of an external program, or `ToolMissing` naming the Debian packages."""
    path = shutil.which(name)
    if not path:
        raise ToolMissing(f"{name} is not installed (Debian: {INSTALL_HINT})")
    return path


def _run(args: list[str], *, stdin: bytes | None = None) -> None:
    try:
        proc = subprocess.run(
            args, input=stdin, capture_output=True, timeout=TOOL_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise AudioError(f"{Path(args[0]).name} took longer than {TOOL_TIMEOUT} s")
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise AudioError(f"{Path(args[0]).name} failed: {err[-1] if err else proc.returncode}")


def wav_info(source: str | os.PathLike | object) -> WavInfo:
    """Header of a WAV file (a path or a binary file object), checking the samples are there.

    `NotWav` without a RIFF/WAVE signature; `UnsupportedWav` for compressed or float WAVs,
    more than two channels, or no samples.
    """
    close = False
    if isinstance(source, (str, os.PathLike)):
        fh = open(source, "rb")
        close = True
    else:
        fh = source
    try:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise NotWav("no RIFF/WAVE signature")
        fh.seek(0)
        try:
            with wave.open(fh, "rb") as w:
                channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
                declared = w.getnframes()
                # A truncated file declares more frames than it holds: count what is there.
                data = w.readframes(declared)
        except (wave.Error, EOFError) as exc:
            raise UnsupportedWav(str(exc) or "unreadable WAV header")
        if channels not in (1, 2) or not 1 <= width <= 4 or rate <= 0:
            raise UnsupportedWav(f"{channels} channels, {width * 8} bit, {rate} Hz")
        frames = len(data) // (channels * width)
        if frames == 0:
            raise UnsupportedWav("no samples")
        return WavInfo(channels=channels, sample_width=width, rate=rate, frames=frames)
    finally:
        if close:
            fh.close()


@contextmanager
def temp_file(directory: Path, suffix: str = ".wav") -> Iterator[Path]:
    """A temporary file in `directory` (same file system, so it can be renamed into place)."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=directory)
    os.close(fd)
    path = Path(name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def install(tmp: Path, dest: Path) -> None:
    """Make `tmp` readable by FreeSWITCH and rename it to `dest` atomically."""
    os.chmod(tmp, FILE_MODE)
    os.replace(tmp, dest)


def to_telephony(src: Path, dest: Path, *, normalize: bool = False) -> WavInfo:
    """Convert any PCM WAV `src` to an 8 kHz mono 16-bit WAV at `dest` (written by sox).

    `normalize` brings the peak to -3 dBFS (synthesized prompts); otherwise sox only guards
    against clipping while resampling (customers' recordings keep their loudness).
    """
    sox = tool("sox")
    args = [sox, "-q"]
    if not normalize:
        args.append("-G")
    args += ["-t", "wav", str(src)]
    args += ["-t", "wav", "-r", str(TELEPHONY_RATE), "-c", str(TELEPHONY_CHANNELS)]
    args += ["-b", str(TELEPHONY_SAMPLE_WIDTH * 8), "-e", "signed-integer", str(dest)]
    if normalize:
        args += ["gain", "-n", "-3"]
    _run(args)
    try:
        info = wav_info(dest)
    except AudioError as exc:
        raise AudioError(f"sox wrote an unreadable file: {exc}")
    if not info.is_telephony:
        raise AudioError(f"sox wrote {info}, expected 8000 Hz mono 16-bit")
    return info


def espeak_voices() -> set[str]:
    """Names `espeak-ng -v` accepts (the "Language" column of `espeak-ng --voices`)."""
    espeak = tool("espeak-ng")
    proc = subprocess.run(
        [espeak, "--voices"], capture_output=True, timeout=TOOL_TIMEOUT, check=False
    )
    names = set()
    for line in proc.stdout.decode("utf-8", "replace").splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 2:
            names.add(cols[1])
    return names


def synthesize(text: str, *, voice: str, dest: Path, speed: int = ESPEAK_SPEED) -> WavInfo:
    """Speak `text` with espeak-ng and install it at `dest` as a telephony WAV."""
    espeak = tool("espeak-ng")
    tool("sox")
    with temp_file(dest.parent) as raw, temp_file(dest.parent) as out:
        _run(
            [espeak, "-v", voice, "-s", str(speed), "-w", str(raw), "--stdin"],
            stdin=text.encode("utf-8"),
        )
        info = to_telephony(raw, out, normalize=True)
        install(out, dest)
    return info
