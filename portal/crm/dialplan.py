"""The CRM card's part of the public dialplan: a regular number's employee legs must say which
customer and number they ring for (the call-control flow reads `pbx_customer`/`pbx_number` on
the answered leg, with `dialed_user`). Queue legs carry them already (`cc_export_vars`), and
integrated numbers export them themselves. Nothing is rendered while the option is off."""

from __future__ import annotations

from pbx.dialplan import Contribution, InboundCall
from pbx.xmlbuild import action, db_id

OPTION = "crm"  # portal.billing.models.Option.CRM
INTEGRATED = "integrated_number"


class CrmDialplan(Contribution):
    name = "crm"
    option = OPTION

    def inbound_route(self, call: InboundCall) -> bool:
        if (
            OPTION in call.options
            and INTEGRATED not in call.options
            and call.condition is not None
            and call.number.kind == "regular"
        ):
            action(call.condition, "export", f"pbx_customer={db_id(call.customer.pk)}")
            action(call.condition, "export", f"pbx_number={db_id(call.number.pk)}")
        return False  # the number's own routing goes on


dialplan = CrmDialplan()
