"""Rows of the web app: throttle counters (when there is no Redis) and the staff login audit."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ThrottleCounter(models.Model):
    """Hits of one throttle key in one fixed window (`portal.web.throttle`, database backend).

    Incremented only by one `INSERT ... ON CONFLICT DO UPDATE ... RETURNING` statement, so two
    concurrent requests can never both read the same count."""

    key = models.CharField(max_length=120)
    window_start = models.BigIntegerField()  # epoch seconds, a multiple of the window
    count = models.IntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "window_start"], name="throttle_key_window")
        ]


class LoginAudit(models.Model):
    """One staff login attempt: who (as typed), from where, and what came of it."""

    class Outcome(models.TextChoices):
        SUCCESS = "success", _("вход")
        FAILURE = "failure", _("неверный пароль")
        LOCKED = "locked", _("заблокировано: слишком много попыток")

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    username = models.CharField(max_length=150)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("попытка входа")
        verbose_name_plural = _("попытки входа")
