"""Portal pages: exports (a form, the list with progress bars, downloads) and documents (the
customer's invoices and acts, their details; the platform's list of all of them per month).

Customer pages go through `customer_page` (everyone of the customer may look, only admins may
start an export or change details) and every lookup through `request.customer`, so another
tenant's export or document is a 404. Platform pages are for staff users only.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from portal.exports import documents as docs
from portal.exports import services
from portal.exports.forms import DetailsForm, ExportForm, MonthForm
from portal.exports.models import CustomerDetails, Document, Export
from portal.web.access import customer_page

LIST_SIZE = 30


def _default_period() -> dict:
    today = timezone.localdate()
    first = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    return {"date_from": first, "date_to": today, "kind": "cdrs", "format": "csv"}


def _export_page(request, *, customer, exports, template, post_url):
    if request.method == "POST":
        form = ExportForm(request.POST, customer=customer)
        if form.is_valid():
            services.export_request(
                customer=customer,
                user=request.user,
                kind=form.cleaned_data["kind"],
                format=form.cleaned_data["format"],
                filters=form.filters(),
            )
            messages.success(request, _("Выгрузка поставлена в очередь."))
            return redirect(post_url)
    else:
        form = ExportForm(initial=_default_period(), customer=customer)
    return render(
        request,
        template,
        {"form": form, "exports": exports[:LIST_SIZE], "platform": customer is None},
        status=400 if form.is_bound else 200,
    )


@customer_page
@require_http_methods(["GET", "POST"])
def export_index(request):
    exports = Export.objects.filter(customer=request.customer)
    return _export_page(
        request,
        customer=request.customer,
        exports=exports,
        template="exports/index.html",
        post_url=reverse("exports:index"),
    )


def _status(export: Export, url_name: str) -> dict:
    return {
        "id": str(export.token),
        "kind": export.kind,
        "format": export.format,
        "status": export.status,
        "status_label": str(export.get_status_display()),
        "progress": export.progress,
        "rows_done": export.rows_done,
        "rows_total": export.rows_total,
        "url": reverse(url_name, args=[export.token])
        if export.status == Export.Status.DONE
        else None,
    }


@customer_page
@require_GET
def export_status(request, token):
    export = get_object_or_404(Export, token=token, customer=request.customer)
    return JsonResponse(_status(export, "exports:download"))


def _download(export: Export):
    if export.status != Export.Status.DONE:
        raise Http404
    path = services.export_path(export)
    if not path.exists():
        raise Http404
    return FileResponse(open(path, "rb"), as_attachment=True, filename=export.file_name)


@customer_page
@require_GET
def export_download(request, token):
    return _download(get_object_or_404(Export, token=token, customer=request.customer))


@customer_page
@require_http_methods(["GET", "POST"])
def document_index(request):
    customer = request.customer
    details = CustomerDetails.objects.filter(customer=customer).first()
    if request.method == "POST":
        form = DetailsForm(request.POST, instance=details)
        if form.is_valid():
            obj = form.save(commit=False)
            obj.customer = customer
            obj.save()
            messages.success(request, _("Реквизиты сохранены."))
            return redirect("exports:documents")
    else:
        form = DetailsForm(instance=details, initial={"legal_name": customer.name})
    return render(
        request,
        "exports/documents.html",
        {"form": form, "documents": Document.objects.filter(customer=customer)},
        status=400 if form.is_bound else 200,
    )


def _pdf(document: Document) -> HttpResponse:
    response = HttpResponse(docs.render_pdf(document), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{document.kind}-{document.seq}.pdf"'
    return response


@customer_page
@require_GET
def document_pdf(request, pk: int):
    return _pdf(get_object_or_404(Document, pk=pk, customer=request.customer))


# --- platform ----------------------------------------------------------------------------------


def platform_page(view):
    def wrapper(request, *args, **kwargs):
        if not request.user.is_staff or request.user.customer_id is not None:
            raise PermissionDenied("platform staff only")
        return view(request, *args, **kwargs)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return login_required(wrapper)


@platform_page
@require_http_methods(["GET", "POST"])
def platform_exports(request):
    return _export_page(
        request,
        customer=None,
        exports=Export.objects.filter(customer__isnull=True),
        template="exports/index.html",
        post_url=reverse("exports:platform_exports"),
    )


@platform_page
@require_GET
def platform_export_status(request, token):
    export = get_object_or_404(Export, token=token, customer__isnull=True)
    return JsonResponse(_status(export, "exports:platform_download"))


@platform_page
@require_GET
def platform_export_download(request, token):
    return _download(get_object_or_404(Export, token=token, customer__isnull=True))


@platform_page
@require_http_methods(["GET", "POST"])
def platform_documents(request):
    today = timezone.localdate()
    previous = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    form = MonthForm(request.POST or request.GET or {"month": previous.strftime("%Y-%m")})
    if not form.is_valid():
        return render(
            request, "exports/platform_documents.html", {"form": form, "rows": []}, status=400
        )
    month = form.first_day()
    if request.method == "POST":
        created = docs.documents_issue(month=month)
        messages.success(request, _("Выписано документов: %(n)d.") % {"n": len(created)})
        return redirect(f"{reverse('exports:platform_documents')}?month={month:%Y-%m}")
    documents = Document.objects.filter(month=month).select_related("customer")
    return render(
        request,
        "exports/platform_documents.html",
        {"form": form, "month": month, "documents": documents},
    )


@platform_page
@require_GET
def platform_document_pdf(request, pk: int):
    return _pdf(get_object_or_404(Document, pk=pk))
