"""Fictive numbers (seed 002) on a real FreeSWITCH, driven by sipp: FreeSWITCH on
freeswitch_conf/, the portal as `serve` runs it (call control, tasks), callers from the trunk
side and the `pstn` gateway's far end as sipp peers.

- access: a shopper with two fictive numbers calls the access number, types "0#" (the list is
  read), "2#" and the destination, with RFC 2833 DTMF from sipp's own captures; the dealer's
  line (the far end) sees the second fictive number; the call is recorded in stereo and the
  recording row ends with the file's real size;
- return: the dealer calls the fictive number back and reaches the shopper's real number,
  which sees the customer's return number;
- missed: the shopper's phone rings and declines: a numbered missed call and its SMS, and no
  recording left on disk (FreeSWITCH keeps nothing of a call never bridged); the shopper then
  calls the return number and is connected to the dealer, who sees the fictive number.

Runs whenever `freeswitch` and `sipp` are on PATH (tests/realswitch.py), else skipped.
"""

from __future__ import annotations

import math
import re
import socket
import struct
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
from portal.fictive import services
from portal.fictive.models import FictiveCall, PendingMissedCall
from portal.notifications.models import Delivery
from portal.prompts import catalog
from portal.switch.models import Node
from tests import factories, realswitch
from tests.callcontrol_process import database_url, eventually

reason = realswitch.unavailable()
pytestmark = [
    pytest.mark.skipif(reason is not None, reason=reason or ""),
    pytest.mark.django_db(transaction=True),
]

ACCESS = "74952343399"
RETURN = "74952343390"
FICTIVE = ("74952343301", "74952343302")
SHOPPER = "79160000001"
DEALER = "74951236789"
DIGITS = "/usr/share/sip-tester/dtmf_2833_{}.pcap"
# sipp replays its captures as they are: RTP sequence numbers 1..9 < * < # < 0 (about 8000 to
# 8440, and 12080 for 0). FreeSWITCH takes an RFC 2833 event only if its sequence number is
# above the last one, or more than 100 below it (a new stream), and never the same digit
# twice in a row (same timestamp). The keys typed here respect that.
_RTP_SEQ = {
    "1": (7984, 7991),
    "2": (8042, 8049),
    "3": (8087, 8094),
    "4": (8121, 8128),
    "5": (8155, 8162),
    "6": (8186, 8193),
    "7": (8219, 8226),
    "8": (8253, 8260),
    "9": (8293, 8300),
    "*": (8397, 8404),
    "#": (8436, 8443),
    "0": (12080, 12087),
}


def keys_reach_freeswitch(keys: str) -> bool:
    last = None
    for key in keys:
        first, end = _RTP_SEQ[key]
        if last is not None and not (first > last or last - first > 100):
            return False
        last = end
    return True


