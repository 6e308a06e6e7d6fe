"""django-q2 tasks of the callback feature (scheduled every minute by migration 0002)."""

from __future__ import annotations

import logging

from django.utils import timezone

from portal.callbacks import services

log = logging.getLogger(__name__)


def callbacks_housekeeping() -> dict[str, int]:
    """Recover abandoned claims, fail requests past their window, cancel when the option is off.

    Never dials: dialling is call control's job (`callback_claim_due`, every second).
    """
    counts = services.callbacks_housekeeping(now=timezone.now())
    if any(counts.values()):
        log.info("callbacks housekeeping: %s", counts)
    return counts
