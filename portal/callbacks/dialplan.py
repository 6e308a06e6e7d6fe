"""The queue callback's part of the dialplan (seed 001): the offer in the queue and the way
back to call control when the caller pressed the key.

- `queue_entry`: with the `callback` option on, only a caller we can call back hears the offer:
  a second condition on the caller's number picks the queue with the offer (its periodic
  announcement, callcenter.conf) and `cc_exit_keys`, or its twin without it. When the caller
  leaves the queue with the key, the call is transferred to `queue_exit` in the customer's
  context: a fresh lookup, so the decision is made on `${cc_exit_key}` with today's options.
- `queue_exit`: the key pressed hands the call to the outbound socket, `pbx_flow=callback_request`
  (portal/callbacks/telephony.py records the request and confirms it); anything else ends it.
"""

from __future__ import annotations

from pbx import render
from pbx.dialplan import Contribution, DialledCall, QueueEntry
from pbx.xmlbuild import action, sub

OPTION = render.CALLBACK  # portal.billing.models.Option.CALLBACK
EXIT_KEY = "1"
#: the outbound-socket session of a caller who pressed the key (portal/callbacks/telephony.py)
REQUEST_FLOW = "callback_request"


def _set(condition, name: str, value: str) -> None:
    action(condition, "set", f"{name}={value}")


class CallbackDialplan(Contribution):
    name = "callbacks"
    option = OPTION

    def queue_entry(self, entry: QueueEntry) -> bool:
        if OPTION not in entry.options:
            return False
        customer_id = entry.customer.pk
        callable_ = sub(
            entry.extension,
            "condition",
            field="caller_id_number",
            expression=render.CALLABLE_NUMBER,
        )
        _set(callable_, "cc_exit_keys", EXIT_KEY)
        _set(callable_, "pbx_callback_offer", "true")
        action(callable_, "callcenter", render.queue_name(customer_id, entry.department_id))
        context = render.customer_context(customer_id)
        action(callable_, "transfer", f"{render.QUEUE_EXIT} XML {context}")
        action(callable_, "hangup", "NORMAL_CLEARING")
        plain = render.queue_name(customer_id, entry.department_id, offer=False)
        action(callable_, "callcenter", plain, anti=True)
        action(callable_, "hangup", "NORMAL_CLEARING", anti=True)
        return True

    def queue_exit(self, call: DialledCall) -> bool:
        if OPTION not in call.options:
            return False
        condition = sub(
            call.extension, "condition", field="${cc_exit_key}", expression=f"^{EXIT_KEY}$"
        )
        _set(condition, "pbx_flow", REQUEST_FLOW)
        action(condition, "socket", call.settings.socket_data)
        action(condition, "hangup", "NORMAL_CLEARING")
        action(condition, "hangup", "NORMAL_CLEARING", anti=True)
        return True


dialplan = CallbackDialplan()
