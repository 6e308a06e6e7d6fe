"""Voicemail on a real FreeSWITCH, driven by sipp: the portal as `serve` runs it (call control,
tasks), phones registered with digest auth. A phone calls a colleague whose phone is not
registered; the caller hears the box's greeting and the beep and speaks (sipp streams speech
made by espeak-ng as A-law RTP); FreeSWITCH records, call control files the message on
RECORD_STOP, and the portal lists and plays it.

Runs whenever `freeswitch` and `sipp` are on PATH (tests/realswitch.py), else skipped.
"""

from __future__ import annotations

import array
import socket
import subprocess
import time
import wave
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from portal.billing import services as billing
from portal.billing.models import Option
from portal.calls.models import Recording
from portal.switch.models import Node
from portal.voicemail import selectors
from portal.voicemail import services as voicemail
from portal.voicemail.models import Mailbox, Message
from tests import factories, realswitch
from tests.callcontrol_process import database_url, eventually

reason = realswitch.unavailable()
pytestmark = [
    pytest.mark.skipif(reason is not None, reason=reason or ""),
    pytest.mark.django_db(transaction=True),
]
PASSWORD = "vm-phone-secret-3"
NUMBER = "74951112244"  # the company number (presented outside)
SPEECH = "Здравствуйте, перезвоните мне, пожалуйста, по поводу счёта номер сорок два."


