"""Features contribute to the rendered dialplan here.

A feature's dialplan lives in its folder, `portal/<feature>/dialplan.py`, which defines
`dialplan = SomeContribution(...)` (a subclass of `Contribution`). `discover` finds it through
Django's app registry (as `pbx.flows.discover` finds telephony): `pbx.render` calls every
contribution at fixed points of the two dialplans and never names a feature.

The points, in the order a call meets them:

- `load_inbound(customer_id, number)` / `load_dialled(customer_id, destination)`: the
  database reads the contribution needs for one answer (run by the portal's loader before
  rendering; keep it to a fixed number of queries). What it returns reaches the hooks as
  `call.data[<name>]`. The answer is cached per destination (pbx/xmlcache.py) and dropped
  whenever the customer's configuration changes, so what is read here must change only through
  `portal.events.config_changed` for that customer.
- `inbound_screen(call)`: an incoming call to one of the customer's numbers, before it is
  routed. May add extensions to `call.context` *before* the number's own extension (FreeSWITCH
  hunts extensions in order: one whose conditions match the caller takes the call), e.g. a
  blacklist matching `caller_id_number`.
- `inbound_start(call)`: a call to a regular or multichannel number is about to be routed:
  every contribution may add channel variables to `call.condition` (the caller's hold music);
  it does not route.
- `inbound_route(call)`: may route the call itself (a voice menu, a conference room) by adding
  actions to `call.condition`; returns True when it did, and the number's kind is not routed.
- `after_bridge(call)`: the employees' phones (`call.employees`) were rung and nobody took the
  call (busy, no answer, unreachable): may add actions to `call.condition` before the final
  hang-up (voicemail). Called for incoming calls to a regular number and for internal calls.
- `employee_dial(call, employee)`: the dial string that rings one employee, or None for the
  default `user/<ext>@<domain>` (call forwarding).
- `dialled(call)`: a customer's phone dialled something that is not one of its extensions:
  may render an extension for it (a conference room, the voicemail access code) into
  `call.context` and return True.
- `queue_entry(entry)`: a caller enters a department's callcenter queue (a multichannel
  number, a menu key; `pbx.render.enter_queue`): may render the entry itself (the callback
  offer: a condition on the caller's number, exit keys, a transfer to `queue_exit` when the
  caller leaves the queue) and return True; else the plain `callcenter <queue>` is rendered.
- `queue_exit(call)`: the caller left a queue with a key (`queue_exit` in the customer's
  context; `call.extension` holds the destination's condition): may add conditions and return
  True; else the call ends.
- `load_queues(department_ids)` and `queue_params(queue, params)`: the parameters of a
  callcenter queue, as a dict the contribution may change (the hold music of a department);
  what `load_queues` returned (one read for all queues) is `queue.data[<name>]`.

Every string a contribution puts into XML goes through `pbx.xmlbuild` (escaped by the
serialiser) and must be validated (numbers, extensions, paths) as `pbx.render` does.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from xml.etree import ElementTree as ET

log = logging.getLogger(__name__)


@dataclass
class InboundCall:
    """An incoming call from the trunk to one of a customer's numbers, being rendered."""

    customer: Any  # Customer
    number: Any  # PhoneNumber
    options: frozenset[str]
    settings: Any  # pbx.render.RenderSettings
    context: ET.Element
    domain: str
    destination: str
    employees: list = field(default_factory=list)
    data: Mapping[str, Any] = field(default_factory=dict)
    extension: ET.Element | None = None  # the number's own extension, once created
    condition: ET.Element | None = None  # its condition, where routing actions go
    features: tuple = ()  # every contribution, for platform helpers that call hooks again


@dataclass
class DialledCall:
    """A destination dialled by one of the customer's phones, being rendered."""

    customer: Any  # Customer
    destination: str
    options: frozenset[str]
    settings: Any  # pbx.render.RenderSettings
    context: ET.Element
    domain: str
    data: Mapping[str, Any] = field(default_factory=dict)
    target: Any = None  # the active Employee whose extension was dialled, if any
    employees: list = field(default_factory=list)  # [target] while its phones are rung
    condition: ET.Element | None = None  # the condition of the extension being built
    extension: ET.Element | None = None  # the extension being built (queue_exit)
    features: tuple = ()  # every contribution, for platform helpers that call hooks again


@dataclass
class QueueEntry:
    """A caller about to enter the callcenter queue of a department."""

    customer: Any  # Customer
    department_id: int
    options: frozenset[str]
    settings: Any  # pbx.render.RenderSettings
    extension: ET.Element
    condition: ET.Element


class Contribution:
    """A feature's part of the dialplan; every hook does nothing by default."""

    name: str = ""
    #: the option code the feature is sold as: its rows are not even read (load_inbound,
    #: load_dialled) for a customer who has it off, so a lookup costs nothing for it
    option: str = ""

    def load_inbound(self, customer_id: int, number: Any) -> Any:
        return None

    def load_dialled(self, customer_id: int, destination: str) -> Any:
        return None

    def inbound_screen(self, call: InboundCall) -> None:
        pass

    def inbound_start(self, call: InboundCall) -> None:
        pass

    def inbound_route(self, call: InboundCall) -> bool:
        return False

    def after_bridge(self, call: InboundCall | DialledCall) -> None:
        pass

    def employee_dial(self, call: InboundCall | DialledCall, employee: Any) -> str | None:
        return None

    def dialled(self, call: DialledCall) -> bool:
        return False

    def queue_entry(self, entry: QueueEntry) -> bool:
        return False

    def queue_exit(self, call: DialledCall) -> bool:
        return False

    def load_queues(self, department_ids: list[int]) -> Any:
        return None

    def queue_params(self, queue: Any, params: dict[str, str]) -> None:
        pass


@cache
def contributions() -> tuple[Contribution, ...]:
    """Every installed app's `dialplan` contribution, in the order of their names."""
    from django.apps import apps

    found: list[Contribution] = []
    for app in apps.get_app_configs():
        name = f"{app.name}.dialplan"
        if name == __name__ or importlib.util.find_spec(name) is None:
            continue
        contribution = getattr(importlib.import_module(name), "dialplan", None)
        if isinstance(contribution, Contribution):
            found.append(contribution)
        else:
            log.warning("%s defines no `dialplan` contribution; ignored", name)
    names = [c.name for c in found]
    duplicates = sorted({n for n in names if not n or names.count(n) > 1})
    if duplicates:
        raise RuntimeError(f"dialplan contributions without a unique name: {duplicates}")
    return tuple(sorted(found, key=lambda c: c.name))


def _wanted(
    options: frozenset[str] | None, features: tuple[Contribution, ...] | None
) -> list[Contribution]:
    found = contributions() if features is None else features
    return [c for c in found if options is None or not c.option or c.option in options]


def load_inbound(
    customer_id: int,
    number: Any,
    options: frozenset[str] | None = None,
    features: tuple[Contribution, ...] | None = None,
) -> dict[str, Any]:
    """What each contribution (`features`, default: every installed one) reads for an incoming
    call; with `options` (the customer's enabled ones) a contribution whose option is off reads
    nothing."""
    return {c.name: c.load_inbound(customer_id, number) for c in _wanted(options, features)}


def load_dialled(
    customer_id: int,
    destination: str,
    options: frozenset[str] | None = None,
    features: tuple[Contribution, ...] | None = None,
) -> dict[str, Any]:
    return {c.name: c.load_dialled(customer_id, destination) for c in _wanted(options, features)}


def load_queues(department_ids: list[int]) -> dict[str, Any]:
    return {c.name: c.load_queues(department_ids) for c in contributions()}
