from django.apps import AppConfig


class FictiveConfig(AppConfig):
    name = "portal.fictive"
    label = "fictive"
    verbose_name = "Fictive numbers"
