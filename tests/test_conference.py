"""Conference rooms: the event rules (pure), the rendered dialplan (by extension, by number,
PINs, member limit, recording), the services (validation, live members, commands claimed by
compare-and-swap), call control's flow against a node that answers like FreeSWITCH, and the
pages and API with their tenant isolation."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from pbx.esl.protocol import Event
from pbx.flows import NodeContext
from portal.billing.models import Option
from portal.billing.services import option_set
from portal.calls.models import Recording
from portal.conference import rules, services
from portal.conference.models import MemberCommand, Participant, Room
from portal.conference.telephony import ConferenceFlow
from portal.directory.models import PhoneNumber
from portal.switch import xmldata
from tests import factories

# --- rules (pure) ----------------------------------------------------------------------------


def headers(action: str, **extra) -> dict[str, str]:
    base = {
        "Event-Subclass": "conference::maintenance",
        "Conference-Name": "c12_r5",
        "Conference-Profile-Name": "pbx",
        "Action": action,
        "Member-ID": "3",
        "Unique-ID": "5a1c2f9e-0000-4000-8000-000000000001",
        "Caller-Caller-ID-Number": "+74951234567",
        "Caller-Caller-ID-Name": "Иван",
        "Member-Type": "member",
        "Speak": "true",
    }
    return {**base, **extra}


def test_a_member_joining_is_read_with_who_they_are():
    change = rules.change_of(headers("add-member", **{"Member-Type": "moderator"}))
    assert change == rules.Joined(
        room=rules.RoomRef(12, 5),
        member_id=3,
        uuid="5a1c2f9e-0000-4000-8000-000000000001",
        number="+74951234567",
        name="Иван",
        moderator=True,
        muted=False,
    )


@pytest.mark.parametrize(
    "action, expected",
    [
        ("del-member", rules.Left(rules.RoomRef(12, 5), 3)),
        ("kick-member", rules.Left(rules.RoomRef(12, 5), 3)),
        ("mute-member", rules.Muted(rules.RoomRef(12, 5), 3, True)),
        ("unmute-member", rules.Muted(rules.RoomRef(12, 5), 3, False)),
        ("conference-destroy", rules.Ended(rules.RoomRef(12, 5))),
        ("start-talking", None),
        ("energy-level", None),
    ],
)
def test_each_action_means_one_change(action, expected):
    assert rules.change_of(headers(action)) == expected


@pytest.mark.parametrize(
    "name", ["3000", "default", "c12_r5x", "c12_r0", "c12_r5 x", "", "c012_r5", "x_c12_r5"]
)
def test_conferences_we_did_not_name_are_none_of_our_business(name):
    assert rules.change_of(headers("add-member", **{"Conference-Name": name})) is None


@pytest.mark.parametrize("member", ["", "0", "-1", "all", "3 4"])
def test_a_member_id_that_is_not_one_is_ignored(member):
    assert rules.change_of(headers("add-member", **{"Member-ID": member})) is None


def test_control_characters_in_a_caller_name_are_dropped():
    change = rules.change_of(headers("add-member", **{"Caller-Caller-ID-Name": "A\x1b[2Jb\nc"}))
    assert change.name == "A[2Jbc"


def test_json_list_gives_the_callers_of_our_rooms_only():
    data = [
        {
            "conference_name": "c12_r5",
            "members": [
                {
                    "type": "caller",
                    "id": 7,
                    "uuid": "u",
                    "caller_id_number": "101",
                    "caller_id_name": "A",
                    "flags": {"can_speak": False, "is_moderator": True},
                },
                {"type": "recording_node", "record_path": "/x.wav"},
            ],
        },
        {"conference_name": "3000-other", "members": [{"type": "caller", "id": 1}]},
    ]
    got = rules.members_of_json_list(data)
    assert list(got) == [rules.RoomRef(12, 5)]
    assert [(m.member_id, m.muted, m.moderator) for m in got[rules.RoomRef(12, 5)]] == [
        (7, True, True)
    ]
    assert rules.members_of_json_list("-ERR No active conferences.") == {}


# --- dialplan --------------------------------------------------------------------------------


def actions(xml: str) -> list[tuple[str, str]]:
    return [(a.get("application"), a.get("data") or "") for a in ET.fromstring(xml).iter("action")]


@pytest.fixture
def cust(db):
    c = factories.customer()
    option_set(customer=c, code=Option.CONFERENCE, enabled=True)
    return c


def room(cust, **kw) -> Room:
    kw.setdefault("name", "Планёрка")
    kw.setdefault("extension", "3000")
    return services.room_save(customer=cust, **kw)


def test_dialling_a_rooms_extension_joins_the_conference_named_by_ids(cust):
    r = room(cust, max_members=5)
    got = actions(xmldata.customer_dialplan_xml(cust.pk, "3000"))
    assert ("set", "conference_max_members=5") in got
    assert ("conference", f"c{cust.pk}_r{r.pk}@pbx") in got
    assert not any("Планёрка" in data for _, data in got)
    assert not any(data.startswith("conference_auto_record") for _, data in got)


def test_the_pin_is_asked_and_the_moderator_pin_makes_a_moderator(cust):
    r = room(cust, pin="1234", moderator_pin="987654")
    got = actions(xmldata.customer_dialplan_xml(cust.pk, "3000"))
    assert ("conference", f"c{cust.pk}_r{r.pk}@pbx+1234") in got
    assert ("set", "conference_moderator_pin=987654") in got
    assert got.index(("set", "conference_moderator_pin=987654")) < [a for a, _ in got].index(
        "conference"
    )


def test_recording_needs_the_call_recording_option_too(cust):
    room(cust, record=True)
    assert not any(
        d.startswith("conference_auto_record")
        for _, d in actions(xmldata.customer_dialplan_xml(cust.pk, "3000"))
    )
    option_set(customer=cust, code=Option.CALL_RECORDING, enabled=True)
    sets = [d for a, d in actions(xmldata.customer_dialplan_xml(cust.pk, "3000")) if a == "set"]
    record = [d for d in sets if d.startswith("conference_auto_record=")]
    assert record and record[0].startswith(
        f"conference_auto_record=$${{pbx_recordings_dir}}/c{cust.pk}/"
    )


def test_a_number_given_to_a_room_leads_callers_into_it(cust):
    number = factories.number(
        cust, kind=PhoneNumber.Kind.MULTICHANNEL, department=factories.department(cust)
    )
    r = room(cust, number=number, pin="4321")
    got = actions(xmldata.public_dialplan_xml(number.e164))
    assert ("conference", f"c{cust.pk}_r{r.pk}@pbx+4321") in got
    assert "callcenter" not in [a for a, _ in got]


def test_with_the_option_off_the_extension_is_unallocated_and_the_number_rings_as_before(cust):
    dept = factories.department(cust)
    number = factories.number(cust, kind=PhoneNumber.Kind.MULTICHANNEL, department=dept)
    room(cust, number=number)
    option_set(customer=cust, code=Option.CONFERENCE, enabled=False)
    assert actions(xmldata.customer_dialplan_xml(cust.pk, "3000")) == [
        ("hangup", "UNALLOCATED_NUMBER")
    ]
    apps = [a for a, _ in actions(xmldata.public_dialplan_xml(number.e164))]
    assert "callcenter" in apps and "conference" not in apps


def test_another_customers_room_extension_is_not_this_customers(cust):
    room(cust)
    other = factories.customer()
    option_set(customer=other, code=Option.CONFERENCE, enabled=True)
    assert "conference" not in [
        a for a, _ in actions(xmldata.customer_dialplan_xml(other.pk, "3000"))
    ]


# --- services --------------------------------------------------------------------------------


def test_an_employees_extension_cannot_be_a_room(cust):
    factories.employee(cust, extension="3000")
    with pytest.raises(ValidationError) as exc:
        room(cust)
    assert "extension" in exc.value.message_dict


def test_two_rooms_cannot_share_an_extension(cust):
    room(cust)
    with pytest.raises(ValidationError):
        room(cust)


@pytest.mark.parametrize(
    "fields",
    [
        {"extension": "30a0"},
        {"extension": "0300"},
        {"pin": "12"},
        {"pin": "12ab"},
        {"moderator_pin": "1234"},  # without a room PIN
        {"pin": "1234", "moderator_pin": "1234"},
        {"max_members": 1},
        {"max_members": 101},
    ],
)
def test_bad_room_settings_are_refused(cust, fields):
    with pytest.raises(ValidationError):
        room(cust, **fields)


def test_another_customers_number_or_a_fictive_one_cannot_be_a_rooms(cust):
    with pytest.raises(ValidationError):
        room(cust, number=factories.number(factories.customer()))
    with pytest.raises(ValidationError):
        room(cust, number=factories.number(cust, kind=PhoneNumber.Kind.FICTIVE))


def event(action: str, r: Room, member: int = 3, **extra) -> Event:
    h = headers(action, **{"Conference-Name": r.conference_name, "Member-ID": str(member)}, **extra)
    return Event(pairs=[("Event-Name", "CUSTOM"), *h.items()])


class Node:
    """What call control's NodeContext.api reaches: answers like FreeSWITCH, keeps the commands."""

    def __init__(self, replies: dict[str, str] | None = None):
        self.sent: list[str] = []
        self.replies = replies or {}

    def api(self, command: str) -> str:
        self.sent.append(command)
        return self.replies.get(command, "+OK")

    def ctx(self, name: str = "fs1") -> NodeContext:
        return NodeContext(node=name, api=self.api, bgapi=None)


