"""Portal pages. Views only read input, check access and call selectors/services."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse, reverse_lazy
from django.utils import timezone, translation
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal.billing import selectors
from portal.billing import services as billing_services
from portal.billing.models import LedgerEntry, Option
from portal.billing.selectors import MONTH_MAX_YEAR, MONTH_MIN_YEAR, options_enabled
from portal.directory.models import Department, Employee, PhoneNumber
from portal.web.access import customer_page
from portal.web.templatetags.portal_tags import format_money

# "Начислено в <месяце> <год>": Russian needs the prepositional case of the month's name.
MONTHS_IN = [
    pgettext_lazy("в каком месяце", "январе"),
    pgettext_lazy("в каком месяце", "феврале"),
    pgettext_lazy("в каком месяце", "марте"),
    pgettext_lazy("в каком месяце", "апреле"),
    pgettext_lazy("в каком месяце", "мае"),
    pgettext_lazy("в каком месяце", "июне"),
    pgettext_lazy("в каком месяце", "июле"),
    pgettext_lazy("в каком месяце", "августе"),
    pgettext_lazy("в каком месяце", "сентябре"),
    pgettext_lazy("в каком месяце", "октябре"),
    pgettext_lazy("в каком месяце", "ноябре"),
    pgettext_lazy("в каком месяце", "декабре"),
]
Category = LedgerEntry.Category
ACCRUED_FIGURES = [
    (Category.TARIFF, "accrued-tariff"),
    (Category.EXTRA_MULTICHANNEL_NUMBERS, "accrued-extra-multichannel"),
    (Category.EXTRA_NUMBERS, "accrued-extra-numbers"),
    (Category.EXTRA_SERVICES, "accrued-extra-services"),
]


def wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def customer_month(customer) -> dt.date:
    """First day of the current month in the customer's time zone."""
    return timezone.now().astimezone(ZoneInfo(customer.time_zone)).date().replace(day=1)


def enabled_option_codes(customer) -> frozenset[str]:
    return options_enabled(customer.pk)


def options_count_text(n: int) -> str:
    return ngettext("подключена %(n)s опция", "подключены %(n)s опций", n) % {"n": n}


def options_fee_label(n: int) -> str:
    return ngettext("Плата за %(n)s опцию в месяц", "Плата за %(n)s опций в месяц", n) % {"n": n}


def error_page(request, message: str, *, status: int = 400, back: str | None = None):
    if wants_json(request):
        return JsonResponse({"error": message}, status=status)
    return render(request, "web/error.html", {"message": message, "back": back}, status=status)


def _callback_warning_url(customer) -> str:
    dept = Department.objects.for_customer(customer).first()
    if dept is None:
        return reverse("web:department_create")
    return reverse("web:department_edit", args=[dept.pk])


def _callback_warning_html(request, page) -> str:
    if not page.callback_needs_department_flag:
        return ""
    return render_to_string(
        "web/_callback_warning.html",
        {"warning_url": _callback_warning_url(page.customer)},
        request=request,
    )


# --- home and "Настроить АТС" -----------------------------------------------------------------


@customer_page
@require_GET
def home(request):
    return redirect("web:pbx")


@customer_page
@require_GET
def pbx(request):
    customer = request.customer
    context = {
        "customer": customer,
        "tariff": customer.tariff,
        "balance": selectors.customer_balance(customer),
        "departments_count": Department.objects.for_customer(customer).count(),
        "employees_count": Employee.objects.for_customer(customer).count(),
        "numbers_count": PhoneNumber.objects.for_customer(customer).count(),
    }
    return render(request, "web/pbx.html", context)


# --- "Тариф и опции" --------------------------------------------------------------------------


def _parse_month(request, customer) -> tuple[dt.date, dt.date]:
    """(month asked for, current month); a malformed ?month= falls back with a message."""
    current = customer_month(customer)
    raw = request.GET.get("month", "").strip()
    if not raw:
        return current, current
    try:
        month = dt.datetime.strptime(raw, "%Y-%m").date()
        if not MONTH_MIN_YEAR <= month.year <= MONTH_MAX_YEAR:
            raise ValueError(raw)
    except ValueError:
        messages.warning(
            request,
            _("Месяц «%(value)s» не распознан (нужно ГГГГ-ММ), показан текущий месяц.")
            % {"value": raw[:20]},
        )
        return current, current
    return month, current


