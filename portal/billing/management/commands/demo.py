"""Create the demo customer "Клиент 1" whose "Тариф и опции" page shows the seed-001 screen.

Nothing here types a figure of that screen. It replays a history through the real services:
the customer joins on the 17th of the latest finished 31-day month on tariff "Средний" with two
multichannel numbers (one included, one extra), one regular number and ten employees, nine
options on from day one, "Видеоассистент" switched on the 24th and "Автодозвон" the 29th;
the daily accrual job then runs for every day up to the 31st and a payment settles the month.
The page for that month then reads 1052.55 ₽ = 628.95 + 130.65 + 0 + 292.95, balance 0 ₽.
"""

from __future__ import annotations

import calendar
import datetime as dt
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from portal.billing import catalog, selectors, services
from portal.billing.models import Tariff
from portal.directory.models import Department, Employee, PhoneNumber, PlatformNumber
from portal.tenants.models import Customer, User

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


def latest_31_day_month(today: dt.date) -> dt.date:
    """First day of the latest month with 31 days that has fully passed before `today`."""
    month = today.replace(day=1)
    while True:
        month = (month - dt.timedelta(days=1)).replace(day=1)
        if calendar.monthrange(month.year, month.month)[1] == 31:
            return month


class Command(BaseCommand):
    help = "Create (or re-create) the demo customer of seed 001 and print how to log in."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--month", help="YYYY-MM of a 31-day month (default: latest one)")

    def handle(self, *args, **options) -> None:
        tz = ZoneInfo("Europe/Moscow")
        if options["month"]:
            month = dt.date.fromisoformat(options["month"] + "-01")
        else:
            month = latest_31_day_month(timezone.now().astimezone(tz).date())
        customer = create_demo_customer(month=month, tz=tz, log=self.stdout.write)
        page = selectors.tariff_page(customer=customer, month=month)
        self.stdout.write(
            f"Accrued in {month:%Y-%m}: {page.accrued_total} ₽ "
            f"({', '.join(f'{k} {v}' for k, v in page.accrued.items())}); "
            f"balance {page.balance} ₽; {page.enabled_count} options, {page.options_fee} ₽/month"
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo customer ready. Log in as {DEMO_USERNAME} / {DEMO_PASSWORD}, "
                f"page: /pbx/tariff/?month={month:%Y-%m}"
            )
        )


@transaction.atomic
def create_demo_customer(*, month: dt.date, tz: ZoneInfo, log=lambda _msg: None) -> Customer:
    days = calendar.monthrange(month.year, month.month)[1]
    if days != 31:
        raise ValueError("the seed-001 figures are those of a 31-day month")
    catalog.ensure()
    Customer.objects.filter(name=DEMO_NAME).delete()
    User.objects.filter(username=DEMO_USERNAME).delete()

    def at(day: int, hour: int = 9) -> dt.datetime:
        return dt.datetime(month.year, month.month, day, hour, tzinfo=tz)

    join = month.replace(day=JOIN_DAY)
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
    sales = Department.objects.create(
        customer=customer,
        name="Отдел продаж",
        notify_callback=True,
        notification_emails="sales@example.com",
    )
    support = Department.objects.create(customer=customer, name="Поддержка")
    for n in range(10):
        Employee.objects.create(
            customer=customer,
            department=sales if n < 6 else support,
            name=f"Сотрудник {n + 1}",
            extension=str(101 + n),
            caller_id_option=n == 0,
        )
    for e164, kind, dept in [
        ("+74950000001", PhoneNumber.Kind.MULTICHANNEL, sales),
        ("+74950000002", PhoneNumber.Kind.MULTICHANNEL, support),
        ("+74950000003", PhoneNumber.Kind.REGULAR, sales),
    ]:
        PlatformNumber.objects.get_or_create(e164=e164)  # the platform's numbers, picked
        PhoneNumber.objects.create(customer=customer, e164=e164, kind=kind, department=dept)
    # They all came with the contract, on the join day.
    Employee.objects.filter(customer=customer).update(created_at=at(JOIN_DAY))
    PhoneNumber.objects.filter(customer=customer).update(created_at=at(JOIN_DAY))

    for code in OPTIONS_FROM_DAY_ONE:
        services.option_set(customer=customer, code=code, enabled=True, now=at(JOIN_DAY))
    for day in range(JOIN_DAY, days + 1):
        for code, switch_day in LATER_OPTIONS.items():
            if switch_day == day:
                services.option_set(customer=customer, code=code, enabled=True, now=at(day, 11))
        services.accrue_customer_day(customer, month.replace(day=day))
    log(f"accrued {days - JOIN_DAY + 1} days of {month:%Y-%m}")

    owed = -selectors.customer_balance(customer)
    services.payment_record(
        customer=customer, amount=owed, reference=f"demo-{month:%Y-%m}", on=month.replace(day=days)
    )
    return customer
