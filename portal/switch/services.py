"""Switch writes: node rows, config-change log, per-node push bookkeeping.

Pure database work: the call-control service (the only process that talks ESL) calls these to
learn what to push and to record what happened. Nothing here opens a socket.

How a config change reaches FreeSWITCH:
1. A portal service changes something FreeSWITCH renders and calls
   `portal.events.announce_config_change`; after commit `config_changed` fires and
   `config_change_record` stores a `ConfigChange` row (its id is the config generation).
2. The call-control service polls `changes_due(node, now=...)` per connected node. A burst of
   toggles is pushed once: nothing is due until the newest change is `debounce` old (or the oldest
   has waited `max_wait`, so a never-ending burst still gets through).
3. It sends `push_commands_for(changes)` over ESL (falling back from `callcenter_config queue
   reload <q>` to `callcenter_config queue load <q>` when the reload answers `-ERR`: a queue the
   node has never loaded cannot be reloaded), then calls
   `push_record_result(node, up_to_change_id=changes[-1].id, ok=..., error=..., now=...)`.

Why no `sofia profile internal rescan` for employees: directory users come from mod_xml_curl on
every REGISTER/INVITE; only the XML cache (`xml_flush_cache`) can hold a stale user. `rescan`
re-reads gateways and profile params, which the portal does not change.

Note on `xml_flush_cache`: with fewer than two arguments FreeSWITCH flushes its whole XML cache
(see tests/recordings/README.md), so `xml_flush_cache dialplan` already drops cached directory
entries; `xml_flush_cache directory` is still emitted for employee changes because it is cheap and
says what we mean.

Generation gaps: ids come from a sequence, so a change inserted by a slower transaction could
commit with a lower id after a higher one was already applied. The receiver inserts in its own
short autocommit transaction and `changes_due` only returns a batch whose newest row is
`debounce` old, which leaves far more than the insert's duration for any lower id to commit.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q

from pbx import render
from pbx.esl import commands as esl_commands
from portal.billing.models import Option
from portal.billing.selectors import customers_with_option
from portal.directory.models import Department, PhoneNumber
from portal.switch.models import ConfigChange, Node, NodeSync
from portal.tenants.models import Customer

log = logging.getLogger(__name__)

DEFAULT_DEBOUNCE = dt.timedelta(seconds=1)
DEFAULT_MAX_WAIT = dt.timedelta(seconds=10)
# Changes that can alter a callcenter queue (its existence, its announcements, its numbers).
# `callcenter_config queue reload` re-reads the queue with its agents and tiers from the portal
# (mod_callcenter's load_queue(name, agents, tiers)), so an employee change reloads queues too.
QUEUE_CHANGES = frozenset({"department", "employee", "number", "option", "customer"})
QUEUE_NAME_RE = re.compile(r"^c\d+_d\d+(_plain)?@default$")
ERROR_MAX_CHARS = 2000
# Writing last_event_at on every event would be one UPDATE per event: coarser is enough.
EVENT_SEEN_RESOLUTION = dt.timedelta(seconds=5)

# --- nodes -----------------------------------------------------------------------------------


def nodes_sync_from_settings(*, nodes: dict | None = None) -> list[Node]:
    """Upsert one Node per settings.FREESWITCH_NODES entry; nodes gone from settings are kept
    but marked `is_configured=False`. A new node starts with every existing change applied:
    a (re)started FreeSWITCH loads its whole config fresh, there is no cache to flush."""
    nodes = settings.FREESWITCH_NODES if nodes is None else nodes
    result = []
    with transaction.atomic():
        for name, addr in sorted(nodes.items()):
            node, _created = Node.objects.update_or_create(
                name=name,
                defaults={"host": addr["host"], "port": int(addr["port"]), "is_configured": True},
            )
            _node_sync(node)
            result.append(node)
        Node.objects.exclude(name__in=list(nodes)).update(is_configured=False)
    return result


def _node_sync(node: Node) -> NodeSync:
    sync = NodeSync.objects.filter(node=node).first()
    if sync is None:
        current = ConfigChange.objects.aggregate(m=Max("id"))["m"] or 0
        sync, _created = NodeSync.objects.get_or_create(
            node=node, defaults={"applied_change_id": current}
        )
    return sync


def node_esl_state_set(*, node: Node, state: str, now: dt.datetime, error: str = "") -> bool:
    """Record the ESL connection state of `node`. `esl_state_changed_at` moves only when the
    state really changes. Returns True if it changed."""
    if state not in Node.EslState.values:
        raise ValueError(f"unknown ESL state {state!r}")
    changed = (
        Node.objects.filter(pk=node.pk)
        .filter(~Q(esl_state=state) | Q(esl_state_changed_at__isnull=True))
        .update(esl_state=state, esl_state_changed_at=now, last_error=error[:ERROR_MAX_CHARS])
    )
    if not changed and error:
        Node.objects.filter(pk=node.pk).update(last_error=error[:ERROR_MAX_CHARS])
    if changed and state == Node.EslState.CONNECTED:
        Node.objects.filter(pk=node.pk).update(last_error="")
    return bool(changed)


def node_event_seen(*, node: Node, now: dt.datetime) -> None:
    """Note that an ESL event arrived from `node` (written at most every few seconds)."""
    Node.objects.filter(pk=node.pk).filter(
        Q(last_event_at__isnull=True) | Q(last_event_at__lt=now - EVENT_SEEN_RESOLUTION)
    ).update(last_event_at=now)


# --- config changes --------------------------------------------------------------------------


def config_change_record(*, customer_id: int | None, what: str) -> ConfigChange:
    """Store one config change (receiver of `portal.events.config_changed`)."""
    if customer_id is not None and not Customer.objects.filter(pk=customer_id).exists():
        customer_id = None  # deleted meanwhile: still flush, attribute to nobody
    return ConfigChange.objects.create(customer_id=customer_id, what=str(what)[:32])


def on_config_changed(sender, *, customer_id=None, what="", **kwargs) -> None:
    config_change_record(customer_id=customer_id, what=what)


def changes_due(
    node: Node,
    *,
    now: dt.datetime,
    debounce: dt.timedelta = DEFAULT_DEBOUNCE,
    max_wait: dt.timedelta = DEFAULT_MAX_WAIT,
) -> list[ConfigChange]:
    """Changes `node` has not applied yet, in id order, or [] while a burst is still settling
    (the newest change is younger than `debounce` and the oldest younger than `max_wait`)."""
    applied = _node_sync(node).applied_change_id
    changes = list(ConfigChange.objects.filter(id__gt=applied).order_by("id"))
    if not changes:
        return []
    newest = max(c.created_at for c in changes)
    oldest = min(c.created_at for c in changes)
    if now - newest < debounce and now - oldest < max_wait:
        return []
    return changes


def queue_name(*, customer_id: int, department_id: int, offer: bool = True) -> str:
    """mod_callcenter queue of a department: the renderer's naming, checked once more."""
    name = render.queue_name(customer_id, department_id, offer=offer)
    if not QUEUE_NAME_RE.match(name):  # pragma: no cover - the renderer only builds these
        raise ValueError(f"bad queue name {name!r}")
    return name


