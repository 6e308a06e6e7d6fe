"""Cross-app signals. Senders fire them only after the transaction that made the change commits."""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

# Something that FreeSWITCH renders from changed for `customer_id` (`what` names it:
# "option", "department", "employee", "number").
config_changed = Signal()


def announce_config_change(*, customer_id: int, what: str) -> None:
    transaction.on_commit(
        lambda: config_changed.send(sender=None, customer_id=customer_id, what=what)
    )
