"""Calls: call recordings (and, with the FreeSWITCH core, CDRs)."""

from __future__ import annotations

from django.db import models

from portal.tenants.models import Customer


class Recording(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="recordings")
    path = models.CharField(max_length=500)
    size_bytes = models.BigIntegerField(default=0)
    duration_seconds = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
