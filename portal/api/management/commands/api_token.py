"""`manage.py api_token <customer id> <name>`: issue an API token and print its key once."""

from django.core.management.base import BaseCommand, CommandError

from portal.tenants.models import ApiToken, Customer


class Command(BaseCommand):
    help = "Issue an API token for a customer and print the key (it cannot be shown again)."

    def add_arguments(self, parser):
        parser.add_argument("customer_id", type=int)
        parser.add_argument("name")

    def handle(self, *args, customer_id: int, name: str, **options):
        customer = Customer.objects.filter(pk=customer_id).first()
        if customer is None:
            raise CommandError(f"No customer with id {customer_id}.")
        name = name.strip()
        if not name:
            raise CommandError("The token needs a name.")
        token, key = ApiToken.issue(customer=customer, name=name[:100])
        self.stderr.write(f"Token {token.pk} ({token.prefix}…) for {customer}:")
        self.stdout.write(key)
