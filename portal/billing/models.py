"""Tariffs, the option catalog, per-customer option periods and the ledger.

Money is Decimal everywhere (two places, the customer's currency). The ledger is append-only:
every charge and payment is one row; a balance is payments minus charges.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from portal.tenants.models import Customer

NON_NEGATIVE = [MinValueValidator(Decimal("0"))]


def money_field(verbose_name, **kwargs) -> models.DecimalField:
    return models.DecimalField(
        verbose_name, max_digits=12, decimal_places=2, validators=NON_NEGATIVE, **kwargs
    )


class Tariff(models.Model):
    name = models.CharField(_("название"), max_length=80, unique=True)
    monthly_fee = money_field(_("абонентская плата в месяц"))
    employees_included = models.PositiveIntegerField(_("сотрудников включено"), default=0)
    multichannel_numbers_included = models.PositiveIntegerField(
        _("многоканальных номеров включено"), default=0
    )
    regular_numbers_included = models.PositiveIntegerField(_("обычных номеров включено"), default=0)
    recording_storage_gb = models.PositiveIntegerField(_("хранение записей, ГБ"), default=0)
    extra_employee_price = money_field(_("доп. сотрудник в месяц"), default=Decimal("0"))
    extra_multichannel_number_price = money_field(
        _("доп. многоканальный номер в месяц"), default=Decimal("0")
    )
    extra_number_price = money_field(_("доп. номер в месяц"), default=Decimal("0"))
    storage_package_gb = models.PositiveIntegerField(_("пакет хранения, ГБ"), default=5)
    storage_package_price = money_field(_("пакет хранения в месяц"), default=Decimal("0"))
    outgoing_minute_price = money_field(_("исходящий звонок, за минуту"), default=Decimal("0"))
    # Minutes of calls to destinations marked `included` in the rate deck that each customer
    # of the tariff gets free per calendar month (customer's time zone).
    included_minutes = models.PositiveIntegerField(_("минут включено в месяц"), default=0)

    class Meta:
        ordering = ["monthly_fee", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(monthly_fee__gte=0)
                & Q(extra_employee_price__gte=0)
                & Q(extra_multichannel_number_price__gte=0)
                & Q(extra_number_price__gte=0)
                & Q(storage_package_price__gte=0)
                & Q(outgoing_minute_price__gte=0),
                name="tariff_prices_non_negative",
            )
        ]
        verbose_name = _("тариф")
        verbose_name_plural = _("тарифы")

    def __str__(self) -> str:
        return self.name


class Option(models.Model):
    """One entry of the option catalog ("Обратный вызов", "АОН", ...)."""

    # Codes the product's code relies on; the catalog may hold more.
    CALLBACK = "callback"
    CALLER_ID = "caller_id"
    AUTO_REDIAL = "auto_redial"
    CALL_RECORDING = "call_recording"
    FICTIVE_NUMBERS = "fictive_numbers"
    INTEGRATED_NUMBER = "integrated_number"
    VIDEO_ASSISTANT = "video_assistant"
    MOH = "moh"
    CONFERENCE = "conference"
    BLACKLIST = "blacklist"
    CRM = "crm"
    IVR = "ivr"
    VOICEMAIL = "voicemail"
    CALL_FORWARDING = "call_forwarding"

    code = models.SlugField(max_length=40, unique=True)
    name_ru = models.CharField(max_length=120)
    name_en = models.CharField(max_length=120)
    description_ru = models.TextField(blank=True)
    description_en = models.TextField(blank=True)
    monthly_price = money_field(_("плата в месяц"))
    sort_order = models.PositiveIntegerField(default=100)
    is_available = models.BooleanField(default=True)

    class Meta:
        ordering = ["sort_order", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(monthly_price__gte=0), name="option_price_non_negative"
            )
        ]

    def __str__(self) -> str:
        return self.code

    def name(self, language: str) -> str:
        return self.name_en if language.startswith("en") else self.name_ru

    def description(self, language: str) -> str:
        return self.description_en if language.startswith("en") else self.description_ru


class OptionPeriod(models.Model):
    """A span during which a customer had an option switched on. `ended_at` null = still on.

    An option is charged for every local day on which it was on at any moment.
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="option_periods")
    option = models.ForeignKey(Option, on_delete=models.PROTECT, related_name="periods")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["started_at", "id"]
        constraints = [
            # At most one open period per customer and option: "on" is a single fact.
            models.UniqueConstraint(
                fields=["customer", "option"],
                condition=Q(ended_at__isnull=True),
                name="one_open_option_period",
            )
        ]


