from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "portal.billing"
    label = "billing"

    def ready(self) -> None:
        from portal.billing.services import on_cdr_batch_ingested
        from portal.calls.signals import cdr_batch_ingested

        cdr_batch_ingested.connect(on_cdr_batch_ingested, dispatch_uid="billing.call_charge")
