"""Calls writes: CDR intake.

Two deliveries describe the same call leg, both after hangup:
- `CHANNEL_HANGUP_COMPLETE` from ESL (the call-control service parses the event and passes the
  header dict, values URL-decoded; `Hangup-Cause` may come as a list since it is sent twice);
- a mod_json_cdr POST (`/freeswitch/cdr/`): a JSON document with `variables` (channel variables,
  URL-encoded unless `encode-values` is false), `callflow` (caller profiles, the current one first),
  `channel_data`, `switchname`...

`cdr_ingest` turns either into the same fields and keeps exactly one `CallRecord` per FreeSWITCH
Unique-ID whatever the order and number of deliveries. Merge rule (commutative, so "event then
HTTP" and "HTTP then event" end in the same row): times and counters only move outwards
(start/answer: earliest, end/duration/billsec: largest); texts and the customer fill what is
empty, and where both deliveries carry a different non-empty value the mod_json_cdr one wins
(it is the switch's own CDR record, sent with retries). An empty or missing value never erases
anything.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import parse_qs, unquote

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import CharField
from django.utils import timezone

from portal.calls.models import CallRecord
from portal.calls.signals import cdr_batch_ingested, cdr_ingested
from portal.tenants.models import Customer

log = logging.getLogger(__name__)

SOURCE_EVENT = "event"
SOURCE_HTTP = "http"
SOURCE_RANK = {SOURCE_EVENT: 1, SOURCE_HTTP: 2}
UUID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
EXTENSION_RE = re.compile(r"^[1-9][0-9]{1,5}$")
OUR_PREFIX = "pbx_"
MAX_OUR_VARIABLES = 50
MAX_VALUE_CHARS = 500
#: rows per INSERT statement (fewer on SQLite if its parameter limit is lower)
MAX_ROWS_PER_INSERT = 1000

TEXT_FIELDS = [
    "node",
    "direction",
    "caller_number",
    "callee_number",
    "caller_id_shown",
    "hangup_cause",
    "recording_path",
    "customer_id",
]
DIRECTIONS = frozenset(CallRecord.Direction.values)
EARLIEST_FIELDS = ["started_at", "answered_at"]
LARGEST_FIELDS = ["ended_at", "duration_seconds", "billsec"]
DATETIME_FIELDS = ["started_at", "answered_at", "ended_at", "created_at", "updated_at"]


# --- normalising the two shapes -------------------------------------------------------------


def _first(value) -> str:
    """A header value as one string (lists: repeated headers or JSON arrays -> first non-empty)."""
    if isinstance(value, list | tuple):
        for item in value:
            text = _first(item)
            if text:
                return text
        return ""
    if value is None or isinstance(value, dict):
        return ""
    # PostgreSQL stores no NUL in text or jsonb: one "%00" in a caller's name must not cost the
    # whole CDR (and its billing)
    return str(value).strip().replace("\x00", "")


def _first_profile(callflow) -> dict:
    """The current caller profile of a mod_json_cdr `callflow` (an object, or a list in some
    versions; with repeated `callflow` keys the parser keeps the first = current one)."""
    if isinstance(callflow, list):
        callflow = callflow[0] if callflow else {}
    if not isinstance(callflow, dict):
        return {}
    profile = callflow.get("caller_profile")
    return profile if isinstance(profile, dict) else {}


def json_cdr_flatten(doc: dict, *, values_encoded: bool | None = None) -> dict:
    """A mod_json_cdr document as an event-style header dict (`variable_*`, `Caller-*`...).

    `values_encoded`: mod_json_cdr URL-encodes every variable value unless `encode-values` is
    false (settings.FREESWITCH_CDR_ENCODED_VALUES, default True as in FreeSWITCH)."""
    if values_encoded is None:
        values_encoded = getattr(settings, "FREESWITCH_CDR_ENCODED_VALUES", True)
    variables = doc.get("variables")
    variables = variables if isinstance(variables, dict) else {}
    flat: dict = {}
    for name, value in variables.items():
        text = _first(value)
        flat[f"variable_{name}"] = unquote(text) if values_encoded else text
    profile = _first_profile(doc.get("callflow"))
    channel = doc.get("channel_data") if isinstance(doc.get("channel_data"), dict) else {}
    flat.update(
        {
            "Unique-ID": flat.get("variable_uuid") or _first(profile.get("uuid")),
            "Call-Direction": _first(channel.get("direction")) or flat.get("variable_direction"),
            "Caller-ANI": _first(profile.get("ani")),
            "Caller-Caller-ID-Number": _first(profile.get("caller_id_number")),
            "Caller-Destination-Number": _first(profile.get("destination_number")),
            "Caller-Context": _first(profile.get("context")),
            "Hangup-Cause": flat.get("variable_hangup_cause", ""),
            "FreeSWITCH-Switchname": _first(doc.get("switchname")),
        }
    )
    return flat


def _epoch(value: str) -> dt.datetime | None:
    try:
        seconds = int(float(value))
    except (TypeError, ValueError):
        return None
    if seconds <= 0:  # FreeSWITCH says 0 for "never" (not answered, ...)
        return None
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def _count(value: str) -> int | None:
    try:
        number = int(float(value))
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def _customer_tag(tag: str) -> int | None:
    """Our `pbx_customer` tag as a customer id, if it looks like one. The writer keeps it only
    if that customer exists (checked for the whole batch in the same statement)."""
    if not tag.isdigit() or len(tag) > 18:
        return None
    return int(tag)


def _direction(get, var, callee: str) -> str:
    tag = var("pbx_direction").lower()
    if tag in DIRECTIONS:
        return tag
    context = get("Caller-Context")
    channel_direction = (get("Call-Direction") or var("direction")).lower()
    if context == "public":  # came in from a trunk
        return CallRecord.Direction.INBOUND
    if channel_direction == "outbound":  # a leg the switch originated towards somebody
        return CallRecord.Direction.OUTBOUND
    if channel_direction == "inbound" and callee:  # one of our phones dialled
        return (
            CallRecord.Direction.INTERNAL
            if EXTENSION_RE.match(callee)
            else CallRecord.Direction.OUTBOUND
        )
    return ""


#: every header `cdr_fields` reads by name (besides the `variable_pbx_*` ones): the CDR flow
#: decodes only these of an ESL event's ~105 headers (tests check the list is complete)
CDR_HEADERS = (
    "Unique-ID",
    "FreeSWITCH-Node",
    "FreeSWITCH-Switchname",
    "Caller-ANI",
    "Caller-Orig-Caller-ID-Number",
    "Caller-Caller-ID-Number",
    "Caller-Destination-Number",
    "Caller-Context",
    "Call-Direction",
    "Hangup-Cause",
    *(
        f"variable_{name}"
        for name in (
            "uuid",
            "effective_caller_id_number",
            "origination_caller_id_number",
            "start_epoch",
            "answer_epoch",
            "end_epoch",
            "duration",
            "billsec",
            "direction",
            "hangup_cause",
            "pbx_customer",
            "pbx_direction",
            "pbx_recording",
            "pbx_recording_path",
        )
    ),
)
OUR_VARIABLES = f"variable_{OUR_PREFIX}"


def cdr_event_fields(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers of an ESL event that `cdr_fields` reads (first values), and no others."""
    fields = {}
    for name in CDR_HEADERS:
        value = headers.get(name)
        if value is not None:
            fields[name] = value
    for name in headers:
        if name.startswith(OUR_VARIABLES):
            fields[name] = headers[name]
    return fields