class LedgerEntry(models.Model):
    class Kind(models.TextChoices):
        CHARGE = "charge", _("начисление")
        PAYMENT = "payment", _("платёж")

    class Category(models.TextChoices):
        TARIFF = "tariff", _("Тариф")
        EXTRA_MULTICHANNEL_NUMBERS = "extra_multichannel_numbers", _("Доп. мнг. номера")
        EXTRA_NUMBERS = "extra_numbers", _("Доп. номера")
        EXTRA_SERVICES = "extra_services", _("Доп. услуги")
        CALLS = "calls", _("Звонки")
        PAYMENT = "payment", _("Платёж")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="ledger")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    category = models.CharField(max_length=32, choices=Category.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=2, validators=NON_NEGATIVE)
    currency = models.CharField(max_length=3, default="RUB")
    period_start = models.DateField()
    period_end = models.DateField()
    description = models.CharField(max_length=255, blank=True)
    details = models.JSONField(default=dict, blank=True)
    # What produced the row ("accrual:2026-10-17:tariff", "cdr:<uuid>", "payment:<ref>"):
    # unique per customer, so a job that runs twice writes once.
    source_key = models.CharField(max_length=120)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-period_start", "-id"]
        indexes = [models.Index(fields=["customer", "period_start"])]
        constraints = [
            models.UniqueConstraint(fields=["customer", "source_key"], name="ledger_source_unique"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="ledger_amount_non_negative"),
            models.CheckConstraint(
                condition=Q(period_end__gte=models.F("period_start")), name="ledger_period_ordered"
            ),
        ]
        verbose_name = _("запись журнала")
        verbose_name_plural = _("журнал начислений и платежей")


class AccrualDay(models.Model):
    """Marks a (customer, day) as accrued. Created in the same transaction as its entries."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="accrual_days")
    day = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "day"], name="accrual_day_unique")
        ]


class CallPolicy(models.Model):
    """A customer's outbound call policy (toll-fraud protection). No row: the defaults below.

    The class switches and limits are rendered into the customer's dialplan (changed only by
    `portal.billing.callpolicy` services, which announce a config change). `paid_blocked` is the
    state that the spend and the balance move: it flips rarely (the daily cap reached, the
    balance below `min_balance`, a payment, midnight) and each flip is announced once, so the
    cached dialplan never has to know the spend of the day or the balance.
    """

    class Blocked(models.TextChoices):
        NO = "", _("нет")
        SPEND_CAP = "spend_cap", _("достигнут дневной лимит расходов")
        BALANCE = "balance", _("недостаточно средств")

    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, related_name="call_policy", primary_key=True
    )
    allow_international = models.BooleanField(_("международные"), default=False)
    allow_premium = models.BooleanField(_("платные (premium, shared-cost)"), default=False)
    allow_satellite = models.BooleanField(_("спутниковые"), default=False)
    allow_special = models.BooleanField(_("специальные"), default=True)
    max_calls = models.PositiveIntegerField(_("одновременных исходящих звонков"), default=10)
    max_calls_per_phone = models.PositiveIntegerField(
        _("одновременных исходящих с одного телефона"), default=2
    )
    calls_per_minute = models.PositiveIntegerField(_("исходящих звонков в минуту"), default=20)
    daily_spend_cap = money_field(_("лимит расходов на звонки в день"), default=Decimal("3000"))
    min_balance = models.DecimalField(
        _("минимальный баланс для платных звонков"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("0"),
    )
    paid_blocked = models.CharField(max_length=16, choices=Blocked.choices, default="", blank=True)
    blocked_day = models.DateField(null=True, blank=True)  # local day the cap was reached
    blocked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(daily_spend_cap__gte=0), name="call_policy_cap_non_negative"
            )
        ]


class CallBarring(models.Model):
    """An employee kept off a class the customer switched on (international, premium...)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="call_barrings")
    employee = models.ForeignKey(
        "directory.Employee", on_delete=models.CASCADE, related_name="call_barrings"
    )
    call_class = models.CharField(max_length=16)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["employee", "call_class"], name="call_barring_unique")
        ]


