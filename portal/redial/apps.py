from django.apps import AppConfig


class RedialConfig(AppConfig):
    name = "portal.redial"
    label = "redial"
    verbose_name = "Auto-redial"
