from django.apps import AppConfig


class PbxConfig(AppConfig):
    name = "pbx"
    label = "pbx"
    verbose_name = "Call control"

    def ready(self) -> None:
        from pbx import xmlcache
        from portal.events import config_changed

        # After commit: outdate the cached mod_xml_curl answers of that customer.
        config_changed.connect(xmlcache.on_config_changed, dispatch_uid="pbx.xml_cache")
