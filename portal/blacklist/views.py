"""Portal page of the blacklist: what a rejected caller hears, the list (add, delete, import
from CSV), the recent callers to add from the call history, and the log of rejected calls.
Everything is looked up through `request.customer`: another tenant's entry or call is a 404.
Department staff may add the current caller from the call history; the rest is for
administrators."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from portal.billing.selectors import option_enabled
from portal.blacklist import selectors, services
from portal.blacklist.models import BlacklistEntry, BlacklistSettings
from portal.calls.models import CallRecord
from portal.web.access import customer_page

PAGE_SIZE = 50


class SettingsForm(forms.Form):
    action = forms.ChoiceField(
        label=_("Что слышит звонящий"), choices=BlacklistSettings.Action.choices
    )
    block_anonymous = forms.BooleanField(
        label=_("Отклонять звонки со скрытых номеров"), required=False
    )


class EntryForm(forms.Form):
    kind = forms.ChoiceField(label=_("Вид"), choices=BlacklistEntry.Kind.choices)
    value = forms.CharField(label=_("Номер или префикс"), max_length=40)
    comment = forms.CharField(label=_("Комментарий"), max_length=200, required=False)


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV-файл"),
        help_text=_("По строке на запись: номер[,комментарий] или prefix,+7495[,комментарий]."),
    )


@customer_page
def index(request):
    customer = request.customer
    current = selectors.blacklist_settings(customer.pk)
    log = Paginator(selectors.rejected_calls(customer.pk), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "blacklist/index.html",
        {
            "option_on": option_enabled(customer.pk, "blacklist"),
            "settings_form": SettingsForm(
                initial={"action": current.action, "block_anonymous": current.block_anonymous}
            ),
            "entry_form": EntryForm(),
            "import_form": ImportForm(),
            "entries": selectors.entries(customer.pk),
            "recent": selectors.recent_callers(customer.pk),
            "log": log,
            "rejections": selectors.rejections(customer.pk, log.object_list),
        },
    )


@require_POST
@customer_page
def settings_save(request):
    form = SettingsForm(request.POST)
    if form.is_valid():
        services.blacklist_settings_set(customer=request.customer, **form.cleaned_data)
        messages.success(request, _t("Настройки сохранены."))
    else:
        messages.error(request, _t("Проверьте форму: ничего не сохранено."))
    return redirect("blacklist:index")


@require_POST
@customer_page
def entry_add(request):
    form = EntryForm(request.POST)
    if form.is_valid():
        try:
            services.entry_add(customer=request.customer, user=request.user, **form.cleaned_data)
            messages.success(request, _t("Добавлено в чёрный список."))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    else:
        messages.error(request, _t("Проверьте форму: ничего не сохранено."))
    return redirect("blacklist:index")


@require_POST
@customer_page
def entry_delete(request, pk: int):
    if not services.entry_delete(customer=request.customer, entry_id=pk):
        raise Http404("no such entry")
    messages.success(request, _t("Удалено из чёрного списка."))
    return redirect("blacklist:index")


@require_POST
@customer_page
def entries_import(request):
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, _t("Выберите CSV-файл."))
        return redirect("blacklist:index")
    upload = form.cleaned_data["file"]
    try:
        result = services.entries_import_csv(
            customer=request.customer,
            data=upload.read(services.MAX_IMPORT_BYTES + 1),
            user=request.user,
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("blacklist:index")
    if result.errors:
        messages.error(
            request, _t("Файл не загружен, исправьте строки: ") + "; ".join(result.errors[:20])
        )
    else:
        messages.success(
            request,
            _t("Добавлено: %(added)s, уже были в списке: %(dup)s.")
            % {"added": result.added, "dup": result.duplicates},
        )
    return redirect("blacklist:index")


@require_POST
@customer_page(staff_may_write=True)
def from_call(request, pk: int):
    """An employee adds the caller of a call from the call history."""
    try:
        services.entry_add_from_call(customer=request.customer, call_id=pk, user=request.user)
        messages.success(request, _t("Звонящий добавлен в чёрный список."))
    except CallRecord.DoesNotExist:
        raise Http404("no such call") from None
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect(
        request.POST.get("next") if _own(request.POST.get("next")) else "blacklist:index"
    )


def _own(path: str | None) -> bool:
    return bool(path) and path.startswith("/") and not path.startswith("//") and "\\" not in path