def cdr_fields(flat: Mapping, *, node: str = "") -> dict:
    """The CallRecord fields of one event-style header dict (plus `uuid`). `customer_id` is
    the tag as given: the writer drops it unless that customer exists."""

    def get(name: str) -> str:
        return _first(flat.get(name))[:MAX_VALUE_CHARS]

    def var(name: str) -> str:
        return get(f"variable_{name}")

    caller = get("Caller-ANI") or get("Caller-Orig-Caller-ID-Number")
    caller = caller or get("Caller-Caller-ID-Number")
    callee = get("Caller-Destination-Number")
    shown = var("effective_caller_id_number") or var("origination_caller_id_number") or caller
    started, answered, ended = (
        _epoch(var("start_epoch")),
        _epoch(var("answer_epoch")),
        _epoch(var("end_epoch")),
    )
    duration = _count(var("duration"))
    if duration is None and started and ended:
        duration = max(0, int((ended - started).total_seconds()))
    billsec = _count(var("billsec"))
    if billsec is None and answered and ended:
        billsec = max(0, int((ended - answered).total_seconds()))
    ours = {}
    for name in sorted(name for name in flat if name.startswith(OUR_VARIABLES)):
        value = _first(flat[name])[:MAX_VALUE_CHARS]
        if value and len(ours) < MAX_OUR_VARIABLES:
            ours[name[len("variable_") :][:64]] = value
    return {
        "uuid": get("Unique-ID") or var("uuid"),
        "customer_id": _customer_tag(var("pbx_customer")),
        "node": (node or get("FreeSWITCH-Node") or get("FreeSWITCH-Switchname"))[:64],
        "direction": _direction(get, var, callee),
        "caller_number": caller[:64],
        "callee_number": callee[:64],
        "caller_id_shown": shown[:64],
        "started_at": started,
        "answered_at": answered,
        "ended_at": ended,
        "duration_seconds": duration,
        "billsec": billsec,
        "hangup_cause": (get("Hangup-Cause") or var("hangup_cause"))[:64],
        "recording_path": (var("pbx_recording") or var("pbx_recording_path"))[:500],
        "variables": ours,
    }


