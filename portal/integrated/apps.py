from django.apps import AppConfig


class IntegratedConfig(AppConfig):
    name = "portal.integrated"
    label = "integrated"
    verbose_name = "Integrated numbers"
