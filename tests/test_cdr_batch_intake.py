"""CDR intake in batches: the same rows, merges, signals and charges as one by one, never a
second row or a second charge, and nothing lost to a bad CDR, a database outage or a disconnect.

Payloads are the real CHANNEL_HANGUP_COMPLETE of tests/recordings (see test_cdr_ingest).
"""

from __future__ import annotations

import contextlib
import uuid as uuidlib
from decimal import Decimal
from unittest import mock

import gevent.queue
import pytest
from django.db import OperationalError

from pbx.esl.protocol import Event, Frame, encode_plain_event_body, parse_event
from pbx.flows import NodeContext
from pbx.service import NodeWorker
from portal.billing.models import LedgerEntry
from portal.calls.models import CallRecord
from portal.calls.services import (
    CDR_HEADERS,
    CdrDelivery,
    cdr_event_fields,
    cdr_fields,
    cdr_ingest,
    cdr_ingest_batch,
)
from portal.calls.signals import cdr_ingested
from portal.calls.telephony import CdrFlow
from portal.switch.models import Node
from tests import factories
from tests.test_cdr_ingest import (
    RECORDINGS,
    json_cdr_from_event,
    json_event,
    plain_event,
    row,
)

IGNORE = {"created_at", "updated_at"}


def hangup(customer=None, *, uuid: str | None = None, billsec: int = 2, **extra) -> dict:
    """A real answered outbound hangup, as the CDR flow hands it over (first values only)."""
    event = {
        name: value[0] if isinstance(value, list) else value
        for name, value in plain_event("02d-originate-answer-park-kill.txt").items()
    }
    event["Unique-ID"] = event["variable_uuid"] = uuid or str(uuidlib.uuid4())
    event["variable_billsec"] = str(billsec)
    if customer is not None:
        event["variable_pbx_customer"] = str(customer.pk)
    event.update(extra)
    return event


def rows() -> dict[str, dict]:
    return {
        uuid: {k: v for k, v in row(uuid).items() if k not in IGNORE}
        for uuid in CallRecord.objects.values_list("uuid", flat=True)
    }


@pytest.fixture
def signals():
    received = []

    def receiver(sender, **kwargs):
        received.append((kwargs["call_record_id"], kwargs["created"], kwargs["complete"]))

    cdr_ingested.connect(receiver, dispatch_uid="test-cdr-batch")
    yield received
    cdr_ingested.disconnect(dispatch_uid="test-cdr-batch")


def one_by_one_then_batch(deliveries: list[tuple[dict, str]], capture) -> tuple[dict, dict]:
    """The rows ingesting `deliveries` one by one gives, and the rows batches give."""
    with capture(execute=True):
        for fields, source in deliveries:
            cdr_ingest(fields, source=source)
    alone = rows()
    CallRecord.objects.all().delete()
    with capture(execute=True):
        for source in ("event", "http"):
            batch = [CdrDelivery(fields) for fields, s in deliveries if s == source]
            result = cdr_ingest_batch(batch, source=source)
            assert result.failed == []
    return alone, rows()


# --- the same rows as one by one -------------------------------------------------------------


def test_a_batch_stores_every_cdr_exactly_as_one_by_one(
    customer, django_capture_on_commit_callbacks
):
    deliveries = [(hangup(customer if i % 2 else None, billsec=i), "event") for i in range(40)]
    alone, batched = one_by_one_then_batch(deliveries, django_capture_on_commit_callbacks)
    assert len(batched) == 40
    assert batched == alone


def test_events_then_http_in_batches_merge_exactly_as_one_by_one(
    customer, django_capture_on_commit_callbacks
):
    events = [hangup(customer, billsec=10 + i) for i in range(10)]
    docs = [json_cdr_from_event(event) for event in events]
    deliveries = [(e, "event") for e in events] + [(d, "http") for d in docs]
    alone, batched = one_by_one_then_batch(deliveries, django_capture_on_commit_callbacks)
    assert batched == alone
    assert all(r["sources"] == ["event", "http"] for r in batched.values())


def test_the_same_uuid_three_times_in_one_batch_is_one_row_and_one_signal(
    customer, signals, django_capture_on_commit_callbacks
):
    event = hangup(customer)
    with django_capture_on_commit_callbacks(execute=True):
        result = cdr_ingest_batch([CdrDelivery(event)] * 3, source="event")
    assert (result.created, result.merged, result.failed) == (1, 2, [])
    assert CallRecord.objects.count() == 1
    assert [(created, complete) for _, created, complete in signals] == [(True, True)]


