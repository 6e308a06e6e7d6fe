"""The queue callback on a real FreeSWITCH, driven by sipp (issue 13).

A caller from the trunk calls the department's multichannel number, waits in its queue until
the offer plays, presses 1 (RFC 2833) and hangs up on the confirmation; the request is
recorded. Only once the caller's call has ended is the employee's phone (registered with digest
auth) rung; it answers and hears the whisper (who is called back); then the caller is dialled
through the `pstn` gateway to a sipp far end, which sees one of the customer's numbers, hears
that the company calls back, and is bridged. The second test's first attempt finds the line
busy; the second comes when the request's due time (moved in the database instead of waiting
5 minutes) says so.

Runs whenever `freeswitch` and `sipp` are on PATH (tests/realswitch.py), else skipped.
"""

from __future__ import annotations

import math
import re
import struct
import wave
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from pbx.render import agent_name
from portal.billing import services as billing
from portal.callbacks.models import CallbackAttempt, CallbackRequest
from portal.callbacks.telephony import phones_in_use
from portal.calls.models import CallRecord
from portal.directory.models import PhoneNumber
from tests import factories, realswitch
from tests.callcontrol_process import database_url, eventually

reason = realswitch.unavailable()
pytestmark = [
    pytest.mark.skipif(reason is not None, reason=reason or ""),
    pytest.mark.django_db(transaction=True),
]
MULTICHANNEL = "74951112255"
OTHER_NUMBER = "74951112200"  # the customer's regular number (lowest: what its calls present)
CALLER = "79161234567"
PASSWORD = "callback-phone-secret-31"
PROMPT_KEYS = ["callback_offer", "callback_confirmed", "callback_whisper", "callback_connecting"]


