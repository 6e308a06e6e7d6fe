"""Fictive numbers end to end: the real call-control process against the ESL double.

The dialplan hands calls to the access number, the return number and fictive numbers to our
outbound socket (pbx/render.py: pbx_flow fictive_access / fictive_return / fictive with
pbx_customer, pbx_number, pbx_number_e164 and hangup_after_bridge=true); the double plays the
caller's keypad (one digit string per play_and_get_digits) and the far ends (by destination).
"""

from __future__ import annotations

import time

import pytest

from portal.billing import callpolicy
from portal.billing import services as billing
from portal.billing.models import LedgerEntry, Option
from portal.calls.models import CallRecord, Recording
from portal.fictive import services
from portal.fictive.models import FictiveCall, PendingMissedCall
from portal.notifications.models import Delivery
from portal.notifications.services import delivery_send
from tests import factories
from tests.callcontrol_process import CallControl, eventually
from tests.esl_double import EslDouble
from tests.http_boundary import sms_sent
from tests.test_recordings import write_wav

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "fictive-esl-pass"
ACCESS = "+420234234399"
RETURN = "+420234234390"
FICTIVE = ("+420234234301", "+420234234302")
SHOPPER = "+420601000001"
SOLO = "+420601000002"  # a shopper with one fictive number
DEALER = "+420777123456"
DEALER_2 = "+420603000111"
RECORDINGS = "/var/lib/freeswitch/recordings"


class Office:
    def __init__(self, *, base="+4202342343", shopper=SHOPPER, solo=SOLO):
        self.customer = factories.customer(language="cs")
        # Czech numbers are international on this RU platform: off until switched on.
        callpolicy.call_policy_update(customer=self.customer, classes={"international": True})
        self.access = factories.number(self.customer, base + "99", kind="access")
        self.ret = factories.number(self.customer, base + "90", kind="return")
        self.project = services.project_save(
            customer=self.customer, name="Auta", allowed_prefixes="+420"
        )
        self.shopper = services.shopper_save(
            customer=self.customer, name="Jana", real_number=shopper, project=self.project
        )
        self.solo = services.shopper_save(
            customer=self.customer, name="Petr", real_number=solo, project=self.project
        )
        self.numbers = [
            factories.number(self.customer, f"{base}0{i}", kind="fictive") for i in (1, 2, 3)
        ]
        self.fictive = [
            services.fictive_pair(customer=self.customer, shopper=self.shopper, number=n)
            for n in self.numbers[:2]
        ]
        self.solo_fictive = services.fictive_pair(
            customer=self.customer, shopper=self.solo, number=self.numbers[2]
        )
        billing.option_set(customer=self.customer, code=Option.FICTIVE_NUMBERS, enabled=True)

    def channel_vars(self, number) -> dict[str, str]:
        """What the public dialplan sets before `socket` (pbx/render.py)."""
        flow = {"access": "fictive_access", "return": "fictive_return", "fictive": "fictive"}
        return {
            "pbx_customer": str(self.customer.pk),
            "pbx_number": str(number.pk),
            "pbx_number_e164": number.e164,
            "hangup_after_bridge": "true",
            "pbx_flow": flow[number.kind],
        }


@pytest.fixture
def office():
    return Office()


@pytest.fixture
def switch():
    with EslDouble(password=PASSWORD, time_factor=0.01) as fs:
        yield fs


@pytest.fixture
def service(switch, office):
    cc = CallControl(
        esl_port=switch.port,
        password=PASSWORD,
        PBX_RECORDINGS_DIR=RECORDINGS,
        PBX_PSTN_GATEWAY="pstn",
    ).start()
    switch.wait_for_command("event plain", timeout=10)
    yield cc
    cc.stop()


def call(switch, service, office, number, caller, digits=()):
    return switch.place_outbound_session(
        "127.0.0.1",
        service.socket_port,
        office.channel_vars(number),
        caller=caller.lstrip("+"),
        destination=number.e164.lstrip("+"),
        digits=list(digits),
    )


def bridged_leg(session):
    """The b-leg once the double has bridged it to the caller."""

    def check():
        legs = session.bridge_legs
        if legs and legs[0].state == "answered" and session.chan.bridge_peer == legs[0].uuid:
            return legs[0]
        return None

    return eventually(check, timeout=15, message="never bridged")


def bridges(session) -> list[str]:
    return [arg for app, arg in session.executed if app == "bridge"]


def played(session) -> list[str]:
    return [arg for app, arg in session.executed if app in ("playback", "play_and_get_digits")]


def finish(session, service, timeout=20):
    assert session.wait_closed(timeout=timeout), "\n".join(service.lines[-30:])


