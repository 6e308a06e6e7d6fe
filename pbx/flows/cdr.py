"""Every finished call becomes one CDR row (idempotent on the channel UUID)."""

from __future__ import annotations

from pbx.esl.protocol import Event
from pbx.flows import Flow, NodeContext


class CdrFlow(Flow):
    def on_event(self, ctx: NodeContext, event: Event) -> None:
        from portal.calls.services import cdr_ingest

        fields = dict(event.headers)
        fields.setdefault("FreeSWITCH-Node", ctx.node)
        cdr_ingest(fields, source="event")


flow = CdrFlow(name="cdr", events=frozenset({"CHANNEL_HANGUP_COMPLETE"}))