class RateDeck(models.Model):
    """Per-destination prices: one deck per tariff, and optionally one per customer that
    overrides it prefix by prefix (a customer's rate wins over the tariff's for the same or a
    shorter prefix; a longer tariff prefix still wins over a shorter customer one)."""

    name = models.CharField(_("название"), max_length=120)
    tariff = models.OneToOneField(
        Tariff, null=True, blank=True, on_delete=models.CASCADE, related_name="rate_deck"
    )
    customer = models.OneToOneField(
        Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="rate_deck"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(tariff__isnull=True, customer__isnull=False)
                | Q(tariff__isnull=False, customer__isnull=True),
                name="rate_deck_one_owner",
            )
        ]
        verbose_name = _("тарифная сетка")
        verbose_name_plural = _("тарифные сетки")

    def __str__(self) -> str:
        return self.name


class Rate(models.Model):
    """The price of calls to numbers starting with `prefix` (E.164 digits, no "+"), for calls
    that start in [valid_from, valid_to). A call is rated entirely at the rate valid when it
    started, even if the rate changes while it lasts."""

    deck = models.ForeignKey(RateDeck, on_delete=models.CASCADE, related_name="rates")
    prefix = models.CharField(_("префикс"), max_length=15)
    destination = models.CharField(_("направление"), max_length=120, blank=True)
    minute_price = models.DecimalField(
        _("цена минуты"), max_digits=12, decimal_places=4, validators=NON_NEGATIVE
    )
    first_increment = models.PositiveIntegerField(_("первый интервал, с"), default=60)
    next_increment = models.PositiveIntegerField(_("следующие интервалы, с"), default=60)
    min_duration = models.PositiveIntegerField(_("минимальная длительность, с"), default=0)
    connection_fee = money_field(_("плата за соединение"), default=Decimal("0"))
    included = models.BooleanField(_("входит во включённые минуты"), default=False)
    valid_from = models.DateTimeField(_("действует с"))
    valid_to = models.DateTimeField(_("действует до"), null=True, blank=True)

    class Meta:
        ordering = ["deck", "prefix", "valid_from"]
        indexes = [models.Index(fields=["deck", "prefix", "valid_from"], name="rate_lookup")]
        constraints = [
            models.CheckConstraint(
                condition=Q(minute_price__gte=0) & Q(connection_fee__gte=0),
                name="rate_prices_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(first_increment__gte=1) & Q(next_increment__gte=1),
                name="rate_increments_positive",
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=models.F("valid_from")),
                name="rate_validity_ordered",
            ),
        ]


class RatingRun(models.Model):
    """One explicit re-rating of a period (who, why, what changed): the log of the command."""

    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    period_start = models.DateField()
    period_end = models.DateField()
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL)
    requested_by = models.CharField(max_length=150)
    reason = models.CharField(max_length=255)
    calls = models.PositiveIntegerField(default=0)
    charged_more = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    credited = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))

    class Meta:
        ordering = ["-started_at", "-id"]
