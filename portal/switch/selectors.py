"""Switch reads: what the status page and `check_switch` show about each node."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Min
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from portal.switch.models import ConfigChange, Node


class SyncState:
    APPLIED = "applied"  # every change applied
    PENDING = "pending"  # changes waiting (debounce, or the node is not connected)
    ERROR = "error"  # the last push failed
    NEVER = "never"  # nothing ever pushed and nothing pending


@dataclass(frozen=True)
class NodeStatusRow:
    name: str
    host: str
    port: int
    is_configured: bool
    esl_state: str  # Node.EslState value, or "never" when the service never reported
    esl_state_label: str
    esl_state_since: dt.datetime | None
    last_event_at: dt.datetime | None
    esl_error: str
    sync_state: str  # SyncState value
    sync_text: str
    applied_change_id: int
    applied_at: dt.datetime | None
    pending_count: int
    pending_since: dt.datetime | None
    last_attempt_at: dt.datetime | None
    sync_error: str


def _fmt(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")


def node_status_rows(*, configured_only: bool = False) -> list[NodeStatusRow]:
    """One row per node: ESL state and since when, last event, and the config sync state.

    One query for the nodes plus one per distinct applied generation (usually one)."""
    nodes = list(Node.objects.select_related("sync").order_by("name"))
    if configured_only:
        nodes = [n for n in nodes if n.is_configured]
    pending_by_applied: dict[int, tuple[int, dt.datetime | None]] = {}
    # One aggregate per distinct applied generation; nodes in sync share one.
    for applied in sorted({_applied(n) for n in nodes}):
        agg = ConfigChange.objects.filter(id__gt=applied).aggregate(
            n=Count("id"), since=Min("created_at")
        )
        pending_by_applied[applied] = (agg["n"], agg["since"])
    rows = []
    for node in nodes:
        sync = getattr(node, "sync", None)
        pending, since = pending_by_applied[_applied(node)]
        sync_error = sync.last_error if sync else ""
        if sync_error:
            state, text = SyncState.ERROR, sync_error
        elif pending:
            state = SyncState.PENDING
            text = ngettext(
                "ожидает применения (%(n)s изменение с %(since)s)",
                "ожидает применения (%(n)s изменений с %(since)s)",
                pending,
            ) % {"n": pending, "since": _fmt(since)}
        elif sync and sync.applied_at:
            state = SyncState.APPLIED
            text = _("применено %(at)s") % {"at": _fmt(sync.applied_at)}
        else:
            state, text = SyncState.NEVER, _("изменений не было")
        never_reported = node.esl_state_changed_at is None
        rows.append(
            NodeStatusRow(
                name=node.name,
                host=node.host,
                port=node.port,
                is_configured=node.is_configured,
                esl_state="never" if never_reported else node.esl_state,
                esl_state_label=(
                    _("ещё не подключался") if never_reported else node.get_esl_state_display()
                ),
                esl_state_since=node.esl_state_changed_at,
                last_event_at=node.last_event_at,
                esl_error=node.last_error,
                sync_state=state,
                sync_text=text,
                applied_change_id=_applied(node),
                applied_at=sync.applied_at if sync else None,
                pending_count=pending,
                pending_since=since,
                last_attempt_at=sync.last_attempt_at if sync else None,
                sync_error=sync_error,
            )
        )
    known = {n.name for n in nodes}
    for name, addr in sorted(settings.FREESWITCH_NODES.items()):
        if name not in known:  # configured, but the call-control service never wrote it
            rows.append(_unreported_row(name, addr))
    rows.sort(key=lambda r: r.name)
    return rows


def _unreported_row(name: str, addr: dict) -> NodeStatusRow:
    return NodeStatusRow(
        name=name,
        host=str(addr.get("host", "")),
        port=int(addr.get("port", 0)),
        is_configured=True,
        esl_state="never",
        esl_state_label=_("ещё не подключался"),
        esl_state_since=None,
        last_event_at=None,
        esl_error="",
        sync_state=SyncState.NEVER,
        sync_text=_("изменений не было"),
        applied_change_id=0,
        applied_at=None,
        pending_count=0,
        pending_since=None,
        last_attempt_at=None,
        sync_error="",
    )


def _applied(node: Node) -> int:
    sync = getattr(node, "sync", None)
    return sync.applied_change_id if sync else 0
