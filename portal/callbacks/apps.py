from django.apps import AppConfig


class CallbacksConfig(AppConfig):
    name = "portal.callbacks"
    label = "callbacks"
    verbose_name = "Queue callback"

    def ready(self) -> None:
        from portal.callbacks.services import on_cdr_batch_ingested
        from portal.calls.signals import cdr_batch_ingested

        cdr_batch_ingested.connect(on_cdr_batch_ingested, dispatch_uid="callbacks.got_through")
