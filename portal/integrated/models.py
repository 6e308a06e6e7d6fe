"""Integrated numbers (seed 000): a customer's service whose numbers carry a mark, callers with
accounts tied to their phone number, trusted persons, and a chat tied to a live call.

A call is live from the moment an employee of the service answers (FreeSWITCH events through
the call-control service) until either leg hangs up. Only the operator who answered may enable
its chat; the chat is visible to the caller, their trusted persons (by a personal expiring
link) and the operator, nobody else.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.directory.models import Employee, PhoneNumber
from portal.tenants.models import Customer


class IntegratedService(models.Model):
    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, related_name="integrated_service"
    )
    name = models.CharField(_("название сервиса"), max_length=120)
    description = models.CharField(_("краткое описание"), max_length=300, blank=True)
    info_url = models.URLField(_("ссылка на информацию"), blank=True)
    numbers = models.ManyToManyField(PhoneNumber, blank=True, related_name="integrated_services")


class Operator(models.Model):
    """Which portal user an employee (a phone that answers calls) is."""

    employee = models.OneToOneField(Employee, on_delete=models.CASCADE, related_name="operator")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="operator"
    )
    last_seen_at = models.DateTimeField(null=True, blank=True)


class Caller(models.Model):
    phone = models.CharField(_("телефон"), max_length=16, unique=True)
    name = models.CharField(_("имя"), max_length=120, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    located_at = models.DateTimeField(null=True, blank=True)

    @property
    def map_url(self) -> str:
        if self.latitude is None:
            return ""
        return f"https://www.openstreetmap.org/?mlat={self.latitude:.6f}&mlon={self.longitude:.6f}"


class LoginCode(models.Model):
    phone = models.CharField(max_length=16, db_index=True)
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used = models.BooleanField(default=False)


class TrustedPerson(models.Model):
    caller = models.ForeignKey(Caller, on_delete=models.CASCADE, related_name="trusted")
    name = models.CharField(_("имя"), max_length=120)
    phone = models.CharField(_("телефон"), max_length=16, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    notify_calls = models.BooleanField(_("сообщать о звонках"), default=True)
    share_location = models.BooleanField(_("передавать геопозицию"), default=True)

    class Meta:
        ordering = ["pk"]


class IntegratedCall(models.Model):
    uuid = models.CharField(max_length=64, unique=True)  # the caller's leg
    operator_uuid = models.CharField(max_length=64, blank=True)
    service = models.ForeignKey(IntegratedService, on_delete=models.CASCADE, related_name="calls")
    number = models.ForeignKey(PhoneNumber, on_delete=models.CASCADE, related_name="+")
    caller = models.ForeignKey(
        Caller, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    caller_number = models.CharField(max_length=16)
    operator = models.ForeignKey(
        Employee, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    chat_enabled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]

    @property
    def live(self) -> bool:
        return self.ended_at is None


class ChatMessage(models.Model):
    call = models.ForeignKey(IntegratedCall, on_delete=models.CASCADE, related_name="messages")
    author = models.CharField(max_length=8)  # caller / operator
    text = models.TextField(blank=True)
    photo = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]


class TrustedLink(models.Model):
    call = models.ForeignKey(IntegratedCall, on_delete=models.CASCADE, related_name="links")
    person = models.ForeignKey(TrustedPerson, on_delete=models.CASCADE, related_name="links")
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
