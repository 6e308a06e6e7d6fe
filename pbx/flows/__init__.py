"""Call flows plug into the call-control service here.

A feature's flow lives in the feature's folder, `portal/<feature>/telephony.py`, which defines
`flow = SomeFlow(...)` (a subclass of `Flow`; `flows = [...]` for several). `discover` finds it
through Django's app registry at start-up: adding a flow touches only its feature.

The service calls a flow from gevent greenlets of the call-control process:
- `on_event(ctx, event)` for every event whose name is in `events` (CUSTOM events by subclass);
- `on_connected(ctx)` after each (re)connect to a node, once the subscription is in place;
- `on_lost_hangup(ctx, call)` for a channel of this flow that ended while ESL was down;
- `handle_session(session)` for outbound-socket calls whose `pbx_flow` variable names it;
- `tick(ctx)` every `tick_interval` seconds while the node is connected (0: never) — for
  timed work claimed from the database by compare-and-swap;
- `flush(ctx)` at most `FLUSH_DELAY` seconds after an event was handled (sooner once
  `FLUSH_EVERY` events wait) and once more when the event stream ends (disconnect,
  shutdown): a flow that batches its writes (the CDR flow) writes what it holds here, so
  nothing waits for long and nothing is left behind.
Flows keep state in the database and decide with pure functions; they never sleep on timers.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import pkgutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pbx.esl.protocol import Event

log = logging.getLogger(__name__)


@dataclass
class NodeContext:
    """What a flow may do with one FreeSWITCH node: run API commands on it."""

    node: str
    api: Any  # callable(command: str) -> str
    bgapi: Any  # callable(command: str, job_uuid: str) -> str
    # callable(line: str) -> str: a plain ESL command (`sendevent ...`), its Reply-Text
    command: Any = None


@dataclass
class Flow:
    name: str = ""
    events: frozenset[str] = field(default_factory=frozenset)
    # Outbound-socket sessions with `pbx_flow=<one of these>` are handed to handle_session.
    session_names: frozenset[str] = field(default_factory=frozenset)
    tick_interval: float = 0.0

    def on_event(self, ctx: NodeContext, event: Event) -> None:
        pass

    def on_connected(self, ctx: NodeContext) -> None:
        pass

    def on_lost_hangup(self, ctx: NodeContext, call: Any) -> None:
        """`call`: the store's row of the channel (`uuid`, `node`, `flow`, `variables`)."""
        pass

    def handle_session(self, session: Any) -> None:
        raise NotImplementedError

    def tick(self, ctx: NodeContext) -> None:
        pass

    def flush(self, ctx: NodeContext) -> None:
        pass


#: the dispatcher flushes the flows once this many events were handled since the last flush,
FLUSH_EVERY = 500
#: or once the queue is empty and the oldest of them was handled this many seconds ago
FLUSH_DELAY = 0.02


def discover() -> list[Flow]:
    """Every flow: the `flow` (or `flows`) of each installed app's `telephony` module, and of
    the modules still in this package; in the order of their names (the CDR flow flushes
    before the flows after it).

    A feature brings its telephony in its own folder (`portal/<feature>/telephony.py`); the
    platform finds it through Django's app registry and never imports the feature by name.
    """
    from django.apps import apps

    modules = [f"{__name__}.{info.name}" for info in pkgutil.iter_modules(__path__)]
    for app in apps.get_app_configs():
        if importlib.util.find_spec(f"{app.name}.telephony") is not None:
            modules.append(f"{app.name}.telephony")
    flows: list[Flow] = []
    for name in modules:
        module = importlib.import_module(name)
        found = getattr(module, "flows", None) or [getattr(module, "flow", None)]
        found = [flow for flow in found if isinstance(flow, Flow)]
        if not found:
            log.warning("%s defines no `flow`; ignored", name)
        flows.extend(found)
    names = [flow.name for flow in flows]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise RuntimeError(f"two flows are named {', '.join(duplicates)}")
    return sorted(flows, key=lambda flow: flow.name)


def subscription(flows: list[Flow]) -> list[str]:
    """Event names for `event plain ...`: plain names, then CUSTOM and its subclasses."""
    names = {
        "BACKGROUND_JOB",
        "CHANNEL_CREATE",
        "CHANNEL_ANSWER",
        "CHANNEL_HANGUP_COMPLETE",
        "HEARTBEAT",
    }
    subclasses: set[str] = set()
    for flow in flows:
        for name in flow.events:
            (subclasses if "::" in name else names).add(name)
    ordered = sorted(names)
    if subclasses:
        ordered += ["CUSTOM", *sorted(subclasses)]
    return ordered
