"""Auto-redial ("Автодозвон", seed 003) as pure rules: no Django, no ESL, no clock.

A call from one of a customer's phones to another fails because the callee is **busy** or
**unreachable** (and, with the option on, a call from outside to a company number that rings
one phone). If the caller is eligible they are offered auto-redial (press 1). Then:

- **accepted**: the callee becomes reachable (registers, or their busy call ends) before
  `created + 2 h` -> call the caller first, then bridge to the callee. At `created + 2 h`
  without that -> an SMS to the callee about the missed call.
- **callee with voicemail / "always in touch"**: no IVR offer (the call goes on as usual);
  when the callee is back within 2 h the offer is *pushed* to the caller (a message with a
  one-time link, our model of Push USSD); accepting connects as above.
- **declined** (or no answer to the offer): the callee is back before `created + 30 min` ->
  a 0.5-second call to the callee from the caller's number (a missed call on their phone).
  At `created + 30 min` without that -> the SMS to the callee instead.

"Reachable" depends on why the call failed: a **busy** callee is back when their call ends (a
routine re-REGISTER of a busy phone is not availability), an **unreachable** one when their
phone makes a new registration (not a refresh of the one it had when the call failed: same
Call-ID, next CSeq) or a call of theirs ends.

At the moment of connecting, either party may again be busy or away: a busy/unreachable callee
sends the request back to waiting for them (same window); a caller who is busy, away or does
not answer, or a callee who does not answer, is tried again `retry_delay` later, at most
`max_attempts` connections in all; when the attempts or the window run out, the callee gets the
SMS. Whoever declines (603) ends it. A flash that the phone answers at once is still ended at
0.5 s and recorded as answered, one that met a busy or absent phone waits for the callee again.

Window edges are half-open: 1:59:59 still connects, 2:00:00 sends the SMS; 29:59 flashes,
30:00 sends the SMS. Every function takes a snapshot and `now` and says what to do; the
services apply it under a row lock, so a duplicate or stale event (a second registration, a
hangup after the request moved on) finds nothing to do.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pbx import causes

# Why a call failed, from the FreeSWITCH hangup cause of the callee's leg (pbx.causes).
BUSY = "busy"
UNREACHABLE = "unreachable"
BUSY_CAUSES = causes.BUSY
UNREACHABLE_CAUSES = causes.UNREACHABLE
# A connection leg or a flash that rang out, or that we ended while it rang.
RANG_CAUSES = frozenset({"NO_ANSWER", "NORMAL_CLEARING", "ORIGINATOR_CANCEL", "ALLOTTED_TIMEOUT"})
DECLINED_CAUSES = frozenset({"CALL_REJECTED"})
# Registered but not answering the INVITE: the phone's registration was there at the failure,
# so only a new one (another Call-ID, or one after it lapsed) means the phone is back.
REGISTERED_CAUSES = frozenset(
    {
        "NO_USER_RESPONSE",
        "DESTINATION_OUT_OF_ORDER",
        "NETWORK_OUT_OF_ORDER",
        "RECOVERY_ON_TIMER_EXPIRE",
    }
)
# NO_ANSWER (the phone rang, nobody picked up), CALL_REJECTED (declined on the phone),
# UNALLOCATED_NUMBER and the rest are not offered: the callee was reachable, or never will be.
OFFER_CAUSES = BUSY_CAUSES | UNREACHABLE_CAUSES

# Statuses of a request.
REFUSED = "refused"  # not eligible: `reason` says why; no offer was made
OFFERED = "offered"  # the caller hears the offer
ACCEPTED = "accepted"  # waiting for the callee, up to 2 h
DECLINED = "declined"  # waiting for the callee, up to 30 min
PUSH_WAIT = "push_wait"  # the callee has voicemail: the offer is pushed when they are back
PUSHED = "pushed"  # the offer was pushed to the caller: waiting for their answer
CONNECTING = "connecting"  # callee back: calling the caller, then the callee
FLASHING = "flashing"  # callee back: the 0.5 s call is being placed
DONE = "done"  # `outcome` says how it ended
WAITING = (ACCEPTED, DECLINED, PUSH_WAIT)
DUE = (CONNECTING, FLASHING)

# Outcomes of a finished request.
CONNECTED = "connected"
FLASHED = "flashed"
SMS = "sms"
NOT_CONNECTED = "not_connected"  # the callee was back but the connection failed
FLASH_ANSWERED = "flash_answered"  # the callee's phone answered the 0.5 s call at once

# Refusal reasons, in the order they are checked.
NOT_OFFERED_CAUSE = "cause"
OPTION_OFF = "option_off"
LOW_BALANCE = "balance"
BLACKLISTED = "blacklisted"
CALL_WAITING = "call_waiting"
FORWARDING = "forwarding"
ROAMING = "roaming"
TOO_MANY_OPEN = "limit_open"
TOO_MANY_PER_MINUTE = "limit_rate"
SAME_PERSON = "same_person"

# Actions for call control / the services.
CONNECT = "connect"
FLASH = "flash"
SEND_SMS = "sms"
PUSH = "push"
RETRY = "retry"  # try the connection again at `retry_at`
WAIT = "wait"  # back to waiting for the callee (busy again / away again)

# What says the callee is back (`callee_back(source=...)`).
NEW_REGISTRATION = "register"
REFRESH = "refresh"  # a re-REGISTER of the registration the phone already had
CALL_ENDED = "call ended"


@dataclass(frozen=True)
class Policy:
    accepted_window: dt.timedelta = dt.timedelta(hours=2)
    declined_window: dt.timedelta = dt.timedelta(minutes=30)
    flash_seconds: float = 0.5
    retry_delay: dt.timedelta = dt.timedelta(minutes=5)
    max_attempts: int = 3


DEFAULT_POLICY = Policy()


def cause_kind(cause: str) -> str | None:
    """busy / unreachable / None (not offered) for a FreeSWITCH hangup cause."""
    cause = (cause or "").strip().upper()
    if cause in BUSY_CAUSES:
        return BUSY
    if cause in UNREACHABLE_CAUSES:
        return UNREACHABLE
    return None


@dataclass(frozen=True)
class Facts:
    """What eligibility looks at, read by the services at the moment of the failed call."""

    cause: str
    option_on: bool
    caller_balance_ok: bool
    caller_blacklisted_by_callee: bool
    callee_call_waiting: bool
    caller_forwarding: bool
    caller_roaming: bool
    caller_open_requests: int
    customer_requests_last_minute: int
    max_open_per_caller: int
    max_per_minute: int
    same_person: bool = False


def refusal(f: Facts) -> str | None:
    """Why no offer is made, or None when the caller may be offered auto-redial."""
    checks = (
        (cause_kind(f.cause) is None, NOT_OFFERED_CAUSE),
        (not f.option_on, OPTION_OFF),
        (f.same_person, SAME_PERSON),
        (not f.caller_balance_ok, LOW_BALANCE),
        (f.caller_blacklisted_by_callee, BLACKLISTED),
        (f.callee_call_waiting, CALL_WAITING),
        (f.caller_forwarding, FORWARDING),
        (f.caller_roaming, ROAMING),
        (f.caller_open_requests >= f.max_open_per_caller, TOO_MANY_OPEN),
        (f.customer_requests_last_minute >= f.max_per_minute, TOO_MANY_PER_MINUTE),
    )
    for failed, reason in checks:
        if failed:
            return reason
    return None


def answer(status: str, pressed: str | None) -> str | None:
    """The caller's answer to the offer: the new status, None if the offer is not open."""
    if status != OFFERED:
        return None
    return ACCEPTED if (pressed or "").strip() == "1" else DECLINED


