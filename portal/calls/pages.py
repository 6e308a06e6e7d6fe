"""The customer's "История звонков" page: calls of a period, searchable by number, employee,
direction and status, paginated, with each counted recording played in the page and
downloadable. Recordings are for the customer's administrators; another customer's call is a
404 (never a 403 that would confirm it exists)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from portal.billing.selectors import GB, option_enabled
from portal.calls import history
from portal.web.access import customer_page


@customer_page
@require_GET
def call_history(request: HttpRequest) -> HttpResponse:
    customer = request.customer
    form = history.HistoryForm(request.GET or None, customer=customer)
    invalid = form.is_bound and not form.is_valid()
    filters = form.filters()
    calls = history.call_history(customer, **filters) if not invalid else []
    page = Paginator(calls, history.PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    used = history.storage_used(customer)
    context = {
        "form": form,
        "period": filters["period"],
        "presets": form.preset_links(),
        "page": page,
        "query": query.urlencode(),
        "employee": form.cleaned_data.get("employee") if not invalid and form.is_bound else None,
        "can_listen": request.user.is_customer_admin,
        "storage_used_gb": f"{used / GB:.2f}",
        # an employee puts the caller of an incoming call on the blacklist from here
        "blacklist_on": option_enabled(customer.pk, "blacklist"),
    }
    return render(request, "calls/history.html", context, status=400 if invalid else 200)


@customer_page
@require_GET
def recording(request: HttpRequest, pk: int) -> FileResponse:
    """The call's recording, played in the page or (`?download=1`) saved as a file."""
    found = history.recording_file(request.customer, pk)
    if found is None:
        raise Http404("no such recording")
    if not request.user.is_customer_admin:
        raise PermissionDenied("recordings are for the customer's administrators")
    call, file = found
    download = request.GET.get("download") == "1"
    response = FileResponse(
        file.open("rb"),
        content_type=history.content_type(file),
        as_attachment=download,
        filename=f"call-{call.pk}{file.suffix}",
    )
    response["Cache-Control"] = "private, no-store"
    return response
