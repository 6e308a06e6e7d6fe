"""Every recording FreeSWITCH closes is measured for good (RECORD_STOP).

FreeSWITCH fires RECORD_STOP for a `record_session` file once the file is closed (at
`stop_record_session` or at hangup, before CHANNEL_HANGUP_COMPLETE), and removes a file with
nothing written first (`RECORD_BRIDGE_REQ` on a call never bridged): see
src/switch_ivr_async.c, record_callback, SWITCH_ABC_TYPE_CLOSE. The portal's
`recording_closed` measures it at its real size, registers a closed file nobody registered
and forgets a removed one.

As the CDR flow, this one only keeps what it needs in `on_event` and writes in `flush`
(call control never writes on its event dispatcher).
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
class RecordingsFlow(Flow):
    #: RECORD_STOPs kept per node while the database is unreachable
    max_pending: int = 10_000
    pending: dict[str, list[tuple[int | None, str]]] = field(default_factory=dict, repr=False)

    def on_event(self, ctx: NodeContext, event: Event) -> None:
        path = event.get("Record-File-Path") or ""
        if path:
            customer = _int(event.get("variable_pbx_customer"))
            self.pending.setdefault(ctx.node, []).append((customer, path))

    def flush(self, ctx: NodeContext) -> None:
        from portal.calls.recordings import recording_closed

        batch = self.pending.pop(ctx.node, None)
        while batch:
            customer, path = batch[0]
            try:
                recording_closed(customer_id=customer, path=path)
            except (OperationalError, InterfaceError):
                kept = (batch + self.pending.get(ctx.node, []))[-self.max_pending :]
                self.pending[ctx.node] = kept
                connection.close()
                raise
            except Exception:
                log.exception("recording %s: not measured", path)
            batch.pop(0)


flow = RecordingsFlow(name="recordings", events=frozenset({"RECORD_STOP"}))
