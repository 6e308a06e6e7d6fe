"""`manage.py platform_numbers`: the numbers the platform owns, which customers pick from.

manage.py platform_numbers add +74950000001 +74950000002 --note "MTS, contract 17"
manage.py platform_numbers add-range +74951230000 100      # +74951230000 .. +74951230099
manage.py platform_numbers list [--free]
manage.py platform_numbers remove +74950000001             # only while no customer holds it
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.directory import services
from portal.directory.models import PhoneNumber, PlatformNumber
from portal.directory.phone import to_e164

MAX_RANGE = 10_000


class Command(BaseCommand):
    help = "Add, list and remove the platform's numbers (the inventory customers pick from)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="add numbers")
        add.add_argument("numbers", nargs="+")
        add.add_argument("--note", default="")
        add.add_argument("--held-back", action="store_true", help="add but do not offer yet")
        rng = sub.add_parser("add-range", help="add COUNT consecutive numbers from FIRST")
        rng.add_argument("first")
        rng.add_argument("count", type=int)
        rng.add_argument("--note", default="")
        rng.add_argument("--held-back", action="store_true")
        listing = sub.add_parser("list", help="list the inventory")
        listing.add_argument("--free", action="store_true", help="only numbers nobody holds")
        remove = sub.add_parser("remove", help="remove numbers no customer holds")
        remove.add_argument("numbers", nargs="+")

    def handle(self, *args, action: str, **options) -> None:
        if action == "add":
            self._add(options["numbers"], options["note"], not options["held_back"])
        elif action == "add-range":
            self._add(
                self._range(options["first"], options["count"]),
                options["note"],
                not options["held_back"],
            )
        elif action == "list":
            self._list(free=options["free"])
        else:
            for number in options["numbers"]:
                try:
                    services.platform_number_remove(e164=number)
                except PlatformNumber.DoesNotExist:
                    raise CommandError(f"{number}: not a platform number") from None
                except ValidationError as exc:
                    raise CommandError(f"{number}: {'; '.join(exc.messages)}") from None
                self.stdout.write(f"removed {number}")

    @staticmethod
    def _range(first: str, count: int) -> list[str]:
        if not 0 < count <= MAX_RANGE:
            raise CommandError(f"count must be 1..{MAX_RANGE}")
        try:
            start = to_e164(first)
        except ValidationError as exc:
            raise CommandError(f"{first}: {'; '.join(exc.messages)}") from None
        width = len(start) - 1
        base = int(start[1:])
        if len(str(base + count - 1)) != width:
            raise CommandError("the range would change the number's length")
        return [f"+{base + i}" for i in range(count)]

    def _add(self, numbers: list[str], note: str, available: bool) -> None:
        added = 0
        for number in numbers:
            try:
                row = services.platform_number_add(e164=number, note=note, is_available=available)
            except ValidationError as exc:
                raise CommandError(f"{number}: {'; '.join(exc.messages)}") from None
            added += 1
            self.stdout.write(f"added {row.e164}")
        self.stdout.write(self.style.SUCCESS(f"{added} number(s) added"))

    def _list(self, *, free: bool) -> None:
        holders = dict(PhoneNumber.objects.values_list("e164", "customer_id"))
        rows = services.free_platform_numbers() if free else PlatformNumber.objects.all()
        for row in rows.order_by("e164"):
            state = (
                f"customer {holders[row.e164]}"
                if row.e164 in holders
                else ("free" if row.is_available else "held back")
            )
            self.stdout.write(f"{row.e164}\t{state}\t{row.note}")
