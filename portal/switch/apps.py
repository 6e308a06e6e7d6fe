from django.apps import AppConfig


class SwitchConfig(AppConfig):
    name = "portal.switch"
    label = "switch"
    verbose_name = "FreeSWITCH nodes"

    def ready(self) -> None:
        from portal.events import config_changed
        from portal.switch import checks  # noqa: F401  (registers the "freeswitch" checks)
        from portal.switch.services import on_config_changed

        config_changed.connect(on_config_changed, dispatch_uid="switch.config_change_record")
