"""Auto-redial ("Автодозвон", seed 003): requests, their timeline, subscribers' settings.

Everything the feature knows is a row: the request with its status and due times, every step
as a `RedialEvent`, the claim a node holds while it dials. Call control keeps nothing that a
restart could lose (rules.py for the rules, services.py for the write path).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from portal.directory.models import Employee
from portal.redial import rules
from portal.tenants.models import Customer


class SubscriberSettings(models.Model):
    """What eligibility needs to know about a phone (an employee) as caller and as callee."""

    employee = models.OneToOneField(
        Employee, on_delete=models.CASCADE, related_name="redial_settings"
    )
    call_waiting = models.BooleanField(_("ожидание вызова"), default=False)
    forwarding = models.BooleanField(_("переадресация при занятости/недоступности"), default=False)
    roaming = models.BooleanField(_("в роуминге"), default=False)
    voicemail = models.BooleanField(_("голосовая почта или «Всегда на связи»"), default=False)
    blacklist = models.TextField(
        _("чёрный список (фильтр вызовов)"),
        blank=True,
        help_text=_("добавочные или номера, по одному в строке"),
    )

    def blocks(self, *numbers: str) -> bool:
        listed = {line.strip().lstrip("+") for line in self.blacklist.splitlines() if line.strip()}
        return any(n and n.lstrip("+") in listed for n in numbers)


class RedialLimits(models.Model):
    """Per-customer limits that keep auto-redial from being abused."""

    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, related_name="redial_limits"
    )
    max_open_per_caller = models.PositiveSmallIntegerField(
        _("одновременных заявок на звонящего"), default=3
    )
    max_per_minute = models.PositiveSmallIntegerField(_("заявок в минуту"), default=10)


class RedialRequest(models.Model):
    class Status(models.TextChoices):
        REFUSED = rules.REFUSED, _("не предложен")
        OFFERED = rules.OFFERED, _("предложен")
        ACCEPTED = rules.ACCEPTED, _("принят, ждём абонента")
        DECLINED = rules.DECLINED, _("отклонён, ждём абонента")
        PUSH_WAIT = rules.PUSH_WAIT, _("ждём абонента, чтобы предложить")
        PUSHED = rules.PUSHED, _("предложение отправлено")
        CONNECTING = rules.CONNECTING, _("соединяем")
        FLASHING = rules.FLASHING, _("короткий вызов")
        DONE = rules.DONE, _("завершён")

    class Outcome(models.TextChoices):
        CONNECTED = rules.CONNECTED, _("соединены")
        FLASHED = rules.FLASHED, _("пропущенный вызов абоненту")
        SMS = rules.SMS, _("SMS абоненту")
        NOT_CONNECTED = rules.NOT_CONNECTED, _("не соединены")
        FLASH_ANSWERED = rules.FLASH_ANSWERED, _("абонент ответил на короткий вызов")

    class Reason(models.TextChoices):
        CAUSE = rules.NOT_OFFERED_CAUSE, _("причина отбоя не занято/недоступен")
        OPTION_OFF = rules.OPTION_OFF, _("опция отключена")
        SAME_PERSON = rules.SAME_PERSON, _("звонок самому себе")
        BALANCE = rules.LOW_BALANCE, _("недостаточно средств")
        BLACKLISTED = rules.BLACKLISTED, _("в чёрном списке абонента")
        CALL_WAITING = rules.CALL_WAITING, _("у абонента ожидание вызова")
        FORWARDING = rules.FORWARDING, _("у звонящего переадресация")
        ROAMING = rules.ROAMING, _("звонящий в роуминге")
        LIMIT_OPEN = rules.TOO_MANY_OPEN, _("слишком много открытых заявок")
        LIMIT_RATE = rules.TOO_MANY_PER_MINUTE, _("слишком много заявок в минуту")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="redials")
    # One of the customer's phones, or (a call from outside to a company number) nobody of
    # theirs: then `caller_number` is the outside caller's E.164 and `called_number` the
    # company number they dialled (shown to them when we call back).
    caller = models.ForeignKey(
        Employee,
        on_delete=models.CASCADE,
        related_name="redials_made",
        verbose_name=_("кто"),
        null=True,
        blank=True,
    )
    caller_number = models.CharField(_("номер звонящего"), max_length=20, blank=True)
    called_number = models.CharField(max_length=20, blank=True)
    callee = models.ForeignKey(
        Employee, on_delete=models.CASCADE, related_name="redials_received", verbose_name=_("кому")
    )
    origin_uuid = models.CharField(max_length=64, unique=True)
    cause = models.CharField(_("причина отбоя"), max_length=40)
    kind = models.CharField(max_length=16, blank=True)  # busy / unreachable
    status = models.CharField(_("статус"), max_length=16, choices=Status.choices)
    reason = models.CharField(_("причина"), max_length=16, choices=Reason.choices, blank=True)
    outcome = models.CharField(_("итог"), max_length=16, choices=Outcome.choices, blank=True)
    created_at = models.DateTimeField(_("создана"))
    decided_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)  # end of the window while waiting
    callee_back_at = models.DateTimeField(null=True, blank=True)
    # The Call-ID of the registration the callee's phone had when the call failed (registered
    # but not answering): a refresh of it is not "back", a new registration is.
    callee_registration = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(_("попыток соединения"), default=0)
    retry_at = models.DateTimeField(null=True, blank=True)  # the next connection attempt
    finished_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=100, blank=True)
    claim_expires_at = models.DateTimeField(null=True, blank=True)
    push_token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    caller_uuid = models.CharField(max_length=64, blank=True)
    callee_uuid = models.CharField(max_length=64, blank=True)
    # When call control kills the ringing flash leg (`callee_uuid`): a row claimed by its tick,
    # not a timer in its memory (services.claim_flash_ends).
    flash_end_at = models.DateTimeField(null=True, blank=True, db_index=True)
    sms = models.ForeignKey(
        "notifications.Delivery", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "due_at"]),
            models.Index(fields=["customer", "callee", "status"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status=rules.REFUSED) | ~Q(reason=""), name="redial_refusal_has_reason"
            ),
        ]

    @property
    def caller_label(self) -> str:
        if self.caller_id:
            return f"{self.caller.extension} {self.caller.name}"
        return self.caller_number

    @property
    def caller_short(self) -> str:
        return self.caller.extension if self.caller_id else self.caller_number


class PhoneRegistration(models.Model):
    """The registration a phone holds now (from `sofia::register`), by its Call-ID: written
    only when the Call-ID changes, removed when the registration ends. It tells a phone's
    routine refresh (same Call-ID) from a new registration."""

    employee = models.OneToOneField(
        Employee, on_delete=models.CASCADE, related_name="redial_registration"
    )
    call_id = models.CharField(max_length=200)
    registered_at = models.DateTimeField()


class RedialEvent(models.Model):
    """One step of a request's timeline."""

    request = models.ForeignKey(RedialRequest, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField()
    kind = models.CharField(max_length=32)
    detail = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["at", "pk"]
