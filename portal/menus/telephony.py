"""Voice menus over call control's outbound socket (`pbx_flow=menu`).

The public dialplan sends a call to a number that starts with a menu here
(`portal/menus/dialplan.py`). The flow reads the customer's menus once (`selectors.plan_for`),
answers, and lets the pure machine (`portal.menus.rules`) decide at every key; its decisions
become `pbx.ivr` steps the runner performs:

- a question: one `play_and_get_digits` (no terminator: `*` and `#` are keys too);
- a department: `transfer menu_dept_<id> XML customer_<c>` (the queue, with the callback
  offer, is the dialplan's: `portal/menus/dialplan.py`);
- an employee, or an extension typed directly: `transfer <extension> XML customer_<c>` (the
  employee's own extension: forwarding, recording, voicemail as for an internal call);
- an outside number: `transfer <E.164> XML customer_<c>` presenting the called number, so the
  customer's outbound call policy (classes, limits, spend cap) decides as for any phone;
- a voicemail box: `transfer menu_vm_<id> XML customer_<c>`;
- hang up (after the goodbye or the closed-hours message).

The option is checked again at the call: switched off, the call is refused (the cached XML
stops sending calls here at the next lookup anyway).
"""

from __future__ import annotations

import logging

from django.utils import timezone

from pbx.flows import Flow
from pbx.ivr import Collect, Hangup, Runner, Transfer
from pbx.render import customer_context, e164
from portal.menus import rules
from portal.menus.dialplan import DEPT_PREFIX, FLOW_MENU, IVR, VOICEMAIL_PREFIX

log = logging.getLogger(__name__)

DIGIT_TIMEOUT_MS = 2000
DEFAULT_PROMPT = {
    "greeting": rules.P_DEFAULT_GREETING,
    "invalid": rules.P_INVALID,
    "timeout": rules.P_NO_INPUT,
}


def _int(value) -> int:
    try:
        return int(value or "")
    except (TypeError, ValueError):
        return 0


class Steps:
    """Turns the machine's actions into `pbx.ivr` steps for one call."""

    def __init__(self, customer, plan: rules.Plan, number_e164: str) -> None:
        self.customer = customer
        self.plan = plan
        self.number_e164 = number_e164
        self.context = customer_context(customer.pk)

    def paths(self, prompts) -> tuple[str, ...]:
        from portal.menus.selectors import menu_prompt_path
        from portal.prompts.selectors import prompt_path

        out = []
        for say in prompts:
            path = None
            if say.menu_id is not None:
                path = menu_prompt_path(say.menu_id, say.kind, self.customer.language)
                key = DEFAULT_PROMPT.get(say.kind, rules.P_DEFAULT_GREETING)
            else:
                key = say.key
            out.append(path or prompt_path(customer=self.customer, key=key))
        return tuple(out)

    def step(self, act: rules.Action):
        if isinstance(act, rules.Ask):
            return Collect(
                paths=self.paths(act.prompts),
                max_digits=act.max_digits,
                timeout_ms=act.timeout_ms,
                digit_timeout_ms=DIGIT_TIMEOUT_MS,
            )
        if isinstance(act, rules.End):
            return Hangup(paths=self.paths(act.prompts), cause=act.cause)
        kind, value = act.kind, act.value
        if kind == "dept":
            return Transfer(f"{DEPT_PREFIX}{int(value)}", self.context)
        if kind == "voicemail":
            return Transfer(f"{VOICEMAIL_PREFIX}{int(value)}", self.context)
        if kind == "emp":
            return Transfer(self.plan.employees[int(value)], self.context)
        if kind == "ext":
            return Transfer(value, self.context)
        if kind == "number" and e164(value) == value and e164(self.number_e164):
            # Presented as the number the caller dialled; the context's outbound extension
            # classes the destination and applies the customer's policy and limits.
            return Transfer(
                value, self.context, {"outbound_caller_id_number": e164(self.number_e164)}
            )
        log.warning("menu: cannot route to %s %s", kind, value)
        return Hangup(
            paths=self.paths([rules.Say(key=rules.P_UNAVAILABLE)]),
            cause="NORMAL_TEMPORARY_FAILURE",
        )


class MenuFlow(Flow):
    def handle_session(self, call) -> None:
        from portal.billing.selectors import option_enabled
        from portal.menus.models import NumberRoute
        from portal.menus.selectors import plan_for
        from portal.tenants.models import Customer

        variables = call.variables
        customer = Customer.objects.filter(pk=_int(variables.get("pbx_customer"))).first()
        route = None
        if customer is not None:
            route = NumberRoute.objects.filter(
                pk=_int(variables.get("pbx_menu_route")),
                customer=customer,
                number_id=_int(variables.get("pbx_number")),
            ).first()
        if route is None or customer.status != "active" or not option_enabled(customer.pk, IVR):
            log.info("menu %s refused: no route, customer inactive or option off", call.uuid)
            call.unavailable()
            return
        plan = plan_for(customer)
        steps = Steps(customer, plan, variables.get("pbx_number_e164", ""))
        call.execute("answer", timeout=10)
        state, act = rules.start(
            plan,
            route.target,
            now=timezone.now(),
            schedule_id=route.schedule_id,
            closed_target=route.closed_target,
        )
        current = [state]

        def advance(digits):
            state, act = rules.on_input(plan, current[0], digits, now=timezone.now())
            current[0] = state
            log.debug("menu %s: %r -> %s", call.uuid, digits, act)
            return steps.step(act)

        last = Runner(call).run(steps.step(act), advance)
        log.info("menu %s: ended with %s", call.uuid, type(last).__name__)


flow = MenuFlow(name="menus", session_names=frozenset({FLOW_MENU}))