def _cmd_queue_reload(name: str) -> str:
    if not QUEUE_NAME_RE.match(name):  # stricter than the builder: only our naming
        raise ValueError(f"bad queue name {name!r}")
    return esl_commands.callcenter_queue_reload(name)


def push_commands_for(changes: list[ConfigChange]) -> list[str]:
    """The FreeSWITCH API commands (without `api `) that apply `changes`, deduplicated, in a
    stable order: cache flushes first, then queue reloads sorted by customer and department."""
    if not changes:
        return []
    commands = [esl_commands.xml_flush_cache("dialplan")]
    if any(c.what == "employee" for c in changes):
        commands.append(esl_commands.xml_flush_cache("directory"))
    customer_ids = {c.customer_id for c in changes if c.what in QUEUE_CHANGES and c.customer_id}
    if customer_ids:
        departments = (
            Department.objects.filter(
                customer_id__in=customer_ids, numbers__kind=PhoneNumber.Kind.MULTICHANNEL
            )
            .values_list("customer_id", "id")
            .distinct()
            .order_by("customer_id", "id")
        )
        with_callback = customers_with_option(customer_ids, Option.CALLBACK)
        for customer_id, department_id in departments:
            ids = {"customer_id": customer_id, "department_id": department_id}
            commands.append(_cmd_queue_reload(queue_name(**ids)))
            if customer_id in with_callback:  # its twin without the offer (anonymous callers)
                commands.append(_cmd_queue_reload(queue_name(**ids, offer=False)))
    return list(dict.fromkeys(commands))


def push_record_result(
    node: Node, *, up_to_change_id: int, ok: bool, error: str = "", now: dt.datetime
) -> bool:
    """Record the outcome of pushing changes up to `up_to_change_id` to `node`.

    Compare-and-swap: `applied_change_id` only moves forward, so a late result of an older push
    can neither move it back nor paint an error over a newer success. Returns True if the
    applied generation moved."""
    sync = _node_sync(node)
    newer = NodeSync.objects.filter(pk=sync.pk, applied_change_id__lt=up_to_change_id)
    if ok:
        moved = newer.update(
            applied_change_id=up_to_change_id, applied_at=now, last_attempt_at=now, last_error=""
        )
        return bool(moved)
    newer.update(last_attempt_at=now, last_error=(error or "error")[:ERROR_MAX_CHARS])
    log.warning("node %s: push up to change %s failed: %s", node.name, up_to_change_id, error)
    return False


def config_changes_prune(*, keep: int = 1000) -> int:
    """Delete old changes that every configured node has applied (the newest `keep` stay)."""
    lowest = min(
        NodeSync.objects.filter(node__is_configured=True).values_list(
            "applied_change_id", flat=True
        ),
        default=0,
    )
    cutoff = lowest - keep
    if cutoff <= 0:
        return 0
    deleted, _ = ConfigChange.objects.filter(id__lte=cutoff).delete()
    return deleted
