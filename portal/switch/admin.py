from django.contrib import admin

from portal.switch.models import ConfigChange, Node, NodeSync


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin):
    list_display = ["name", "host", "port", "is_configured", "esl_state", "esl_state_changed_at"]
    readonly_fields = ["esl_state", "esl_state_changed_at", "last_event_at", "last_error"]


@admin.register(ConfigChange)
class ConfigChangeAdmin(admin.ModelAdmin):
    list_display = ["id", "customer", "what", "created_at"]
    list_filter = ["what"]


@admin.register(NodeSync)
class NodeSyncAdmin(admin.ModelAdmin):
    list_display = ["node", "applied_change_id", "applied_at", "last_attempt_at"]
