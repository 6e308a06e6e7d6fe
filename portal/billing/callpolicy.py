"""Outbound call policy (toll-fraud protection): reads, writes and the paid-calls state.

Where each rule is enforced, and why there:

- **Destination classes and limits** are rendered into the customer dialplan (`pbx.render`)
  from `CallPolicy` and the employees' `CallBarring` rows (the directory's `toll_allow`).
  Those answers are cached (pbx/xmlcache.py), so every write here announces a config change.
- **The spend of the day and the balance** change with every call and are never rendered:
  `paid_calls_reassess` compares them with the cap and the minimum after each charged call,
  payment and accrual (and every 5 minutes, which also lifts a cap at the customer's midnight)
  and flips `CallPolicy.paid_blocked` only when the verdict changes. A flip is announced once
  and tells the customer's admins and the platform, so the cached dialplan holds a flag that
  changes a few times a day at most. A call already running when the cap is reached is not cut;
  the concurrent-call limits bound how far a day can overshoot.
- **Call control** (callback and fictive legs to outside numbers) is not cached and asks
  `outbound_check` right before dialling, against the live balance and spend.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from pbx import destinations
from pbx.destinations import Destination, EmergencyRoute, OutboundPolicy
from portal.billing.models import CallBarring, CallPolicy, LedgerEntry
from portal.billing.selectors import customer_balance
from portal.events import announce_config_change
from portal.tenants.models import Customer, User

log = logging.getLogger(__name__)

Blocked = CallPolicy.Blocked
LIMIT_BOUNDS = {
    "max_calls": (1, 1000),
    "max_calls_per_phone": (1, 100),
    "calls_per_minute": (1, 1000),
}
NOTIFICATION_KIND = "paid_calls_blocked"
CLASS_FIELDS = {
    destinations.INTERNATIONAL: "allow_international",
    destinations.PREMIUM: "allow_premium",
    destinations.SATELLITE: "allow_satellite",
    destinations.SPECIAL: "allow_special",
}


# --- settings --------------------------------------------------------------------------------


def prefix_table() -> dict[str, str]:
    """The platform's prefix table plus `PBX_DESTINATION_PREFIXES` (`+53=blocked,...`)."""
    extra = destinations.parse_prefixes(getattr(settings, "PBX_DESTINATION_PREFIXES", "") or "")
    return {**destinations.PLATFORM_PREFIXES, **extra}


def emergency_route_setting() -> str:
    """`PBX_EMERGENCY_ROUTE` (default: the PSTN gateway, the dialled number unchanged)."""
    route = getattr(settings, "PBX_EMERGENCY_ROUTE", "") or getattr(
        settings, "PBX_PSTN_GATEWAY", "pstn"
    )
    EmergencyRoute.parse(route)  # a bad setting fails loudly, never renders
    return route


def region() -> str:
    return getattr(settings, "PHONE_DEFAULT_REGION", "RU") or "RU"


def max_daily_cap() -> Decimal:
    return Decimal(str(getattr(settings, "PBX_MAX_DAILY_SPEND_CAP", "1000000")))


# --- reads -----------------------------------------------------------------------------------


def _row(customer: Customer) -> CallPolicy | None:
    """The customer's policy row, using a `select_related("call_policy")` when there was one."""
    try:
        return customer.call_policy
    except CallPolicy.DoesNotExist:
        return None


def policy_row(customer: Customer) -> CallPolicy:
    """The customer's policy (an unsaved row with the defaults when there is none)."""
    return _row(customer) or CallPolicy(customer=customer)


def outbound_policy(customer: Customer) -> OutboundPolicy:
    """What the dialplan enforces for `customer` (no query after `select_related`)."""
    row = policy_row(customer)
    allowed = set(destinations.ALWAYS_ALLOWED)
    allowed |= {cls for cls, name in CLASS_FIELDS.items() if getattr(row, name)}
    return OutboundPolicy(
        allowed=frozenset(allowed),
        max_calls=int(row.max_calls),
        max_calls_per_phone=int(row.max_calls_per_phone),
        calls_per_minute=int(row.calls_per_minute),
        paid_blocked=row.paid_blocked or "",
    )


