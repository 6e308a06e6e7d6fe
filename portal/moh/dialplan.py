"""Hold music in the rendered XML (pbx.dialplan points `load_inbound`/`inbound_start` and
`load_queues`/`queue_params`).

- A callcenter queue plays its department's music (else the customer's) as `moh-sound`.
- An incoming call to a regular or multichannel number gets `set hold_music=<file>` before it
  is routed (also when a voice menu or a conference room takes it): when an employee puts the
  caller on hold, FreeSWITCH plays the held channel's own `hold_music` (before the holder's).

Nothing is rendered while the option is off or no music was uploaded: the stock music
(`$${pbx_hold_music}`) plays and the XML is byte-identical to the one without this feature.
Paths come from `portal.moh.selectors`, which refuses any that is not absolute, under the
prompts root and made of `[A-Za-z0-9_./-]`; they are checked again here before the XML.
"""

from __future__ import annotations

from typing import Any

from pbx.dialplan import Contribution, InboundCall
from pbx.xmlbuild import action
from portal.moh.selectors import inbound_hold_music, queue_hold_music
from portal.prompts.selectors import SAFE_PATH_RE

MOH = "moh"  # portal.billing.models.Option.MOH


def _safe(path: object) -> str | None:
    text = path if isinstance(path, str) else ""
    return text if SAFE_PATH_RE.match(text) and "/../" not in f"{text}/" else None


class HoldMusicDialplan(Contribution):
    name = "moh"
    option = MOH

    def load_inbound(self, customer_id: int, number: Any) -> str | None:
        return inbound_hold_music(customer_id, getattr(number, "department_id", None))

    def inbound_start(self, call: InboundCall) -> None:
        path = _safe(call.data.get(self.name))
        if MOH in call.options and path and call.condition is not None:
            action(call.condition, "set", f"hold_music={path}")

    def load_queues(self, department_ids: list[int]) -> dict[int, str]:
        return queue_hold_music(department_ids)

    def queue_params(self, queue: Any, params: dict[str, str]) -> None:
        path = _safe(queue.data.get(self.name))
        if path:
            params["moh-sound"] = path


dialplan = HoldMusicDialplan()
