"""The notices page: the user's own notices, newest first; mark one or all as read."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from portal.notifications import selectors
from portal.web.access import customer_page


@require_GET
@customer_page
def notice_list(request):
    notices = selectors.notices_for(user=request.user)
    page = Paginator(notices, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "notifications/list.html",
        {"page": page, "unread": selectors.unread_count(user=request.user)},
    )


@require_POST
@customer_page(staff_may_write=True)
def notice_read(request, pk: int):
    notice = get_object_or_404(selectors.notices_for(user=request.user), pk=pk)
    if notice.read_at is None:
        notice.read_at = timezone.now()
        notice.save(update_fields=["read_at"])
    return redirect("notifications:list")


@require_POST
@customer_page(staff_may_write=True)
def notice_read_all(request):
    selectors.notices_for(user=request.user).filter(read_at__isnull=True).update(
        read_at=timezone.now()
    )
    return redirect("notifications:list")
