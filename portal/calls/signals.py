"""Signals of the calls app. Sent only after the transaction that wrote the row commits."""

from __future__ import annotations

from django.dispatch import Signal

# A CallRecord was created or just got its final data (ended, with a hangup cause).
# kwargs: call_record_id: int, created: bool, complete: bool. Rating/billing listens here.
cdr_ingested = Signal()

# The same, once per written batch (a mod_json_cdr POST is a batch of one): kwargs `records`,
# a list of dicts with call_record_id, created, complete. Receivers that query the database
# listen here, so a batch of 500 CDRs costs them one query, not 500.
cdr_batch_ingested = Signal()
