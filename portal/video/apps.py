from django.apps import AppConfig


class VideoConfig(AppConfig):
    name = "portal.video"
    label = "video"
    verbose_name = "Video assistant"