def write_tone(path: Path, seconds: float = 0.05) -> None:
    """A short 8 kHz tone where `prompts_generate` would put a prompt."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = b"".join(
        struct.pack("<h", int(6000 * math.sin(2 * math.pi * 440 * n / 8000)))
        for n in range(int(8000 * seconds))
    )
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(frames)


def header(message: str, name: str) -> str:
    match = re.search(rf"^{name}:\s*(.*)$", message, re.MULTILINE | re.IGNORECASE)
    return match.group(1) if match else ""


class Stack:
    """One customer with the fictive-number option, the portal, FreeSWITCH and the far end."""

    def __init__(self, workdir: Path, far_scenario: str = "answer.xml") -> None:
        self.work = workdir
        self.customer = factories.customer(language="ru")
        billing.payment_record(customer=self.customer, amount=Decimal("1000"), reference="e2e")
        self.access = factories.number(self.customer, "+" + ACCESS, kind="access")
        self.ret = factories.number(self.customer, "+" + RETURN, kind="return")
        project = services.project_save(
            customer=self.customer, name="Автосалоны", allowed_prefixes="+7"
        )
        self.shopper = services.shopper_save(
            customer=self.customer, name="Анна", real_number="+" + SHOPPER, project=project
        )
        self.fictive = [
            services.fictive_pair(
                customer=self.customer,
                shopper=self.shopper,
                number=factories.number(self.customer, "+" + n, kind="fictive"),
            )
            for n in FICTIVE
        ]
        billing.option_set(customer=self.customer, code=Option.FICTIVE_NUMBERS, enabled=True)
        # The prompts the flows play (a missing file ends play_and_get_digits at once).
        for key in catalog.PROMPTS:
            write_tone(workdir / "prompts" / "ru" / f"{key}.wav")
        self.pstn_port = realswitch.free_udp_tcp_port()
        self.far = realswitch.Answerer(
            workdir, "far", scenario=far_scenario, port=self.pstn_port, trace_messages=True
        )
        self.portal = realswitch.Portal(
            workdir, database_url(), redis_url=settings.REDIS_URL, extra_env={"LOG_LEVEL": "INFO"}
        )
        self.fs = realswitch.FreeSwitch(
            workdir / "fs", portal_port=self.portal.port, pstn_port=self.pstn_port
        )
        self.portal.fs = self.fs
        self.recordings = self.fs.workdir / "recordings"

    def start(self) -> Stack:
        self.portal.start()
        self.fs.start()
        # Call control holds its ESL connection (it serves the dialplan's `socket` before it
        # connects): else a call's RECORD_STOP could reach nobody.
        eventually(lambda: Node.objects.filter(esl_state="connected").exists(), timeout=30)
        return self

    def far_end(self, scenario: str) -> realswitch.Answerer:
        """The far end answers differently from now on (same port)."""
        self.far.stop()
        self.far = realswitch.Answerer(
            self.work, "far", scenario=scenario, port=self.pstn_port, trace_messages=True
        )
        return self.far

    def call(self, number: str, caller: str, *, keys: str = "", talk_ms: int = 3000) -> Path:
        """One call from the trunk side; `keys` are pressed after the answer ("," waits 1 s,
        "." 0.3 s). Returns sipp's run directory."""
        body = ['<pause milliseconds="2000"/>']
        for key in keys:
            if key == ",":
                body.append('<pause milliseconds="1000"/>')
            elif key == ".":
                body.append('<pause milliseconds="300"/>')
            else:
                name = {"#": "pound", "*": "star"}.get(key, key)
                body.append(
                    f'<nop><action><exec play_pcap_audio="{DIGITS.format(name)}"/>'
                    '</action></nop><pause milliseconds="350"/>'
                )
        pressed = "".join(k for k in keys if k not in ",.")
        assert keys_reach_freeswitch(pressed), f"FreeSWITCH would drop some of {pressed!r}"
        run = self.work / f"caller-{number}-{time.monotonic_ns()}"
        run.mkdir(parents=True)
        template = (realswitch.SCENARIOS / "fictive_shopper.xml").read_text()
        scenario = run / "scenario.xml"
        scenario.write_text(template.replace("<!-- KEYS -->", "\n  ".join(body)))
        subprocess.run(
            ["sipp", f"127.0.0.1:{self.fs.external_port}", "-sf", str(scenario)]
            + ["-i", "127.0.0.1", "-p", str(realswitch.free_udp_tcp_port())]
            + ["-mp", str(realswitch.free_port(socket.SOCK_DGRAM))]
            + ["-s", number, "-key", "caller", caller, "-m", "1", "-d", str(talk_ms)]
            + ["-recv_timeout", "40000", "-nostdin", "-trace_msg"]
            + ["-message_file", str(run / "messages.log")]
            + ["-trace_err", "-error_file", str(run / "errors.log")],
            cwd=run,
            capture_output=True,
            text=True,
            timeout=90,
        )
        return run

    def files(self) -> list[Path]:
        return sorted(p for p in self.recordings.rglob("*") if p.is_file())

    def stop(self) -> None:
        self.fs.stop()
        self.portal.stop()
        self.far.stop()


@pytest.fixture
def stack(tmp_path):
    s = Stack(tmp_path)
    try:
        yield s.start()
    finally:
        s.stop()


def closed_recording(path: str) -> Recording:
    return eventually(
        lambda: Recording.objects.filter(path=path, closed_at__isnull=False).first(),
        timeout=15,
        message=f"recording {path} never closed: {list(Recording.objects.values())}",
    )


