"""Platform pages: FreeSWITCH nodes (platform operators only)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.views.decorators.http import require_GET

from portal.switch.selectors import node_status_rows

REFRESH_SECONDS = 10


@require_GET
@login_required
def status(request):
    if not request.user.is_staff:
        raise PermissionDenied
    return render(
        request,
        "switch/status.html",
        {"rows": node_status_rows(), "refresh_seconds": REFRESH_SECONDS},
    )
