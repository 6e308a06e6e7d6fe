"""Portal pages of the queue callback: the list of requests (with filters) and one request.

Everyone of the customer may look (admins and department staff). Admins, and staff of the
request's department, may act on a request (call now, mark done, cancel: POST, CSRF). Every
lookup goes through `request.customer`, so another tenant's request or recording is a 404.
"""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from portal.billing.models import Option
from portal.billing.selectors import option_enabled
from portal.callbacks import selectors, services
from portal.callbacks.models import CallbackAttempt, CallbackRequest
from portal.callbacks.services import reason_text
from portal.directory.models import Department
from portal.web.access import customer_page

PAGE_SIZE = 50


class FilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Статус"),
        required=False,
        choices=[("", _("все"))] + list(CallbackRequest.Status.choices),
    )
    department = forms.ModelChoiceField(
        label=_("Отдел"), required=False, queryset=Department.objects.none(), empty_label=_("все")
    )
    date_from = forms.DateField(
        label=_("С"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("По"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = Department.objects.for_customer(customer)


def recordings_root() -> Path:
    return Path(getattr(settings, "RECORDINGS_DIR", Path(settings.MEDIA_ROOT) / "recordings"))


@customer_page
@require_GET
def callback_list(request):
    customer = request.customer
    form = FilterForm(request.GET or None, customer=customer)
    filters = {}
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        filters = {
            "status": data["status"] or None,
            "department_id": data["department"].pk if data["department"] else None,
            "date_from": data["date_from"],
            "date_to": data["date_to"],
        }
    page = Paginator(selectors.callback_requests(customer, **filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    page.object_list = list(page.object_list)
    own = (
        None
        if request.user.is_customer_admin
        else set(request.user.departments.values_list("pk", flat=True))
    )
    option_on = option_enabled(customer.pk, Option.CALLBACK)
    for r in page.object_list:
        r.reason_text = reason_text(r.close_reason) if r.close_reason else ""
        mine = own is None or r.department_id in own
        r.actions = available_actions(r, option_on=option_on) if mine else []
    query = request.GET.copy()
    query.pop("page", None)
    since = timezone.now() - timezone.timedelta(days=30)
    return render(
        request,
        "callbacks/list.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "stats": selectors.callback_stats(customer, since=since),
            "option_on": option_on,
        },
        status=400 if form.is_bound and not form.is_valid() else 200,
    )


@customer_page
@require_GET
def callback_detail(request, pk: int):
    r = get_object_or_404(selectors.callback_requests(request.customer), pk=pk)
    return render(
        request,
        "callbacks/detail.html",
        {
            "r": r,
            "reason": reason_text(r.close_reason) if r.close_reason else "",
            "actions": (
                available_actions(r, option_on=option_enabled(request.customer.pk, Option.CALLBACK))
                if may_act(request.user, r)
                else []
            ),
        },
    )


def may_act(user, r: CallbackRequest) -> bool:
    """Admins act on every request of their customer; staff on their departments' only."""
    if user.is_customer_admin:
        return True
    return user.departments.filter(pk=r.department_id).exists()


def available_actions(r: CallbackRequest, *, option_on: bool) -> list[tuple[str, str]]:
    """(action, button label) that make sense for the request's state (the service re-checks).
    Without the option nothing can be dialled: no "call now" then."""
    call_now = [("call_now", _("Позвонить сейчас"))] if option_on else []
    if r.status == CallbackRequest.Status.PENDING:
        return [*call_now, ("done", _("Отметить выполненным")), ("cancel", _("Отменить"))]
    if r.status == CallbackRequest.Status.FAILED:
        return [*call_now, ("done", _("Отметить выполненным"))]
    if r.status == CallbackRequest.Status.CANCELLED:
        return call_now
    return []


DONE_MESSAGES = {
    "call_now": _("Заявка поставлена на звонок: система позвонит в ближайшие секунды."),
    "done": _("Заявка отмечена выполненной."),
    "cancel": _("Заявка отменена."),
}


@customer_page(staff_may_write=True)
@require_POST
def callback_act(request, pk: int):
    r = get_object_or_404(CallbackRequest.objects.filter(customer=request.customer), pk=pk)
    if not may_act(request.user, r):
        raise PermissionDenied("not this department's staff")
    action = request.POST.get("action", "")
    back = reverse("callbacks:detail", args=[r.pk])
    nxt = request.POST.get("next", "")
    if nxt and url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
        back = nxt
    try:
        services.callback_request_act(
            customer_id=request.customer.pk,
            request_id=r.pk,
            action=action,
            user=request.user,
            now=timezone.now(),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(back)
    messages.success(request, DONE_MESSAGES[action])
    return redirect(back)


@customer_page
@require_GET
def attempt_recording(request, pk: int):
    attempt = get_object_or_404(
        CallbackAttempt.objects.filter(request__customer=request.customer), pk=pk
    )
    if not attempt.recording_path:
        raise Http404("no recording")
    root = recordings_root().resolve()
    path = Path(attempt.recording_path)
    if not path.is_absolute():
        path = root / path
    path = path.resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise Http404("recording not found")
    return FileResponse(path.open("rb"), content_type="audio/wav")