# -- outbound through the access number ------------------------------------------------------


def test_a_shopper_with_one_fictive_number_types_the_destination_and_the_callee_sees_it(
    switch, service, office
):
    switch.answers_after(DEALER, 2)
    session = call(switch, service, office, office.access, SOLO, ["777123456#"])
    bridged = bridged_leg(session)
    fictive = office.numbers[2].e164
    (arg,) = bridges(session)
    row = eventually(lambda: FictiveCall.objects.filter(uuid=session.uuid).first())
    assert arg == (
        f"{{origination_caller_id_number={fictive[1:]},origination_caller_id_name={fictive[1:]},"
        f"originate_timeout=60,pbx_flow=fictive,pbx_customer={office.customer.pk},"
        f"pbx_direction=outbound,pbx_fictive_call={row.pk}}}sofia/gateway/pstn/{DEALER}"
    )
    assert bridged.caller == fictive[1:] and bridged.destination == DEALER
    assert ("set", f"effective_caller_id_number={fictive[1:]}") in session.executed
    # the prompt asked for the destination; the recording (stereo) started before the bridge
    assert "fictive_enter_destination.wav" in played(session)[0]
    apps = [app for app, _ in session.executed]
    assert apps.index("record_session") < apps.index("bridge")
    assert ("set", "RECORD_STEREO=true") in session.executed
    path = f"{RECORDINGS}/c{office.customer.pk}/fictive/{session.uuid}.wav"
    assert session.recordings == [path]
    assert row.recording_path == path and row.direction == "outbound"
    assert row.other_number == DEALER and row.fictive_e164 == fictive
    time.sleep(0.05)  # they talk for 5 s of switch time (time_factor 0.01)
    switch.hangup(bridged.uuid)  # the dealer hangs up: the shopper's leg follows
    finish(session, service)
    row = eventually(
        lambda: FictiveCall.objects.filter(uuid=session.uuid, bridged=True).first(),
        message="\n".join(service.lines[-30:]),
    )
    assert row.cause == "NORMAL_CLEARING" and row.ended_at is not None
    # Rated and billed as the customer's outgoing call, from the dealer leg's CDR.
    record = eventually(lambda: CallRecord.objects.filter(uuid=bridged.uuid).first())
    assert record.direction == "outbound" and record.billsec > 0
    assert record.customer_id == office.customer.pk
    charge = eventually(
        lambda: LedgerEntry.objects.filter(customer=office.customer, category="calls").first()
    )
    assert charge.source_key == f"cdr:{bridged.uuid}" and charge.amount > 0


def test_a_shopper_with_several_numbers_hears_the_list_then_selects_one(switch, service, office):
    switch.answers_after(DEALER, 1)
    session = call(switch, service, office, office.access, SHOPPER, ["0#", "2#", "777123456#"])
    leg = bridged_leg(session)
    asked = played(session)
    assert "fictive_enter_id.wav" in asked[0]
    # 0#: the list (IDs and numbers digit by digit), then the ID is asked again
    listing = "!".join(a for a in asked[1:-2])
    assert "fictive_list_intro.wav" in listing and listing.count("word_id.wav") == 2
    assert "fictive_enter_id.wav" in asked[-2]
    assert "fictive_enter_destination.wav" in asked[-1]
    # 2#: the second fictive number is the one the dealer sees
    assert leg.caller == FICTIVE[1][1:]
    assert bridges(session)[0].startswith(f"{{origination_caller_id_number={FICTIVE[1][1:]},")
    switch.hangup(leg.uuid)
    finish(session, service)
    row = FictiveCall.objects.get(uuid=session.uuid)
    assert row.fictive == office.fictive[1]


@pytest.mark.parametrize(
    "typed",
    [
        "900123456#",  # Czech premium rate
        "0049301234567#",  # outside the project's prefixes
        "112#",  # emergency
    ],
)
def test_a_refused_destination_is_asked_again_and_then_the_shopper_is_let_go(
    switch, service, office, typed
):
    session = call(switch, service, office, office.access, SOLO, [typed, typed, typed])
    finish(session, service)
    assert not bridges(session)
    asks = [a for a in played(session) if "fictive_enter_destination.wav" in a]
    assert len(asks) == 3 and "fictive_bad_destination.wav" in asks[1]
    assert "goodbye.wav" in played(session)[-1]
    assert ("hangup", "NORMAL_CLEARING") in session.executed
    assert not FictiveCall.objects.exists()
    assert session.recordings == []  # nothing is recorded that no call lists


