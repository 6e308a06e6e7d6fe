"""Video assistant (seed 004): sessions a specialist opens for a customer by a link.

The link's token is stored hashed; the browser that accepts the policy is bound to the session by
a key in a cookie (also hashed), so a forwarded or reused link does not work elsewhere (a mere GET,
such as a mail scanner's preview, binds nothing). Consent,
the answer about location and every chat message are rows; annotations are counted.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.tenants.models import Customer

DEFAULT_POLICY = (
    "Во время видеозвонка мы видим изображение с камеры вашего телефона и слышим вас. "
    "Звонок не записывается. Фотографии из чата хранятся вместе с обращением. "
    "Геопозиция передаётся, только если вы разрешите."
)


class VideoSettings(models.Model):
    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, related_name="video_settings"
    )
    policy_text = models.TextField(_("политика конфиденциальности"), default=DEFAULT_POLICY)
    website = models.URLField(_("сайт, куда перейти после звонка"), default="https://example.com/")
    link_hours = models.PositiveSmallIntegerField(_("ссылка действует, часов"), default=24)


class VideoSession(models.Model):
    class Status(models.TextChoices):
        NEW = "new", _("ссылка отправлена")
        OPENED = "opened", _("ссылка открыта")
        LIVE = "live", _("идёт звонок")
        ENDED = "ended", _("завершён")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="video_sessions")
    specialist = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="video_sessions"
    )
    client_name = models.CharField(_("клиент"), max_length=120)
    client_phone = models.CharField(_("телефон"), max_length=16, blank=True)
    client_email = models.EmailField(_("e-mail"), blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.NEW)
    token_hash = models.CharField(max_length=64, unique=True)
    browser_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    opened_at = models.DateTimeField(null=True, blank=True)
    consent_at = models.DateTimeField(_("согласие"), null=True, blank=True)
    location_answered_at = models.DateTimeField(null=True, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    annotations = models.PositiveIntegerField(_("пометок"), default=0)

    class Meta:
        ordering = ["-created_at", "-pk"]

    @property
    def location_refused(self) -> bool:
        return self.location_answered_at is not None and self.latitude is None

    @property
    def duration(self):
        if self.started_at and self.ended_at:
            return self.ended_at - self.started_at
        return None


class VideoMessage(models.Model):
    class Author(models.TextChoices):
        SPECIALIST = "specialist", _("специалист")
        CLIENT = "client", _("клиент")

    session = models.ForeignKey(VideoSession, on_delete=models.CASCADE, related_name="messages")
    author = models.CharField(max_length=12, choices=Author.choices)
    text = models.TextField(blank=True)
    photo = models.CharField(max_length=200, blank=True)  # path under MEDIA_ROOT
    reply_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
