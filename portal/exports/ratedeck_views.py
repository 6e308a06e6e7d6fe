"""The platform's rate decks page: the decks with their rate counts, and a CSV upload that
imports a whole file or, with the error of every bad line, nothing (portal.billing.ratedeck)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db.models import Count
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from portal.billing.models import RateDeck, Tariff
from portal.billing.ratedeck import RateDeckImportError, rate_deck_import
from portal.exports.views import platform_page
from portal.tenants.models import Customer

MAX_UPLOAD = 20 * 1024 * 1024


class UploadForm(forms.Form):
    tariff = forms.ModelChoiceField(
        label=gettext_lazy("Тариф"), queryset=Tariff.objects.all(), required=False
    )
    customer = forms.IntegerField(label=gettext_lazy("или ID клиента"), required=False, min_value=1)
    file = forms.FileField(label=gettext_lazy("CSV-файл"))

    def clean(self):
        data = super().clean()
        tariff, customer = data.get("tariff"), data.get("customer")
        if bool(tariff) == bool(customer):
            raise forms.ValidationError(_("Выберите тариф или укажите клиента."))
        if customer and not Customer.objects.filter(pk=customer).exists():
            self.add_error("customer", _("Нет такого клиента."))
        upload = data.get("file")
        if upload and upload.size > MAX_UPLOAD:
            self.add_error("file", _("Файл больше 20 МБ."))
        return data

    def deck(self) -> RateDeck:
        tariff, customer = self.cleaned_data["tariff"], self.cleaned_data["customer"]
        if tariff:
            return RateDeck.objects.get_or_create(tariff=tariff, defaults={"name": tariff.name})[0]
        owner = Customer.objects.get(pk=customer)
        return RateDeck.objects.get_or_create(customer=owner, defaults={"name": owner.name[:120]})[
            0
        ]


@platform_page
@require_http_methods(["GET", "POST"])
def rate_decks(request):
    errors: list[tuple[int, str]] = []
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        deck = form.deck()
        try:
            result = rate_deck_import(deck=deck, data=form.cleaned_data["file"].read())
        except RateDeckImportError as exc:
            errors = exc.errors
        else:
            messages.success(
                request,
                _("Загружено ставок: %(n)d (%(deck)s).") % {"n": result.created, "deck": deck},
            )
            return redirect("exports:rate_decks")
    decks = RateDeck.objects.select_related("tariff", "customer").annotate(
        rates_count=Count("rates")
    )
    return render(
        request,
        "exports/rate_decks.html",
        {"form": form, "errors": errors, "decks": decks},
        status=400 if request.method == "POST" else 200,
    )
