from django.apps import AppConfig


class CallsConfig(AppConfig):
    name = "portal.calls"
    label = "calls"

    def ready(self) -> None:
        from portal.calls.recordings import on_cdr_batch_ingested
        from portal.calls.signals import cdr_batch_ingested

        cdr_batch_ingested.connect(on_cdr_batch_ingested, dispatch_uid="calls.recording_register")