def barred_classes(
    customer_id: int, *, employee_id: int | None = None, policy: OutboundPolicy | None = None
) -> dict[int, frozenset]:
    """Opt-in classes each employee of the customer is kept off: {employee id: classes}.
    Given the customer's `policy` with no opt-in class on, nothing is asked (the usual case:
    the directory lookup stays at its number of queries)."""
    if policy is not None and not policy.allowed & destinations.OPT_IN:
        return {}
    rows = CallBarring.objects.filter(customer_id=customer_id)
    if employee_id is not None:
        rows = rows.filter(employee_id=employee_id)
    barred: dict[int, set[str]] = {}
    for emp, cls in rows.values_list("employee_id", "call_class"):
        barred.setdefault(emp, set()).add(cls)
    return {emp: frozenset(classes) for emp, classes in barred.items()}


def local_today(customer: Customer, now: dt.datetime | None = None) -> dt.date:
    return (now or timezone.now()).astimezone(ZoneInfo(customer.time_zone)).date()


def spend_on(customer: Customer | int, day: dt.date) -> Decimal:
    """Charges for calls of `day` (the customer's local day the calls started)."""
    total = LedgerEntry.objects.filter(
        customer=customer,
        kind=LedgerEntry.Kind.CHARGE,
        category=LedgerEntry.Category.CALLS,
        period_start=day,
    ).aggregate(total=Sum("amount"))["total"]
    return Decimal(total or 0).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class SpendStatus:
    """The tariff page's line: spent today, the cap, and whether paid calls are refused."""

    spent_today: Decimal
    cap: Decimal
    blocked: str

    @property
    def blocked_label(self) -> str:
        return str(Blocked(self.blocked).label) if self.blocked else ""


def spend_status(customer: Customer, now: dt.datetime | None = None) -> SpendStatus:
    row = policy_row(customer)
    return SpendStatus(
        spent_today=spend_on(customer, local_today(customer, now)),
        cap=row.daily_spend_cap,
        blocked=row.paid_blocked or "",
    )


# --- the rule --------------------------------------------------------------------------------


def paid_block_reason(
    *, balance: Decimal, min_balance: Decimal, spent: Decimal, cap: Decimal | None
) -> str:
    """Why paid calls must be refused now ("" = they may go). A low balance wins: it does not
    end at midnight."""
    if balance < min_balance:
        return Blocked.BALANCE
    if cap is not None and spent >= cap:
        return Blocked.SPEND_CAP
    return ""


# --- writes ----------------------------------------------------------------------------------


def _bounded_int(name: str, value: object) -> int:
    low, high = LIMIT_BOUNDS[name]
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        number = None
    if number is None or not low <= number <= high:
        raise ValidationError(
            {name: _("Введите целое число от %(low)s до %(high)s.") % {"low": low, "high": high}}
        )
    return number