@pytest.mark.parametrize(
    "hostile",
    [
        "777123456*1#",  # keypad star
        "420777123456" + "1" * 12 + "#",  # too long
        "*#",
        "",  # nothing at all (timeouts)
    ],
)
def test_what_a_shopper_types_never_reaches_the_dial_string(switch, service, office, hostile):
    session = call(switch, service, office, office.access, SOLO, [hostile] * 3)
    finish(session, service)
    assert not bridges(session)
    assert not [c for c in switch.received if "originate" in c]


def test_a_caller_who_is_no_shopper_hears_so_and_is_let_go(switch, service, office):
    session = call(switch, service, office, office.access, "+420605999999")
    finish(session, service)
    assert "fictive_unknown_caller.wav" in played(session)[0]
    assert not bridges(session)


def test_a_shopper_of_customer_a_calling_customer_bs_access_number_is_refused(
    switch, service, office
):
    other = Office(base="+4202223334", shopper="+420601555001", solo="+420601555002")
    session = call(switch, service, other, other.access, SHOPPER, ["1#", "777123456#"])
    finish(session, service)
    assert "fictive_unknown_caller.wav" in played(session)[0]
    assert not bridges(session)


# -- a dealer calls a fictive number back ----------------------------------------------------------


def test_an_answered_dealer_call_is_bridged_to_the_shopper_showing_the_return_number(
    switch, service, office
):
    switch.answers_after(SHOPPER, 2)
    session = call(switch, service, office, office.numbers[0], DEALER)
    leg = bridged_leg(session)
    assert leg.destination == SHOPPER and leg.caller == RETURN[1:]
    assert ("set", f"effective_caller_id_number={RETURN[1:]}") in session.executed
    path = f"{RECORDINGS}/c{office.customer.pk}/fictive/{session.uuid}.wav"
    assert session.recordings == [path]
    switch.hangup(leg.uuid)
    finish(session, service)
    row = eventually(lambda: FictiveCall.objects.filter(uuid=session.uuid).first())
    assert row.direction == "inbound" and row.bridged and row.recording_path == path
    assert row.other_number == DEALER and row.fictive_e164 == FICTIVE[0]
    assert not PendingMissedCall.objects.exists()


def test_missed_dealer_calls_become_numbered_pending_calls_and_czech_smses(
    switch, service, office, twilio
):
    switch.never_answers(SHOPPER)
    first = call(switch, service, office, office.numbers[0], DEALER)
    finish(first, service, timeout=30)
    switch.set_busy(SHOPPER)
    second = call(switch, service, office, office.numbers[1], DEALER_2)
    finish(second, service, timeout=30)
    pending = list(PendingMissedCall.objects.order_by("sequence"))
    assert [(p.sequence, p.dealer_number, p.fictive_e164) for p in pending] == [
        (1, DEALER, FICTIVE[0]),
        (2, DEALER_2, FICTIVE[1]),
    ]
    # the dealer was never answered: released with the shopper's cause
    assert first.chan.cause == "NO_ANSWER" and second.chan.cause == "USER_BUSY"
    assert not first.chan.answered
    for delivery in Delivery.objects.filter(status="pending"):
        delivery_send(delivery.pk)
    texts = sms_sent(twilio)
    assert [t["To"] for t in texts] == [[SHOPPER], [SHOPPER]]
    assert texts[1]["Body"][0].startswith("Zmeškaný hovor č. 2 z čísla +420 603 000 111")
    assert "+420 234 234 390" in texts[1]["Body"][0] and "zadejte 2 a #" in texts[1]["Body"][0]
    assert FictiveCall.objects.filter(direction="inbound", bridged=False).count() == 2


# -- the shopper calls the return number -------------------------------------------------------------


def missed(office, i, dealer):
    ctx, _ = services.inbound_context(fictive_e164=office.numbers[i].e164, dealer_number=dealer)
    from django.utils import timezone

    return services.inbound_call_finished(
        ctx=ctx,
        dealer_number=dealer,
        uuid=f"missed-{i}-{dealer}",
        answered=False,
        recording_path="",
        now=timezone.now(),
    )


def test_one_pending_call_is_connected_at_once_showing_the_fictive_number(switch, service, office):
    pending = missed(office, 0, DEALER)
    switch.answers_after(DEALER, 1)
    session = call(switch, service, office, office.ret, SHOPPER)
    leg = bridged_leg(session)
    assert "fictive_pending_call.wav" in played(session)[0]
    assert leg.destination == DEALER and leg.caller == FICTIVE[0][1:]
    eventually(lambda: PendingMissedCall.objects.get(pk=pending.pk).status == "connected")
    switch.hangup(leg.uuid)
    finish(session, service)
    row = FictiveCall.objects.get(uuid=session.uuid)
    assert row.direction == "return" and row.bridged


