"""Portal pages of fictive numbers (/pbx/fictive/).

Customer admins edit projects, shoppers and pairings; staff may look (any POST from them is
403, see `customer_page`). Every lookup goes through `request.customer`, so another tenant's
id is a 404, and recordings are served only from under settings.RECORDINGS_DIR.
"""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal.billing.models import Option
from portal.billing.selectors import option_enabled
from portal.directory.models import PhoneNumber
from portal.fictive import selectors, services
from portal.fictive.models import FictiveCall, FictiveNumber, PendingMissedCall, Project, Shopper
from portal.web.access import customer_page

PAGE_SIZE = 50


class ProjectForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Название"), max_length=120)
    allowed_prefixes = forms.CharField(
        label=gettext_lazy("Разрешённые префиксы номеров назначения"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy(
            "по одному в строке, например +420; пусто — любые допустимые номера"
        ),
    )

    def __init__(self, *args, customer, **kwargs):
        super().__init__(*args, **kwargs)


class ShopperForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Имя"), max_length=120)
    real_number = forms.CharField(
        label=gettext_lazy("Реальный номер"),
        max_length=32,
        help_text=gettext_lazy("с кодом страны, например +420 601 000 001"),
    )
    project = forms.ModelChoiceField(label=gettext_lazy("Проект"), queryset=Project.objects.none())

    def __init__(self, *args, customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = selectors.projects(customer)


class PairForm(forms.Form):
    shopper = forms.ModelChoiceField(
        label=gettext_lazy("Покупатель"), queryset=Shopper.objects.none()
    )
    number = forms.ModelChoiceField(
        label=gettext_lazy("Фиктивный номер"), queryset=PhoneNumber.objects.none()
    )
    ordinal = forms.IntegerField(
        label=gettext_lazy("ID"),
        required=False,
        min_value=1,
        max_value=999,
        help_text=gettext_lazy("пусто — следующий свободный у покупателя"),
    )

    def __init__(self, *args, customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["shopper"].queryset = Shopper.objects.filter(customer=customer)
        self.fields["number"].queryset = selectors.free_fictive_numbers(customer)


class CallFilterForm(forms.Form):
    project = forms.ModelChoiceField(
        label=gettext_lazy("Проект"),
        required=False,
        queryset=Project.objects.none(),
        empty_label=gettext_lazy("все"),
    )
    shopper = forms.ModelChoiceField(
        label=gettext_lazy("Покупатель"),
        required=False,
        queryset=Shopper.objects.none(),
        empty_label=gettext_lazy("все"),
    )
    direction = forms.ChoiceField(
        label=gettext_lazy("Направление"),
        required=False,
        choices=[("", gettext_lazy("все"))] + list(FictiveCall.Direction.choices),
    )

    def __init__(self, *args, customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = selectors.projects(customer)
        self.fields["shopper"].queryset = Shopper.objects.filter(customer=customer)


def _apply_errors(form: forms.Form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _form_page(request, *, form, title, save, saved):
    back = reverse("fictive:index")
    if request.method == "POST" and form.is_valid():
        try:
            obj = save(form.cleaned_data)
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, saved % {"name": str(obj)})
            return redirect(back)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "web/form.html", {"form": form, "title": title, "back": back}, status=status
    )


def _bound(request, form_class, customer, initial=None):
    data = request.POST if request.method == "POST" else None
    return form_class(data, customer=customer, initial=initial)


# -- overview, projects, shoppers, pairings -------------------------------------------------------


@customer_page
@require_GET
def index(request):
    customer = request.customer
    return render(
        request,
        "fictive/index.html",
        {
            "option_on": option_enabled(customer.pk, Option.FICTIVE_NUMBERS),
            "service_numbers": selectors.service_numbers(customer),
            "projects": selectors.projects(customer),
            "shoppers": selectors.shoppers(customer),
            "free_numbers": selectors.free_fictive_numbers(customer),
            "pair_form": PairForm(customer=customer),
            "can_edit": request.user.is_customer_admin,
            "open_pending": selectors.pending_calls(customer, status="open").count(),
        },
    )


@customer_page
@require_http_methods(["GET", "POST"])
def project_create(request):
    customer = request.customer
    return _form_page(
        request,
        form=_bound(request, ProjectForm, customer),
        title=_("Новый проект"),
        save=lambda d: services.project_save(customer=customer, **d),
        saved=_("Проект «%(name)s» сохранён."),
    )


@customer_page
@require_http_methods(["GET", "POST"])
def project_edit(request, pk: int):
    customer = request.customer
    project = get_object_or_404(selectors.projects(customer), pk=pk)
    initial = {"name": project.name, "allowed_prefixes": project.allowed_prefixes}
    return _form_page(
        request,
        form=_bound(request, ProjectForm, customer, initial),
        title=_("Проект «%(name)s»") % {"name": project.name},
        save=lambda d: services.project_save(customer=customer, project=project, **d),
        saved=_("Проект «%(name)s» сохранён."),
    )


@customer_page
@require_http_methods(["GET", "POST"])
def shopper_create(request):
    customer = request.customer
    return _form_page(
        request,
        form=_bound(request, ShopperForm, customer),
        title=_("Новый покупатель"),
        save=lambda d: services.shopper_save(customer=customer, **d),
        saved=_("Покупатель %(name)s сохранён."),
    )


@customer_page
@require_http_methods(["GET", "POST"])
def shopper_edit(request, pk: int):
    customer = request.customer
    shopper = get_object_or_404(Shopper.objects.filter(customer=customer), pk=pk)
    initial = {"name": shopper.name, "real_number": shopper.real_number, "project": shopper.project}
    return _form_page(
        request,
        form=_bound(request, ShopperForm, customer, initial),
        title=_("Покупатель %(name)s") % {"name": shopper.name},
        save=lambda d: services.shopper_save(customer=customer, shopper=shopper, **d),
        saved=_("Покупатель %(name)s сохранён."),
    )


@customer_page
@require_POST
def shopper_delete(request, pk: int):
    shopper = get_object_or_404(Shopper.objects.filter(customer=request.customer), pk=pk)
    services.shopper_delete(customer=request.customer, shopper=shopper)
    messages.success(request, _("Покупатель %(name)s удалён.") % {"name": shopper.name})
    return redirect("fictive:index")


@customer_page
@require_http_methods(["GET", "POST"])
def pair(request):
    customer = request.customer
    return _form_page(
        request,
        form=_bound(request, PairForm, customer),
        title=_("Закрепить фиктивный номер"),
        save=lambda d: services.fictive_pair(customer=customer, **d),
        saved=_("Фиктивный номер %(name)s закреплён."),
    )


@customer_page
@require_POST
def unpair(request, pk: int):
    fictive = get_object_or_404(FictiveNumber.objects.filter(customer=request.customer), pk=pk)
    services.fictive_unpair(customer=request.customer, fictive=fictive)
    messages.success(request, _("Фиктивный номер %(n)s откреплён.") % {"n": fictive.number.e164})
    return redirect("fictive:index")


# -- calls, recordings, pending calls, SMS ----------------------------------------------------------


def _page(request, qs):
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return page, query.urlencode()


@customer_page
@require_GET
def calls(request):
    customer = request.customer
    form = CallFilterForm(request.GET or None, customer=customer)
    filters = {}
    if form.is_bound and form.is_valid():
        d = form.cleaned_data
        filters = {
            "project_id": d["project"].pk if d["project"] else None,
            "shopper_id": d["shopper"].pk if d["shopper"] else None,
            "direction": d["direction"] or None,
        }
    page, query = _page(request, selectors.fictive_calls(customer, **filters))
    return render(
        request,
        "fictive/calls.html",
        {"form": form, "page": page, "query": query},
        status=400 if form.is_bound and not form.is_valid() else 200,
    )


def recordings_root() -> Path:
    return Path(settings.RECORDINGS_DIR)


@customer_page
@require_GET
def recording(request, pk: int):
    call = get_object_or_404(FictiveCall.objects.filter(customer=request.customer), pk=pk)
    if not call.recording_path:
        raise Http404("no recording")
    root = recordings_root().resolve()
    path = Path(call.recording_path)
    if not path.is_absolute():
        path = root / path
    path = path.resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise Http404("recording not found")
    download = request.GET.get("download") == "1"
    return FileResponse(
        path.open("rb"),
        content_type="audio/wav",
        as_attachment=download,
        filename=f"fictive-{call.pk}-{call.direction}.wav",
    )


@customer_page
@require_GET
def pending(request):
    status = request.GET.get("status") or None
    if status not in (None, *PendingMissedCall.Status.values):
        status = None
    page, query = _page(request, selectors.pending_calls(request.customer, status=status))
    return render(
        request,
        "fictive/pending.html",
        {
            "page": page,
            "query": query,
            "status": status or "",
            "statuses": PendingMissedCall.Status.choices,
        },
    )


@customer_page
@require_GET
def sms_log(request):
    page, query = _page(request, selectors.sms_log(request.customer))
    return render(request, "fictive/sms.html", {"page": page, "query": query})