def deadline(status: str, created: dt.datetime, policy: Policy = DEFAULT_POLICY):
    """When a waiting request gives up on the callee (and texts them instead)."""
    if status in (ACCEPTED, PUSH_WAIT, PUSHED):
        return created + policy.accepted_window
    if status == DECLINED:
        return created + policy.declined_window
    return None


def on_callee_back(
    status: str, created: dt.datetime, now: dt.datetime, policy: Policy = DEFAULT_POLICY
) -> str | None:
    """The callee became reachable at `now`: connect, flash, text, or nothing (not waiting)."""
    if status not in WAITING:
        return None
    if now < deadline(status, created, policy):
        return {ACCEPTED: CONNECT, DECLINED: FLASH, PUSH_WAIT: PUSH}[status]
    return SEND_SMS


def on_tick(
    status: str, created: dt.datetime, now: dt.datetime, policy: Policy = DEFAULT_POLICY
) -> str | None:
    """Housekeeping at `now`: a waiting request whose window has closed texts the callee."""
    if status in (*WAITING, PUSHED) and now >= deadline(status, created, policy):
        return SEND_SMS
    return None


def push_answer(
    status: str, accept: bool, created: dt.datetime, now: dt.datetime, policy=DEFAULT_POLICY
) -> str | None:
    """The caller answered a pushed offer: connect now (inside the 2 h), or nothing more."""
    if status != PUSHED or now >= deadline(status, created, policy):
        return None
    return CONNECTING if accept else DONE


