"""`manage.py check`: PROMPTS_DIR must be usable in a FreeSWITCH application argument."""

from __future__ import annotations

from django.core import checks
from django.core.exceptions import ImproperlyConfigured


@checks.register("prompts")
def check_prompts_dir(app_configs=None, **kwargs):
    from portal.prompts.selectors import prompts_root

    try:
        prompts_root()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="prompts.E001")]
    return []
