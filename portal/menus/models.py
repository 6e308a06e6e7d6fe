"""Voice menus, working-hours schedules and which numbers start with a menu.

A destination ("target") is one short string, parsed and checked by `portal.menus.rules`:
`menu:<id>`, `dept:<id>`, `emp:<id>`, `number:<E.164>`, `voicemail:<id>`, `repeat`, `hangup`.
Services check that every id in it belongs to the same customer before saving; the pure
rules refuse at call time whatever is no longer there.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

KEY_CHOICES = [(k, k) for k in "1234567890*#"]
TARGET_MAX = 40


class Schedule(models.Model):
    """Working hours: weekly spans in a time zone, with exceptions (holidays, short days)."""

    customer = models.ForeignKey(
        "tenants.Customer", on_delete=models.CASCADE, related_name="schedules"
    )
    name = models.CharField(_("название"), max_length=120)
    time_zone = models.CharField(_("часовой пояс"), max_length=64, default="Europe/Moscow")

    class Meta:
        ordering = ["customer_id", "name", "id"]

    def __str__(self) -> str:
        return self.name


class ScheduleSpan(models.Model):
    """Open on `weekday` (0 = Monday) from `opens` to `closes`; `closes` at or before `opens`
    runs past midnight into the next day (00:00-00:00 is the whole day)."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="spans")
    weekday = models.PositiveSmallIntegerField(_("день недели"))
    opens = models.TimeField(_("с"))
    closes = models.TimeField(_("до"))

    class Meta:
        ordering = ["weekday", "opens", "id"]
        constraints = [models.CheckConstraint(condition=Q(weekday__lte=6), name="span_weekday")]


class ScheduleException(models.Model):
    """A date with its own hours: closed all day (a holiday) or open `opens`-`closes`."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="exceptions")
    date = models.DateField(_("дата"))
    opens = models.TimeField(_("с"), null=True, blank=True)
    closes = models.TimeField(_("до"), null=True, blank=True)
    note = models.CharField(_("заметка"), max_length=120, blank=True)

    class Meta:
        ordering = ["date", "id"]
        constraints = [
            models.UniqueConstraint(fields=["schedule", "date"], name="one_exception_per_date")
        ]


class Menu(models.Model):
    customer = models.ForeignKey("tenants.Customer", on_delete=models.CASCADE, related_name="menus")
    name = models.CharField(_("название"), max_length=120)
    timeout_seconds = models.PositiveSmallIntegerField(_("ждать нажатия, с"), default=5)
    max_retries = models.PositiveSmallIntegerField(_("повторов при ошибке"), default=2)
    direct_dial = models.BooleanField(_("можно набрать внутренний номер"), default=False)
    default_target = models.CharField(
        _("после последней попытки"), max_length=TARGET_MAX, default="hangup"
    )

    class Meta:
        ordering = ["customer_id", "name", "id"]

    def __str__(self) -> str:
        return self.name


class MenuPrompt(models.Model):
    """What callers hear: the greeting, or the menu's own "wrong key" / "no key" message, in
    one language; a text spoken by the prompt generator or an uploaded recording."""

    class Kind(models.TextChoices):
        GREETING = "greeting", _("Приветствие")
        INVALID = "invalid", _("Неверная клавиша")
        TIMEOUT = "timeout", _("Ничего не нажато")

    menu = models.ForeignKey(Menu, on_delete=models.CASCADE, related_name="prompts")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    language = models.CharField(max_length=8)
    text = models.TextField(_("текст"), blank=True)
    uploaded = models.BooleanField(default=False)
    # Relative to PROMPTS_DIR, built from ids only: customers/<c>/menus/m<menu>-<kind>-<lang>-<hex>.wav
    file_path = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["menu_id", "kind", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["menu", "kind", "language"], name="one_menu_prompt_per_language"
            )
        ]


class MenuOption(models.Model):
    """A key of a menu and where it leads; with a schedule, `target` inside working hours and
    `closed_target` outside them."""

    menu = models.ForeignKey(Menu, on_delete=models.CASCADE, related_name="options")
    key = models.CharField(_("клавиша"), max_length=1, choices=KEY_CHOICES)
    label = models.CharField(_("подпись"), max_length=120, blank=True)
    target = models.CharField(_("куда"), max_length=TARGET_MAX)
    schedule = models.ForeignKey(
        Schedule, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_target = models.CharField(_("в нерабочее время"), max_length=TARGET_MAX, blank=True)

    class Meta:
        ordering = ["menu_id", "key"]
        constraints = [
            models.UniqueConstraint(fields=["menu", "key"], name="one_option_per_key"),
        ]


class NumberRoute(models.Model):
    """A number that starts with a menu (or, by schedule, somewhere else)."""

    customer = models.ForeignKey(
        "tenants.Customer", on_delete=models.CASCADE, related_name="number_routes"
    )
    number = models.OneToOneField(
        "directory.PhoneNumber", on_delete=models.CASCADE, related_name="menu_route"
    )
    target = models.CharField(_("куда"), max_length=TARGET_MAX)
    schedule = models.ForeignKey(
        Schedule, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_target = models.CharField(_("в нерабочее время"), max_length=TARGET_MAX, blank=True)

    class Meta:
        ordering = ["number_id"]