@customer_page
@require_GET
def tariff(request):
    customer = request.customer
    month, current = _parse_month(request, customer)
    page = selectors.tariff_page(
        customer=customer, month=month, language=translation.get_language() or "ru"
    )
    if month == current:
        accrued_heading = _("Начислено в текущем месяце")
    else:
        accrued_heading = _("Начислено в %(month)s %(year)s") % {
            "month": MONTHS_IN[month.month - 1],
            "year": month.year,
        }
    packages = customer.extra_storage_packages
    if packages:
        storage_packages = ngettext("%(n)s доп. пакет", "%(n)s доп. пакетов", packages) % {
            "n": packages
        }
    else:
        storage_packages = _("без доп пакетов")
    context = {
        "customer": customer,
        "tariff": customer.tariff,
        "page": page,
        "month": month,
        "month_param": "" if month == current else f"{month:%Y-%m}",
        "accrued_heading": accrued_heading,
        "accrued": [
            (Category(category).label, figure, page.accrued[category])
            for category, figure in ACCRUED_FIGURES
        ],
        "options_count_text": options_count_text(page.enabled_count),
        "options_fee_label": options_fee_label(page.enabled_count),
        "storage_packages": storage_packages,
        "storage_line": format_html(
            _("свободно {free} из {quota} ГБ"),
            free=format_html('<span data-figure="storage-free">{}</span>', page.storage_free_gb),
            quota=format_html('<span data-figure="storage-quota">{}</span>', page.storage_quota_gb),
        ),
        "callback_warning_html": _callback_warning_html(request, page),
        "can_edit": request.user.is_customer_admin,
    }
    return render(request, "web/tariff.html", context)


@customer_page
@require_POST
def option_toggle(request):
    customer = request.customer
    back = reverse("web:tariff")
    month_param = request.POST.get("month", "")
    if month_param:
        try:
            dt.datetime.strptime(month_param, "%Y-%m")
            back += f"?month={month_param}"
        except ValueError:
            pass
    code = request.POST.get("code", "").strip()
    if not re.fullmatch(r"[-a-zA-Z0-9_]{1,64}", code):  # a slug; never NUL to the database
        return error_page(
            request, _("Неизвестная опция «%(code)s».") % {"code": code[:60]}, back=back
        )
    state = request.POST.get("enabled", "")
    if state not in {"on", "off"}:
        return error_page(request, _("Не указано, подключить опцию или отключить её."), back=back)
    try:
        billing_services.option_set(customer=customer, code=code, enabled=state == "on")
    except ValidationError as exc:
        return error_page(request, " ".join(exc.messages), back=back)
    page = selectors.tariff_page(
        customer=customer,
        month=customer_month(customer),
        language=translation.get_language() or "ru",
    )
    row = next((o for o in page.options if o.code == code), None)
    name = row.name if row else code
    if state == "on":
        done = _("Опция «%(name)s» подключена.") % {"name": name}
    else:
        done = _("Опция «%(name)s» отключена.") % {"name": name}
    if wants_json(request):
        warning_html = _callback_warning_html(request, page)
        return JsonResponse(
            {
                "code": code,
                "enabled": state == "on",
                "enabled_count": page.enabled_count,
                "options_fee": format_money(page.options_fee),
                "options_count_text": options_count_text(page.enabled_count),
                "options_fee_label": options_fee_label(page.enabled_count),
                "callback_warning": bool(warning_html),
                "callback_warning_html": warning_html,
                "message": done,  # the page shows it where the plain post's message appears
            }
        )
    messages.success(request, done)
    return redirect(back)


# --- "Номера и отделы" ------------------------------------------------------------------------


@customer_page
@require_GET
def ivr(request):
    customer = request.customer
    rows = (
        PhoneNumber.objects.for_customer(customer)
        .filter(kind=PhoneNumber.Kind.MULTICHANNEL)
        .select_related("department")
    )
    enabled = enabled_option_codes(customer)
    return render(
        request,
        "web/ivr.html",
        {
            "numbers": rows,
            "ivr_on": "ivr" in enabled,
            "callback_on": Option.CALLBACK in enabled,
            "can_edit": request.user.is_customer_admin,
        },
    )


@customer_page
@require_GET
def more(request):
    return render(request, "web/more.html", {"api_docs_url": reverse("api:docs")})


# --- "Настройки профиля" ----------------------------------------------------------------------


class ProfileForm(forms.Form):
    first_name = forms.CharField(label=gettext_lazy("имя"), max_length=150, required=False)
    last_name = forms.CharField(label=gettext_lazy("фамилия"), max_length=150, required=False)
    email = forms.EmailField(label=gettext_lazy("e-mail"), required=False)
    language = forms.ChoiceField(label=gettext_lazy("язык интерфейса"), choices=settings.LANGUAGES)


@customer_page(staff_may_write=True)
@require_http_methods(["GET", "POST"])
def profile(request):
    user = request.user
    initial = {
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "language": translation.get_language() or settings.LANGUAGE_CODE,
    }
    form = ProfileForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        user.first_name = data["first_name"]
        user.last_name = data["last_name"]
        user.email = data["email"]
        user.save(update_fields=["first_name", "last_name", "email"])
        language = data["language"]
        translation.activate(language)
        messages.success(request, _("Настройки профиля сохранены."))
        response = redirect("web:profile")
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            path=settings.LANGUAGE_COOKIE_PATH,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            secure=settings.LANGUAGE_COOKIE_SECURE,
            httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        )
        return response
    return render(
        request,
        "web/profile.html",
        {"form": form},
        status=400 if form.is_bound else 200,
    )


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "web/form.html"
    success_url = reverse_lazy("web:profile")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(title=_("Смена пароля"), back=reverse("web:profile"))
        return context

    def form_valid(self, form):
        messages.success(self.request, _("Пароль изменён."))
        return super().form_valid(form)


password_change = customer_page(PasswordChangeView.as_view(), staff_may_write=True)