class Stack:
    """FreeSWITCH, the portal, a PSTN far end and the customer's phones (sipp UAS each)."""

    def __init__(self, workdir: Path) -> None:
        self.work = workdir
        self.customer = factories.customer()
        billing.payment_record(customer=self.customer, amount=Decimal("1000"), reference="e2e")
        sales = factories.department(self.customer, name="Продажи")
        self.employees = {
            ext: factories.employee(self.customer, sales, extension=ext, sip_password=PASSWORD)
            for ext in ("101", "102", "103")
        }
        factories.number(self.customer, "+" + NUMBER, kind="regular", department=sales)
        self.domain = f"c{self.customer.pk}.{realswitch.SIP_DOMAIN}"
        self.far_end = realswitch.Answerer(workdir, "pstn", trace_messages=True)
        self.portal = realswitch.Portal(workdir, database_url(), redis_url=settings.REDIS_URL)
        self.fs = realswitch.FreeSwitch(
            workdir / "fs", portal_port=self.portal.port, pstn_port=self.far_end.port
        )
        self.portal.fs = self.fs
        self.phones: dict[str, realswitch.Answerer] = {}

    def start(self) -> Stack:
        self.portal.start()
        self.fs.start()
        eventually(lambda: Node.objects.filter(esl_state="connected").exists(), timeout=30)
        return self

    def phone(self, user: str, scenario: str = "answer.xml") -> realswitch.Answerer:
        """`user`'s phone (answers as `scenario` says, keeps the INVITEs) registers."""
        phone = realswitch.Answerer(self.work, user, scenario=scenario, trace_messages=True)
        self.phones[user] = phone
        assert realswitch.register(
            self.fs,
            self.work,
            user=user,
            password=PASSWORD,
            domain=self.domain,
            contact_port=phone.port,
        )
        return phone

    def call(self, user: str, number: str, scenario: str = "phone_call.xml", talk_ms: int = 2000):
        return realswitch.phone_call(
            self.fs,
            self.work,
            user=user,
            password=PASSWORD,
            domain=self.domain,
            number=number,
            scenario=scenario,
            talk_ms=talk_ms,
            rate=1,
        )

    def speak(self, user: str, number: str, speech: Path, talk_ms: int) -> None:
        """`user` calls `number` and streams `speech` (raw A-law) for `talk_ms`, then hangs up."""
        run = self.work / f"speak-{user}-{time.monotonic_ns()}"
        run.mkdir()
        (run / "message.al").write_bytes(speech.read_bytes())
        done = subprocess.run(
            ["sipp", f"127.0.0.1:{self.fs.internal_port}"]
            + ["-sf", str(realswitch.SCENARIOS / "voicemail_caller.xml"), "-s", number]
            + ["-i", "127.0.0.1", "-p", str(realswitch.free_udp_tcp_port())]
            + ["-mp", str(realswitch.free_port(socket.SOCK_DGRAM)), "-m", "1", "-d", str(talk_ms)]
            + ["-key", "user", user, "-key", "domain", self.domain, "-au", user, "-ap", PASSWORD]
            + ["-timeout", "60s", "-timeout_error", "-nostdin"]
            + ["-trace_err", "-error_file", str(run / "errors.log")],
            cwd=run,
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert done.returncode == 0, (
            f"sipp: {done.stdout[-300:]}\nFreeSWITCH: {self.fs.log_file.read_text()[-6000:]}"
        )

    def stop(self) -> None:
        self.fs.stop()
        self.portal.stop()
        self.far_end.stop()
        for phone in self.phones.values():
            phone.stop()


@pytest.fixture(scope="session")
def speech(tmp_path_factory) -> Path:
    """A few seconds of speech as raw A-law 8 kHz (what the caller's phone sends)."""
    from portal.prompts import audio

    root = tmp_path_factory.mktemp("vm-speech")
    audio.synthesize(SPEECH, voice="ru", dest=root / "speech.wav")
    subprocess.run(
        [
            "sox",
            str(root / "speech.wav"),
            "-t",
            "al",
            "-r",
            "8000",
            "-c",
            "1",
            str(root / "speech.al"),
        ],
        check=True,
    )
    return root / "speech.al"


@pytest.fixture
def stack(tmp_path):
    s = Stack(tmp_path)
    try:
        yield s.start()
    finally:
        s.stop()


def loudness(path: Path) -> float:
    """RMS of a 16-bit mono WAV (0 for silence)."""
    with wave.open(str(path)) as wav:
        samples = array.array("h", wav.readframes(wav.getnframes()))
    if not samples:
        return 0.0
    return (sum(s * s for s in samples) / len(samples)) ** 0.5


def test_a_call_nobody_takes_is_left_in_voicemail_and_listed_and_played_in_the_portal(
    stack, speech, client, settings
):
    customer, callee = stack.customer, stack.employees["102"]
    settings.PROMPTS_DIR = stack.portal.workdir / "prompts"  # the portal's, as FreeSWITCH plays it
    settings.RECORDINGS_DIR = stack.fs.workdir / "recordings"
    billing.option_set(customer=customer, code=Option.VOICEMAIL, enabled=True)
    box = voicemail.mailbox_save(
        customer=customer, box=Mailbox(customer=customer, employee=callee), pin="2468"
    )
    box = voicemail.greeting_generate(customer=customer, box=box, text="Оставьте сообщение")
    stack.phone("101")

    stack.speak("101", "102", speech, talk_ms=6000)  # 102 never registered: voicemail

    message = eventually(
        lambda: Message.objects.filter(mailbox=box).first(),
        timeout=30,
        message="no message filed: " + stack.fs.log_file.read_text()[-3000:],
    )
    assert message.caller_number == "101" and message.customer == customer
    assert 3 <= message.duration_seconds <= 7
    file = Path(message.path)
    assert file.is_file() and file.is_relative_to(stack.fs.workdir / "recordings")
    assert loudness(file) > 300  # the caller's speech, not silence
    recording = Recording.objects.get(path=message.path)  # counted against the storage quota
    assert recording.customer == customer and recording.size_bytes == file.stat().st_size
    log = stack.fs.log_file.read_text()
    assert Path(selectors.greeting_path(box)).name in log  # the greeting was played

    admin = factories.user(customer)
    client.force_login(admin)
    page = client.get("/pbx/voicemail/").content.decode()
    assert f'data-message="{message.pk}" data-heard="0"' in page and ">101<" in page
    audio = client.get(f"/pbx/voicemail/messages/{message.pk}.wav")
    assert audio.status_code == 200 and b"".join(audio.streaming_content) == file.read_bytes()

    # The owner's phone comes up: FreeSWITCH asks for its counts (MESSAGE_QUERY), call control
    # answers with MESSAGE_WAITING and the phone's lamp gets a NOTIFY (message-summary).
    lamp = stack.phone("102", scenario="mwi_phone.xml")
    notify = eventually(
        lambda: next(
            (m for m in lamp.messages() if "NOTIFY sip:" in m and "message-summary" in m), None
        ),
        timeout=30,
        message="no MWI NOTIFY: " + stack.fs.log_file.read_text()[-3000:],
    )
    assert "Messages-Waiting: yes" in notify and "Voice-Message: 1/0" in notify


def test_with_the_option_off_the_call_is_not_answered(stack):
    customer, callee = stack.customer, stack.employees["102"]
    voicemail.mailbox_save(customer=customer, box=Mailbox(customer=customer, employee=callee))
    stack.phone("101")
    result = stack.call("101", "102")
    assert result.successful == 0  # nobody answered: no voicemail without the option
    time.sleep(1)
    assert not Message.objects.exists()


# The portal process hashes with Django's defaults (the test settings use a fast MD5 hasher).
PORTAL_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
CHECK_PROMPTS = (
    "voicemail_enter_pin",
    "voicemail_wrong_pin",
    "voicemail_new_messages",
    "voicemail_message_menu",
    "voicemail_deleted",
    "goodbye",
    "digit_1",
)


@pytest.fixture(scope="session")
def check_prompts(tmp_path_factory) -> Path:
    """The prompts *97 plays, made as `prompts_generate` makes them (espeak-ng): a missing
    file makes play_and_get_digits return at once, before any digit."""
    from portal.prompts import audio, catalog

    root = tmp_path_factory.mktemp("vm-prompts")
    (root / "ru").mkdir()
    for key in CHECK_PROMPTS:
        audio.synthesize(
            catalog.get(key).text("ru"),
            voice=catalog.ESPEAK_VOICES["ru"],
            dest=root / "ru" / f"{key}.wav",
        )
    return root


def test_the_owner_listens_from_the_phone_with_the_pin_and_deletes_the_message(
    stack, speech, check_prompts, settings
):
    import shutil

    shutil.copytree(check_prompts, stack.portal.workdir / "prompts", dirs_exist_ok=True)
    customer, owner = stack.customer, stack.employees["102"]
    settings.RECORDINGS_DIR = stack.fs.workdir / "recordings"
    settings.PASSWORD_HASHERS = PORTAL_HASHERS  # the portal process checks the PIN
    billing.option_set(customer=customer, code=Option.VOICEMAIL, enabled=True)
    box = voicemail.mailbox_save(
        customer=customer, box=Mailbox(customer=customer, employee=owner), pin="2468"
    )
    stack.phone("101")
    stack.speak("101", "102", speech, talk_ms=5000)
    message = eventually(lambda: Message.objects.filter(mailbox=box).first(), timeout=30)
    file = Path(message.path)

    # 102 dials *97, types 2468#, hears "new messages: 1" and the message, presses 7
    result = stack.call("102", "*97", scenario="voicemail_check.xml", talk_ms=9000)
    assert result.successful == 1, stack.fs.log_file.read_text()[-5000:]
    eventually(
        lambda: not Message.objects.filter(pk=message.pk).exists(),
        timeout=10,
        message=stack.fs.log_file.read_text()[-8000:],
    )
    assert not file.exists() and not Recording.objects.filter(path=message.path).exists()
    log = stack.fs.log_file.read_text()
    assert f"playback({file})" in log  # the message itself was played to the phone
    assert "voicemail_deleted.wav" in log and "goodbye.wav" in log


def test_a_wrong_pin_opens_nothing(stack, speech, check_prompts, settings):
    import shutil

    shutil.copytree(check_prompts, stack.portal.workdir / "prompts", dirs_exist_ok=True)
    customer, owner = stack.customer, stack.employees["102"]
    settings.PASSWORD_HASHERS = PORTAL_HASHERS
    billing.option_set(customer=customer, code=Option.VOICEMAIL, enabled=True)
    box = voicemail.mailbox_save(
        customer=customer, box=Mailbox(customer=customer, employee=owner), pin="1357"
    )
    stack.phone("101")
    stack.speak("101", "102", speech, talk_ms=4000)
    message = eventually(lambda: Message.objects.filter(mailbox=box).first(), timeout=30)
    stack.call("102", "*97", scenario="voicemail_check.xml", talk_ms=9000)  # types 2468
    assert Message.objects.filter(pk=message.pk, heard_at__isnull=True).exists()
    assert "voicemail_wrong_pin.wav" in stack.fs.log_file.read_text()
    assert f"playback({message.path})" not in stack.fs.log_file.read_text()