def test_a_partial_and_a_full_delivery_in_one_batch_signal_as_one_by_one(
    customer, signals, django_capture_on_commit_callbacks
):
    uuid = str(uuidlib.uuid4())
    partial = {"Unique-ID": uuid, "variable_start_epoch": "1795331088"}
    with django_capture_on_commit_callbacks(execute=True):
        cdr_ingest_batch([CdrDelivery(partial), CdrDelivery(hangup(uuid=uuid))], source="event")
    record = CallRecord.objects.get()
    assert [s[1:] for s in signals] == [(True, False), (False, True)]
    assert {s[0] for s in signals} == {record.pk}
    assert record.hangup_cause == "NORMAL_CLEARING" and record.billsec == 2


def test_a_batch_for_rows_already_stored_adds_none(customer, django_capture_on_commit_callbacks):
    events = [hangup(customer) for _ in range(5)]
    with django_capture_on_commit_callbacks(execute=True):
        cdr_ingest_batch([CdrDelivery(e) for e in events], source="event")
    before = rows()
    with django_capture_on_commit_callbacks(execute=True):
        result = cdr_ingest_batch([CdrDelivery(e) for e in events], source="event")
    assert (result.created, result.merged) == (0, 5)
    assert rows() == before


def test_an_unknown_customer_tag_in_a_batch_is_kept_without_a_customer(customer):
    events = [hangup(customer), hangup(variable_pbx_customer="999999999")]
    cdr_ingest_batch([CdrDelivery(e) for e in events], source="event")
    assert sorted(CallRecord.objects.values_list("customer_id", flat=True), key=str) == sorted(
        [customer.pk, None], key=str
    )


# --- billing: a duplicate never bills twice --------------------------------------------------


def test_duplicates_across_batches_and_sources_are_charged_once(
    db, django_capture_on_commit_callbacks
):
    customer = factories.customer()  # "Средний": 1.50 per started minute
    event = hangup(customer, billsec=61, variable_pbx_direction="outbound")
    doc = json_cdr_from_event(event)
    with django_capture_on_commit_callbacks(execute=True):
        cdr_ingest_batch([CdrDelivery(event), CdrDelivery(event)], source="event")
    with django_capture_on_commit_callbacks(execute=True):
        cdr_ingest_batch([CdrDelivery(doc)], source="http")
        cdr_ingest_batch([CdrDelivery(event)], source="event")
    [charge] = LedgerEntry.objects.filter(customer=customer, category="calls")
    assert charge.amount == Decimal("3.00")


