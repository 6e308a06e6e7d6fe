"""Signals of the calls app. Sent only after the transaction that wrote the row commits."""

from __future__ import annotations

from django.dispatch import Signal

# A CallRecord was created or just got its final data (ended, with a hangup cause).
# kwargs: call_record_id: int, created: bool, complete: bool. Rating/billing listens here.
cdr_ingested = Signal()
