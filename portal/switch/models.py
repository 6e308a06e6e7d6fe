"""FreeSWITCH nodes, the config changes to push to them, and how far each node has applied them.

The call-control service (`manage.py callcontrol`) writes the ESL state of each node and records
push results; the portal only reads them (status page, `manage.py check_switch`).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.tenants.models import Customer


class Node(models.Model):
    """One FreeSWITCH node from settings.FREESWITCH_NODES (upserted by nodes_sync_from_settings)."""

    class EslState(models.TextChoices):
        CONNECTED = "connected", _("подключено")
        DISCONNECTED = "disconnected", _("нет соединения")
        AUTH_FAILED = "auth_failed", _("ошибка аутентификации")
        ERROR = "error", _("ошибка")

    name = models.CharField(max_length=64, unique=True)
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField()
    # False once the node disappears from settings (rows are kept for their history).
    is_configured = models.BooleanField(default=True)
    esl_state = models.CharField(
        max_length=16, choices=EslState.choices, default=EslState.DISCONNECTED
    )
    # Null until the call-control service has reported on this node at least once.
    esl_state_changed_at = models.DateTimeField(null=True, blank=True)
    last_event_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("узел FreeSWITCH")
        verbose_name_plural = _("узлы FreeSWITCH")

    def __str__(self) -> str:
        return self.name


class ConfigChange(models.Model):
    """Something FreeSWITCH renders from changed. The id is the generation number of the config."""

    # Nullable so that a change survives its customer's deletion (the node still has to flush).
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    what = models.CharField(max_length=32)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.what} c{self.customer_id}"


class NodeSync(models.Model):
    """How far one node has applied the config changes (one row per node)."""

    node = models.OneToOneField(Node, on_delete=models.CASCADE, related_name="sync")
    applied_change_id = models.BigIntegerField(default=0)
    applied_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"{self.node_id}: {self.applied_change_id}"


class ActiveCall(models.Model):
    """A channel carrying our tags (`pbx_flow`, `pbx_job`...) that has not hung up yet.

    Written by call control when such a channel is created or answered, deleted at its
    CHANNEL_HANGUP_COMPLETE (portal/switch/store.py). After an ESL reconnect every row of that
    node is checked with `uuid_exists`: a channel that ended while we were not listening is
    handed to its flow as a lost hangup, once. (The table kept its name from when the model
    lived in `pbx`, which now has no models.)
    """

    uuid = models.UUIDField(primary_key=True)
    node = models.CharField(max_length=64, db_index=True)
    flow = models.CharField(max_length=64, blank=True)
    variables = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "pbx_activecall"

    def __str__(self) -> str:
        return f"{self.node}:{self.uuid}"
