"""Portal pages of auto-redial: requests with state, reason, timeline and outcome; the
per-customer limits; each phone's settings that eligibility reads. Everything is looked up
through `request.customer`: another tenant's request or employee is a 404."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from portal.billing.models import Option
from portal.billing.selectors import option_enabled
from portal.directory.models import Employee
from portal.redial import services
from portal.redial.models import RedialLimits, RedialRequest, SubscriberSettings
from portal.web.access import customer_page

PAGE_SIZE = 50


class LimitsForm(forms.ModelForm):
    class Meta:
        model = RedialLimits
        fields = ["max_open_per_caller", "max_per_minute"]

    def clean(self):
        data = super().clean()
        for name in self.Meta.fields:
            value = data.get(name)
            if value is not None and not 1 <= value <= 1000:
                self.add_error(name, _("От 1 до 1000."))
        return data


class SettingsForm(forms.ModelForm):
    class Meta:
        model = SubscriberSettings
        fields = ["call_waiting", "forwarding", "roaming", "voicemail", "blacklist"]
        widgets = {"blacklist": forms.Textarea(attrs={"rows": 3})}

    def clean_blacklist(self) -> str:
        lines = [line.strip() for line in self.cleaned_data["blacklist"].splitlines()]
        lines = [line for line in lines if line]
        for line in lines:
            digits = line.lstrip("+")
            if not digits.isdigit() or not 2 <= len(digits) <= 15:
                raise forms.ValidationError(
                    _("«%(v)s»: добавочный или номер, только цифры.") % {"v": line}
                )
        return "\n".join(lines)


@customer_page
def index(request):
    customer = request.customer
    limits = RedialLimits.objects.filter(customer=customer).first() or RedialLimits(
        customer=customer
    )
    form = LimitsForm(request.POST or None, instance=limits)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _t("Ограничения сохранены."))
        return redirect("redial:index")
    rows = RedialRequest.objects.filter(customer=customer).select_related("caller", "callee")
    status = request.GET.get("status", "")
    if status in RedialRequest.Status.values:
        rows = rows.filter(status=status)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "redial/index.html",
        {
            "page": page,
            "form": form,
            "status": status,
            "statuses": RedialRequest.Status.choices,
            "option_on": option_enabled(customer.pk, Option.AUTO_REDIAL),
            "employees": Employee.objects.filter(customer=customer).order_by("extension"),
        },
        status=400 if request.method == "POST" else 200,
    )


@customer_page
def detail(request, pk: int):
    r = get_object_or_404(
        RedialRequest.objects.select_related("caller", "callee", "sms"),
        pk=pk,
        customer=request.customer,
    )
    return render(request, "redial/detail.html", {"r": r, "events": r.events.all()})


@customer_page
def subscriber(request, pk: int):
    employee = get_object_or_404(Employee, pk=pk, customer=request.customer)
    instance = SubscriberSettings.objects.filter(employee=employee).first() or SubscriberSettings(
        employee=employee
    )
    form = SettingsForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _t("Настройки сохранены."))
        return redirect("redial:index")
    return render(
        request,
        "redial/subscriber.html",
        {"employee": employee, "form": form},
        status=400 if request.method == "POST" else 200,
    )


@require_http_methods(["GET", "POST"])
def push(request, token: str):
    """The pushed offer (our Push USSD): the caller opens the one-time link from the message.

    No login: the unguessable token is the credential (stored hashed, dead once answered or
    when the 2 h window closes). POST only with CSRF, so a link preview cannot answer it."""
    found = services.push_request(token)
    if found is None or found.status != "pushed":
        return render(request, "redial/push.html", {"gone": True}, status=404)
    if request.method == "POST":
        accept = request.POST.get("answer") == "yes"
        status = services.push_answer(token=token, accept=accept, now=timezone.now())
        if status is None:
            return render(request, "redial/push.html", {"gone": True}, status=410)
        return render(request, "redial/push.html", {"answered": status, "r": found})
    return render(request, "redial/push.html", {"r": found})
