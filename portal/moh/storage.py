"""Hold music counts against the customer's storage quota (portal.billing.selectors
`storage_used_bytes` finds this module through the app registry)."""

from __future__ import annotations

from portal.moh.selectors import hold_music_bytes


def bytes_used(customer_id: int) -> int:
    return hold_music_bytes(customer_id)
