"""The platform's number inventory in the Django admin (platform operators)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from portal.directory.models import PhoneNumber, PlatformNumber
from portal.directory.phone import to_e164


class PlatformNumberForm(forms.ModelForm):
    class Meta:
        model = PlatformNumber
        fields = ["e164", "is_available", "note"]

    def clean_e164(self) -> str:
        return to_e164(self.cleaned_data["e164"])  # stored as E.164 whatever the spelling


@admin.register(PlatformNumber)
class PlatformNumberAdmin(admin.ModelAdmin):
    form = PlatformNumberForm
    list_display = ["e164", "is_available", "holder", "note", "added_at"]
    list_filter = ["is_available"]
    search_fields = ["e164", "note"]
    readonly_fields = ["added_at"]

    @admin.display(description=_("у клиента"))
    def holder(self, obj: PlatformNumber) -> str:
        held = PhoneNumber.objects.filter(e164=obj.e164).select_related("customer").first()
        return str(held.customer) if held else "—"

    def get_readonly_fields(self, request, obj=None):
        # a number's digits never change once customers can hold it: remove and add instead
        return [*self.readonly_fields, "e164"] if obj else self.readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and PhoneNumber.objects.filter(e164=obj.e164).exists():
            return False  # held by a customer
        return super().has_delete_permission(request, obj)
