"""State the call-control service keeps in the database (the source of truth, not memory)."""

from __future__ import annotations

from django.db import models


class ActiveCall(models.Model):
    """A channel carrying our tags (`pbx_flow`, `pbx_job`...) that has not hung up yet.

    Written when such a channel is created or answered, deleted at its CHANNEL_HANGUP_COMPLETE.
    After an ESL reconnect every row of that node is checked with `uuid_exists`: a channel that
    ended while we were not listening is handed to its flow as a lost hangup, once.
    """

    uuid = models.UUIDField(primary_key=True)
    node = models.CharField(max_length=64, db_index=True)
    flow = models.CharField(max_length=64, blank=True)
    variables = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.node}:{self.uuid}"
