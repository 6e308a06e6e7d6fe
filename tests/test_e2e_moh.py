"""Custom hold music on a real FreeSWITCH, driven by sipp.

A caller from the trunk calls a department's multichannel number; nobody can answer (the
department has no employees), so the caller waits in the queue and hears its `moh-sound`. The
customer uploaded music (decoded and re-encoded by the portal's service); the proof that the
caller hears *that* file is FreeSWITCH holding it open while the caller waits (the stock music,
a tone_stream, opens no file, so this check fails with it). With the option switched off, the
next caller's queue plays the stock music and the file is never opened.

Runs whenever `freeswitch` and `sipp` are on PATH (tests/realswitch.py), else skipped.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from portal.billing import services as billing
from portal.directory.models import PhoneNumber
from portal.moh import selectors, services
from tests import factories, realswitch
from tests.callcontrol_process import database_url

reason = realswitch.unavailable()
pytestmark = [
    pytest.mark.skipif(reason is not None, reason=reason or ""),
    pytest.mark.django_db(transaction=True),
]
MULTICHANNEL = "74951112277"


def open_files(pid: int) -> set[str]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            found.add(os.readlink(fd))
        except OSError:
            continue
    return found


def seen_open(fs, path: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path in open_files(fs.proc.pid):
            return True
        time.sleep(0.1)
    return False


def test_a_queue_caller_hears_the_uploaded_music_and_the_stock_music_once_it_is_off(tmp_path):
    settings.PROMPTS_DIR = tmp_path / "prompts"  # the portal process's PROMPTS_DIR
    customer = factories.customer()
    dept = factories.department(customer, name="Продажи")
    factories.number(
        customer, "+" + MULTICHANNEL, kind=PhoneNumber.Kind.MULTICHANNEL, department=dept
    )
    billing.option_set(customer=customer, code="moh", enabled=True)
    source = tmp_path / "music.flac"
    subprocess.run(
        ["sox", "-n", "-r", "44100", "-c", "2", str(source), "synth", "20", "sine", "523"],
        check=True,
    )
    music = services.hold_music_upload(
        customer=customer,
        department=dept,
        upload=SimpleUploadedFile("music.flac", source.read_bytes()),
    )
    path = selectors.music_path(music)

    portal = realswitch.Portal(tmp_path, database_url(), redis_url=settings.REDIS_URL)
    fs = realswitch.FreeSwitch(tmp_path / "fs", portal_port=portal.port)
    portal.fs = fs
    try:
        portal.start()
        fs.start()

        def one_call(results: list) -> None:
            results.append(
                realswitch.call(fs, tmp_path, number=MULTICHANNEL, rate=1, calls=1, talk_ms=5000)
            )

        results: list = []
        caller = threading.Thread(target=one_call, args=(results,))
        caller.start()
        heard = seen_open(fs, path, 8)
        caller.join(60)
        assert heard, f"FreeSWITCH never opened {path} while the caller waited"
        assert results and results[0].successful == 1, results

        billing.option_set(customer=customer, code="moh", enabled=False)
        time.sleep(3)  # the queue reload is pushed after a short debounce
        results = []
        caller = threading.Thread(target=one_call, args=(results,))
        caller.start()
        heard = seen_open(fs, path, 8)
        caller.join(60)
        assert not heard, "the uploaded music still played with the option off"
        assert results and results[0].successful == 1, results
    finally:
        fs.stop()
        portal.stop()
