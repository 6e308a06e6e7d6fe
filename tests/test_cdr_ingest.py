"""CDR intake: one CallRecord per FreeSWITCH Unique-ID, whatever arrives, in whatever order.

Payloads are real: the CHANNEL_HANGUP_COMPLETE blocks of tests/recordings, and mod_json_cdr
documents built from them the way mod_json_cdr builds its own (variables URL-encoded).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from urllib.parse import unquote

import pytest
from django.core.exceptions import ValidationError
from django.forms.models import model_to_dict

from portal.calls.models import CallRecord
from portal.calls.services import cdr_ingest
from portal.calls.signals import cdr_ingested

RECORDINGS = Path(__file__).parent / "recordings"
UUID_02D = "1d26a72f-2af1-480c-a235-ed2ceff944fd"
UUID_08 = "3087a8d0-de78-48e1-9ad3-d0825a6055a3"
# switch_utils.h SWITCH_URL_UNSAFE: what switch_url_encode escapes (plus every non-ASCII byte).
FS_URL_UNSAFE = set('\r\n #%&+:;<=>?@[\\]^`{|}"')


# --- helpers: real payloads ------------------------------------------------------------------


def plain_event(recording: str, event_name: str = "CHANNEL_HANGUP_COMPLETE") -> dict:
    """The header block of the first `event_name` plain event in a recording, URL-decoded.
    A repeated header (Hangup-Cause) becomes a list, as the ESL parser may hand it over."""
    lines = (RECORDINGS / recording).read_text(encoding="utf-8").split("\n")
    start = lines.index(f"Event-Name: {event_name}")
    fields: dict = {}
    for line in lines[start:]:
        if not line:
            break
        name, _, value = line.partition(": ")
        value = unquote(value)
        if name in fields:
            previous = fields[name]
            fields[name] = [*(previous if isinstance(previous, list) else [previous]), value]
        else:
            fields[name] = value
    return fields


def json_event(recording: str, event_name: str = "CHANNEL_HANGUP_COMPLETE") -> dict:
    """A `text/event-json` event body from a recording (values are not URL-encoded there)."""
    for line in (RECORDINGS / recording).read_text(encoding="utf-8").split("\n"):
        if line.startswith(f'{{"Event-Name":"{event_name}"'):
            return json.loads(line)
    raise LookupError(event_name)


def fs_url_encode(value: str) -> str:
    out = []
    for char in value:
        if char in FS_URL_UNSAFE or ord(char) > 127:
            out.extend(f"%{byte:02X}" for byte in char.encode())
        else:
            out.append(char)
    return "".join(out)


def json_cdr_from_event(event: dict, *, encode_values: bool = True) -> dict:
    """What mod_json_cdr would POST for the channel of `event` (switch_ivr_generate_json_cdr)."""

    def first(name):
        value = event.get(name, "")
        return value[0] if isinstance(value, list) else value

    variables = {
        name[len("variable_") :]: (fs_url_encode(first(name)) if encode_values else first(name))
        for name in event
        if name.startswith("variable_")
    }
    return {
        "core-uuid": first("Core-UUID"),
        "switchname": first("FreeSWITCH-Switchname"),
        "channel_data": {
            "state": "CS_REPORTING",
            "direction": first("Call-Direction"),
            "state_number": "11",
        },
        "variables": variables,
        "callflow": {
            "dialplan": "XML",
            "profile_index": "1",
            "caller_profile": {
                "username": first("Caller-Username"),
                "dialplan": first("Caller-Dialplan"),
                "caller_id_name": first("Caller-Caller-ID-Name"),
                "ani": first("Caller-ANI"),
                "aniii": "",
                "caller_id_number": first("Caller-Caller-ID-Number"),
                "network_addr": first("Caller-Network-Addr"),
                "rdnis": "",
                "destination_number": first("Caller-Destination-Number"),
                "uuid": first("Unique-ID"),
                "source": first("Caller-Source"),
                "context": first("Caller-Context"),
                "chan_name": first("Caller-Channel-Name"),
            },
            "times": {"created_time": first("Caller-Channel-Created-Time")},
        },
    }


def row(uuid: str) -> dict:
    record = CallRecord.objects.get(uuid=uuid)
    data = model_to_dict(record, exclude=["id"])
    data["sources"] = record.sources
    return data


@pytest.fixture
def event_02d(customer):
    event = plain_event("02d-originate-answer-park-kill.txt")
    event["variable_pbx_customer"] = str(customer.pk)
    return event


@pytest.fixture
def signals():
    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    cdr_ingested.connect(receiver, dispatch_uid="test-cdr-ingested")
    yield received
    cdr_ingested.disconnect(dispatch_uid="test-cdr-ingested")


# --- one delivery ----------------------------------------------------------------------------


def test_a_real_hangup_event_becomes_a_call_record(customer, event_02d):
    assert event_02d["Hangup-Cause"] == ["NORMAL_CLEARING", "NORMAL_CLEARING"]  # sent twice
    record = cdr_ingest(event_02d, source="event", node="fs1")
    assert record.uuid == UUID_02D
    assert record.customer == customer
    assert record.node == "fs1"
    assert record.direction == CallRecord.Direction.OUTBOUND  # a leg the switch originated
    # On an answered outbound leg Caller-Caller-ID-Number is the callee ("100"); ANI is ours.
    assert (record.caller_number, record.callee_number) == ("74950000001", "100")
    assert record.caller_id_shown == "74950000001"
    assert record.started_at == dt.datetime.fromtimestamp(1795331088, tz=dt.UTC)
    assert record.answered_at == record.started_at
    assert record.ended_at == dt.datetime.fromtimestamp(1795331090, tz=dt.UTC)
    assert (record.duration_seconds, record.billsec) == (2, 2)
    assert record.hangup_cause == "NORMAL_CLEARING"
    assert record.variables == {
        "pbx_attempt": "1",
        "pbx_customer": str(customer.pk),
        "pbx_job": "42",
    }
    assert record.sources == ["event"]


def test_a_real_json_event_of_an_inbound_call_is_ingested_as_inbound(db):
    event = json_event("08-event-json-simple-call.txt")
    assert isinstance(event["variable_DP_MATCH"], list)  # JSON events carry arrays too
    record = cdr_ingest(event, source="event")
    assert record.uuid == UUID_08
    assert record.direction == CallRecord.Direction.INBOUND  # context "public"
    assert (record.caller_number, record.callee_number) == ("74951234567", "7777")
    assert (record.duration_seconds, record.billsec) == (3, 3)
    assert record.node == "vm"  # no node given: the switch's own name
    assert record.customer is None  # not tagged


def test_the_node_name_given_by_the_call_control_service_is_kept(db):
    event = plain_event("02d-originate-answer-park-kill.txt")
    event["FreeSWITCH-Node"] = "fs2"
    assert cdr_ingest(event, source="event").node == "fs2"


def test_an_unanswered_call_has_no_answer_time(db):
    event = plain_event("02d-originate-answer-park-kill.txt")
    event.update(variable_answer_epoch="0", variable_billsec="0")
    record = cdr_ingest(event, source="event")
    assert record.answered_at is None and record.billsec == 0


@pytest.mark.parametrize("tag", ["999999", "abc", "-1", "1 OR 1=1", ""])
def test_a_call_with_an_unknown_customer_tag_is_kept_without_a_customer(db, tag):
    event = plain_event("02d-originate-answer-park-kill.txt")
    event["variable_pbx_customer"] = tag
    record = cdr_ingest(event, source="event")
    assert record.customer is None
    assert CallRecord.objects.count() == 1


def test_our_direction_tag_wins_over_what_freeswitch_says(db):
    event = plain_event("02d-originate-answer-park-kill.txt")
    event["variable_pbx_direction"] = "internal"
    assert cdr_ingest(event, source="event").direction == "internal"


def test_a_call_from_our_phone_to_an_extension_is_internal(db):
    event = json_event("08-event-json-simple-call.txt")
    event["Caller-Context"] = "default"
    event["Caller-Destination-Number"] = "101"
    assert cdr_ingest(event, source="event").direction == "internal"


def test_a_delivery_without_a_unique_id_is_refused(db):
    event = plain_event("02d-originate-answer-park-kill.txt")
    del event["Unique-ID"], event["variable_uuid"]
    with pytest.raises(ValidationError):
        cdr_ingest(event, source="event")
    assert not CallRecord.objects.exists()


# --- several deliveries ----------------------------------------------------------------------


def test_the_same_uuid_twice_gives_one_row(event_02d):
    first = cdr_ingest(event_02d, source="event")
    second = cdr_ingest(event_02d, source="event")
    assert first.pk == second.pk
    assert CallRecord.objects.count() == 1


def test_http_then_event_and_event_then_http_give_identical_rows(event_02d):
    http_doc = json_cdr_from_event(event_02d)
    cdr_ingest(http_doc, source="http", node="fs1")
    cdr_ingest(event_02d, source="event", node="fs1")
    http_first = row(UUID_02D)
    CallRecord.objects.all().delete()

    cdr_ingest(event_02d, source="event", node="fs1")
    cdr_ingest(http_doc, source="http", node="fs1")
    event_first = row(UUID_02D)

    ignore = {"created_at", "updated_at"}
    assert {k: v for k, v in http_first.items() if k not in ignore} == {
        k: v for k, v in event_first.items() if k not in ignore
    }
    assert event_first["sources"] == ["event", "http"]
    assert event_first["caller_number"] == "74950000001"


def test_the_json_cdr_alone_gives_the_same_row_as_the_event_alone(event_02d):
    cdr_ingest(json_cdr_from_event(event_02d), source="http", node="fs1")
    from_http = row(UUID_02D)
    CallRecord.objects.all().delete()
    cdr_ingest(event_02d, source="event", node="fs1")
    from_event = row(UUID_02D)
    ignore = {"created_at", "updated_at", "sources"}
    assert {k: v for k, v in from_http.items() if k not in ignore} == {
        k: v for k, v in from_event.items() if k not in ignore
    }


def test_a_later_duplicate_with_missing_fields_does_not_erase_data(customer, event_02d):
    cdr_ingest(event_02d, source="event")
    before = row(UUID_02D)
    poor = {
        "Unique-ID": UUID_02D,
        "Hangup-Cause": "",
        "variable_answer_epoch": "0",
        "variable_end_epoch": "0",
        "variable_billsec": "0",
        "variable_duration": "0",
        "variable_pbx_customer": "",
        "Caller-Destination-Number": "",
    }
    for source in ["event", "http"]:
        cdr_ingest(poor, source=source)
        after = row(UUID_02D)
        for name in before:
            if name not in {"updated_at", "sources"}:
                assert after[name] == before[name], name


def test_a_later_delivery_fills_what_an_earlier_one_lacked(customer, event_02d):
    cdr_ingest({"Unique-ID": UUID_02D, "variable_start_epoch": "1795331088"}, source="event")
    record = cdr_ingest(event_02d, source="http")
    assert record.customer == customer
    assert record.hangup_cause == "NORMAL_CLEARING"
    assert record.billsec == 2 and record.callee_number == "100"


# --- the cdr_ingested signal -----------------------------------------------------------------


def test_the_signal_is_sent_on_commit_for_a_new_row_and_not_for_a_duplicate(
    event_02d, signals, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        record = cdr_ingest(event_02d, source="event")
        assert signals == []  # not before the commit
    assert signals == [
        {"signal": cdr_ingested, "call_record_id": record.pk, "created": True, "complete": True}
    ]
    with django_capture_on_commit_callbacks(execute=True):
        cdr_ingest(event_02d, source="event")
        cdr_ingest(json_cdr_from_event(event_02d), source="http")
    assert len(signals) == 1


def test_the_signal_is_sent_again_when_a_partial_row_gets_its_final_data(
    event_02d, signals, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        cdr_ingest({"Unique-ID": UUID_02D}, source="event")
    with django_capture_on_commit_callbacks(execute=True):
        cdr_ingest(event_02d, source="http")
    assert [(s["created"], s["complete"]) for s in signals] == [(True, False), (False, True)]


@pytest.mark.django_db(transaction=True)
def test_simultaneous_deliveries_of_one_call_still_give_one_row():
    import threading

    from django.db import connection

    event = plain_event("02d-originate-answer-park-kill.txt")
    doc = json_cdr_from_event(event)
    barrier = threading.Barrier(4)
    errors = []

    def deliver(fields, source):
        try:
            barrier.wait(timeout=10)
            cdr_ingest(fields, source=source, node="fs1")
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=deliver, args=(fields, source))
        for fields, source in [(event, "event"), (doc, "http")] * 2
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert errors == []
    assert CallRecord.objects.count() == 1
    assert CallRecord.objects.get().sources == ["event", "http"]


def test_the_recording_the_dialplan_made_is_kept_with_the_call(customer, event_02d):
    # The rendered dialplan records to ${pbx_recording} (see pbx/render.py `_record`).
    event_02d["variable_pbx_recording"] = "/var/lib/freeswitch/recordings/c1/n5/abc.wav"
    record = cdr_ingest(event_02d, source="event", node="fs1")
    assert record.recording_path == "/var/lib/freeswitch/recordings/c1/n5/abc.wav"
