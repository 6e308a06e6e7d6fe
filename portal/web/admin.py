"""Staff login audit in the Django admin: read-only."""

from __future__ import annotations

from django.contrib import admin

from portal.web.models import LoginAudit


@admin.register(LoginAudit)
class LoginAuditAdmin(admin.ModelAdmin):
    list_display = ["at", "username", "ip", "outcome", "user"]
    list_filter = ["outcome"]
    search_fields = ["username", "ip"]
    date_hierarchy = "at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