def _cap(value: object) -> Decimal:
    try:
        cap = Decimal(str(value).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        cap = None
    if cap is None or not cap.is_finite() or cap < 0 or cap > max_daily_cap():
        raise ValidationError(
            {
                "daily_spend_cap": _("Введите сумму от 0 до %(max)s.")
                % {"max": f"{max_daily_cap():.0f}"}
            }
        )
    return cap.quantize(Decimal("0.01"))


def call_policy_update(
    *,
    customer: Customer,
    classes: dict[str, bool] | None = None,
    limits: dict[str, object] | None = None,
    daily_spend_cap: object | None = None,
    now: dt.datetime | None = None,
) -> CallPolicy:
    """Change the customer's switches (`classes`: {"international": True, ...}), limits and
    daily cap. Validates everything before writing; announces the change after commit and
    re-judges paid calls (a new cap can block or free them at once)."""
    updates: dict[str, object] = {}
    for cls, on in (classes or {}).items():
        if cls not in CLASS_FIELDS:
            raise ValidationError({"classes": _("Неизвестный класс направлений.")})
        updates[CLASS_FIELDS[cls]] = bool(on)
    for name, value in (limits or {}).items():
        if name not in LIMIT_BOUNDS:
            raise ValidationError({name: _("Неизвестный лимит.")})
        updates[name] = _bounded_int(name, value)
    if daily_spend_cap is not None:
        updates["daily_spend_cap"] = _cap(daily_spend_cap)
    with transaction.atomic():
        Customer.objects.select_for_update().get(pk=customer.pk)
        row, _created = CallPolicy.objects.get_or_create(customer=customer)
        changed = [name for name, value in updates.items() if getattr(row, name) != value]
        for name in changed:
            setattr(row, name, updates[name])
        if changed:
            row.save(update_fields=changed)
            announce_config_change(customer_id=customer.pk, what="call_policy")
            log.info("customer %s call policy: %s", customer.pk, ", ".join(sorted(changed)))
    if "daily_spend_cap" in changed:
        paid_calls_reassess(customer_id=customer.pk, now=now)
    return row


def call_barring_set(
    *, customer: Customer, employee_id: int, call_class: str, barred: bool
) -> bool:
    """Keep one employee off (or let them use) an opt-in class. True if anything changed."""
    from portal.directory.models import Employee

    if call_class not in destinations.OPT_IN:
        raise ValidationError({"call_class": _("Неизвестный класс направлений.")})
    employee = Employee.objects.for_customer(customer).filter(pk=employee_id).first()
    if employee is None:
        raise ValidationError({"employee": _("Сотрудник не найден.")})
    with transaction.atomic():
        if barred:
            _row_, created = CallBarring.objects.get_or_create(
                customer=customer, employee=employee, call_class=call_class
            )
            changed = created
        else:
            changed = bool(
                CallBarring.objects.filter(employee=employee, call_class=call_class).delete()[0]
            )
        if changed:
            announce_config_change(customer_id=customer.pk, what="call_policy")
    return changed


def _notify_blocked(customer: Customer, reason: str, spent: Decimal, cap: Decimal) -> None:
    from portal.notifications.services import direct_message

    language = customer.language if customer.language in ("ru", "en") else "ru"
    with translation.override(language):
        if reason == Blocked.SPEND_CAP:
            title = _("Платные звонки остановлены: достигнут дневной лимит расходов")
            body = _(
                "Расходы на звонки сегодня: %(spent)s %(cur)s при лимите %(cap)s %(cur)s. "
                "Новые платные звонки не проходят до конца дня; лимит можно изменить "
                "в разделе «Настроить АТС»."
            ) % {"spent": spent, "cap": cap, "cur": customer.currency}
        else:
            title = _("Платные звонки остановлены: недостаточно средств")
            body = _(
                "Баланс ниже минимального. Новые платные звонки не проходят до пополнения "
                "баланса; экстренные номера доступны всегда."
            )
    admins = User.objects.filter(
        customer=customer, role=User.Role.CUSTOMER_ADMIN, is_active=True
    ).order_by("pk")
    targets: list[tuple[str, str]] = []
    for user in admins:
        targets.append(("portal", str(user.pk)))
        if user.email:
            targets.append(("email", user.email))
    payload = {"reason": reason, "spent": str(spent), "cap": str(cap)}
    if targets:
        direct_message(
            customer_id=customer.pk,
            kind=NOTIFICATION_KIND,
            title=title,
            body=body,
            targets=targets,
            payload=payload,
        )
    platform = list(getattr(settings, "PBX_ABUSE_ALERT_EMAILS", None) or [])
    platform = platform or [email for _name, email in getattr(settings, "ADMINS", [])]
    if platform:
        direct_message(
            customer_id=customer.pk,
            kind=NOTIFICATION_KIND,
            title=f"[{customer.pk}] {title}",
            body=f"{customer.name} (#{customer.pk}): {body}",
            targets=[("email", email) for email in platform],
            payload=payload,
        )


def paid_calls_reassess(*, customer_id: int, now: dt.datetime | None = None) -> str:
    """Judge the customer's paid calls now; flip (and announce, and tell people) only on a
    change. Returns why paid calls are refused ("" = they go)."""
    now = now or timezone.now()
    with transaction.atomic():
        customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
        if customer is None:
            return ""
        row = CallPolicy.objects.filter(customer=customer).first() or CallPolicy(customer=customer)
        today = local_today(customer, now)
        spent = spend_on(customer, today)
        reason = paid_block_reason(
            balance=customer_balance(customer),
            min_balance=row.min_balance,
            spent=spent,
            cap=row.daily_spend_cap,
        )
        was = row.paid_blocked or ""
        new_day = reason == Blocked.SPEND_CAP and was == reason and row.blocked_day != today
        if reason == was and not new_day:
            return reason
        row.paid_blocked = reason
        row.blocked_day = today if reason == Blocked.SPEND_CAP else None
        row.blocked_at = now if reason else None
        row.save()
        if reason != was:
            announce_config_change(customer_id=customer.pk, what="call_policy")
        if reason:
            _notify_blocked(customer, reason, spent, row.daily_spend_cap)
    log.info("customer %s paid calls: %s -> %s", customer_id, was or "open", reason or "open")
    return reason


def paid_calls_reassess_due(now: dt.datetime | None = None) -> int:
    """Periodic task (every 5 minutes): re-judge every customer whose paid calls are refused,
    so a cap lifts after the customer's midnight and a balance topped up by any path frees
    them. Returns how many changed."""
    now = now or timezone.now()
    changed = 0
    for customer_id, was in CallPolicy.objects.exclude(paid_blocked="").values_list(
        "customer_id", "paid_blocked"
    ):
        changed += paid_calls_reassess(customer_id=customer_id, now=now) != was
    return changed


# --- call control's re-check -----------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """`outbound_check`'s verdict: `reason` is "ok" or why not (`invalid`, `emergency`,
    `customer`, `class:<cls>`, `barred:<cls>`, `balance`, `spend_cap`)."""

    allowed: bool
    reason: str
    destination: Destination | None = None


def outbound_check(
    *,
    customer_id: int,
    number: str,
    employee_id: int | None = None,
    now: dt.datetime | None = None,
) -> Check:
    """May call control dial `number` outside for this customer (and employee) now?

    The same classes and switches as the dialplan, plus the live balance and spend of the day
    (call control is not cached, so it need not wait for a flag). Emergency numbers are not
    for call control to dial: they are refused here and routed by the dialplan."""
    customer = Customer.objects.select_related("call_policy").filter(pk=customer_id).first()
    if customer is None or customer.status != Customer.Status.ACTIVE:
        return Check(False, "customer")
    from portal.directory.models import PhoneNumber

    homes = PhoneNumber.objects.filter(customer=customer).values_list("e164", flat=True)[:50]
    destination = destinations.classify(
        number, region=region(), home_numbers=list(homes), prefixes=prefix_table()
    )
    if destination is None:
        return Check(False, "invalid")
    if destination.emergency:
        return Check(False, "emergency", destination)
    policy = outbound_policy(customer)
    if not destinations.allowed(destination.cls, policy.allowed):
        return Check(False, f"class:{destination.cls}", destination)
    if employee_id is not None:
        barred = barred_classes(customer.pk, employee_id=employee_id).get(employee_id, ())
        if not destinations.allowed(destination.cls, policy.allowed, barred):
            return Check(False, f"barred:{destination.cls}", destination)
    row = policy_row(customer)
    reason = paid_block_reason(
        balance=customer_balance(customer),
        min_balance=row.min_balance,
        spent=spend_on(customer, local_today(customer, now)),
        cap=row.daily_spend_cap,
    )
    if reason:
        return Check(False, reason, destination)
    return Check(True, "ok", destination)
