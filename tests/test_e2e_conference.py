"""Conference rooms on a real FreeSWITCH, driven by sipp.

Two callers from the trunk call the number given to a room and meet in one conference
(mod_conference, profile `pbx` of freeswitch_conf). Call control turns FreeSWITCH's
`conference::maintenance` events into the live members the portal lists; a kick asked in the
portal (a row) is claimed by call control and sent to the switch, and the member is gone.

Runs whenever `freeswitch` and `sipp` are on PATH (tests/realswitch.py), else skipped.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.conf import settings

from portal.billing import services as billing
from portal.calls.models import Recording
from portal.conference import services
from portal.conference.models import MemberCommand, Participant
from portal.directory.models import PhoneNumber
from tests import factories, realswitch
from tests.callcontrol_process import database_url, eventually

reason = realswitch.unavailable()
pytestmark = [
    pytest.mark.skipif(reason is not None, reason=reason or ""),
    pytest.mark.django_db(transaction=True),
]
ROOM_NUMBER = "74951112288"


def test_two_callers_meet_in_one_room_and_the_portal_can_remove_one(tmp_path):
    customer = factories.customer()
    number = factories.number(customer, "+" + ROOM_NUMBER, kind=PhoneNumber.Kind.REGULAR)
    billing.option_set(customer=customer, code="conference", enabled=True)
    billing.option_set(customer=customer, code="call_recording", enabled=True)
    room = services.room_save(
        customer=customer,
        name="Планёрка",
        extension="3000",
        number=number,
        max_members=5,
        record=True,
    )

    portal = realswitch.Portal(tmp_path, database_url(), redis_url=settings.REDIS_URL)
    fs = realswitch.FreeSwitch(tmp_path / "fs", portal_port=portal.port)
    portal.fs = fs
    try:
        portal.start()
        fs.start()
        assert fs.api("module_exists mod_conference").strip() == "true"
        results: list = []
        callers = threading.Thread(
            target=lambda: results.append(
                realswitch.call(fs, tmp_path, number=ROOM_NUMBER, rate=5, calls=2, talk_ms=12000)
            )
        )
        callers.start()
        eventually(
            lambda: Participant.objects.filter(room=room).count() == 2,
            timeout=15,
            message="call control never listed both callers",
        )
        listing = fs.api(f"conference {room.conference_name} list count").strip()
        assert listing == "2", listing
        first = Participant.objects.filter(room=room).order_by("member_id").first()
        assert services.member_command_request(
            customer=customer, participant_pk=first.pk, action="kick"
        )
        eventually(
            lambda: Participant.objects.filter(room=room).count() == 1,
            timeout=10,
            message="the kicked member is still listed",
        )
        assert fs.api(f"conference {room.conference_name} list count").strip() == "1"
        assert MemberCommand.objects.get().result == f"+OK kicked {first.member_id}"
        callers.join(60)
        assert results and results[0].attempted == 2, results
        eventually(lambda: not Participant.objects.filter(room=room).exists(), timeout=10)
        # Recorded (the room asks, call recording is on): FreeSWITCH made the room's folder and
        # the file, and its stop-recording counted it against the customer's storage quota.
        recording = eventually(
            lambda: Recording.objects.filter(customer=customer).first(),
            timeout=15,
            message="no conference recording counted: " + fs.log_file.read_text()[-3000:],
        )
        assert f"/c{customer.pk}/" in recording.path and "conference" in recording.path
        assert Path(recording.path).is_file() and recording.size_bytes > 1000
    finally:
        fs.stop()
        portal.stop()
