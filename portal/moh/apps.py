from django.apps import AppConfig


class MohConfig(AppConfig):
    name = "portal.moh"
    label = "moh"
    verbose_name = "Custom hold music"