def test_events_keep_the_live_members(cust):
    r = room(cust)
    flow, ctx = ConferenceFlow(), Node().ctx()
    flow.on_event(ctx, event("add-member", r, 3))
    flow.on_event(ctx, event("add-member", r, 4, **{"Caller-Caller-ID-Number": "102"}))
    flow.on_event(ctx, event("mute-member", r, 4))
    assert list(Participant.objects.values_list("member_id", "muted")) == [(3, False), (4, True)]
    flow.on_event(ctx, event("del-member", r, 3))
    assert list(Participant.objects.values_list("member_id", flat=True)) == [4]
    flow.on_event(ctx, event("conference-destroy", r))
    assert not Participant.objects.exists()


def test_an_event_for_a_room_of_another_customer_id_is_ignored(cust):
    r = room(cust)
    forged = Event(
        pairs=[
            ("Event-Name", "CUSTOM"),
            *headers("add-member", **{"Conference-Name": f"c{cust.pk + 1000}_r{r.pk}"}).items(),
        ]
    )
    ConferenceFlow().on_event(Node().ctx(), forged)
    assert not Participant.objects.exists()


def test_a_closed_recording_counts_against_storage(cust, settings, tmp_path):
    settings.RECORDINGS_DIR = tmp_path
    r = room(cust)
    path = tmp_path / f"c{cust.pk}" / "conference" / "r1.wav"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\0" * 4000)
    ConferenceFlow().on_event(Node().ctx(), event("stop-recording", r, Path=str(path)))
    assert Recording.objects.get(customer=cust).size_bytes == 4000


