"""Voicemail's call-control flow: a message is filed when FreeSWITCH closes its file.

The dialplan (portal/voicemail/dialplan.py) records with `record` into
`<recordings>/c<customer>/vm/b<box>/<uuid>.wav`; FreeSWITCH fires RECORD_STOP once the file is
closed (when the caller hangs up, at silence or at the box's limit). This flow keeps the few
headers it needs in `on_event` and files the messages in `flush` (never writing on the event
dispatcher), as the recordings flow does; a batch the database refused is kept for the next
flush.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import InterfaceError, OperationalError, connection

from pbx.esl.protocol import Event
from pbx.flows import Flow, NodeContext

log = logging.getLogger(__name__)


def _int(value: str | None) -> int | None:
    try:
        return int(value or "")
    except ValueError:
        return None


@dataclass
class VoicemailFlow(Flow):
    max_pending: int = 10_000
    pending: dict[str, list[dict]] = field(default_factory=dict, repr=False)

    def on_event(self, ctx: NodeContext, event: Event) -> None:
        path = event.get("Record-File-Path") or ""
        if "/vm/b" not in path or not event.get("variable_pbx_vm_box"):
            return
        self.pending.setdefault(ctx.node, []).append(
            {
                "path": path,
                "caller_number": event.get("Caller-Caller-ID-Number") or "",
                "caller_name": event.get("Caller-Caller-ID-Name") or "",
                "customer_tag": _int(event.get("variable_pbx_customer")),
            }
        )

    def flush(self, ctx: NodeContext) -> None:
        from portal.voicemail.services import message_recorded

        batch = self.pending.pop(ctx.node, None)
        while batch:
            try:
                message_recorded(**batch[0])
            except (OperationalError, InterfaceError):
                kept = (batch + self.pending.get(ctx.node, []))[-self.max_pending :]
                self.pending[ctx.node] = kept
                connection.close()
                raise
            except Exception:
                log.exception("voicemail %s: not filed", batch[0]["path"])
            batch.pop(0)


flow = VoicemailFlow(name="voicemail", events=frozenset({"RECORD_STOP"}))
