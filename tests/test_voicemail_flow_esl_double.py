"""Voicemail's flow in the call-control process against the ESL test double: FreeSWITCH's
RECORD_STOP of a message (the headers a real one carries: channel, caller, our variables, the
file) files it in its box and counts it against the quota; a call recording or a forged path
files nothing."""

from __future__ import annotations

import time

import pytest

from portal.calls.models import Recording
from portal.notifications.models import Delivery
from portal.voicemail import services
from portal.voicemail.models import Mailbox, Message
from tests import factories
from tests.callcontrol_process import CallControl, eventually
from tests.esl_double import EslDouble
from tests.test_recordings import write_wav

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "ClueCon-vm"


@pytest.fixture
def switch():
    with EslDouble(password=PASSWORD, time_factor=0.01) as fs:
        yield fs


@pytest.fixture
def service(switch, tmp_path):
    cc = CallControl(
        esl_port=switch.port, password=PASSWORD, PBX_RECORDINGS_DIR=str(tmp_path)
    ).start()
    switch.wait_for_command("event plain", timeout=10)
    yield cc
    cc.stop()


@pytest.fixture
def box(db):
    customer = factories.customer()
    factories.user(customer)
    employee = factories.employee(customer, extension="102")
    return services.mailbox_save(
        customer=customer, box=Mailbox(customer=customer, employee=employee)
    )


def record_stop(switch, uuid: str, path: str) -> None:
    chan = switch.channel(uuid)
    headers = {
        "Unique-ID": uuid,
        "Channel-Name": chan.name,
        "Caller-Caller-ID-Number": chan.caller,
        "Caller-Caller-ID-Name": chan.caller,
        "Caller-Destination-Number": chan.destination,
        **{f"variable_{k}": v for k, v in chan.variables.items()},
        "Record-File-Path": path,
        "Record-Completion-Cause": "success-silence",
    }
    switch.emit("RECORD_STOP", headers)


def test_a_closed_message_is_filed_with_the_callers_number(switch, service, box, tmp_path):
    uuid = switch.inbound_call(
        caller="74957654321",
        variables={"pbx_customer": str(box.customer_id), "pbx_vm_box": str(box.pk)},
    )
    path = tmp_path / f"c{box.customer_id}" / "vm" / f"b{box.pk}" / f"{uuid}.wav"
    write_wav(path, 3)
    record_stop(switch, uuid, str(path))
    message = eventually(
        lambda: Message.objects.filter(mailbox=box).first(),
        timeout=15,
        message="\n".join(service.lines[-30:]),
    )
    assert (message.caller_number, message.duration_seconds, message.call_uuid) == (
        "74957654321",
        3,
        uuid,
    )
    assert eventually(lambda: Recording.objects.filter(path=str(path)).exists())
    # the portal notice is queued for the customer's administrator (sent by the task cluster)
    assert eventually(
        lambda: Delivery.objects.filter(notification__kind="voicemail", channel="portal").exists()
    )
    record_stop(switch, uuid, str(path))  # delivered twice: still one message
    other = switch.inbound_call(
        variables={"pbx_customer": str(box.customer_id), "pbx_vm_box": str(box.pk)}
    )
    second = path.parent / f"{other}.wav"
    write_wav(second, 2)
    record_stop(switch, other, str(second))  # handled after the repeat: it has been seen
    eventually(lambda: Message.objects.filter(call_uuid=other).exists(), timeout=15)
    assert Message.objects.filter(call_uuid=uuid).count() == 1


def test_a_call_recording_or_a_forged_path_files_nothing(switch, service, box, tmp_path):
    other = factories.customer(name="Чужой")
    # a call recording of the same customer (no pbx_vm_box on the channel)
    plain = switch.inbound_call(variables={"pbx_customer": str(box.customer_id)})
    recording = tmp_path / f"c{box.customer_id}" / f"{plain}.wav"
    write_wav(recording, 2)
    record_stop(switch, plain, str(recording))
    # a message path naming our box in another customer's folder, tagged as that customer
    forged = switch.inbound_call(
        variables={"pbx_customer": str(other.pk), "pbx_vm_box": str(box.pk)}
    )
    path = tmp_path / f"c{other.pk}" / "vm" / f"b{box.pk}" / f"{forged}.wav"
    write_wav(path, 2)
    record_stop(switch, forged, str(path))
    # the call recording is counted (the recordings flow): both events were handled
    eventually(lambda: Recording.objects.filter(path=str(recording)).exists(), timeout=15)
    assert not Message.objects.exists()


def test_the_phones_lamp_is_lit_by_a_new_message_and_put_out_once_it_is_heard(
    switch, service, box, tmp_path
):
    domain = f"c{box.customer_id}.pbx.local"
    uuid = switch.inbound_call(
        caller="74957654321",
        variables={"pbx_customer": str(box.customer_id), "pbx_vm_box": str(box.pk)},
    )
    path = tmp_path / f"c{box.customer_id}" / "vm" / f"b{box.pk}" / f"{uuid}.wav"
    write_wav(path, 3)
    record_stop(switch, uuid, str(path))
    lit = switch.wait_for_command("sendevent MESSAGE_WAITING", timeout=15)
    assert lit.split("\n")[1:] == [
        "MWI-Messages-Waiting: yes",
        f"MWI-Message-Account: sip:102@{domain}",
        "MWI-Voice-Message: 1/0 (0/0)",
    ]
    message = Message.objects.get(mailbox=box)
    services.message_mark_heard(customer=box.customer, message=message)  # in the portal
    eventually(
        lambda: any("MWI-Voice-Message: 0/1 (0/0)" in c for c in switch.received),
        timeout=15,
        message="the lamp was not put out",
    )
    assert "MWI-Messages-Waiting: no" in switch.received[-1]


def test_a_phone_that_registers_is_told_its_counts_and_strangers_are_not(switch, service, box):
    Mailbox.objects.filter(pk=box.pk).update(mwi_due_at=None)
    domain = f"c{box.customer_id}.pbx.local"
    # FreeSWITCH asks on each REGISTER (sofia_reg.c: MESSAGE_QUERY with the phone's account)
    switch.emit("MESSAGE_QUERY", {"Message-Account": f"sip:102@{domain}"})
    told = switch.wait_for_command("sendevent MESSAGE_WAITING", timeout=15)
    assert f"MWI-Message-Account: sip:102@{domain}" in told and "0/0 (0/0)" in told
    before = len([c for c in switch.received if c.startswith("sendevent")])
    for account in (f"sip:999@{domain}", "sip:102@c99999.pbx.local", "sip:102@evil\nX: y"):
        switch.emit("MESSAGE_QUERY", {"Message-Account": account})
    switch.emit("MESSAGE_QUERY", {"Message-Account": f"sip:102@{domain}"})
    sent = lambda: [c for c in switch.received if c.startswith("sendevent")]  # noqa: E731
    eventually(lambda: len(sent()) > before)
    time.sleep(2.5)  # two more ticks: nothing for the strangers came late either
    assert len(sent()) == before + 1 and f"sip:102@{domain}" in sent()[-1]
