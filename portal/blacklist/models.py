"""Blacklist rows: the customer's settings, the entries, and the log of rejected calls."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.blacklist import rules
from portal.tenants.models import Customer


class BlacklistSettings(models.Model):
    class Action(models.TextChoices):
        BUSY = "busy", _("занято")
        PROMPT = "prompt", _("сообщение, затем отбой")

    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, related_name="blacklist_settings"
    )
    action = models.CharField(
        _("что слышит звонящий"), max_length=8, choices=Action.choices, default=Action.BUSY
    )
    block_anonymous = models.BooleanField(_("отклонять звонки со скрытых номеров"), default=False)

    class Meta:
        verbose_name = _("настройки чёрного списка")


class BlacklistEntry(models.Model):
    class Kind(models.TextChoices):
        NUMBER = rules.NUMBER, _("номер")
        PREFIX = rules.PREFIX, _("префикс")

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="blacklist_entries"
    )
    kind = models.CharField(_("вид"), max_length=8, choices=Kind.choices, default=Kind.NUMBER)
    # E.164 digits without "+" (portal.blacklist.rules.normalise)
    digits = models.CharField(_("цифры"), max_length=15)
    comment = models.CharField(_("комментарий"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "digits"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "kind", "digits"], name="blacklist_entry_unique"
            )
        ]
        verbose_name = _("запись чёрного списка")

    def __str__(self) -> str:
        return self.display

    @property
    def display(self) -> str:
        return f"+{self.digits}" + ("…" if self.kind == rules.PREFIX else "")

    def as_rule(self) -> rules.Entry:
        return rules.Entry(kind=self.kind, digits=self.digits, id=self.pk)
