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

        from pbx import xmlcache

        # After commit: outdate the cached mod_xml_curl answers of that customer.
        config_changed.connect(xmlcache.on_config_changed, dispatch_uid="pbx.xml_cache")

        from django.db.models.signals import post_save

        from portal.tenants.models import Customer

        post_save.connect(
            _customer_saved, sender=Customer, dispatch_uid="switch.customer_config_change"
        )


def _customer_saved(sender, instance, created: bool = False, **kwargs) -> None:
    """A customer's status (suspended, closed) and language are in what FreeSWITCH renders;
    they change on a plain save (admin, billing), so the save itself announces it."""
    if not created:
        from portal.events import announce_config_change

        announce_config_change(customer_id=instance.pk, what="customer")
