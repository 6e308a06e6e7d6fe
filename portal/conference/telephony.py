"""Conference rooms in call control: live members from FreeSWITCH's events, and the portal's
mute/unmute/kick requests sent to the node the member is on.

- `CUSTOM conference::maintenance` events become rows (`portal.conference.rules` reads them,
  `services.conference_changed` writes them); a `stop-recording` counts the closed recording.
- After each (re)connect, `conference json_list` says who is in our rooms on that node now:
  events missed while ESL was down cannot leave a ghost member behind.
- Each tick claims the node's unsent `MemberCommand` rows by compare-and-swap and sends
  `conference <c12_r5> mute|unmute|kick <member>` through the validated builder.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from pbx.esl import commands
from pbx.esl.protocol import Event
from pbx.flows import Flow, NodeContext
from portal.conference import rules, services

log = logging.getLogger(__name__)

EVENT = "conference::maintenance"


@dataclass
class ConferenceFlow(Flow):
    name: str = "conference"
    events: frozenset[str] = field(default_factory=lambda: frozenset({EVENT}))
    tick_interval: float = 0.5

    def on_event(self, ctx: NodeContext, event: Event) -> None:
        if event.subclass != EVENT:
            return
        change = rules.change_of(event.headers)
        if change is not None:
            services.conference_changed(node=ctx.node, change=change)

    def on_connected(self, ctx: NodeContext) -> None:
        reply = ctx.api(commands.conference_json_list())
        try:
            data = json.loads(reply)
        except (TypeError, ValueError):
            data = []  # "-ERR No active conferences." or no mod_conference: nobody is in a room
        services.node_members_replace(node=ctx.node, rooms=rules.members_of_json_list(data))

    def tick(self, ctx: NodeContext) -> None:
        for command in services.member_commands_claim(node=ctx.node):
            try:
                text = commands.conference_member(
                    command.room.conference_name, command.action, command.member_id
                )
            except commands.CommandError as exc:
                services.member_command_result(command=command, reply=f"refused: {exc}")
                continue
            services.member_command_result(command=command, reply=ctx.api(text))


flow = ConferenceFlow()
