"""Blacklist reads. Everything goes through the customer: another tenant's id is not found."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from portal.blacklist import rules
from portal.blacklist.models import BlacklistEntry, BlacklistSettings
from portal.calls.models import CallRecord


def blacklist_settings(customer_id: int) -> BlacklistSettings:
    """The customer's settings, unsaved defaults when there are none yet."""
    found = BlacklistSettings.objects.filter(customer_id=customer_id).first()
    return found or BlacklistSettings(customer_id=customer_id)


def entries(customer_id: int) -> QuerySet[BlacklistEntry]:
    return BlacklistEntry.objects.filter(customer_id=customer_id).order_by("kind", "digits")


def rule_entries(customer_id: int) -> list[rules.Entry]:
    return [
        rules.Entry(kind=kind, digits=digits, id=pk)
        for pk, kind, digits in entries(customer_id).values_list("id", "kind", "digits")[
            : rules.MAX_ENTRIES
        ]
    ]


#: the channel variable the dialplan sets on a call it rejects (kept in CallRecord.variables)
TAG = "pbx_blacklisted"


@dataclass(frozen=True)
class Rejection:
    call: CallRecord
    anonymous: bool
    entry: rules.Entry | None  # the entry that catches the caller now (None: since removed)


def rejected_calls(customer_id: int) -> QuerySet[CallRecord]:
    """The log: the customer's calls the blacklist rejected, newest first. They are the CDRs
    the dialplan tagged, so the log costs the call path nothing."""
    return CallRecord.objects.filter(customer_id=customer_id, variables__has_key=TAG).order_by(
        "-started_at", "-id"
    )


def rejections(customer_id: int, calls) -> list[Rejection]:
    """One page of the log with the entry that catches each caller (one query for the list)."""
    entries = rule_entries(customer_id)
    out = []
    for call in calls:
        anonymous = call.variables.get(TAG) == "anonymous"
        entry = None if anonymous else rules.caller_matches(call.caller_number, entries)
        out.append(Rejection(call=call, anonymous=anonymous, entry=entry))
    return out


def recent_callers(customer_id: int, *, limit: int = 20) -> QuerySet[CallRecord]:
    """The customer's latest incoming calls from the outside (the call history an employee
    adds a caller to the list from)."""
    return CallRecord.objects.filter(
        customer_id=customer_id, direction=CallRecord.Direction.INBOUND
    ).exclude(caller_number="")[:limit]
