"""What the telephony platform needs from the product, found through settings.

`pbx` never imports `portal`: the call-control service keeps its state through the module
named by `PBX_STORE` (node state, pushed config changes, channels it follows) and the
mod_xml_curl answers come from the module named by `PBX_XML_SOURCE` (`render_lookup`,
`render_settings`, `newest_generation`), as Django finds its user model through a setting.
"""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType

from django.conf import settings


@cache
def store() -> ModuleType:
    return importlib.import_module(settings.PBX_STORE)


@cache
def xml_source() -> ModuleType:
    return importlib.import_module(settings.PBX_XML_SOURCE)
