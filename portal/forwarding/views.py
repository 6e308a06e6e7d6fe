"""Portal page of call forwarding ("Настроить АТС" → Переадресация): the rules of the
customer's employees. Another tenant's rule or employee is a 404 (or not offered)."""

from __future__ import annotations

from django.contrib import messages as flash
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from portal.billing.models import Option
from portal.billing.selectors import option_enabled
from portal.forwarding import selectors, services
from portal.forwarding.forms import RuleForm
from portal.forwarding.models import ForwardingRule
from portal.web.access import customer_page


@customer_page
def index(request):
    customer = request.customer
    form = RuleForm(request.POST or None, customer=customer)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.rule_save(
                customer=customer,
                employee=data["employee"],
                when=data["when"],
                target_employee=data.get("target_employee"),
                target_number=(data.get("target_number") or "").strip(),
                ring_seconds=data["ring_seconds"],
            )
        except services.ForwardingError as exc:
            form.add_error(None, str(exc))
        else:
            flash.success(request, _("Переадресация сохранена."))
            return redirect("forwarding:index")
    return render(
        request,
        "forwarding/index.html",
        {
            "rules": selectors.rules_of(customer),
            "form": form,
            "option_on": option_enabled(customer.pk, Option.CALL_FORWARDING),
        },
        status=400 if request.method == "POST" else 200,
    )


@customer_page
@require_POST
def delete(request, pk: int):
    rule = get_object_or_404(ForwardingRule, pk=pk, customer=request.customer)
    services.rule_delete(customer=request.customer, rule=rule)
    flash.success(request, _("Переадресация удалена."))
    return redirect("forwarding:index")
