"""Auto-redial on a real FreeSWITCH, driven by sipp: the portal as `serve` runs it (call control,
tasks), phones registered with digest auth. The caller answers the offer with RFC 2833 DTMF;
the callee's phone is a sipp UAS that answers as the case needs (486 busy, 603 decline, 200
without 180, 183 early media then 200, ringing until CANCEL), restarted on the same contact
port when the phone's behaviour changes. Time passes by moving due times in the database.

Runs whenever `freeswitch` and `sipp` are on PATH (tests/realswitch.py), else skipped.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from portal.billing import services as billing
from portal.billing.models import LedgerEntry, Option
from portal.calls.models import CallRecord
from portal.directory.models import PhoneNumber
from portal.redial.models import RedialRequest
from portal.switch.models import Node
from tests import factories, realswitch
from tests.callcontrol_process import database_url, eventually

reason = realswitch.unavailable()
pytestmark = [
    pytest.mark.skipif(reason is not None, reason=reason or ""),
    pytest.mark.django_db(transaction=True),
]
PASSWORD = "redial-phone-secret-7"
NUMBER = "74951112244"  # the company number that rings 102 alone
OUTSIDE = "74957654321"  # a caller from outside (realswitch.call's default)


class Phone:
    """A phone's SIP UA (a sipp UAS) on a contact port of its own. `become` restarts it with
    another scenario on the same port: the registration stays, the behaviour changes."""

    def __init__(self, workdir: Path, name: str, scenario: str = "answer.xml") -> None:
        self.workdir, self.name = workdir, name
        self.port = realswitch.free_udp_tcp_port()
        self.proc: subprocess.Popen | None = None
        self.become(scenario)

    def become(self, scenario: str) -> None:
        self.stop()
        run = self.workdir / f"phone-{self.name}-{scenario[:-4]}-{time.monotonic_ns()}"
        run.mkdir(parents=True)
        self.proc = subprocess.Popen(
            ["sipp", "-sf", str(realswitch.SCENARIOS / scenario), "-i", "127.0.0.1"]
            + ["-p", str(self.port), "-mp", str(realswitch.free_port(socket.SOCK_DGRAM))]
            + ["-nostdin", "-trace_err", "-error_file", str(run / "errors.log")],
            cwd=run,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        time.sleep(0.3)
        assert self.proc.poll() is None, f"sipp phone {self.name} exited"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class Stack:
    def __init__(self, workdir: Path) -> None:
        self.work = workdir
        self.customer = factories.customer()
        billing.payment_record(customer=self.customer, amount=Decimal("1000"), reference="e2e")
        billing.option_set(customer=self.customer, code=Option.AUTO_REDIAL, enabled=True)
        sales = factories.department(self.customer, name="Продажи")
        self.employees = {
            "101": factories.employee(self.customer, extension="101", sip_password=PASSWORD),
            "102": factories.employee(
                self.customer,
                sales,
                extension="102",
                sip_password=PASSWORD,
                mobile_number="+79160000102",
            ),
            "103": factories.employee(self.customer, extension="103", sip_password=PASSWORD),
        }
        factories.number(
            self.customer, "+" + NUMBER, kind=PhoneNumber.Kind.REGULAR, department=sales
        )
        self.domain = f"c{self.customer.pk}.{realswitch.SIP_DOMAIN}"
        self.far_end = realswitch.Answerer(workdir, "pstn")
        self.portal = realswitch.Portal(workdir, database_url(), redis_url=settings.REDIS_URL)
        self.fs = realswitch.FreeSwitch(
            workdir / "fs", portal_port=self.portal.port, pstn_port=self.far_end.port
        )
        self.portal.fs = self.fs
        self.phones: dict[str, Phone] = {}
        self.cseq: dict[str, int] = {}

    def start(self) -> Stack:
        self.portal.start()
        self.fs.start()
        # Call control holds its ESL connection (it listens for the dialplan's `socket` before
        # it connects): else the first failed call finds nobody to offer it.
        eventually(lambda: Node.objects.filter(esl_state="connected").exists(), timeout=30)
        return self

    def phone(self, user: str, scenario: str = "answer.xml") -> Phone:
        """`user`'s phone answers with `scenario` and registers (a new registration)."""
        self.phones[user] = Phone(self.work, user, scenario)
        self.register(user, regid=f"boot-{time.monotonic_ns()}-{user}@127.0.0.1")
        return self.phones[user]

    def register(self, user: str, *, regid: str | None = None) -> None:
        """REGISTER with digest auth; without `regid` a refresh (same Call-ID, next CSeq)."""
        if regid is not None:
            self.cseq[user], self.regid = 1, {**getattr(self, "regid", {}), user: regid}
        cseq = self.cseq[user]
        self.cseq[user] = cseq + 2
        run = self.work / f"register-{user}-{cseq}-{time.monotonic_ns()}"
        run.mkdir(parents=True)
        done = subprocess.run(
            ["sipp", f"127.0.0.1:{self.fs.internal_port}"]
            + ["-sf", str(realswitch.SCENARIOS / "redial_register.xml")]
            + ["-i", "127.0.0.1", "-p", str(realswitch.free_udp_tcp_port()), "-m", "1"]
            + ["-key", "user", user, "-key", "domain", self.domain]
            + ["-key", "contact_port", str(self.phones[user].port), "-key", "expires", "3600"]
            + ["-cid_str", self.regid[user]]
            + ["-key", "cseq1", str(cseq), "-key", "cseq2", str(cseq + 1)]
            + ["-au", user, "-ap", PASSWORD, "-timeout", "10s", "-timeout_error", "-nostdin"]
            + ["-trace_err", "-error_file", str(run / "errors.log")],
            cwd=run,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, f"REGISTER of {user} failed: {done.stdout[-500:]}"

    def dial(self, user: str, number: str, scenario: str, talk_ms: int = 1000):
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

    def on_a_call(self, user: str, other: str, seconds: float) -> threading.Thread:
        """`user` calls `other` (who answers) and talks `seconds`: `user` is busy till then."""
        thread = threading.Thread(
            target=self.dial, args=(user, other, "phone_call.xml", int(seconds * 1000))
        )
        thread.start()
        answered = f"sofia/internal/{user}@{self.domain}"
        eventually(lambda: answered in self.fs.api("show calls"), timeout=10)
        return thread

    def stop(self) -> None:
        self.fs.stop()
        self.portal.stop()
        self.far_end.stop()
        for phone in self.phones.values():
            phone.stop()


class Lifetimes:
    """Every redial leg's life on the switch, from its own CHANNEL_HANGUP_COMPLETE (µs
    timestamps): a listener on the event socket, as an operator's monitoring would be."""

    def __init__(self, fs: realswitch.FreeSwitch) -> None:
        self.esl = realswitch.Esl(fs.esl_port)
        self.esl.sock.sendall(b"event plain CHANNEL_HANGUP_COMPLETE\n\n")
        self.legs: dict[str, dict[str, str]] = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        self.esl.sock.settimeout(None)
        while True:
            try:
                _, body = self.esl._frame()
            except (OSError, ConnectionError):
                return
            headers = {}
            for line in body.splitlines():
                name, sep, value = line.partition(": ")
                if sep and name not in headers:
                    headers[name] = urllib.parse.unquote(value)
            if headers.get("variable_pbx_flow") == "redial":
                self.legs[headers.get("Unique-ID", "")] = headers

    def seconds(self, uuid: str, since: str = "Created") -> float:
        leg = eventually(lambda: self.legs.get(uuid), timeout=10)
        start = int(leg[f"Caller-Channel-{since}-Time"])
        return (int(leg["Caller-Channel-Hangup-Time"]) - start) / 1_000_000

    def close(self) -> None:
        self.esl.close()


PROMPTS = ("redial_offer", "redial_accepted", "redial_connecting", "goodbye")


@pytest.fixture(scope="session")
def prompts(tmp_path_factory) -> Path:
    """The prompts the flow plays, made as `prompts_generate` makes them (espeak-ng): a
    missing file makes play_and_get_digits return at once, before any digit."""
    from portal.prompts import audio, catalog

    root = tmp_path_factory.mktemp("redial-prompts")
    (root / "ru").mkdir()
    for key in PROMPTS:
        audio.synthesize(
            catalog.get(key).text("ru"),
            voice=catalog.ESPEAK_VOICES["ru"],
            dest=root / "ru" / f"{key}.wav",
        )
    return root


@pytest.fixture
def stack(tmp_path, prompts):
    shutil.copytree(prompts, tmp_path / "prompts")
    s = Stack(tmp_path)
    try:
        yield s.start()
    finally:
        s.stop()


def request_where(**kw) -> RedialRequest:
    return eventually(
        lambda: RedialRequest.objects.filter(**kw).first(),
        timeout=30,
        message=f"no redial request with {kw}: "
        + repr(list(RedialRequest.objects.values("status", "kind", "outcome", "attempts"))),
    )


def timeline(request: RedialRequest) -> list[tuple[str, str]]:
    return list(request.events.values_list("kind", "detail"))


def test_an_unreachable_callee_who_registers_is_connected_caller_first_and_billed_from_the_bridge(
    stack,
):
    stack.phone("101")
    stack.dial("101", "102", "redial_caller_accepts.xml")  # 102 has never registered
    request = request_where(status="accepted")
    assert (request.cause, request.kind) == ("USER_NOT_REGISTERED", "unreachable")

    # 102 registers; its phone sends 183 and answers 3 s later: the caller (answered first)
    # waits those 3 s hearing that they are being connected.
    stack.phone("102", "redial_early_media.xml")
    request = request_where(pk=request.pk, events__kind="bridged")
    time.sleep(2)  # they talk
    stack.fs.api(f"uuid_kill {request.callee_uuid}")  # the callee hangs up
    request = request_where(pk=request.pk, outcome="connected")
    kinds = [kind for kind, _ in timeline(request)]
    assert kinds.index("callee_back") < kinds.index("connect_start") < kinds.index("bridged")
    assert "redial_connecting" in stack.fs.log_file.read_text()  # played to the caller

    callee_leg = eventually(lambda: CallRecord.objects.filter(uuid=request.callee_uuid).first())
    caller_leg = eventually(lambda: CallRecord.objects.filter(uuid=request.caller_uuid).first())
    assert caller_leg.answered_at < callee_leg.answered_at  # the caller first
    # Billed from the bridge: the callee's leg is the caller's outgoing call; the caller's own
    # leg, up 3 s longer, costs nothing.
    assert callee_leg.direction == "outbound" and callee_leg.billsec >= 1
    assert caller_leg.direction == "internal"
    assert caller_leg.billsec >= callee_leg.billsec + 2
    charge = eventually(
        lambda: LedgerEntry.objects.filter(customer=stack.customer, category="calls").first()
    )
    assert charge.source_key == f"cdr:{request.callee_uuid}"
    assert LedgerEntry.objects.filter(customer=stack.customer, category="calls").count() == 1


def test_a_busy_callee_is_not_back_on_a_registration_refresh_but_when_their_call_ends(stack):
    stack.phone("101")
    stack.phone("103")
    phone = stack.phone("102", "redial_busy.xml")  # on a call: it answers 486 to another
    call = stack.on_a_call("102", "103", seconds=14)
    stack.dial("101", "102", "redial_caller_accepts.xml")
    request = request_where(status="accepted")
    assert (request.cause, request.kind) == ("USER_BUSY", "busy")

    stack.register("102")  # the busy phone's routine refresh: same Call-ID, next CSeq
    time.sleep(3)  # three ticks of call control
    request.refresh_from_db()
    assert (request.status, request.attempts) == ("accepted", 0), timeline(request)
    assert ("callee_back", "register") not in timeline(request)

    phone.become("answer.xml")  # free for a second call once this one ends
    call.join(timeout=30)  # the callee's call ends
    request = request_where(pk=request.pk, events__kind="bridged")
    assert ("callee_back", "call ended") in timeline(request)
    stack.fs.api(f"uuid_kill {request.caller_uuid}")  # the caller hangs up
    request_where(pk=request.pk, outcome="connected")


def test_a_callee_who_declines_the_connection_ends_it_without_a_charge(stack):
    stack.phone("101")
    stack.dial("101", "102", "redial_caller_accepts.xml")
    request = request_where(status="accepted")
    stack.phone("102", "redial_decline.xml")  # registers, then declines the call (603)
    request = request_where(pk=request.pk, status="done")
    assert request.outcome == "not_connected"
    assert ("callee_failed", "CALL_REJECTED") in timeline(request)
    # the caller, who had answered, is not left on the line
    eventually(lambda: request.caller_uuid not in stack.fs.api("show channels"), timeout=10)
    time.sleep(2)  # the CDRs are in
    assert not LedgerEntry.objects.filter(customer=stack.customer, category="calls").exists()


@pytest.mark.parametrize(
    ("scenario", "outcome"),
    [
        ("redial_ring.xml", "flashed"),  # 180 and ringing: a missed call
        ("redial_answer_at_once.xml", "flash_answered"),  # 200 at once, no 180
        ("redial_early_media.xml", "flashed"),  # 183 early media, 200 only 3 s later
    ],
)
def test_the_half_second_call_ends_at_half_a_second_whatever_the_phone_sends(
    stack, scenario, outcome
):
    stack.phone("101")
    stack.dial("101", "102", "redial_caller_declines.xml")  # no answer to the offer
    request = request_where(status="declined")
    legs = Lifetimes(stack.fs)
    try:
        stack.phone("102", scenario)  # back within 30 minutes
        request = request_where(pk=request.pk, status="done")
        lived = legs.seconds(request.callee_uuid)
    finally:
        legs.close()
    assert request.outcome == outcome, timeline(request)
    assert 0.5 <= round(lived, 3) <= 1.0, f"the flash leg lived {lived:.6f} s"
    assert legs.legs[request.callee_uuid]["Caller-Orig-Caller-ID-Number"] == "101"


def test_a_half_second_call_that_meets_a_busy_phone_waits_for_the_end_of_its_call(stack):
    stack.phone("101")
    stack.phone("103")
    stack.dial("101", "102", "redial_caller_declines.xml")
    request = request_where(status="declined")
    call = stack.on_a_call("102", "103", seconds=12)  # 102 is on a call from another place
    phone = stack.phone("102", "redial_busy.xml")  # and registers this phone: it is busy
    request = request_where(pk=request.pk, status="declined", kind="busy")
    assert not request.outcome  # not "flashed": it never showed on the phone
    assert ("flash_failed", "USER_BUSY") in timeline(request)
    phone.become("redial_ring.xml")  # free again once that call ends
    call.join(timeout=30)
    request = request_where(pk=request.pk, outcome="flashed")


def test_a_caller_from_outside_to_a_busy_company_number_gets_the_offer_and_is_called_back(stack):
    stack.phone("103")
    phone = stack.phone("102", "redial_busy.xml")
    call = stack.on_a_call("102", "103", seconds=16)
    result = realswitch.call(
        stack.fs,
        stack.work,
        number=NUMBER,
        rate=1,
        calls=1,
        caller=OUTSIDE,
        scenario="redial_trunk_caller.xml",
    )
    assert result.successful == 1
    request = request_where(status="accepted")
    assert request.caller is None and request.caller_number == "+" + OUTSIDE
    assert request.callee == stack.employees["102"] and request.kind == "busy"

    phone.become("answer.xml")
    before = stack.far_end.counts()["SuccessfulCall(C)"] + stack.far_end.counts()["FailedCall(C)"]
    call.join(timeout=30)
    request = request_where(pk=request.pk, events__kind="bridged")
    stack.fs.api(f"uuid_kill {request.callee_uuid}")
    request_where(pk=request.pk, outcome="connected")
    log = stack.fs.log_file.read_text()
    assert f"New Channel sofia/external/+{OUTSIDE} " in log  # called back through the trunk
    time.sleep(1.5)  # sipp writes its statistics once a second
    counts = stack.far_end.counts()
    assert counts["SuccessfulCall(C)"] + counts["FailedCall(C)"] > before
