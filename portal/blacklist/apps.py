from django.apps import AppConfig


class BlacklistConfig(AppConfig):
    name = "portal.blacklist"
    label = "blacklist"
    verbose_name = "Blacklist"