def test_after_a_reconnect_the_node_says_who_is_there(cust):
    r = room(cust)
    ctx = Node().ctx()
    ConferenceFlow().on_event(ctx, event("add-member", r, 3))  # left while ESL was down
    listing = [
        {
            "conference_name": r.conference_name,
            "members": [{"type": "caller", "id": 9, "caller_id_number": "101", "flags": {}}],
        }
    ]
    node = Node({"conference json_list": json.dumps(listing)})
    ConferenceFlow().on_connected(node.ctx())
    assert node.sent == ["conference json_list"]
    assert list(Participant.objects.values_list("member_id", flat=True)) == [9]
    ConferenceFlow().on_connected(
        Node({"conference json_list": "-ERR No active conferences."}).ctx()
    )
    assert not Participant.objects.exists()


def test_a_portal_request_is_sent_once_to_the_members_node(cust):
    r = room(cust)
    ConferenceFlow().on_event(Node().ctx("fs2"), event("add-member", r, 3))
    member = Participant.objects.get()
    services.member_command_request(customer=cust, participant_pk=member.pk, action="kick")
    other_node, node = Node(), Node({f"conference {r.conference_name} kick 3": "+OK kicked 3\n"})
    ConferenceFlow().tick(other_node.ctx("fs1"))
    ConferenceFlow().tick(node.ctx("fs2"))
    ConferenceFlow().tick(node.ctx("fs2"))
    assert other_node.sent == [] and node.sent == [f"conference {r.conference_name} kick 3"]
    assert MemberCommand.objects.get().result == "+OK kicked 3"


def test_a_request_call_control_never_picked_up_expires_unsent(cust):
    r = room(cust)
    ConferenceFlow().on_event(Node().ctx(), event("add-member", r, 3))
    member = Participant.objects.get()
    services.member_command_request(customer=cust, participant_pk=member.pk, action="mute")
    later = timezone.now() + dt.timedelta(minutes=5)
    assert services.member_commands_claim(node="fs1", now=later) == []
    assert MemberCommand.objects.get().result == "expired"


