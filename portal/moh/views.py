"""Portal page of custom hold music ("Настроить АТС" → "Музыка ожидания"): one file for every
caller and, where wanted, one per department. Everything is looked up through
`request.customer`: another tenant's file or department is a 404."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from portal.billing.models import Option
from portal.billing.selectors import option_enabled
from portal.directory.models import Department
from portal.moh import selectors, services
from portal.moh.models import HoldMusic
from portal.web.access import customer_page


class UploadForm(forms.Form):
    department = forms.ModelChoiceField(
        queryset=Department.objects.none(),
        required=False,
        empty_label=_("все звонящие"),
        label=_("Для кого"),
    )
    file = forms.FileField(label=_("Файл"))

    def __init__(self, *args, customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = Department.objects.filter(customer=customer)


def _page(request, form=None, status=200):
    customer = request.customer
    return render(
        request,
        "moh/index.html",
        {
            "rows": selectors.hold_music_list(customer.pk),
            "form": form or UploadForm(customer=customer),
            "enabled": option_enabled(customer.pk, Option.MOH),
            "can_edit": request.user.is_customer_admin,
            "max_bytes": services.max_upload_bytes(),
            "max_minutes": services.max_seconds() // 60,
            "used": services.storage_used_bytes(customer.pk),
            "quota": services.storage_quota_bytes(customer),
        },
        status=status,
    )


@customer_page
@require_GET
def index(request):
    return _page(request)


@customer_page
@require_POST
def upload(request):
    form = UploadForm(request.POST, request.FILES, customer=request.customer)
    if form.is_valid():
        try:
            services.hold_music_upload(
                customer=request.customer,
                department=form.cleaned_data["department"],
                upload=form.cleaned_data["file"],
                user=request.user,
            )
        except ValidationError as exc:
            form.add_error("file", exc)
        except services.HoldMusicError as exc:
            form.add_error("file", str(exc))
        else:
            messages.success(request, _t("Музыка ожидания сохранена."))
            return redirect("moh:index")
    return _page(request, form, status=400)


@customer_page
@require_POST
def delete(request, pk: int):
    if not services.hold_music_delete(customer=request.customer, pk=pk):
        raise Http404("no such hold music")
    messages.success(request, _t("Музыка ожидания удалена: звучит стандартная."))
    return redirect("moh:index")


@customer_page
@require_GET
def audio_file(request, pk: int):
    music = get_object_or_404(HoldMusic.objects.filter(customer=request.customer), pk=pk)
    try:
        fh = open(selectors.music_file(music), "rb")
    except FileNotFoundError:
        raise Http404("no such file")
    response = FileResponse(fh, content_type="audio/wav", filename=f"hold-music-{music.pk}.wav")
    response["Cache-Control"] = "private, max-age=0, must-revalidate"
    return response