def counts_as_back(kind: str, source: str) -> bool:
    """Does this signal mean the callee can take a call now? A busy callee: only the end of
    their call. An unreachable one: a new registration, or the end of a call of theirs. A
    registration refresh never (it says nothing about the phone being free)."""
    if source == CALL_ENDED:
        return True
    if source == NEW_REGISTRATION:
        return kind != BUSY
    return False


@dataclass(frozen=True)
class Step:
    """What follows a failed connection attempt or flash."""

    action: str  # WAIT / RETRY / SEND_SMS / DONE
    kind: str = ""  # WAIT: what to wait for (busy / unreachable)
    retry_at: dt.datetime | None = None
    outcome: str = ""  # DONE


def after_attempt(
    *,
    status: str,
    leg: str,
    cause: str,
    attempts: int,
    created: dt.datetime,
    now: dt.datetime,
    policy: Policy = DEFAULT_POLICY,
) -> Step:
    """A connection leg (`caller` / `callee`) or the flash (`flash`) failed with `cause` at
    `now`, after `attempts` connection attempts (this one included)."""
    cause = (cause or "").strip().upper()
    waiting = DECLINED if status == FLASHING else ACCEPTED
    closed = now >= deadline(waiting, created, policy)
    kind = cause_kind(cause)
    if leg == "flash":
        if cause in RANG_CAUSES or cause in DECLINED_CAUSES:
            return Step(DONE, outcome=FLASHED)  # it rang: a missed call on their phone
        if kind is not None:
            return Step(SEND_SMS) if closed else Step(WAIT, kind=kind)
        return Step(DONE, outcome=NOT_CONNECTED)
    if cause in DECLINED_CAUSES:
        return Step(DONE, outcome=NOT_CONNECTED)  # whoever declined decided
    if leg == "callee" and kind is not None:
        if closed or attempts >= policy.max_attempts:
            return Step(SEND_SMS)
        return Step(WAIT, kind=kind)
    if kind is not None or cause in RANG_CAUSES:
        retry_at = now + policy.retry_delay
        if attempts >= policy.max_attempts or retry_at >= deadline(waiting, created, policy):
            return Step(SEND_SMS)
        return Step(RETRY, retry_at=retry_at)
    return Step(DONE, outcome=NOT_CONNECTED)


def after_flash_answered() -> Step:
    """The phone answered the 0.5 s call (200 at once): ended all the same, not a missed call."""
    return Step(DONE, outcome=FLASH_ANSWERED)
