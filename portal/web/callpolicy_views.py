""" "Исходящие звонки" (a page of "Настроить АТС"): destination classes, limits, the daily cap.

Views only read input and call `portal.billing.callpolicy` services, which validate again and
announce the change (the dialplan is cached)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from pbx import destinations
from portal.billing import callpolicy
from portal.directory.models import Employee
from portal.web.access import customer_page

CLASS_LABELS = {
    destinations.INTERNATIONAL: gettext_lazy("Международные направления"),
    destinations.PREMIUM: gettext_lazy("Платные номера (premium-rate, shared-cost: 8-809, 8-803…)"),
    destinations.SATELLITE: gettext_lazy("Спутниковые номера (Inmarsat, Iridium, Thuraya)"),
    destinations.SPECIAL: gettext_lazy("Специальные номера (VoIP, персональные, пейджинговые)"),
}


class CallPolicyForm(forms.Form):
    international = forms.BooleanField(required=False, label=CLASS_LABELS["international"])
    premium = forms.BooleanField(required=False, label=CLASS_LABELS["premium"])
    satellite = forms.BooleanField(required=False, label=CLASS_LABELS["satellite"])
    special = forms.BooleanField(required=False, label=CLASS_LABELS["special"])
    max_calls = forms.IntegerField(
        label=gettext_lazy("Одновременных исходящих звонков"), min_value=1, max_value=1000
    )
    max_calls_per_phone = forms.IntegerField(
        label=gettext_lazy("Одновременных исходящих с одного телефона"), min_value=1, max_value=100
    )
    calls_per_minute = forms.IntegerField(
        label=gettext_lazy("Новых исходящих звонков в минуту"), min_value=1, max_value=1000
    )
    daily_spend_cap = forms.DecimalField(
        label=gettext_lazy("Лимит расходов на звонки в день, ₽"),
        min_value=0,
        max_digits=12,
        decimal_places=2,
    )


def _initial(row) -> dict:
    initial = {cls: getattr(row, field) for cls, field in callpolicy.CLASS_FIELDS.items()}
    for name in callpolicy.LIMIT_BOUNDS:
        initial[name] = getattr(row, name)
    initial["daily_spend_cap"] = row.daily_spend_cap
    return initial


@customer_page
@require_http_methods(["GET", "POST"])
def call_policy(request):
    customer = request.customer
    row = callpolicy.policy_row(customer)
    employees = list(Employee.objects.for_customer(customer).filter(is_active=True))
    barred = callpolicy.barred_classes(customer.pk)
    form = CallPolicyForm(request.POST or None, initial=_initial(row))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                callpolicy.call_policy_update(
                    customer=customer,
                    classes={cls: data[cls] for cls in callpolicy.CLASS_FIELDS},
                    limits={name: data[name] for name in callpolicy.LIMIT_BOUNDS},
                    daily_spend_cap=data["daily_spend_cap"],
                )
                for employee in employees:
                    for cls in sorted(destinations.OPT_IN):
                        may = request.POST.get(f"e{employee.pk}_{cls}") == "on"
                        if data[cls] and may == (cls in barred.get(employee.pk, ())):
                            callpolicy.call_barring_set(
                                customer=customer,
                                employee_id=employee.pk,
                                call_class=cls,
                                barred=not may,
                            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, _("Настройки исходящих звонков сохранены."))
            return redirect("web:call_policy")
    opt_in = [cls for cls in destinations.SWITCHABLE if cls in destinations.OPT_IN]
    rows = [
        (
            employee,
            [(cls, cls not in barred.get(employee.pk, ())) for cls in opt_in],
        )
        for employee in employees
    ]
    context = {
        "customer": customer,
        "form": form,
        "row": row,
        "opt_in": [(cls, getattr(row, callpolicy.CLASS_FIELDS[cls])) for cls in opt_in],
        "rows": rows,
        "spend": callpolicy.spend_status(customer),
        "can_edit": request.user.is_customer_admin,
    }
    return render(request, "web/call_policy.html", context)
