"""Create the demo customer "Клиент 1" whose "Тариф и опции" page shows the seed-001 screen.

Nothing here types a figure of that screen. It replays a history through the real services:
the customer's contract starts on the 17th of a 31-day month on tariff "Средний" with two
multichannel numbers (one included, one extra), one regular number and ten employees, nine
options on from the start, "Видеоассистент" switched on the 24th and "Автодозвон" the 29th;
the daily accrual then charges every day from the 17th to the 31st and a payment settles the
account. The page for that month reads 1052.55 ₽ = 628.95 + 130.65 + 0 + 292.95, balance 0 ₽.

Which month: by default the **current** month of the customer (Moscow), so the page opened on
the day the demo is started is the seed's screen, headed "Начислено в текущем месяце". Daily
accrual can only have charged 15 days of a 31-day month on its last day, so on any other day
the demo accrues the seed's days of the current month at once, ahead of the calendar, and the
payment covers them: the daily job then finds those days already charged (its AccrualDay
marker) and charges nothing until the 1st of the next month, and the days before the 17th are
before the contract (`activated_on`). Balance 0 and the seed's figures hold every day of the
demo's month. In a 30-day month (or February) the same days are charged at that month's daily
price: the figures are then that month's, not the seed's, and the command says so.

`--history` (on by default in the command) adds the four weeks of use before today through
the features' own services (portal/billing/demo_history.py): their calls are billed by the
normal rating path and the settling payment covers them too, so the balance stays 0.

Run it again and the demo customer (with its history) is replaced, never doubled.
"""

from __future__ import annotations

import calendar
import datetime as dt
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from portal.billing import catalog, demo_history, selectors, services
from portal.billing.models import Tariff
from portal.calls.models import CallRecord
from portal.directory.models import Department, Employee, PhoneNumber, PlatformNumber
from portal.fictive.models import Shopper
from portal.tenants.models import Customer, User
from portal.video.models import VideoSession

DEMO_NAME = "Клиент 1"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-pbx-2026"
OPTIONS_FROM_DAY_ONE = [
    "caller_id",
    "call_recording",
    "fictive_numbers",
    "integrated_number",
    "ivr",
    "voicemail",
    "call_forwarding",
    "blacklist",
    "moh",
]
LATER_OPTIONS = {"video_assistant": 24, "auto_redial": 29}
JOIN_DAY = 17
SEED_MONTH_DAYS = 31
NUMBERS = [
    ("+74950000001", PhoneNumber.Kind.MULTICHANNEL, "sales"),
    ("+74950000002", PhoneNumber.Kind.MULTICHANNEL, "support"),
    ("+74950000003", PhoneNumber.Kind.REGULAR, "sales"),
]


def latest_31_day_month(today: dt.date) -> dt.date:
    """First day of the latest month with 31 days that has fully passed before `today`."""
    month = today.replace(day=1)
    while True:
        month = (month - dt.timedelta(days=1)).replace(day=1)
        if calendar.monthrange(month.year, month.month)[1] == 31:
            return month


def current_month(tz: ZoneInfo, now: dt.datetime | None = None) -> dt.date:
    """First day of the month the customer (in `tz`) is in now."""
    return (now or timezone.now()).astimezone(tz).date().replace(day=1)


class Command(BaseCommand):
    help = "Create (or re-create) the demo customer of seed 001 and print how to log in."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--month", help="YYYY-MM (default: the current month)")
        parser.add_argument(
            "--no-history",
            action="store_true",
            help="only the tariff page's figures, no calls, callbacks, chats...",
        )

    def handle(self, *args, **options) -> None:
        tz = ZoneInfo("Europe/Moscow")
        now = timezone.now()
        month = current_month(tz, now)
        if options["month"]:
            month = dt.date.fromisoformat(options["month"] + "-01")
        customer = create_demo_customer(
            month=month, tz=tz, now=now, history=not options["no_history"], log=self.stdout.write
        )
        page = selectors.tariff_page(customer=customer, month=month)
        self.stdout.write(
            f"Accrued in {month:%Y-%m}: {page.accrued_total} ₽ "
            f"({', '.join(f'{k} {v}' for k, v in page.accrued.items())}); "
            f"balance {page.balance} ₽; {page.enabled_count} options, {page.options_fee} ₽/month"
        )
        days = calendar.monthrange(month.year, month.month)[1]
        if days != SEED_MONTH_DAYS:
            self.stdout.write(
                self.style.WARNING(
                    f"{month:%Y-%m} has {days} days: the figures are pro-rata of this month; "
                    "seed 001's (1052.55 ₽) are those of a 31-day month (--month=YYYY-MM)."
                )
            )
        query = "" if month == current_month(tz, now) else f"?month={month:%Y-%m}"
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo customer ready. Log in as {DEMO_USERNAME} / {DEMO_PASSWORD}, "
                f"page: /pbx/tariff/{query}"
            )
        )


