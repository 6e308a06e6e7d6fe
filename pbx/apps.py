from django.apps import AppConfig


class PbxConfig(AppConfig):
    name = "pbx"
    label = "pbx"
    verbose_name = "Call control"
