"""Call forwarding in the rendered dialplan (pbx.dialplan hooks).

With the `call_forwarding` option on, the dial string that rings an employee (`employee_dial`)
becomes:

- "always" to another employee: `[pbx_forwarded=<id>]user/<ext>@<domain>` (that employee's
  phones; their own forwarding is not followed, so a call is forwarded once: no loop at call
  time, and loops among employees are refused when a rule is saved);
- "always" to an outside number: `loopback/<E.164>/customer_<id>`, i.e. the customer's own
  dialplan for that number, so the outbound call policy (destination classes, limits, paid
  calls blocked) and billing (an outgoing call of the customer) apply exactly as for a call
  dialled from the employee's phone. The leg carries the employee's `pbx_employee` (the
  per-phone limit) and the number the employee presents outside (`outbound_caller_id_number`);
  the caller-ID number is overwritten by the outbound extension (the trunk accepts only the
  customer's numbers), the original caller's caller-ID name (from outside: their number) is
  kept, so it shows where the trunk passes names;
- busy / no answer after N seconds / not registered: `loopback/pbx_fwd_<id>/customer_<id>`, an
  extension that rings the employee's phones (`call_timeout` N) and, when that fails with a
  cause a rule covers (portal.forwarding.rules.CAUSES), transfers to
  `pbx_fwd_<id>_<cause>`, which rings the rule's target. Being one leg of the simultaneous
  ring, this works for a hunt group as for a single phone.

With the option off or no rule, nothing is rendered (the golden files are unchanged).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pbx import render
from pbx.dialplan import Contribution, DialledCall, InboundCall
from pbx.xmlbuild import action, db_id, sub
from portal.forwarding import rules

CALL_FORWARDING = "call_forwarding"  # portal.billing.models.Option.CALL_FORWARDING
_FWD = re.compile(r"pbx_fwd_([1-9][0-9]{0,17})(?:_([A-Z][A-Z_]{0,39}))?\Z")


@dataclass(frozen=True)
class Target:
    when: str
    extension: str = ""  # another employee's
    number: str = ""  # an outside E.164
    ring_seconds: int = 20


@dataclass
class Loaded:
    """What the hooks need: each employee's rules and the number each presents outside."""

    rules: dict[int, dict[str, Target]] = field(default_factory=dict)
    presented: dict[int, str] = field(default_factory=dict)
    employees: dict[int, object] = field(default_factory=dict)


def forward_destination(employee_id: int, cause: str = "") -> str:
    base = f"pbx_fwd_{db_id(employee_id)}"
    return f"{base}_{cause}" if cause else base


def _leg_timeout(targets: dict[str, Target]) -> int:
    first = (
        targets[rules.NO_ANSWER].ring_seconds if rules.NO_ANSWER in targets else render.RING_SECONDS
    )
    return int(first) + render.RING_SECONDS + 5


def target_dial(call, employee_id: int, target: Target, loaded: Loaded) -> str | None:
    """The dial string of one forwarding target, or None when it cannot be dialled."""
    mark = f"pbx_forwarded={db_id(employee_id)}"
    if target.extension:
        extension = render.valid_extension(target.extension)
        return f"[{mark}]user/{extension}@{call.domain}" if extension else None
    number = render.e164(target.number, call.settings.region)
    presented = render.e164(loaded.presented.get(employee_id), call.settings.region)
    if number is None or presented is None:
        return None
    variables = f"{mark},pbx_employee={db_id(employee_id)},outbound_caller_id_number={presented}"
    return f"[{variables}]loopback/{number}/{render.customer_context(call.customer.pk)}"


class ForwardingDialplan(Contribution):
    name = "forwarding"
    option = CALL_FORWARDING

    def load_inbound(self, customer_id, number):
        from portal.forwarding.selectors import load_for_department

        return load_for_department(customer_id, number.department_id)

    def load_dialled(self, customer_id, destination):
        from portal.forwarding.selectors import load_for_employee, load_for_extension

        match = _FWD.match(destination or "")
        if match:
            return load_for_employee(customer_id, int(match.group(1)))
        if render.valid_extension(destination):
            return load_for_extension(customer_id, destination)
        return None

    def _loaded(self, call) -> Loaded | None:
        if CALL_FORWARDING not in call.options:
            return None
        loaded = call.data.get(self.name)
        return loaded if isinstance(loaded, Loaded) else None

    def employee_dial(self, call: InboundCall | DialledCall, employee) -> str | None:
        loaded = self._loaded(call)
        if loaded is None:
            return None
        targets = loaded.rules.get(employee.pk)
        if not targets:
            return None
        if rules.ALWAYS in targets:
            return target_dial(call, employee.pk, targets[rules.ALWAYS], loaded)
        variables = (
            f"leg_timeout={_leg_timeout(targets)},pbx_forwarded={db_id(employee.pk)},"
            f"pbx_employee={db_id(employee.pk)}"
        )
        context = render.customer_context(call.customer.pk)
        return f"[{variables}]loopback/{forward_destination(employee.pk)}/{context}"

    def dialled(self, call: DialledCall) -> bool:
        match = _FWD.match(call.destination or "")
        loaded = self._loaded(call)
        if match is None or loaded is None:
            return False
        employee_id, cause = int(match.group(1)), match.group(2) or ""
        employee = loaded.employees.get(employee_id)
        targets = loaded.rules.get(employee_id) or {}
        extension = sub(call.context, "extension", name=f"fwd_e{db_id(employee_id)}")
        sub(
            extension,
            "condition",
            field="destination_number",
            expression="^" + re.escape(call.destination) + "$",
        )
        # Only a leg our own dial string made is served: it carries the employee's id (a
        # phone dialling this name carries its own, and is refused unless it is that phone).
        condition = sub(
            extension,
            "condition",
            field="${pbx_employee}",
            expression=f"^{db_id(employee_id)}$",
        )
        action(condition, "hangup", "CALL_REJECTED", anti=True)
        action(condition, "set", f"pbx_customer={db_id(call.customer.pk)}")
        action(condition, "set", "pbx_direction=internal")  # the legs inside are not billed
        action(condition, "set", "hangup_after_bridge=true")
        ext = render.valid_extension(getattr(employee, "extension", ""))
        conditional = {w: t for w, t in targets.items() if w in rules.CONDITIONAL}
        if not cause:
            if ext is None or not conditional:
                action(condition, "hangup", "UNALLOCATED_NUMBER")
                return True
            failing = sorted(set().union(*(rules.CAUSES[w] for w in conditional)))
            first = conditional.get(rules.NO_ANSWER)
            seconds = first.ring_seconds if first else render.RING_SECONDS
            action(condition, "set", f"continue_on_fail={','.join(failing)}")
            action(condition, "set", f"call_timeout={int(seconds)}")
            action(condition, "bridge", f"user/{ext}@{call.domain}")
            destination = forward_destination(employee_id) + "_${originate_disposition}"
            action(
                condition,
                "transfer",
                f"{destination} XML {render.customer_context(call.customer.pk)}",
            )
            return True
        when = rules.condition_of(cause)
        target = conditional.get(when) if when else None
        dial = target_dial(call, employee_id, target, loaded) if target else None
        if dial is None:
            action(condition, "hangup", cause)
            return True
        action(condition, "set", f"call_timeout={render.RING_SECONDS}")
        action(condition, "bridge", dial)
        action(condition, "hangup", cause)
        return True


dialplan = ForwardingDialplan()