def create_demo_customer(
    *,
    month: dt.date,
    tz: ZoneInfo,
    now: dt.datetime | None = None,
    history: bool = False,
    log=lambda _msg: None,
) -> Customer:
    """The demo customer of `month`, settled to balance 0 as of `now` (see the module)."""
    now = now or timezone.now()
    days = calendar.monthrange(month.year, month.month)[1]
    customer = _create(month=month, tz=tz, now=now, history=history)
    if history:
        counts = demo_history.fill(customer, now=now)
        log("history: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    with transaction.atomic():
        for day in range(JOIN_DAY, days + 1):
            services.accrue_customer_day(customer, month.replace(day=day))
        log(f"accrued {days - JOIN_DAY + 1} days of {month:%Y-%m}")
        owed = -selectors.customer_balance(customer)
        if owed > 0:
            services.payment_record(
                customer=customer,
                amount=owed,
                reference=f"demo-{month:%Y-%m}",
                on=min(now.astimezone(tz).date(), month.replace(day=days)),
            )
    return customer


def _at(month: dt.date, tz: ZoneInfo, day: int, hour: int = 9) -> dt.datetime:
    return dt.datetime(month.year, month.month, day, hour, tzinfo=tz)


@transaction.atomic
def _create(*, month: dt.date, tz: ZoneInfo, now: dt.datetime, history: bool) -> Customer:
    catalog.ensure()
    for old in Customer.objects.filter(name=DEMO_NAME):
        # Their CDRs outlive a deleted customer (kept unattributed): a demo's go with it.
        CallRecord.objects.filter(customer=old).delete()
        # A specialist's sessions keep their user, a project its shoppers (PROTECT): the
        # demo's go first.
        VideoSession.objects.filter(customer=old).delete()
        Shopper.objects.filter(customer=old).delete()
        old.delete()
    User.objects.filter(username=DEMO_USERNAME).delete()

    join = month.replace(day=JOIN_DAY)
    # The phones and numbers were set up when the history starts (or on the join day).
    set_up = _at(month, tz, JOIN_DAY)
    if history:
        set_up = min(set_up, now - dt.timedelta(days=demo_history.HISTORY_DAYS + 1))
    customer = Customer.objects.create(
        name=DEMO_NAME,
        tariff=Tariff.objects.get(name="Средний"),
        time_zone=str(tz),
        activated_on=join,
    )
    User.objects.create_user(
        username=DEMO_USERNAME,
        password=DEMO_PASSWORD,
        customer=customer,
        role=User.Role.CUSTOMER_ADMIN,
        first_name="Демо",
    )
    departments = {
        # Notices in the portal only: a demo never mails or texts anybody.
        "sales": Department.objects.create(
            customer=customer,
            name="Отдел продаж",
            notify_callback=True,
            notify_email=False,
            notify_portal=True,
        ),
        "support": Department.objects.create(
            customer=customer, name="Поддержка", notify_email=False
        ),
    }
    for n in range(10):
        Employee.objects.create(
            customer=customer,
            department=departments["sales"] if n < 6 else departments["support"],
            name=f"Сотрудник {n + 1}",
            extension=str(101 + n),
            caller_id_option=n == 0,
        )
    for e164, kind, dept in NUMBERS:
        PlatformNumber.objects.get_or_create(e164=e164)  # the platform's numbers, picked
        PhoneNumber.objects.create(
            customer=customer, e164=e164, kind=kind, department=departments[dept]
        )
    Employee.objects.filter(customer=customer).update(created_at=set_up)
    PhoneNumber.objects.filter(customer=customer).update(created_at=set_up)

    for code in OPTIONS_FROM_DAY_ONE:
        services.option_set(customer=customer, code=code, enabled=True, now=set_up)
    # Switched on later in the month (maybe days ahead of today: the demo's month is charged
    # in advance, see above); on from now for the features that ask.
    for code, day in LATER_OPTIONS.items():
        services.option_set(customer=customer, code=code, enabled=True, now=_at(month, tz, day, 11))
    return customer
