from django.apps import AppConfig


class VoicemailConfig(AppConfig):
    name = "portal.voicemail"
    label = "voicemail"
    verbose_name = "Voicemail"
