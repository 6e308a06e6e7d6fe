from django.apps import AppConfig


class PromptsConfig(AppConfig):
    name = "portal.prompts"
    label = "prompts"
    verbose_name = "Voice prompts"

    def ready(self) -> None:
        from portal.prompts import checks  # noqa: F401  (registers the PROMPTS_DIR check)
