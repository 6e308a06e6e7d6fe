from django.urls import path, register_converter

from portal.prompts import views


class KeyConverter:
    regex = r"[a-z][a-z0-9_]{0,47}"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


class LanguageConverter(KeyConverter):
    regex = r"[a-z]{2}"


register_converter(KeyConverter, "prompt_key")
register_converter(LanguageConverter, "prompt_lang")

app_name = "prompts"

urlpatterns = [
    path("", views.prompt_list, name="list"),
    path("<prompt_lang:language>/<prompt_key:key>/upload/", views.upload, name="upload"),
    path("<prompt_lang:language>/<prompt_key:key>/delete/", views.delete, name="delete"),
    path(
        "audio/default/<prompt_lang:language>/<prompt_key:key>.wav",
        views.default_audio,
        name="default_audio",
    ),
    path("audio/custom/<int:pk>.wav", views.custom_audio, name="custom_audio"),
]
