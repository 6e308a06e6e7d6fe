"""Notifications to a department and the log of every send.

A `Notification` is what happened (a callback request, a failed callback, a missed call); each
`Delivery` is one send of it over one channel to one target, with its result. A portal
`Delivery` (one per user) also leaves a `PortalNotice`: the user's read/unread copy that the
notices page lists.
"""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.directory.models import Department
from portal.tenants.models import Customer


class Notification(models.Model):
    class Kind(models.TextChoices):
        CALLBACK_REQUESTED = "callback_requested", _("Запрос обратного вызова")
        CALLBACK_FAILED = "callback_failed", _("Обратный вызов не состоялся")
        MISSED_CALL = "missed_call", _("Пропущенный вызов")
        VIDEO_LINK = "video_link", _("Ссылка на видеозвонок")
        INTEGRATED = "integrated", _("Интегрированный номер")
        TEST = "test", _("Проверка оповещений")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notifications")
    department = models.ForeignKey(
        Department,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="notifications",
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind}: {self.title}"


class Delivery(models.Model):
    """One send over one channel to one target. Every attempt updates this row."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("e-mail")
        SMS = "sms", _("SMS")
        PORTAL = "portal", _("в портале")
        WEBHOOK = "webhook", _("вебхук")

    class Status(models.TextChoices):
        PENDING = "pending", _("ожидает отправки")
        SENT = "sent", _("отправлено")
        FAILED = "failed", _("не отправлено")

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    # E-mail address, E.164 number, URL or user id, depending on the channel.
    target = models.CharField(max_length=500)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # The last failure can't be fixed by trying again (4xx, bad address, not configured).
    permanent = models.BooleanField(default=False)
    # Due time of the next attempt while pending; a worker holding the row sets claimed_at.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    external_id = models.CharField(max_length=100, blank=True)  # e.g. the Twilio message SID
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="pending"),
                name="delivery_pending_due",
            )
        ]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.channel} → {self.target}: {self.status}"


class PortalNotice(models.Model):
    """A notification as one portal user sees it (unread until they mark it read)."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="notices")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notices"
    )
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["notification", "user"], name="notice_once_per_user")
        ]
        indexes = [
            models.Index(
                fields=["user"], condition=models.Q(read_at__isnull=True), name="notice_unread"
            )
        ]

    @property
    def url(self) -> str:
        return _own_path((self.notification.payload or {}).get("url"))

    def as_message(self) -> dict:
        """What the browser gets over the websocket (and the JSON of the notices page)."""
        n = self.notification
        message = {
            "id": self.pk,
            "kind": n.kind,
            "title": n.title,
            "body": n.body,
            "department": n.department.name if n.department_id else "",
            "created_at": n.created_at.isoformat(),
            "read": self.read_at is not None,
        }
        if self.url:  # where the notice leads (an operator's call card); only our own paths
            message["url"] = self.url
        return message


def _own_path(value) -> str:
    """A path of this site (starts with one "/"), else nothing: never a link elsewhere."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith("//"):
        return value[:300]
    return ""