# --- ingest ----------------------------------------------------------------------------------


def _merge(record: CallRecord, data: dict, source: str) -> list[str]:
    """Merge `data` into `record` in memory; returns the names of the fields that changed."""
    old_rank = max((SOURCE_RANK.get(s, 0) for s in record.sources), default=0)
    wins = SOURCE_RANK[source] > old_rank
    changed = []
    for name in TEXT_FIELDS:
        new, old = data[name], getattr(record, name)
        if new in ("", None) or new == old:
            continue
        if old in ("", None) or wins:
            setattr(record, name, new)
            changed.append(name)
    for names, pick in ((EARLIEST_FIELDS, min), (LARGEST_FIELDS, max)):
        for name in names:
            new, old = data[name], getattr(record, name)
            if new is None:
                continue
            value = new if old is None else pick(old, new)
            if value != old:
                setattr(record, name, value)
                changed.append(name)
    ours = {**data["variables"], **record.variables}
    if wins:
        ours = {**record.variables, **data["variables"]}
    if ours != record.variables:
        record.variables = ours
        changed.append("variables")
    sources = sorted({*record.sources, source})
    if sources != record.sources:
        record.sources = sources
        changed.append("sources")
    return changed


@dataclass(frozen=True)
class CdrDelivery:
    """One CDR as delivered: an event-style header mapping or a mod_json_cdr document (see
    `cdr_ingest` for `node` and `uuid`)."""

    fields: Mapping[str, Any]
    node: str = ""
    uuid: str = ""


@dataclass
class CdrBatchResult:
    created: int = 0
    merged: int = 0
    #: deliveries that were refused (no Unique-ID) or that the database would not store, with why
    failed: list[tuple[CdrDelivery, str]] = field(default_factory=list)


def _prepare(delivery: CdrDelivery) -> dict:
    fields = delivery.fields
    if isinstance(fields.get("variables"), dict):
        fields = json_cdr_flatten(dict(fields))
    data = cdr_fields(fields, node=delivery.node)
    data["uuid"] = data["uuid"] or _first(delivery.uuid)
    if not UUID_RE.match(data["uuid"]):
        raise ValidationError(
            {"uuid": f"no usable Unique-ID in the CDR ({data['uuid'][:80]!r})"}, code="no_uuid"
        )
    return data