def test_with_several_pending_calls_the_shopper_types_the_sequence_number(switch, service, office):
    missed(office, 0, DEALER)
    second = missed(office, 1, DEALER_2)
    switch.answers_after(DEALER_2, 1)
    session = call(switch, service, office, office.ret, SHOPPER, ["2#"])
    leg = bridged_leg(session)
    assert "fictive_enter_sequence.wav" in played(session)[0]
    assert leg.destination == DEALER_2 and leg.caller == FICTIVE[1][1:]
    eventually(lambda: PendingMissedCall.objects.get(pk=second.pk).status == "connected")
    assert PendingMissedCall.objects.filter(status="open").count() == 1
    switch.hangup(leg.uuid)
    finish(session, service)


def test_nothing_pending_is_said_so(switch, service, office):
    session = call(switch, service, office, office.ret, SHOPPER)
    finish(session, service)
    assert "fictive_no_pending.wav" in played(session)[0]
    assert not bridges(session)


# -- recordings ---------------------------------------------------------------------------------


@pytest.fixture
def recording_service(switch, office, tmp_path):
    cc = CallControl(
        esl_port=switch.port,
        password=PASSWORD,
        PBX_RECORDINGS_DIR=str(tmp_path),
        PBX_PSTN_GATEWAY="pstn",
    ).start()
    switch.wait_for_command("event plain", timeout=10)
    yield cc
    cc.stop()


def test_a_recording_counts_at_its_real_size_once_freeswitch_has_closed_it(
    switch, recording_service, office, tmp_path
):
    """Registered when the call is dialled, the file is the 44-byte WAV header FreeSWITCH has
    just written; the RECORD_STOP at hangup measures it for good."""
    service = recording_service
    switch.answers_after(DEALER, 2)
    session = call(switch, service, office, office.access, SOLO, ["777123456#"])
    path = tmp_path / f"c{office.customer.pk}" / "fictive" / f"{session.uuid}.wav"
    eventually(lambda: session.recordings, message="never recorded")
    write_wav(path, 0)  # record_session opened the file
    leg = bridged_leg(session)
    row = eventually(lambda: Recording.objects.filter(path=str(path)).first())
    assert row.customer_id == office.customer.pk and row.closed_at is None
    write_wav(path, 4)  # the conversation, then the dealer hangs up
    switch.hangup(leg.uuid)
    finish(session, service)
    row = eventually(
        lambda: Recording.objects.filter(path=str(path), closed_at__isnull=False).first(),
        message="\n".join(service.lines[-30:]),
    )
    assert (row.size_bytes, row.duration_seconds) == (path.stat().st_size, 4)
    assert Recording.objects.count() == 1
    assert FictiveCall.objects.get(uuid=session.uuid).recording_path == str(path)


def test_a_missed_dealer_call_records_only_a_conversation_so_it_leaves_no_file(
    switch, recording_service, office, tmp_path
):
    """RECORD_BRIDGE_REQ: FreeSWITCH writes nothing before the bridge and removes the empty
    file when the call ends unbridged; its RECORD_STOP then names a file that is gone."""
    service = recording_service
    switch.never_answers(SHOPPER)
    session = call(switch, service, office, office.numbers[0], DEALER)
    finish(session, service, timeout=30)
    apps = session.executed
    assert apps.index(("set", "RECORD_BRIDGE_REQ=true")) < [a for a, _ in apps].index(
        "record_session"
    )
    eventually(lambda: PendingMissedCall.objects.exists())
    assert FictiveCall.objects.get(uuid=session.uuid).recording_path == ""
    assert not Recording.objects.exists()


def test_an_unanswered_call_back_to_the_dealer_keeps_its_recording_listed(
    switch, recording_service, office, tmp_path
):
    service = recording_service
    pending = missed(office, 0, DEALER)
    switch.never_answers(DEALER)
    session = call(switch, service, office, office.ret, SHOPPER)
    path = tmp_path / f"c{office.customer.pk}" / "fictive" / f"{session.uuid}.wav"
    eventually(lambda: session.recordings, message="never recorded")
    write_wav(path, 3)  # the dealer's line rang (or said something) for three seconds
    finish(session, service, timeout=30)
    row = eventually(lambda: FictiveCall.objects.filter(uuid=session.uuid).first())
    assert not row.bridged and row.recording_path == str(path)
    recording = eventually(
        lambda: Recording.objects.filter(path=str(path), closed_at__isnull=False).first()
    )
    assert recording.size_bytes == path.stat().st_size
    assert PendingMissedCall.objects.get(pk=pending.pk).status == "open"
