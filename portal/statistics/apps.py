from django.apps import AppConfig


class StatisticsConfig(AppConfig):
    name = "portal.statistics"
    label = "statistics"
    verbose_name = "Statistics"
