from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MenusConfig(AppConfig):
    name = "portal.menus"
    label = "menus"
    verbose_name = _("Голосовое меню")