def _insert_new(rows: list[dict], source: str, now: dt.datetime) -> dict[str, tuple[int, Any]]:
    """INSERT the rows whose Unique-ID is not stored yet: one statement per batch.

    `ON CONFLICT (uuid) DO NOTHING` makes it idempotent (also against a concurrent writer: the
    loser waits for the winner's commit and inserts nothing); `RETURNING` says which rows are
    new. The customer tag is checked in the same statement by a subquery. Returns
    {uuid: (id, customer_id)} of the rows inserted."""
    if not rows:
        return {}
    meta = CallRecord._meta
    qn = connection.ops.quote_name
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    customers = Customer._meta
    # Table, column and type names come from the models; values are parameters.
    pk_column, customer_table = qn(customers.pk.column), qn(customers.db_table)
    customer_sql = f"(SELECT {pk_column} FROM {customer_table} WHERE {pk_column} = %s)"  # noqa: S608
    columns = ", ".join(qn(f.column) for f in fields)
    head = f"INSERT INTO {qn(meta.db_table)} ({columns}) "
    tail = (
        f" ON CONFLICT ({qn('uuid')}) DO NOTHING "
        f"RETURNING {qn(meta.pk.column)}, {qn('uuid')}, {qn('customer_id')}"
    )
    inserted: dict[str, tuple[int, Any]] = {}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The whole batch as one JSON parameter, unpacked by the server: the statement
            # text is the same for every batch, and no per-value quoting happens in Python.
            types = ", ".join(f"{qn(f.column)} {f.db_type(connection)}" for f in fields)
            pick = ", ".join(
                customer_sql.replace("%s", f"r.{qn(f.column)}")
                if f.name == "customer"
                else f"r.{qn(f.column)}"
                for f in fields
            )
            select = f"SELECT {pick} FROM jsonb_to_recordset(%s::jsonb) AS r({types})"  # noqa: S608
            batch = []
            for data in rows:
                values = {**data, "sources": [source], "created_at": now, "updated_at": now}
                for name in DATETIME_FIELDS:
                    if values[name] is not None:
                        values[name] = values[name].isoformat()
                batch.append({f.column: values[f.attname] for f in fields})
            cursor.execute(head + select + tail, [json.dumps(batch, ensure_ascii=False)])
            inserted.update(
                (uuid, (pk, customer_id)) for pk, uuid, customer_id in cursor.fetchall()
            )
            return inserted
        row_sql = (
            "(" + ", ".join(customer_sql if f.name == "customer" else "%s" for f in fields) + ")"
        )
        prep = [
            (f.attname, None if f.name == "customer" or isinstance(f, CharField) else f)
            for f in fields
        ]
        limit = connection.features.max_query_params or 65535
        chunk = max(1, min(MAX_ROWS_PER_INSERT, limit // len(fields)))
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            params: list = []
            for data in part:
                values = {**data, "sources": [source], "created_at": now, "updated_at": now}
                for attname, f in prep:
                    value = values[attname]
                    params.append(value if f is None else f.get_db_prep_save(value, connection))
            cursor.execute(head + "VALUES " + ", ".join([row_sql] * len(part)) + tail, params)
            inserted.update(
                (uuid, (pk, customer_id)) for pk, uuid, customer_id in cursor.fetchall()
            )
    return inserted


def _write(
    items: list[dict], source: str, *, want_records: bool = True
) -> list[tuple[CallRecord, bool]]:
    """Store prepared CDRs in one transaction: (record, created) for each, in order.

    New Unique-IDs go in with one INSERT; deliveries of stored ones (or repeated within the
    batch) are merged into rows locked in Unique-ID order, and written with one UPDATE. Each
    delivery is merged exactly as `cdr_ingest` would have merged it alone, in order, and sends
    the same `cdr_ingested` signals on commit."""
    now = timezone.now()
    first: dict[str, int] = {}
    for index, data in enumerate(items):
        first.setdefault(data["uuid"], index)
    results: list[tuple[CallRecord, bool] | None] = [None] * len(items)
    signals: list[tuple[int, bool, bool]] = []
    with transaction.atomic():
        # sorted: concurrent writers take row locks in the same order (no deadlock)
        inserted = _insert_new([items[first[u]] for u in sorted(first)], source, now)
        records: dict[str, CallRecord] = {}
        for uuid, (pk, customer_id) in inserted.items():
            data = items[first[uuid]]
            complete = data["ended_at"] is not None and bool(data["hangup_cause"])
            results[first[uuid]] = (_Inserted(pk, {**data, "customer_id": customer_id}), True)
            signals.append((pk, True, complete))
        rest = [index for index, result in enumerate(results) if result is None]
        if rest:
            for index in {first[items[i]["uuid"]] for i in rest}:
                # a Unique-ID inserted by this batch and delivered again in it
                inserted_row = results[index]
                if inserted_row is not None:
                    records[items[index]["uuid"]] = inserted_row[0].record(source, now)
            stored = sorted({items[i]["uuid"] for i in rest} - records.keys())
            query = CallRecord.objects.select_for_update().filter(uuid__in=stored)
            records.update((r.uuid, r) for r in query.order_by("uuid"))
            tags = {items[i]["customer_id"] for i in rest} - {None}
            known = set(Customer.objects.filter(pk__in=tags).values_list("pk", flat=True))
            changed: dict[str, set[str]] = {}
            for index in rest:
                data = items[index]
                if data["customer_id"] not in known:
                    data = {**data, "customer_id": None}
                record = records[data["uuid"]]
                was_complete = record.is_complete
                names = _merge(record, data, source)
                if names:
                    changed.setdefault(record.uuid, set()).update(names)
                if record.is_complete and not was_complete:
                    signals.append((record.pk, False, True))
                results[index] = (record, False)
            if changed:
                for uuid in changed:
                    records[uuid].updated_at = now
                CallRecord.objects.bulk_update(
                    [records[uuid] for uuid in sorted(changed)],
                    sorted(set().union(*changed.values()) | {"updated_at"}),
                )
        for pk, created, complete in signals:
            transaction.on_commit(
                partial(
                    cdr_ingested.send,
                    sender=CallRecord,
                    call_record_id=pk,
                    created=created,
                    complete=complete,
                )
            )
        if signals:
            batch = [
                {"call_record_id": pk, "created": created, "complete": complete}
                for pk, created, complete in signals
            ]
            transaction.on_commit(
                partial(cdr_batch_ingested.send, sender=CallRecord, records=batch)
            )
    return (
        [
            (row.record(source, now) if isinstance(row, _Inserted) else row, created)
            for row, created in results  # type: ignore[misc]
        ]
        if want_records
        else results
    )  # type: ignore[return-value]


@dataclass
class _Inserted:
    """A row this batch inserted: made a model instance only if someone needs one."""

    pk: int
    data: dict
    _record: CallRecord | None = None

    def record(self, source: str, now: dt.datetime) -> CallRecord:
        if self._record is None:
            self._record = CallRecord(
                id=self.pk, **self.data, sources=[source], created_at=now, updated_at=now
            )
        return self._record


def cdr_ingest(fields: dict, *, source: str, node: str = "", uuid: str = "") -> CallRecord:
    """Store one CDR delivery; one row per Unique-ID, merged with earlier deliveries.

    `fields`: an ESL event as a header dict (source="event") or a mod_json_cdr document
    (source="http"; recognised by its `variables` object). `node`: our name of the node it came
    from (else a `FreeSWITCH-Node` field, else FreeSWITCH-Switchname). `uuid`: fallback Unique-ID (mod_json_cdr's `?uuid=`).
    Raises ValidationError when there is no usable Unique-ID.

    `cdr_ingested` is sent on commit when the row is created or just became complete."""
    if source not in SOURCE_RANK:
        raise ValueError(f"unknown CDR source {source!r}")
    data = _prepare(CdrDelivery(fields, node=node, uuid=uuid))
    ((record, created),) = _write([data], source)
    log.debug("cdr %s from %s (%s)", record.uuid, source, "new" if created else "merged")
    return record


def cdr_ingest_batch(deliveries: Sequence[CdrDelivery], *, source: str) -> CdrBatchResult:
    """Store many CDR deliveries of one source with a few statements, as `cdr_ingest` would
    store them one by one (same rows, same merges, same signals; idempotent on Unique-ID).

    A delivery without a Unique-ID, or one the database refuses (a value out of range...), is
    reported in `failed` and logged; it never costs the others: a batch that fails is split in
    halves until the bad delivery stands alone. Errors of the connection itself
    (OperationalError, InterfaceError: the database is down or went away) are raised, so the
    caller can keep the batch and try again."""
    if source not in SOURCE_RANK:
        raise ValueError(f"unknown CDR source {source!r}")
    result = CdrBatchResult()
    prepared: list[tuple[CdrDelivery, dict]] = []
    for delivery in deliveries:
        try:
            prepared.append((delivery, _prepare(delivery)))
        except ValidationError as exc:
            log.warning("CDR refused: %s", "; ".join(exc.messages))
            result.failed.append((delivery, "; ".join(exc.messages)))
    _write_halving(prepared, source, result)
    return result


def _write_halving(
    prepared: list[tuple[CdrDelivery, dict]], source: str, result: CdrBatchResult
) -> None:
    if not prepared:
        return
    try:
        written = _write([data for _, data in prepared], source, want_records=False)
    except (OperationalError, InterfaceError):
        raise
    except Exception as exc:
        if len(prepared) == 1:
            delivery, data = prepared[0]
            log.exception("CDR %s could not be stored", data["uuid"])
            result.failed.append((delivery, f"{type(exc).__name__}: {exc}"))
            return
        half = len(prepared) // 2
        _write_halving(prepared[:half], source, result)
        _write_halving(prepared[half:], source, result)
        return
    for _, created in written:
        if created:
            result.created += 1
        else:
            result.merged += 1


# --- the mod_json_cdr HTTP body --------------------------------------------------------------


def _keep_first(pairs):
    """json object hook: mod_json_cdr repeats `callflow` (one per caller profile, current first)."""
    result: dict = {}
    for key, value in pairs:
        result.setdefault(key, value)
    return result


def json_cdr_parse(body: bytes, content_type: str = "") -> dict:
    """Decode what mod_json_cdr POSTs, per its `encode` parameter:
    - `encode=false` (its default): the JSON itself, `Content-Type: application/json`;
    - `encode=true`: `cdr=<URL-encoded JSON>`, `application/x-www-form-urlencoded`;
    - `encode=base64`: `cdr=<base64 JSON>`, `application/x-www-form-base64-encoded`.
    The URL gets `?uuid=<Unique-ID>` appended. Raises ValueError with a message fit for the
    HTTP response."""
    body = body.strip()
    if not body:
        raise ValueError("empty body: expected a mod_json_cdr JSON document")
    content_type = content_type.lower()
    if body.startswith(b"cdr=") or "form-" in content_type:
        values = parse_qs(body.decode("ascii", "replace"), keep_blank_values=True).get("cdr")
        if "base64" in content_type:
            # base64 is not URL-encoded by FreeSWITCH: '+' and '/' arrive as they are.
            payload = body[4:] if body.startswith(b"cdr=") else b""
            try:
                body = base64.b64decode(payload, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("cdr field is not valid base64")
        elif values:
            body = values[0].encode("utf-8")
        else:
            raise ValueError("form body without a cdr field")
    try:
        doc = json.loads(body.decode("utf-8"), object_pairs_hook=_keep_first)
    except UnicodeDecodeError:
        raise ValueError("body is not UTF-8")
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    if not isinstance(doc, dict):
        raise ValueError("JSON CDR must be an object")
    if not isinstance(doc.get("variables"), dict):
        raise ValueError("JSON CDR has no variables object")
    return doc
