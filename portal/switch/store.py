"""The call-control service's reads and writes, in one place (Django ORM, short transactions).

`pbx.service` reaches this module through the `PBX_STORE` setting (pbx never imports portal).

The service's greenlets call these; each call is self-contained so a greenlet can be killed
between two of them without leaving half a write behind.
"""

from __future__ import annotations

import uuid as uuidlib

from django.db import transaction
from django.utils import timezone

from pbx.esl.protocol import Event
from portal.switch import services as switch
from portal.switch.models import ActiveCall, Node


def _node(name: str) -> Node:
    node = Node.objects.filter(name=name).first()
    if node is None:
        switch.nodes_sync_from_settings()
        node = Node.objects.get(name=name)
    return node


def node_state(name: str, state: str, *, error: str = "") -> None:
    switch.node_esl_state_set(node=_node(name), state=state, now=timezone.now(), error=error)


def node_event_seen(name: str) -> None:
    switch.node_event_seen(node=_node(name), now=timezone.now())


def changes_due(name: str) -> tuple[int, list[str]] | None:
    """(newest change id, API commands) for the node's pending changes, or None."""
    changes = switch.changes_due(_node(name), now=timezone.now())
    if not changes:
        return None
    return changes[-1].id, switch.push_commands_for(changes)


def push_result(name: str, *, up_to: int, ok: bool, error: str = "") -> None:
    switch.push_record_result(
        _node(name), up_to_change_id=up_to, ok=ok, error=error, now=timezone.now()
    )


# --- channels we follow ----------------------------------------------------------------------

TRACK_START = {"CHANNEL_CREATE", "CHANNEL_ANSWER"}


def track_call(node: str, event: Event) -> None:
    """Follow channels that carry our `pbx_flow` tag from creation to hangup."""
    if event.name not in TRACK_START and event.name != "CHANNEL_HANGUP_COMPLETE":
        return
    variables = event.variables
    flow = variables.get("pbx_flow")
    if not flow or not event.uuid:
        return
    try:
        channel = uuidlib.UUID(event.uuid)
    except ValueError:
        return
    if event.name == "CHANNEL_HANGUP_COMPLETE":
        ActiveCall.objects.filter(uuid=channel).delete()
        return
    tags = {k: v for k, v in variables.items() if k.startswith("pbx_")}
    ActiveCall.objects.update_or_create(
        uuid=channel, defaults={"node": node, "flow": flow, "variables": tags}
    )


def active_calls(node: str) -> list[ActiveCall]:
    return list(ActiveCall.objects.filter(node=node).order_by("created_at"))


def forget_call(channel: uuidlib.UUID) -> bool:
    """Delete the row; True only for the caller that actually deleted it (exactly once)."""
    with transaction.atomic():
        deleted, _ = ActiveCall.objects.filter(uuid=channel).delete()
    return deleted == 1


def nodes_sync() -> None:
    """The nodes of `FREESWITCH_NODES` as rows (call control does this once at start)."""
    switch.nodes_sync_from_settings()
