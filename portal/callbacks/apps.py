from django.apps import AppConfig


class CallbacksConfig(AppConfig):
    name = "portal.callbacks"
    label = "callbacks"
    verbose_name = "Queue callback"
