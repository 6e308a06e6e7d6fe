from django.apps import AppConfig


class ForwardingConfig(AppConfig):
    name = "portal.forwarding"
    label = "forwarding"
    verbose_name = "Call forwarding"
