"""Portal pages of the voice prompts: list with players, upload and removal of own recordings.

Everyone of the customer may listen; only customer admins may upload or remove (the
`customer_page` decorator answers 403 to any other POST). Audio is served only through these
views: a customer's recording is looked up through the customer, so another tenant's id is 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from portal.prompts import catalog, services
from portal.prompts.forms import PromptUploadForm
from portal.prompts.models import CustomPrompt
from portal.prompts.selectors import custom_file, default_path
from portal.web.access import customer_page


def _check(language: str, key: str) -> catalog.Prompt:
    if not catalog.is_language(language):
        raise Http404("unknown language")
    try:
        return catalog.get(key)
    except catalog.UnknownPrompt:
        raise Http404("unknown prompt")


def _page_language(request) -> str:
    for code in (request.GET.get("lang"), request.customer.language):
        if catalog.is_language(code):
            return code
    return catalog.FALLBACK_LANGUAGE


def _list_url(language: str, key: str | None = None) -> str:
    url = f"{reverse('prompts:list')}?lang={language}"
    return f"{url}#prompt-{key}" if key else url


def _render_list(request, language: str, *, failed: tuple[str, PromptUploadForm] | None = None):
    customer = request.customer
    customs = {
        c.key: c for c in CustomPrompt.objects.for_customer(customer).filter(language=language)
    }
    groups: dict[str, list[dict]] = {}
    for prompt in catalog.PROMPTS.values():
        form = failed[1] if failed and failed[0] == prompt.key else None
        groups.setdefault(str(prompt.group), []).append(
            {
                "key": prompt.key,
                "purpose": prompt.purpose,
                "text": prompt.text(language),
                "custom": customs.get(prompt.key),
                "has_default": default_path(prompt.key, language).is_file(),
                "form": form,
            }
        )
    context = {
        "language": language,
        "languages": catalog.LANGUAGES.items(),
        "groups": groups.items(),
        "can_edit": request.user.is_customer_admin,
        "max_bytes": services.upload_max_bytes(),
        "max_seconds": services.upload_max_seconds(),
        "custom_count": len(customs),
    }
    return render(request, "prompts/list.html", context, status=400 if failed is not None else 200)


@customer_page
@require_GET
def prompt_list(request):
    return _render_list(request, _page_language(request))


@customer_page
@require_POST
def upload(request, language: str, key: str):
    prompt = _check(language, key)
    form = PromptUploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.custom_prompt_upload(
                customer=request.customer,
                key=prompt.key,
                language=language,
                data=form.data_bytes,
                original_name=form.cleaned_data["file"].name,
                user=request.user,
            )
        except services.PromptUploadError as exc:
            form.add_error("file", str(exc))
        else:
            messages.success(
                request,
                _("Запись «%(purpose)s» загружена: звонящие слышат её вместо стандартной.")
                % {"purpose": prompt.purpose},
            )
            return redirect(_list_url(language, key))
    return _render_list(request, language, failed=(key, form))


@customer_page
@require_POST
def delete(request, language: str, key: str):
    prompt = _check(language, key)
    if services.custom_prompt_delete(customer=request.customer, key=key, language=language):
        messages.success(
            request,
            _("Своя запись «%(purpose)s» удалена: звонящие снова слышат стандартную.")
            % {"purpose": prompt.purpose},
        )
    return redirect(_list_url(language, key))


def _wav_response(path, download_name: str):
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise Http404("no such file")
    response = FileResponse(fh, content_type="audio/wav", filename=download_name)
    response["Cache-Control"] = "private, max-age=0, must-revalidate"
    return response


@customer_page
@require_GET
def default_audio(request, language: str, key: str):
    _check(language, key)
    return _wav_response(default_path(key, language), f"{language}-{key}.wav")


@customer_page
@require_GET
def custom_audio(request, pk: int):
    custom = get_object_or_404(CustomPrompt.objects.for_customer(request.customer), pk=pk)
    return _wav_response(custom_file(custom), f"{custom.language}-{custom.key}-custom.wav")
