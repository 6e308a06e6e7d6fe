"""Portal pages of the CRM card: the card of one call (caller, history, notes), and the
settings (webhook, who answers which phone, recent calls, webhook log). Looked up through
`request.customer`: another tenant's call is a 404. Any user of the customer may write notes
(the employee who answers is often department staff); settings are for administrators."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from portal.billing.selectors import option_enabled
from portal.crm import selectors, services
from portal.crm.models import WebhookEvent
from portal.directory.models import Employee
from portal.tenants.models import User
from portal.web.access import customer_page


class NoteForm(forms.Form):
    text = forms.CharField(
        label=_("Заметка"), max_length=4000, widget=forms.Textarea(attrs={"rows": 3})
    )


class SettingsForm(forms.Form):
    webhook_url = forms.CharField(
        label=_("Адрес веб-хука CRM"),
        max_length=2000,
        required=False,
        help_text=_(
            "События звонка (звонок, ответ, отбой) приходят сюда POST-запросом JSON с подписью X-PBX-Signature."
        ),
    )


@customer_page
def card(request, pk: int):
    call = get_object_or_404(selectors.calls(request.customer.pk), pk=pk)
    customer_id = request.customer.pk
    return render(
        request,
        "crm/card.html",
        {
            "call": call,
            "name": selectors.caller_name(customer_id, call.caller_e164),
            "past_calls": selectors.past_calls(
                customer_id, call.caller_e164, exclude_uuid=call.uuid
            )[: selectors.HISTORY]
            if call.caller_e164
            else [],
            "callbacks": selectors.callback_requests(customer_id, call.caller_e164)[
                : selectors.HISTORY
            ],
            "notes": selectors.notes(customer_id, call.caller_e164, call=call)[: selectors.HISTORY],
            "form": NoteForm(),
        },
    )


@require_POST
@customer_page(staff_may_write=True)
def note(request, pk: int):
    call = get_object_or_404(selectors.calls(request.customer.pk), pk=pk)
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            services.note_add(
                customer=request.customer,
                call_id=call.pk,
                user=request.user,
                text=form.cleaned_data["text"],
            )
            messages.success(request, _t("Заметка сохранена."))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    else:
        messages.error(request, _t("Заметка пуста или слишком длинная."))
    return redirect("crm:card", pk=call.pk)


@customer_page
def index(request):
    customer = request.customer
    current = selectors.crm_settings(customer.pk)
    form = SettingsForm(
        request.POST or None, initial={"webhook_url": current.webhook_url if current else ""}
    )
    status = 200
    if request.method == "POST":
        if request.POST.get("rotate"):
            services.crm_secret_rotate(customer=customer)
            messages.success(request, _t("Новый секрет подписи создан."))
            return redirect("crm:index")
        if form.is_valid():
            try:
                services.crm_settings_set(
                    customer=customer, webhook_url=form.cleaned_data["webhook_url"]
                )
                messages.success(request, _t("Настройки сохранены."))
                return redirect("crm:index")
            except ValidationError as exc:
                form.add_error("webhook_url", exc)
        status = 400
    links = selectors.employee_users(customer.pk)
    employees = list(Employee.objects.filter(customer=customer).order_by("extension"))
    for employee in employees:
        employee.crm_user_id = links.get(employee.pk)
    return render(
        request,
        "crm/index.html",
        {
            "form": form,
            "settings": current,
            "option_on": option_enabled(customer.pk, "crm"),
            "employees": employees,
            "users": User.objects.filter(customer=customer, is_active=True).order_by("username"),
            "calls": selectors.calls(customer.pk)[:50],
            "events": WebhookEvent.objects.filter(customer=customer).select_related("call")[:50],
        },
        status=status,
    )


@require_POST
@customer_page
def employee_user(request, pk: int):
    employee = get_object_or_404(Employee, pk=pk, customer=request.customer)
    raw = request.POST.get("user") or ""
    user_id = int(raw) if raw.isdigit() else None
    if user_id is not None:
        get_object_or_404(User, pk=user_id, customer=request.customer, is_active=True)
    services.employee_user_set(customer=request.customer, employee_id=employee.pk, user_id=user_id)
    messages.success(request, _t("Сохранено."))
    return redirect("crm:index")
