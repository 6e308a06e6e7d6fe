"""Re-rate a period explicitly: `manage.py rerate --from 2026-10-01 --to 2026-10-31
--reason "deck fixed" [--customer 7] [--by ivanov]`. Logged as a RatingRun."""

from __future__ import annotations

import datetime as dt
import getpass

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.billing.rating import calls_rerate_period
from portal.tenants.models import Customer


class Command(BaseCommand):
    help = "Rate the outgoing calls of a period again with today's rate decks (logged)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="start", required=True, type=dt.date.fromisoformat)
        parser.add_argument("--to", dest="end", required=True, type=dt.date.fromisoformat)
        parser.add_argument("--reason", required=True)
        parser.add_argument("--customer", type=int)
        parser.add_argument("--by", default="")

    def handle(self, *args, **options) -> None:
        customer = None
        if options["customer"] is not None:
            customer = Customer.objects.filter(pk=options["customer"]).first()
            if customer is None:
                raise CommandError(f"no customer {options['customer']}")
        if options["end"] < options["start"]:
            raise CommandError("--to is before --from")
        run = calls_rerate_period(
            start=options["start"],
            end=options["end"],
            customer=customer,
            reason=options["reason"],
            requested_by=options["by"] or getpass.getuser(),
        )
        self.stdout.write(
            f"rating run {run.pk}: {run.calls} calls changed, "
            f"{run.charged_more} charged, {run.credited} credited"
        )