def write_prompt(path: Path, seconds: float = 0.15) -> None:
    """A short 8 kHz tone where `prompts_generate` would put the prompt (espeak is not needed
    to prove what is played when)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = 8000
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * n / rate)))
        for n in range(int(rate * seconds))
    )
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)


@pytest.fixture
def office():
    customer = factories.customer()
    billing.payment_record(customer=customer, amount=Decimal("1000"), reference="e2e")
    dept = factories.department(customer, name="Продажи", notify_callback=True)
    employee = factories.employee(
        customer,
        dept,
        extension="101",
        sip_password=PASSWORD,
        caller_id_option=True,
        mobile_number="+79990001122",  # personal: the caller must never see it
    )
    factories.number(
        customer, "+" + MULTICHANNEL, kind=PhoneNumber.Kind.MULTICHANNEL, department=dept
    )
    factories.number(customer, "+" + OTHER_NUMBER, kind=PhoneNumber.Kind.REGULAR)
    billing.option_set(customer=customer, code="callback", enabled=True)
    return customer, dept, employee


def start_stack(tmp_path: Path, customer, far_scenario: str):
    pstn_port = realswitch.free_udp_tcp_port()
    far = realswitch.Answerer(
        tmp_path, "far", scenario=far_scenario, port=pstn_port, trace_messages=True
    )
    phone = realswitch.Answerer(tmp_path, "phone-101", scenario="callback_phone.xml")
    portal = realswitch.Portal(tmp_path, database_url(), redis_url=settings.REDIS_URL)
    for key in PROMPT_KEYS + [f"digit_{d}" for d in range(10)]:
        write_prompt(tmp_path / "prompts" / "ru" / f"{key}.wav")
    fs = realswitch.FreeSwitch(tmp_path / "fs", portal_port=portal.port, pstn_port=pstn_port)
    portal.fs = fs
    stack = {"far": far, "phone": phone, "portal": portal, "fs": fs, "port": pstn_port}
    try:
        portal.start()
        fs.start()
        domain = f"c{customer.pk}.{realswitch.SIP_DOMAIN}"
        assert realswitch.register(
            fs, tmp_path, user="101", password=PASSWORD, domain=domain, contact_port=phone.port
        )
    except Exception:
        stop_stack(stack)
        raise
    return stack


def stop_stack(stack) -> None:
    stack["fs"].stop()
    stack["portal"].stop()
    stack["far"].stop()
    stack["phone"].stop()


def call_and_press_1(stack, tmp_path: Path) -> realswitch.CallStats:
    return realswitch.call(
        stack["fs"],
        tmp_path,
        number=MULTICHANNEL,
        rate=1,
        calls=1,
        caller=CALLER,
        scenario="callback_caller.xml",
        timeout=60,
    )


def shown_caller_id(invite: str) -> str:
    match = re.search(r"^From:[^<\n]*<sip:\+?([0-9]+)@", invite, re.M)
    return match.group(1) if match else ""


def check_the_request_waited_for_the_caller(customer) -> CallbackRequest:
    request = CallbackRequest.objects.get(customer=customer)
    assert request.caller_number == "+" + CALLER
    origin = eventually(
        lambda: CallRecord.objects.filter(uuid=request.origin_uuid, ended_at__isnull=False).first(),
        timeout=10,
        message="no CDR of the caller's call",
    )
    first = CallbackAttempt.objects.filter(request=request).order_by("number", "id").first()
    # The employee was rung only once the caller's own call had ended.
    assert first.started_at >= origin.ended_at, (first.started_at, origin.ended_at)
    assert first.started_at - origin.ended_at < timezone.timedelta(seconds=5)
    return request


def check_the_employee_heard_the_whisper(stack, attempt: CallbackAttempt) -> None:
    log = stack["fs"].log_file.read_text(errors="replace")
    lines = [line for line in log.splitlines() if line.startswith(attempt.employee_uuid)]
    digits = "!".join(f"ru/digit_{d}.wav" for d in CALLER)
    assert any(f"file_string://ru/callback_whisper.wav!{digits}" in line for line in lines), (
        "\n".join(lines[-40:])
    )


def test_a_queue_callback_on_a_real_switch(tmp_path, office):
    customer, _dept, employee = office
    billing.option_set(customer=customer, code="caller_id", enabled=True)  # АОН
    stack = start_stack(tmp_path, customer, "callback_far_end.xml")
    domain = f"c{customer.pk}.{realswitch.SIP_DOMAIN}"
    try:
        result = call_and_press_1(stack, tmp_path)
        assert (result.successful, result.failed) == (1, 0)
        eventually(lambda: CallbackRequest.objects.filter(customer=customer).exists(), timeout=5)
        attempt = eventually(
            lambda: CallbackAttempt.objects.filter(
                request__customer=customer, status="bridged"
            ).first(),
            timeout=40,
            message="the callback never connected:\n"
            + stack["portal"].log_path.read_text()[-3000:],
        )
        # While they talk, the phone is "on a call" the way the flow reads it (presence_id of
        # the leg to the phone), so no other callback would ring it.
        channels = stack["fs"].api("show channels as json")
        assert "101" in phones_in_use(channels, domain), channels
        # The agent's status the flow reads: present in the department's queue.
        agent = agent_name(customer.pk, employee.pk)
        assert stack["fs"].api(f"callcenter_config agent get status {agent}") == "Available"
        request = check_the_request_waited_for_the_caller(customer)
        assert attempt.employee == employee and attempt.employee_answered_at
        check_the_employee_heard_the_whisper(stack, attempt)
        # The far end saw the multichannel number (АОН: the customer's option and the
        # employee's flag), heard the company's prompt, then talked 1 s and hung up.
        request = eventually(
            lambda: CallbackRequest.objects.filter(pk=request.pk, status="completed").first(),
            timeout=15,
        )
        attempt.refresh_from_db()
        assert attempt.caller_answered_at and attempt.caller_id_shown == "+" + MULTICHANNEL
        (invite,) = stack["far"].invites()
        assert shown_caller_id(invite) == MULTICHANNEL
        log = stack["fs"].log_file.read_text(errors="replace")
        assert any(
            line.startswith(attempt.caller_uuid) and "callback_connecting.wav" in line
            for line in log.splitlines()
        )
        assert "Couldn't play announcement" not in log  # the queue's offer was played
    finally:
        stop_stack(stack)


def test_a_busy_callers_line_gets_the_second_attempt(tmp_path, office):
    customer, _dept, _employee = office  # no АОН option: the customer's regular number shows
    stack = start_stack(tmp_path, customer, "callback_far_busy.xml")
    try:
        result = call_and_press_1(stack, tmp_path)
        assert (result.successful, result.failed) == (1, 0)
        first = eventually(
            lambda: CallbackAttempt.objects.filter(
                request__customer=customer, status="finished"
            ).first(),
            timeout=40,
            message="attempt 1 never ended:\n" + stack["portal"].log_path.read_text()[-3000:],
        )
        assert first.cause == "USER_BUSY" and first.number == 1
        request = check_the_request_waited_for_the_caller(customer)
        request.refresh_from_db()
        assert request.status == "pending" and request.attempts_made == 1
        assert request.next_attempt_at - first.ended_at == timezone.timedelta(minutes=5)
        (invite,) = stack["far"].invites()
        assert shown_caller_id(invite) == OTHER_NUMBER

        # The line is free now; five minutes pass (the due time the flow reads, moved).
        stack["far"].stop()
        stack["far"] = realswitch.Answerer(
            tmp_path,
            "far",
            scenario="callback_far_end.xml",
            port=stack["port"],
            trace_messages=True,
        )
        CallbackRequest.objects.filter(pk=request.pk).update(next_attempt_at=timezone.now())
        request = eventually(
            lambda: CallbackRequest.objects.filter(pk=request.pk, status="completed").first(),
            timeout=35,
            message="attempt 2 never connected:\n" + stack["portal"].log_path.read_text()[-3000:],
        )
        second = CallbackAttempt.objects.get(request=request, number=2)
        assert second.caller_answered_at and second.cause != "USER_BUSY"
        assert second.caller_id_shown == "+" + OTHER_NUMBER
    finally:
        stop_stack(stack)
