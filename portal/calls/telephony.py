"""Every finished call becomes one CDR row (idempotent on the channel UUID).

CDRs are written in batches: `on_event` keeps the few headers the CDR needs, and `flush` (the
service calls it whenever the node's event queue runs empty, at least every FLUSH_EVERY events,
and when the event stream ends) writes them all with a few statements. A delivery the database
refuses costs only itself; a batch that cannot be written because the database is unreachable
is kept (up to `max_pending` CDRs per node) and written at the next flush.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import InterfaceError, OperationalError, connection

from pbx.esl.protocol import Event
from pbx.flows import Flow, NodeContext

log = logging.getLogger(__name__)


@dataclass
class CdrFlow(Flow):
    #: write as soon as this many CDRs wait, even if the event queue is not empty yet
    batch_size: int = 500
    #: CDRs kept per node while the database is unreachable; beyond that the oldest are dropped
    max_pending: int = 100_000
    # node name -> deliveries not written yet (the flow object serves every node)
    pending: dict[str, list] = field(default_factory=dict, repr=False)

    def on_event(self, ctx: NodeContext, event: Event) -> None:
        from portal.calls.services import CDR_HEADERS, OUR_VARIABLES, CdrDelivery

        # only the ~25 headers a CDR reads are decoded (see cdr_event_fields)
        fields = event.subset(CDR_HEADERS, prefix=OUR_VARIABLES)
        fields.setdefault("FreeSWITCH-Node", ctx.node)
        pending = self.pending.setdefault(ctx.node, [])
        pending.append(CdrDelivery(fields))
        if len(pending) >= self.batch_size:
            self.flush(ctx)

    def flush(self, ctx: NodeContext) -> None:
        from portal.calls.services import SOURCE_EVENT, cdr_ingest_batch

        batch = self.pending.pop(ctx.node, None)
        if not batch:
            return
        try:
            result = cdr_ingest_batch(batch, source=SOURCE_EVENT)
        except (OperationalError, InterfaceError):
            # The database is down or the connection broke: keep the CDRs for the next flush
            # and let the service log it.
            self._keep(ctx.node, batch)
            connection.close()
            raise
        except Exception:
            raise  # a bug: keeping the batch would fail the same way forever
        except BaseException:
            # killed mid-write (shutdown, reconnect): keep the CDRs; if the batch did commit,
            # writing it again changes nothing (idempotent on Unique-ID)
            self._keep(ctx.node, batch)
            raise
        if result.failed:
            log.warning(
                "node %s: %d of %d CDRs not stored", ctx.node, len(result.failed), len(batch)
            )

    def _keep(self, node: str, batch: list) -> None:
        """Put a batch that was not written back in front of what arrived meanwhile."""
        kept = batch + self.pending.get(node, [])
        if len(kept) > self.max_pending:
            log.error(
                "node %s: %d CDRs dropped, the database has been unreachable too long",
                node,
                len(kept) - self.max_pending,
            )
            kept = kept[-self.max_pending :]
        self.pending[node] = kept


cdr_flow = CdrFlow(name="cdr", events=frozenset({"CHANNEL_HANGUP_COMPLETE"}))


# --- recordings ----------------------------------------------------------------------------
# Every recording FreeSWITCH closes is measured for good (RECORD_STOP).
#
# FreeSWITCH fires RECORD_STOP for a `record_session` file once the file is closed (at
# `stop_record_session` or at hangup, before CHANNEL_HANGUP_COMPLETE), and removes a file with
# nothing written first (`RECORD_BRIDGE_REQ` on a call never bridged): see
# src/switch_ivr_async.c, record_callback, SWITCH_ABC_TYPE_CLOSE. The portal's
# `recording_closed` measures it at its real size, registers a closed file nobody registered
# and forgets a removed one.
#
# As the CDR flow, this one only keeps what it needs in `on_event` and writes in `flush`
# (call control never writes on its event dispatcher).


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


recordings_flow = RecordingsFlow(name="recordings", events=frozenset({"RECORD_STOP"}))
flows = [cdr_flow, recordings_flow]
