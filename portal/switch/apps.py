from django.apps import AppConfig


class SwitchConfig(AppConfig):
    name = "portal.switch"
    label = "switch"
    verbose_name = "FreeSWITCH nodes"
