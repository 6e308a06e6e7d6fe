from django.apps import AppConfig


class ConferenceConfig(AppConfig):
    name = "portal.conference"
    label = "conference"
    verbose_name = "Conference rooms"
