"""Voice menus in the rendered dialplan (pbx.dialplan hooks).

- `inbound_route`: with the `ivr` option on, a regular or multichannel number that starts with
  a menu (`NumberRoute`) goes to call control's outbound socket (`pbx_flow=menu`,
  `pbx_menu_route=<id>`), where `portal.menus.telephony` runs the menu.
- `dialled`: where the menu flow transfers a caller who chose a department or a voicemail
  box, in the customer's context (`transfer menu_dept_<id> XML customer_<c>`):
  `menu_dept_<id>` enters the department's callcenter queue as the public dialplan does (with
  the callback offer when the callback option is on and the caller can be called back; a
  department without a multichannel number has no queue: its phones ring together), and
  `menu_vm_<id>` leaves a message in the box (`portal.voicemail.dialplan.leave_message`).
  Employees, extensions typed directly and outside numbers are the context's own extensions.

With the option off, or nothing configured, nothing is rendered (the golden XML is unchanged).
Every id comes from the database (`db_id`); nothing a customer typed reaches the XML.
"""

from __future__ import annotations

import re

from pbx import render
from pbx.dialplan import Contribution, DialledCall, InboundCall
from pbx.xmlbuild import action, db_id, sub

IVR = "ivr"  # portal.billing.models.Option.IVR
FLOW_MENU = "menu"
DEPT_PREFIX = "menu_dept_"
VOICEMAIL_PREFIX = "menu_vm_"
_DEPT = re.compile(r"menu_dept_([1-9][0-9]{0,17})\Z")
_VOICEMAIL = re.compile(r"menu_vm_([1-9][0-9]{0,17})\Z")


def _set(condition, name: str, value: str) -> None:
    action(condition, "set", f"{name}={value}")


class MenusDialplan(Contribution):
    name = "menus"
    option = IVR

    def load_inbound(self, customer_id, number):
        from portal.menus.models import NumberRoute

        return (
            NumberRoute.objects.filter(customer_id=customer_id, number_id=number.pk)
            .values_list("pk", flat=True)
            .first()
        )

    def load_dialled(self, customer_id, destination):
        match = _DEPT.match(destination or "")
        if match:
            from portal.directory.models import Department, Employee, PhoneNumber

            dept = Department.objects.filter(
                pk=int(match.group(1)), customer_id=customer_id
            ).first()
            if dept is None:
                return None
            queued = PhoneNumber.objects.filter(
                department=dept, kind=PhoneNumber.Kind.MULTICHANNEL
            ).exists()
            phones = []
            if not queued:
                phones = list(
                    Employee.objects.filter(department=dept, is_active=True).order_by("extension")
                )
            return {"department": dept.pk, "queued": queued, "phones": phones}
        match = _VOICEMAIL.match(destination or "")
        if match:
            from django.apps import apps

            if not apps.is_installed("portal.voicemail"):
                return None
            from portal.voicemail.selectors import box_for_menu

            box = box_for_menu(customer_id, int(match.group(1)))
            return {"box": box} if box is not None else None
        return None

    def inbound_route(self, call: InboundCall) -> bool:
        route = call.data.get(self.name)
        if IVR not in call.options or not route or call.condition is None:
            return False
        _set(call.condition, "pbx_flow", FLOW_MENU)
        _set(call.condition, "pbx_menu_route", db_id(route))
        action(call.condition, "socket", call.settings.socket_data)
        action(call.condition, "hangup", "NORMAL_TEMPORARY_FAILURE")  # call control unreachable
        return True

    def dialled(self, call: DialledCall) -> bool:
        loaded = call.data.get(self.name)
        if IVR not in call.options or not loaded:
            return False
        customer_id = call.customer.pk
        if "box" in loaded:
            from portal.voicemail.dialplan import leave_message

            box = loaded["box"]
            if box.customer_id != customer_id:
                return False
            ext = sub(call.context, "extension", name="menu_voicemail")
            expression = f"^{VOICEMAIL_PREFIX}{db_id(box.id)}$"
            condition = sub(ext, "condition", field="destination_number", expression=expression)
            _set(condition, "pbx_customer", db_id(customer_id))
            leave_message(condition, box)
            return True
        dept = db_id(loaded["department"])
        ext = sub(call.context, "extension", name="menu_department")
        expression = f"^{DEPT_PREFIX}{dept}$"
        condition = sub(ext, "condition", field="destination_number", expression=expression)
        _set(condition, "pbx_customer", db_id(customer_id))
        _set(condition, "pbx_department", dept)
        _set(condition, "hangup_after_bridge", "true")
        if not loaded["queued"]:
            call.condition = condition
            phones = [e for e in loaded["phones"] if render.valid_extension(e.extension)]
            if phones:
                _set(condition, "call_timeout", str(render.RING_SECONDS))
                _set(condition, "continue_on_fail", "true")
                action(condition, "bridge", render.dial_employees(call, phones))
            action(condition, "hangup", "NO_ANSWER" if phones else "SUBSCRIBER_ABSENT")
            return True
        # The department's queue, as a multichannel number enters it (with the callback offer
        # when that option is on: portal/callbacks/dialplan.py).
        call.extension, call.condition = ext, condition
        render.enter_queue(call, loaded["department"])
        return True


dialplan = MenusDialplan()