def assert_stereo_recording(stack: Stack, call: FictiveCall) -> None:
    """Recorded in stereo (both legs), counted at the size of the closed file, nothing else."""
    path = Path(call.recording_path)
    assert path.parent == stack.recordings / f"c{stack.customer.pk}" / "fictive"
    recording = closed_recording(call.recording_path)
    with wave.open(str(path)) as wav:
        assert wav.getnchannels() == 2
        seconds = wav.getnframes() / wav.getframerate()
    assert seconds >= 1
    assert recording.size_bytes == path.stat().st_size > 44
    assert recording.duration_seconds == round(seconds)
    assert recording.customer_id == stack.customer.pk
    assert stack.files() == [path]  # the one recording, and it is listed with its call


def test_access_number_several_fictive_numbers_0_then_2_then_the_destination(stack):
    started = time.monotonic()
    # 0# reads the list (29 words of 0.05 s: 1.5 s, more on a busy machine; keys pressed while
    # it plays are lost), then the ID is asked for 5 s: 2# comes 5 s after 0#; then the number
    stack.call(ACCESS, SHOPPER, keys="0#,,,,,2#,4951236789#", talk_ms=3000)
    call = eventually(
        lambda: FictiveCall.objects.filter(direction="outbound", ended_at__isnull=False).first(),
        timeout=20,
        message=(stack.work / "portal.log").read_text()[-3000:],
    )
    assert call.bridged and call.cause == "NORMAL_CLEARING"
    assert call.fictive == stack.fictive[1] and call.other_number == "+" + DEALER
    (invite,) = stack.far.invites()
    assert f"INVITE sip:+{DEALER}@" in invite
    assert f"sip:{FICTIVE[1]}@" in header(invite, "From")  # the dealer sees the fictive number
    assert SHOPPER not in invite  # never the shopper's own number
    assert_stereo_recording(stack, call)
    assert time.monotonic() - started < 60


def test_return_the_dealer_calls_the_fictive_number_back_and_reaches_the_shopper(stack):
    started = time.monotonic()
    stack.call(FICTIVE[1], DEALER, talk_ms=3000)
    call = eventually(
        lambda: FictiveCall.objects.filter(direction="inbound").first(),
        timeout=20,
        message=(stack.work / "portal.log").read_text()[-3000:],
    )
    assert call.bridged and call.other_number == "+" + DEALER
    (invite,) = stack.far.invites()
    assert f"INVITE sip:+{SHOPPER}@" in invite  # the shopper's real number rings
    assert f"sip:{RETURN}@" in header(invite, "From")  # showing the return number
    assert not PendingMissedCall.objects.exists()
    assert_stereo_recording(stack, call)
    assert time.monotonic() - started < 60


def test_missed_a_numbered_missed_call_no_recording_then_the_return_number_connects(stack):
    started = time.monotonic()
    stack.far_end("fictive_rings_then_busy.xml")
    stack.call(FICTIVE[0], DEALER, talk_ms=1000)
    pending = eventually(
        lambda: PendingMissedCall.objects.first(),
        timeout=20,
        message=(stack.work / "portal.log").read_text()[-3000:],
    )
    assert (pending.sequence, pending.dealer_number) == (1, "+" + DEALER)
    assert pending.fictive_e164 == "+" + FICTIVE[0] and pending.status == "open"
    missed = FictiveCall.objects.get(direction="inbound")
    assert not missed.bridged and missed.cause == "USER_BUSY" and missed.recording_path == ""
    sms = Delivery.objects.get(pk=pending.sms_id)
    assert sms.channel == Delivery.Channel.SMS and sms.target == "+" + SHOPPER
    # Four seconds of ringing were recorded before (~130 KB in stereo) and left on disk.
    time.sleep(1)  # RECORD_STOP comes with the hangup
    assert stack.files() == [] and not Recording.objects.exists()

    # The shopper calls the return number: one pending call, connected at once.
    far = stack.far_end("answer.xml")
    stack.call(RETURN, SHOPPER, talk_ms=4000)
    back = eventually(
        lambda: FictiveCall.objects.filter(direction="return", ended_at__isnull=False).first(),
        timeout=20,
        message=(stack.work / "portal.log").read_text()[-3000:],
    )
    assert back.bridged and back.other_number == "+" + DEALER
    pending.refresh_from_db()
    assert pending.status == "connected"
    (invite,) = far.invites()
    assert f"INVITE sip:+{DEALER}@" in invite
    assert f"sip:{FICTIVE[0]}@" in header(invite, "From")  # the number the dealer had called
    assert_stereo_recording(stack, back)
    assert time.monotonic() - started < 60
