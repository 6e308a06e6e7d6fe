"""The queue-callback rules ("Обратный вызов", seed 001) as a pure state machine.

No Django, no ESL, no clock: every function takes plain snapshots of a request (and of its
current attempt) plus `now`, and returns `(new snapshot(s), [commands])`. The services lock the
rows, call one of these, save what comes back and dispatch the commands after commit.

The rules (numbers from the seed, in `Policy`):

- Outside the department's working hours (or when the 10-minute window would end after
  closing) a request is due at the next opening and its window counts from there
  (`new_request(opens_at=...)`); the caller's hangup does not make it due earlier.
- A request is due once the caller's own call has ended (`on_caller_left`, from the hangup of
  the call in which they pressed 1): dialling them back while they still hear the confirmation
  finds a busy line without call waiting and wastes the attempt. Should that hangup never be
  reported (call control down at that moment), the request is due `caller_leave_timeout` (60 s)
  after it was made; the confirmation takes a few seconds.
- The first attempt must *start* (be claimed for dialling) before `first_attempt_deadline`
  (request + 10 min): 9:59 dials, 10:00 closes the request as failed ("no employee free within
  10 minutes"). A worker that comes late never dials outside the window.
- An attempt counts only once the caller's phone was dialled. An attempt that found no free
  employee (or was lost before any employee answered) is retried 30 s later, inside the same
  window; the last retry is pulled in to one second before the window ends.
- The caller did not answer (any cause except a bridge): attempt 2 is due exactly
  `retry_delay` (5 min) after attempt 1 ended, and must start within `first_attempt_window`
  of that due time, the same promise as the first attempt. After `max_attempts` (2) the request
  fails and the department is notified. Causes that say the number cannot be reached at all
  (`PERMANENT_CAUSES`) fail at once: a second attempt could not succeed.
- An attempt that failed on our side does not count either: our trunk (`PLATFORM_CAUSES`), or
  the employee who took the callback hanging up before the caller was connected
  (`EMPLOYEE_GONE`). It is retried like an attempt that found no free employee.
- Bridged = completed, whatever the hangup cause afterwards.
- The option switched off: a pending request is cancelled (the department hears about it),
  never dialled.
- Events for an attempt that is not the request's current one, or that is already past the
  step the event describes, change nothing (stale events, duplicates, replays after an ESL
  reconnect).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

# Request statuses.
PENDING = "pending"
DIALING = "dialing"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
OPEN = (PENDING, DIALING)
CLOSED = (COMPLETED, FAILED, CANCELLED)

# Attempt statuses.
DIALING_EMPLOYEE = "dialing_employee"
DIALING_CALLER = "dialing_caller"
BRIDGED = "bridged"
FINISHED = "finished"

# Causes of our own (the others are FreeSWITCH hangup causes of the caller leg).
NO_EMPLOYEE = "NO_EMPLOYEE"
LOST = "LOST"
# The employee hung up (or could not be bridged) before the caller was connected.
EMPLOYEE_GONE = "EMPLOYEE_GONE"

# The caller's number cannot be reached: retrying in 5 minutes would not help.
PERMANENT_CAUSES = frozenset(
    {
        "UNALLOCATED_NUMBER",
        "NO_ROUTE_DESTINATION",
        "INVALID_NUMBER_FORMAT",
        "NUMBER_CHANGED",
        "INCOMPATIBLE_DESTINATION",
    }
)

# Our own side failed (seen on a real switch: a trunk that stops answering OPTIONS is marked
# down and the leg ends GATEWAY_DOWN): not the caller's fault, so the attempt is not counted and
# is tried again soon, inside the window.
PLATFORM_CAUSES = frozenset(
    {"GATEWAY_DOWN", "INVALID_GATEWAY", "CHAN_NOT_IMPLEMENTED", "SWITCH_CONGESTION"}
)
# Every cause that is our fault, not the caller's: the attempt is not counted.
OUR_SIDE_CAUSES = PLATFORM_CAUSES | {EMPLOYEE_GONE}

# close_reason texts (shown in the portal, translated there).
REASON_CONNECTED = "connected"
REASON_WINDOW = "no employee free within 10 minutes"
REASON_NO_ANSWER = "caller did not answer"
REASON_UNREACHABLE = "caller number unreachable"
REASON_OPTION_OFF = "callback option switched off"
REASON_STAFF_DONE = "marked done by staff"
REASON_STAFF_CANCELLED = "cancelled by staff"
# An answered call from the caller's number to the department's number came in meanwhile.
REASON_GOT_THROUGH = "caller got through"


@dataclass(frozen=True)
class Policy:
    first_attempt_window: dt.timedelta = dt.timedelta(minutes=10)
    retry_delay: dt.timedelta = dt.timedelta(minutes=5)
    max_attempts: int = 2
    no_employee_retry: dt.timedelta = dt.timedelta(seconds=30)
    # How long call control may stay silent about an attempt before the housekeeping task
    # considers the claim abandoned (extended at each step the attempt reports).
    claim_ttl: dt.timedelta = dt.timedelta(minutes=2)
    # Added to the first claim per candidate employee: call control rings them one by one.
    ring_allowance: dt.timedelta = dt.timedelta(seconds=30)
    # A bridged call that reports nothing for this long is considered lost (over, connected).
    max_call: dt.timedelta = dt.timedelta(hours=4)
    # A request is due when the caller's call has ended; if that is never reported, this long
    # after the request (the confirmation prompt takes a few seconds).
    caller_leave_timeout: dt.timedelta = dt.timedelta(seconds=60)


DEFAULT_POLICY = Policy()


@dataclass(frozen=True)
class Request:
    id: int
    status: str
    attempts_made: int
    next_attempt_at: dt.datetime | None
    first_attempt_deadline: dt.datetime
    retry_deadline: dt.datetime | None = None
    current_attempt_id: int | None = None
    claim_expires_at: dt.datetime | None = None
    close_reason: str = ""
    closed_at: dt.datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def deadline(self) -> dt.datetime:
        """The moment by which the next attempt must have started."""
        if self.attempts_made == 0 or self.retry_deadline is None:
            return self.first_attempt_deadline
        return self.retry_deadline


@dataclass(frozen=True)
class Attempt:
    id: int
    number: int
    status: str
    employee_id: int | None = None
    employee_uuid: str = ""
    caller_uuid: str = ""
    caller_id_shown: str = ""
    started_at: dt.datetime | None = None
    employee_answered_at: dt.datetime | None = None
    caller_answered_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    cause: str = ""

    @property
    def caller_dialled(self) -> bool:
        return self.status in (DIALING_CALLER, BRIDGED) or bool(self.caller_uuid)


# -- commands ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notify:
    """Tell the department (after commit)."""

    kind: str  # "callback_requested" | "callback_failed"
    reason: str = ""


@dataclass(frozen=True)
class StartAttempt:
    """The claim stands: create attempt `number` and hand it to call control."""

    number: int


def _close(req: Request, status: str, reason: str, now: dt.datetime) -> Request:
    return replace(
        req,
        status=status,
        close_reason=reason,
        closed_at=now,
        next_attempt_at=None,
        claim_expires_at=None,
        current_attempt_id=None,
    )


def fail(req: Request, reason: str, now: dt.datetime) -> tuple[Request, list]:
    return _close(req, FAILED, reason, now), [Notify("callback_failed", reason)]


def _cancel(req: Request, now: dt.datetime) -> tuple[Request, list]:
    return _close(req, CANCELLED, REASON_OPTION_OFF, now), [
        Notify("callback_failed", REASON_OPTION_OFF)
    ]


# -- creating and claiming --------------------------------------------------------------------


def new_request(
    *,
    request_id: int = 0,
    now: dt.datetime,
    policy: Policy = DEFAULT_POLICY,
    opens_at: dt.datetime | None = None,
):
    """A fresh request: due once the caller has hung up (`on_caller_left`), at the latest
    `caller_leave_timeout` from now; the first attempt must start within the window.

    `opens_at`: the request was taken outside the department's working hours (or its window
    would end after closing, `portal.menus.rules.callback_timing`): nobody is dialled before
    the opening, and the window counts from there."""
    if opens_at is not None and opens_at > now:
        req = Request(
            id=request_id,
            status=PENDING,
            attempts_made=0,
            next_attempt_at=opens_at,
            first_attempt_deadline=opens_at + policy.first_attempt_window,
        )
        return req, [Notify("callback_requested")]
    req = Request(
        id=request_id,
        status=PENDING,
        attempts_made=0,
        next_attempt_at=now + policy.caller_leave_timeout,
        first_attempt_deadline=now + policy.first_attempt_window,
    )
    return req, [Notify("callback_requested")]


def on_caller_left(
    req: Request, *, now: dt.datetime, policy: Policy = DEFAULT_POLICY
) -> tuple[Request, list]:
    """The call in which the caller pressed 1 has ended: the first attempt is due now.

    Only a request still waiting for its first attempt moves; a duplicate or late report (an
    attempt already made or running, a closed request) changes nothing, and neither does a
    request scheduled for the opening (its window has not begun)."""
    if (
        req.status != PENDING
        or req.attempts_made != 0
        or req.current_attempt_id is not None
        or req.next_attempt_at is None
        or req.next_attempt_at <= now
        or now < req.first_attempt_deadline - policy.first_attempt_window
    ):
        return req, []
    return replace(req, next_attempt_at=now), []


def claimable(
    req: Request, *, now: dt.datetime, option_on: bool, policy: Policy = DEFAULT_POLICY
) -> tuple[Request, list]:
    """May a worker start dialling `req` now? Re-checks every window at this very moment.

    Returns (req in DIALING, [StartAttempt(n)]) to dial; (closed req, [Notify]) when the request
    must not be dialled any more; (req unchanged, []) when it is not due (or not pending).
    Works whether or not the caller already flipped the status to DIALING by compare-and-swap.
    """
    if req.status not in OPEN or req.current_attempt_id is not None:
        return req, []
    if not option_on:
        return _cancel(req, now)
    if now >= req.deadline:
        reason = REASON_WINDOW if req.attempts_made == 0 else REASON_NO_ANSWER
        return fail(req, reason, now)
    if req.next_attempt_at is None or now < req.next_attempt_at:
        return req, []
    return replace(req, status=DIALING), [StartAttempt(req.attempts_made + 1)]


def expire(
    req: Request, *, now: dt.datetime, option_on: bool, policy: Policy = DEFAULT_POLICY
) -> tuple[Request, list]:
    """Housekeeping on a pending request: close it if it can no longer be dialled. Never dials."""
    if req.status != PENDING:
        return req, []
    new, commands = claimable(req, now=now, option_on=option_on, policy=policy)
    if new.status in CLOSED:
        return new, commands
    return req, []


def attempt_started(
    req: Request, *, attempt_id: int, now: dt.datetime, candidates: int, policy: Policy
) -> Request:
    return replace(
        req,
        status=DIALING,
        current_attempt_id=attempt_id,
        next_attempt_at=None,
        claim_expires_at=now + policy.claim_ttl + candidates * policy.ring_allowance,
    )


# -- progress of an attempt -------------------------------------------------------------------


def _current(req: Request, attempt: Attempt) -> bool:
    return (
        req.status == DIALING
        and req.current_attempt_id == attempt.id
        and attempt.status != FINISHED
    )


def on_employee_answered(
    req: Request,
    attempt: Attempt,
    *,
    employee_id: int,
    employee_uuid: str,
    now: dt.datetime,
    policy: Policy = DEFAULT_POLICY,
) -> tuple[Request, Attempt, list]:
    if not _current(req, attempt) or attempt.status != DIALING_EMPLOYEE:
        return req, attempt, []
    if attempt.employee_answered_at is not None:
        return req, attempt, []  # duplicate
    attempt = replace(
        attempt, employee_id=employee_id, employee_uuid=employee_uuid, employee_answered_at=now
    )
    return replace(req, claim_expires_at=now + policy.claim_ttl), attempt, []


def on_caller_dialing(
    req: Request,
    attempt: Attempt,
    *,
    caller_uuid: str,
    caller_id_shown: str,
    now: dt.datetime,
    policy: Policy = DEFAULT_POLICY,
) -> tuple[Request, Attempt, list]:
    if not _current(req, attempt) or attempt.status != DIALING_EMPLOYEE:
        return req, attempt, []
    attempt = replace(
        attempt, status=DIALING_CALLER, caller_uuid=caller_uuid, caller_id_shown=caller_id_shown
    )
    return replace(req, claim_expires_at=now + policy.claim_ttl), attempt, []


def on_bridged(
    req: Request, attempt: Attempt, *, now: dt.datetime, policy: Policy = DEFAULT_POLICY
) -> tuple[Request, Attempt, list]:
    if not _current(req, attempt) or attempt.status != DIALING_CALLER:
        return req, attempt, []
    attempt = replace(attempt, status=BRIDGED, caller_answered_at=now)
    return replace(req, claim_expires_at=now + policy.max_call), attempt, []


def _retry_soon(req: Request, now: dt.datetime, policy: Policy) -> tuple[Request, list]:
    """No employee took it (or it was lost before one did): again in 30 s, inside the window."""
    deadline = req.deadline
    due = min(now + policy.no_employee_retry, deadline - dt.timedelta(seconds=1))
    if due <= now or now >= deadline:
        reason = REASON_WINDOW if req.attempts_made == 0 else REASON_NO_ANSWER
        return fail(req, reason, now)
    return replace(
        req, status=PENDING, current_attempt_id=None, next_attempt_at=due, claim_expires_at=None
    ), []


def on_attempt_finished(
    req: Request,
    attempt: Attempt,
    *,
    caller_answered: bool,
    bridged: bool,
    cause: str,
    now: dt.datetime,
    policy: Policy = DEFAULT_POLICY,
) -> tuple[Request, Attempt, list]:
    """The attempt is over (either leg hung up, an originate failed, or call control lost it)."""
    if not _current(req, attempt):
        return req, attempt, []  # stale or duplicate
    cause = (cause or "").strip().upper() or "UNKNOWN"
    bridged = bridged or attempt.status == BRIDGED
    done = replace(
        attempt,
        status=FINISHED,
        ended_at=now,
        cause=cause,
        caller_answered_at=attempt.caller_answered_at
        or (now if caller_answered or bridged else None),
    )
    if bridged:
        return _close(req, COMPLETED, REASON_CONNECTED, now), done, []
    if not done.caller_dialled or cause in OUR_SIDE_CAUSES:
        new, commands = _retry_soon(req, now, policy)
        return new, done, commands
    made = req.attempts_made + 1
    counted = replace(req, attempts_made=made, current_attempt_id=None)
    if cause in PERMANENT_CAUSES:
        new, commands = fail(counted, REASON_UNREACHABLE, now)
        return new, done, commands
    if made >= policy.max_attempts:
        new, commands = fail(counted, REASON_NO_ANSWER, now)
        return new, done, commands
    due = now + policy.retry_delay
    new = replace(
        counted,
        status=PENDING,
        next_attempt_at=due,
        retry_deadline=due + policy.first_attempt_window,
        claim_expires_at=None,
    )
    return new, done, []


def on_no_employee_free(
    req: Request, attempt: Attempt, *, now: dt.datetime, policy: Policy = DEFAULT_POLICY
) -> tuple[Request, Attempt, list]:
    """Call control rang every candidate and nobody answered (or there was nobody)."""
    if not _current(req, attempt) or attempt.caller_dialled:
        return req, attempt, []
    done = replace(attempt, status=FINISHED, ended_at=now, cause=NO_EMPLOYEE)
    new, commands = _retry_soon(req, now, policy)
    return new, done, commands


def on_attempt_lost(
    req: Request, attempt: Attempt, *, now: dt.datetime, policy: Policy = DEFAULT_POLICY
) -> tuple[Request, Attempt, list]:
    """Call control lost track of the attempt: over, cause LOST. A bridged one had its talk."""
    return on_attempt_finished(
        req,
        attempt,
        caller_answered=attempt.status == BRIDGED,
        bridged=attempt.status == BRIDGED,
        cause=LOST,
        now=now,
        policy=policy,
    )


def abandoned(req: Request, attempt: Attempt | None, *, now: dt.datetime) -> bool:
    """Has the worker holding this claim gone silent (claim expired)?"""
    return req.status == DIALING and req.claim_expires_at is not None and req.claim_expires_at < now


# -- what staff do in the portal, and the caller getting through on their own -----------------


def staff_call_now(
    req: Request, *, now: dt.datetime, policy: Policy = DEFAULT_POLICY
) -> tuple[Request, list]:
    """Staff press "Позвонить сейчас": the request is due now, with a fresh window to start in.

    A pending request just becomes due; a failed or cancelled one is reopened (one attempt
    more: a no-answer then fails it again). A request being dialled, or one that ended in a
    conversation, does not move. Call control claims it on its next tick like any other: the
    web process never dials."""
    if req.status == DIALING or req.status == COMPLETED or req.current_attempt_id is not None:
        return req, []
    window_end = now + policy.first_attempt_window
    new = replace(
        req,
        status=PENDING,
        next_attempt_at=now,
        claim_expires_at=None,
        close_reason="",
        closed_at=None,
    )
    if req.attempts_made == 0:
        new = replace(new, first_attempt_deadline=max(req.first_attempt_deadline, window_end))
    else:
        new = replace(
            new,
            attempts_made=min(req.attempts_made, policy.max_attempts - 1),
            retry_deadline=max(req.retry_deadline or now, window_end),
        )
    return new, []


def staff_close(req: Request, *, done: bool, now: dt.datetime) -> tuple[Request, list]:
    """Staff mark a request done (they reached the caller some other way) or cancel it.

    Only a request nobody is dialling moves: a pending one either way, a failed one may still
    be marked done. A call in progress ends on its own."""
    if req.status == PENDING and req.current_attempt_id is None:
        if done:
            return _close(req, COMPLETED, REASON_STAFF_DONE, now), []
        return _close(req, CANCELLED, REASON_STAFF_CANCELLED, now), []
    if req.status == FAILED and done:
        return _close(req, COMPLETED, REASON_STAFF_DONE, now), []
    return req, []


def caller_got_through(req: Request, *, now: dt.datetime) -> tuple[Request, list]:
    """An answered call from the caller to the department's number ended: nothing to call back.

    Only a pending request closes; one being dialled finishes its attempt (the caller may
    well pick up), a closed one stays as it was."""
    if req.status != PENDING or req.current_attempt_id is not None:
        return req, []
    return _close(req, COMPLETED, REASON_GOT_THROUGH, now), []