def test_a_batch_is_rated_with_one_query_per_receiver_not_one_per_cdr(
    db, django_capture_on_commit_callbacks
):
    """Billing, recordings and callbacks (a caller who got through) listen to the batch: 200
    inbound CDRs cost them one query each, and the outgoing ones of a mixed batch are each
    charged exactly once."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    customer = factories.customer()  # "Средний": 1.50 per started minute
    inbound = [CdrDelivery(hangup(customer, variable_pbx_direction="inbound")) for _ in range(200)]
    outbound = [
        CdrDelivery(hangup(customer, billsec=61, variable_pbx_direction="outbound"))
        for _ in range(3)
    ]
    with CaptureQueriesContext(connection) as writes:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            cdr_ingest_batch(inbound, source="event")
    with CaptureQueriesContext(connection) as receivers:
        for callback in callbacks:
            callback()
    assert len(receivers) <= 3, [q["sql"][:80] for q in receivers.captured_queries]
    assert len(writes) < 20
    with django_capture_on_commit_callbacks(execute=True):
        cdr_ingest_batch(inbound[:5] + outbound, source="event")
    charges = LedgerEntry.objects.filter(customer=customer, category="calls")
    assert sorted(c.amount for c in charges) == [Decimal("3.00")] * 3


# --- one bad CDR costs only itself -----------------------------------------------------------


def test_a_cdr_the_database_refuses_does_not_cost_the_rest_of_the_batch(customer):
    events = [hangup(customer) for _ in range(9)]
    bad = hangup(customer, variable_billsec=str(10**20))  # beyond any integer column
    result = cdr_ingest_batch(
        [CdrDelivery(e) for e in events[:4] + [bad] + events[4:]], source="event"
    )
    assert [d.fields["Unique-ID"] for d, _ in result.failed] == [bad["Unique-ID"]]
    assert result.created == 9
    assert set(CallRecord.objects.values_list("uuid", flat=True)) == {
        e["Unique-ID"] for e in events
    }


def test_a_cdr_without_a_unique_id_is_refused_and_the_others_stored(db):
    good = hangup()
    nameless = {k: v for k, v in hangup().items() if k not in ("Unique-ID", "variable_uuid")}
    result = cdr_ingest_batch([CdrDelivery(nameless), CdrDelivery(good)], source="event")
    assert len(result.failed) == 1 and "Unique-ID" in result.failed[0][1]
    assert list(CallRecord.objects.values_list("uuid", flat=True)) == [good["Unique-ID"]]


def test_a_nul_in_a_value_is_dropped_instead_of_losing_the_cdr(db):
    event = hangup(variable_pbx_note="a\x00b", **{"Caller-ANI": "7495\x001234567"})
    result = cdr_ingest_batch([CdrDelivery(event)], source="event")
    assert result.failed == []
    record = CallRecord.objects.get()
    assert record.caller_number == "74951234567"
    assert record.variables["pbx_note"] == "ab"


def test_hostile_values_are_stored_as_data(db):
    event = hangup(
        **{
            "Caller-Destination-Number": "1'); DROP TABLE calls_callrecord; --",
            "variable_pbx_x": "x" * 100_000,
            "variable_pbx_json": '{"a": [1, 2]}',
        }
    )
    cdr_ingest_batch([CdrDelivery(event)], source="event")
    record = CallRecord.objects.get()
    assert record.callee_number == "1'); DROP TABLE calls_callrecord; --"
    assert (
        record.variables["pbx_x"] == "x" * 500 and record.variables["pbx_json"] == '{"a": [1, 2]}'
    )


# --- the headers the CDR flow keeps are every header a CDR reads -----------------------------


HANGUP_RECORDINGS = sorted(
    p.name
    for p in RECORDINGS.glob("*.txt")
    if "\nEvent-Name: CHANNEL_HANGUP_COMPLETE\n" in p.read_text(encoding="utf-8")
)


@pytest.mark.parametrize("recording", HANGUP_RECORDINGS)
def test_the_headers_the_cdr_flow_keeps_give_the_same_cdr_as_the_whole_event(db, recording):
    event = plain_event(recording)
    event["variable_pbx_customer"] = "1"
    event["variable_pbx_recording"] = "/x.wav"
    full = {k: v[0] if isinstance(v, list) else v for k, v in event.items()}
    kept = cdr_event_fields(full)
    assert cdr_fields(kept, node="fs1") == cdr_fields(full, node="fs1")
    assert set(kept) <= set(CDR_HEADERS) | {k for k in full if k.startswith("variable_pbx_")}


def test_the_json_form_of_an_event_keeps_the_same_cdr_headers(db):
    event = {
        k: v if isinstance(v, str) else "ARRAY::" + "|:".join(v)
        for k, v in json_event("08-event-json-simple-call.txt").items()
    }
    assert cdr_fields(cdr_event_fields(event)) == cdr_fields(event)


# --- the flow and the dispatcher: nothing lost at disconnect or while the database is down ----


def esl_event(fields: dict, *, sequence: int, core: str = "core-1") -> Event:
    pairs = [
        ("Event-Name", "CHANNEL_HANGUP_COMPLETE"),
        ("Core-UUID", core),
        ("Event-Sequence", str(sequence)),
        *fields.items(),
    ]
    body = encode_plain_event_body(pairs)
    return parse_event(Frame(headers={"Content-Type": "text/event-plain"}, body=body))


class FakeConnection:
    """What NodeWorker._dispatch uses of an EslConnection: the event queue and its commands."""

    def __init__(self, events: list[Event | None]) -> None:
        self.events: gevent.queue.Queue = gevent.queue.Queue()
        for event in events:
            self.events.put(event)

    def api(self, command: str) -> str:
        return "+OK"

    def bgapi(self, command: str, job_uuid: str) -> str:
        return "+OK"

    def command(self, line: str) -> str:
        return "+OK"


def dispatch(events: list[Event | None], flow: CdrFlow) -> None:
    Node.objects.get_or_create(name="fs1", defaults={"host": "127.0.0.1", "port": 8021})
    worker = NodeWorker("fs1", "127.0.0.1", 8021, "x", [flow])
    gevent.spawn(worker._dispatch, FakeConnection(events)).join(timeout=30)


def test_the_end_of_the_event_stream_writes_every_cdr_still_held(customer):
    flow = CdrFlow(name="cdr", events=frozenset({"CHANNEL_HANGUP_COMPLETE"}), batch_size=1000)
    calls = [hangup(customer) for _ in range(30)]
    dispatch([*(esl_event(c, sequence=i) for i, c in enumerate(calls)), None], flow)
    assert flow.pending == {}
    assert set(CallRecord.objects.values_list("uuid", flat=True)) == {c["Unique-ID"] for c in calls}
    assert set(CallRecord.objects.values_list("node", flat=True)) == {"fs1"}


def test_duplicate_and_replayed_events_give_one_row_each(customer):
    flow = CdrFlow(name="cdr", events=frozenset({"CHANNEL_HANGUP_COMPLETE"}))
    a, b = hangup(customer), hangup(customer)
    events = [
        esl_event(a, sequence=1),
        esl_event(a, sequence=1),  # the same event twice
        esl_event(b, sequence=2),
        esl_event(a, sequence=7, core="core-2"),  # a switch restart replays the hangup
        None,
    ]
    dispatch(events, flow)
    assert CallRecord.objects.count() == 2


@contextlib.contextmanager
def database_down():
    """A real outage: the connection is closed and pointed where no database answers (a closed
    port, or a SQLite file in a directory that does not exist), then restored."""
    from django.db import connection

    params = connection.settings_dict
    saved = {key: params.get(key) for key in ("HOST", "PORT", "NAME")}
    connection.close()
    if connection.vendor == "sqlite":
        params["NAME"] = "/nonexistent-dir/db.sqlite3"
    else:
        params["HOST"], params["PORT"] = "127.0.0.1", "9"  # discard: connection refused
    try:
        yield
    finally:
        connection.close()
        params.update(saved)


@pytest.mark.django_db(transaction=True)
def test_cdrs_are_kept_while_the_database_is_down_and_written_when_it_is_back():
    customer = factories.customer()
    flow = CdrFlow(name="cdr", events=frozenset({"CHANNEL_HANGUP_COMPLETE"}))
    ctx = NodeContext(node="fs1", api=None, bgapi=None)
    first, second = [hangup(customer) for _ in range(3)], [hangup(customer) for _ in range(2)]
    for i, call in enumerate(first):
        flow.on_event(ctx, esl_event(call, sequence=i))
    with database_down(), pytest.raises(OperationalError):
        flow.flush(ctx)
    for i, call in enumerate(second):
        flow.on_event(ctx, esl_event(call, sequence=10 + i))
    assert [d.fields["Unique-ID"] for d in flow.pending["fs1"]] == [
        c["Unique-ID"] for c in first + second
    ]
    flow.flush(ctx)
    assert flow.pending == {}
    assert CallRecord.objects.count() == 5


@pytest.mark.django_db(transaction=True)
def test_a_long_outage_keeps_only_the_newest_cdrs_up_to_the_limit():
    customer = factories.customer()
    flow = CdrFlow(name="cdr", events=frozenset({"CHANNEL_HANGUP_COMPLETE"}), max_pending=3)
    ctx = NodeContext(node="fs1", api=None, bgapi=None)
    calls = [hangup(customer) for _ in range(5)]
    for i, call in enumerate(calls):
        flow.on_event(ctx, esl_event(call, sequence=i))
    with database_down(), pytest.raises(OperationalError):
        flow.flush(ctx)
    assert [d.fields["Unique-ID"] for d in flow.pending["fs1"]] == [
        c["Unique-ID"] for c in calls[2:]
    ]


def test_a_full_batch_is_written_without_waiting_for_the_queue_to_run_dry(customer):
    flow = CdrFlow(name="cdr", events=frozenset({"CHANNEL_HANGUP_COMPLETE"}), batch_size=4)
    ctx = NodeContext(node="fs1", api=None, bgapi=None)
    for i in range(5):
        flow.on_event(ctx, esl_event(hangup(customer), sequence=i))
    assert CallRecord.objects.count() == 4
    assert len(flow.pending["fs1"]) == 1


def test_the_cdr_flow_reads_the_same_headers_from_a_live_event_as_from_its_dict():
    from pbx.esl.protocol import FrameParser, iter_events
    from portal.calls.services import OUR_VARIABLES

    hangups = [
        event
        for raw in sorted(RECORDINGS.glob("*.server.raw"))
        for event in iter_events(FrameParser().feed(raw.read_bytes()))
        if event.name == "CHANNEL_HANGUP_COMPLETE"
    ]
    assert {event.format for event in hangups} == {"plain", "json"}
    for event in hangups:
        assert event.subset(CDR_HEADERS, prefix=OUR_VARIABLES) == cdr_event_fields(
            dict(event.headers)
        )


def test_a_flush_killed_mid_write_keeps_its_cdrs_and_writing_them_again_adds_nothing(customer):
    flow = CdrFlow(name="cdr", events=frozenset({"CHANNEL_HANGUP_COMPLETE"}))
    ctx = NodeContext(node="fs1", api=None, bgapi=None)
    calls = [hangup(customer) for _ in range(3)]
    for i, call in enumerate(calls):
        flow.on_event(ctx, esl_event(call, sequence=i))
    real = cdr_ingest_batch

    def commit_then_die(batch, *, source):
        real(batch, source=source)
        raise gevent.GreenletExit

    with (
        mock.patch("portal.calls.services.cdr_ingest_batch", side_effect=commit_then_die),
        pytest.raises(gevent.GreenletExit),
    ):
        flow.flush(ctx)
    assert len(flow.pending["fs1"]) == 3
    flow.flush(ctx)
    assert CallRecord.objects.count() == 3 and flow.pending == {}
