"""Deploy checks of the portal itself: never DEBUG, never without a secret key of its own.

`production_problems()` is the single source: `manage.py check --deploy` lists them as errors
and `manage.py serve` (without --demo) refuses to start on any of them. The embedded defaults
(`serve --demo`) keep working with the key settings.py generates into `.secret_key`.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core import checks

INSECURE_KEYS = {"insecure-dev-key-change-me", ""}


def secret_key_given() -> bool:
    """The operator set SECRET_KEY (or SECRET_KEY_FILE): not the key generated per checkout."""
    return bool(os.environ.get("SECRET_KEY", "").strip() or os.environ.get("SECRET_KEY_FILE"))


def production_problems() -> list[tuple[str, str]]:
    problems = []
    if settings.DEBUG:
        problems.append(
            (
                "portal.E001",
                "DEBUG is on: error pages would show settings and code to anybody. "
                "Unset DEBUG in production.",
            )
        )
    if not secret_key_given() or settings.SECRET_KEY in INSECURE_KEYS:
        problems.append(
            (
                "portal.E002",
                "SECRET_KEY is not set (SECRET_KEY or SECRET_KEY_FILE): sessions and signed "
                "links would use a development or per-checkout key. Set a long random one.",
            )
        )
    return problems


@checks.register(checks.Tags.security, deploy=True)
def check_production_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    return [checks.Error(msg, id=check_id) for check_id, msg in production_problems()]
