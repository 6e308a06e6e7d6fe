""" "API-токены": customer admins create, name, see the last use of, and revoke API tokens in the
portal (the management command stays for operators). A token's key is shown once, on the page
that created it; only its SHA-256 is stored. Revoking keeps the row (audit trail)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from portal.tenants.models import ApiToken
from portal.web.access import customer_page


class TokenForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Название"),
        max_length=100,
        help_text=gettext_lazy("Для чего токен: например, «CRM» или «Выгрузка в 1С»."),
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError(_("Введите название."))
        return name


def _admin_only(request) -> None:
    if not request.user.is_customer_admin:
        raise PermissionDenied("API tokens are for customer admins")


def _tokens(customer) -> list[ApiToken]:
    return list(
        ApiToken.objects.filter(customer=customer)
        .select_related("created_by")
        .order_by("revoked_at", "-created_at")
    )


@customer_page
@require_http_methods(["GET", "POST"])
def tokens(request):
    _admin_only(request)
    form = TokenForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        token, key = ApiToken.issue(
            customer=request.customer, name=form.cleaned_data["name"], created_by=request.user
        )
        created = {"token": token, "key": key}
        form = TokenForm()
    response = render(
        request,
        "api/tokens.html",
        {"form": form, "tokens": _tokens(request.customer), "created": created},
    )
    if created:
        response["Cache-Control"] = "no-store"  # the key must not stay in a cache
    return response


@customer_page
@require_POST
def revoke(request, pk: int):
    _admin_only(request)
    token = get_object_or_404(ApiToken, pk=pk, customer=request.customer)
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    return redirect("api_pages:tokens")
