"""The send log for the platform operator: every notification with each delivery's result."""

from django.contrib import admin

from portal.notifications.models import Delivery, Notification


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    fields = ["channel", "target", "status", "attempts", "permanent", "last_error", "sent_at"]
    readonly_fields = fields


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "customer", "department", "kind", "title"]
    list_filter = ["kind"]
    search_fields = ["title", "customer__name"]
    readonly_fields = ["customer", "department", "kind", "title", "body", "payload"]
    inlines = [DeliveryInline]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "notification", "channel", "target", "status", "attempts", "sent_at"]
    list_filter = ["channel", "status", "permanent"]
    search_fields = ["target", "external_id", "last_error"]
    readonly_fields = [f.name for f in Delivery._meta.fields]
