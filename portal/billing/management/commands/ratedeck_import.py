"""Import a rate deck from CSV: `manage.py ratedeck_import --tariff Средний rates.csv`
(or `--customer <id>` for a customer's own deck). All lines or none; errors per line."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.billing.models import RateDeck, Tariff
from portal.billing.ratedeck import RateDeckImportError, rate_deck_import
from portal.tenants.models import Customer


class Command(BaseCommand):
    help = "Import rates from a CSV file into a tariff's or a customer's rate deck."

    def add_arguments(self, parser: CommandParser) -> None:
        owner = parser.add_mutually_exclusive_group(required=True)
        owner.add_argument("--tariff", help="tariff name")
        owner.add_argument("--customer", type=int, help="customer id (an override deck)")
        parser.add_argument("file", type=Path)

    def handle(self, *args, **options) -> None:
        if options["tariff"]:
            tariff = Tariff.objects.filter(name=options["tariff"]).first()
            if tariff is None:
                raise CommandError(f"no tariff {options['tariff']!r}")
            deck, _ = RateDeck.objects.get_or_create(tariff=tariff, defaults={"name": tariff.name})
        else:
            customer = Customer.objects.filter(pk=options["customer"]).first()
            if customer is None:
                raise CommandError(f"no customer {options['customer']}")
            deck, _ = RateDeck.objects.get_or_create(
                customer=customer, defaults={"name": customer.name[:120]}
            )
        try:
            result = rate_deck_import(deck=deck, data=options["file"].read_bytes())
        except RateDeckImportError as exc:
            for line, message in exc.errors:
                self.stderr.write(f"line {line}: {message}")
            raise CommandError(f"{len(exc.errors)} error(s), nothing imported") from exc
        self.stdout.write(self.style.SUCCESS(f"{result.created} rates imported into {deck}"))