def test_another_customers_member_cannot_be_commanded(cust):
    r = room(cust)
    ConferenceFlow().on_event(Node().ctx(), event("add-member", r, 3))
    member = Participant.objects.get()
    assert (
        services.member_command_request(
            customer=factories.customer(), participant_pk=member.pk, action="kick"
        )
        is None
    )
    assert not MemberCommand.objects.exists()


# --- pages and API ---------------------------------------------------------------------------


@pytest.fixture
def admin(client, cust):
    client.force_login(factories.user(cust))
    return client


def test_the_page_creates_a_room_and_lists_its_members(admin, cust):
    response = admin.post(
        reverse("conference:new"),
        {"name": "Утро", "extension": "3100", "pin": "", "moderator_pin": "", "max_members": 10},
    )
    assert response.status_code == 302, response.content.decode()
    r = Room.objects.get(customer=cust)
    ConferenceFlow().on_event(
        Node().ctx(), event("add-member", r, 3, **{"Caller-Caller-ID-Name": "Пётр"})
    )
    page = admin.get(reverse("conference:index")).content.decode()
    assert "Утро" in page and "Пётр" in page
    member = Participant.objects.get()
    assert (
        admin.post(reverse("conference:member_action", args=[member.pk, "mute"])).status_code == 302
    )
    assert MemberCommand.objects.get().action == "mute"


def test_another_customers_room_and_member_are_404(admin, cust):
    other = factories.customer()
    option_set(customer=other, code=Option.CONFERENCE, enabled=True)
    theirs = room(other)
    ConferenceFlow().on_event(Node().ctx(), event("add-member", theirs, 3))
    member = Participant.objects.get()
    assert admin.get(reverse("conference:edit", args=[theirs.pk])).status_code == 404
    assert admin.post(reverse("conference:delete", args=[theirs.pk])).status_code == 404
    assert (
        admin.post(reverse("conference:member_action", args=[member.pk, "kick"])).status_code == 404
    )
    assert (
        admin.post(reverse("conference:member_action", args=[member.pk, "hup"])).status_code == 404
    )
    assert not MemberCommand.objects.exists()
    assert admin.get(f"/api/v1/conference-rooms/{theirs.pk}/").status_code == 404
    assert admin.post(f"/api/v1/conference-members/{member.pk}/kick/").status_code == 404
    assert admin.get("/api/v1/conference-members/").json()["results"] == []


def test_member_actions_need_the_csrf_token_and_an_admin(cust):
    r = room(cust)
    ConferenceFlow().on_event(Node().ctx(), event("add-member", r, 3))
    member = Participant.objects.get()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(factories.user(cust))
    url = reverse("conference:member_action", args=[member.pk, "kick"])
    assert strict.post(url).status_code == 403
    staff = Client()
    staff.force_login(factories.user(cust, role="staff"))
    assert staff.post(url).status_code == 403
    assert not MemberCommand.objects.exists()


def test_the_api_manages_rooms_without_showing_pins(admin, cust):
    response = admin.post(
        "/api/v1/conference-rooms/",
        {"name": "A", "extension": "3200", "pin": "1111", "max_members": 4},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["has_pin"] is True and "pin" not in body
    pk = body["id"]
    response = admin.patch(
        f"/api/v1/conference-rooms/{pk}/", {"max_members": 500}, content_type="application/json"
    )
    assert response.status_code == 400
    theirs = factories.number(factories.customer())
    response = admin.patch(
        f"/api/v1/conference-rooms/{pk}/", {"number": theirs.pk}, content_type="application/json"
    )
    assert response.status_code == 400
    assert admin.delete(f"/api/v1/conference-rooms/{pk}/").status_code == 204


def test_the_api_sends_a_mute(admin, cust):
    r = room(cust)
    ConferenceFlow().on_event(Node().ctx(), event("add-member", r, 3))
    member = Participant.objects.get()
    assert admin.post(f"/api/v1/conference-members/{member.pk}/mute/").status_code == 202
    node = Node()
    ConferenceFlow().tick(node.ctx())
    assert node.sent == [f"conference {r.conference_name} mute 3"]


def test_the_page_speaks_english(admin, cust):
    room(cust, pin="1234")
    admin.cookies["django_language"] = "en"
    page = admin.get(reverse("conference:index"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Conferences" in page and "with a PIN" in page and "Nobody is here." in page
    assert "Сейчас в комнате" not in page
