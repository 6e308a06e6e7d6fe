"""The callback rules as a pure state machine: no database, no clock, table-driven."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from portal.callbacks import flow
from portal.callbacks.flow import Notify, StartAttempt

T0 = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)
MIN = dt.timedelta(minutes=1)
SEC = dt.timedelta(seconds=1)
P = flow.Policy()


def fresh(now=T0) -> flow.Request:
    """A request whose caller has already hung up (due at `now`)."""
    req, commands = flow.new_request(request_id=1, now=now, policy=P)
    assert commands == [Notify("callback_requested")]
    req, commands = flow.on_caller_left(req, now=now)
    assert commands == []
    return req


def claim(req, now, *, attempt_id=10, option_on=True):
    new, commands = flow.claimable(req, now=now, option_on=option_on, policy=P)
    assert commands and isinstance(commands[0], StartAttempt), (new, commands)
    new = flow.attempt_started(new, attempt_id=attempt_id, now=now, candidates=2, policy=P)
    attempt = flow.Attempt(
        id=attempt_id, number=commands[0].number, status=flow.DIALING_EMPLOYEE, started_at=now
    )
    return new, attempt


def up_to_caller(req, attempt, now):
    req, attempt, _ = flow.on_employee_answered(
        req, attempt, employee_id=7, employee_uuid="e-uuid", now=now, policy=P
    )
    req, attempt, _ = flow.on_caller_dialing(
        req, attempt, caller_uuid="c-uuid", caller_id_shown="+74950000000", now=now, policy=P
    )
    return req, attempt


def first_attempt_missed(cause="NO_ANSWER", ended=T0 + MIN):
    req, attempt = claim(fresh(), T0)
    req, attempt = up_to_caller(req, attempt, T0)
    req, attempt, commands = flow.on_attempt_finished(
        req, attempt, caller_answered=False, bridged=False, cause=cause, now=ended, policy=P
    )
    return req, attempt, commands


# -- creation and the first window ------------------------------------------------------------


def test_a_new_request_is_due_when_the_callers_call_ends_and_must_start_within_10_minutes():
    req, _ = flow.new_request(request_id=1, now=T0, policy=P)
    assert req.status == flow.PENDING
    assert req.first_attempt_deadline == T0 + 10 * MIN
    # While the caller still hears the confirmation, nothing is due.
    assert flow.claimable(req, now=T0 + 2 * SEC, option_on=True, policy=P) == (req, [])
    left, commands = flow.on_caller_left(req, now=T0 + 3 * SEC)
    assert left.next_attempt_at == T0 + 3 * SEC and commands == []
    _, commands = flow.claimable(left, now=T0 + 3 * SEC, option_on=True, policy=P)
    assert commands == [StartAttempt(1)]


def test_a_request_whose_callers_hangup_was_never_reported_is_due_a_minute_later():
    req, _ = flow.new_request(request_id=1, now=T0, policy=P)
    assert req.next_attempt_at == T0 + P.caller_leave_timeout == T0 + MIN
    assert flow.claimable(req, now=T0 + MIN - SEC, option_on=True, policy=P)[1] == []
    assert flow.claimable(req, now=T0 + MIN, option_on=True, policy=P)[1] == [StartAttempt(1)]


def test_a_late_or_repeated_caller_hangup_changes_nothing():
    req, _ = flow.new_request(request_id=1, now=T0, policy=P)
    left, _ = flow.on_caller_left(req, now=T0 + 3 * SEC)
    assert flow.on_caller_left(left, now=T0 + 5 * SEC) == (left, [])  # a duplicate
    claimed, attempt = claim(left, T0 + 4 * SEC)
    assert flow.on_caller_left(claimed, now=T0 + 6 * SEC) == (claimed, [])  # attempt running
    missed, _, _ = first_attempt_missed()
    assert flow.on_caller_left(missed, now=T0 + 2 * MIN) == (missed, [])  # the 5 min stand


@pytest.mark.parametrize(
    ("after", "dials"),
    [
        (dt.timedelta(0), True),
        (9 * MIN + 59 * SEC, True),
        (10 * MIN - dt.timedelta(microseconds=1), True),
        (10 * MIN, False),
        (10 * MIN + SEC, False),
        (3 * dt.timedelta(hours=1), False),
    ],
)
def test_the_first_attempt_starts_only_before_the_10_minute_deadline(after, dials):
    new, commands = flow.claimable(fresh(), now=T0 + after, option_on=True, policy=P)
    if dials:
        assert new.status == flow.DIALING
        assert commands == [StartAttempt(1)]
    else:
        assert new.status == flow.FAILED
        assert new.close_reason == flow.REASON_WINDOW
        assert new.closed_at == T0 + after
        assert commands == [Notify("callback_failed", flow.REASON_WINDOW)]


def test_a_request_is_cancelled_not_dialled_when_the_option_is_off():
    new, commands = flow.claimable(fresh(), now=T0 + MIN, option_on=False, policy=P)
    assert new.status == flow.CANCELLED
    assert new.close_reason == flow.REASON_OPTION_OFF
    assert commands == [Notify("callback_failed", flow.REASON_OPTION_OFF)]


def test_a_request_not_yet_due_is_left_alone():
    req = replace(fresh(), next_attempt_at=T0 + MIN)
    assert flow.claimable(req, now=T0 + 59 * SEC, option_on=True, policy=P) == (req, [])


def test_closed_or_dialling_requests_are_never_claimed_again():
    req, _attempt = claim(fresh(), T0)
    assert flow.claimable(req, now=T0 + MIN, option_on=True, policy=P) == (req, [])
    closed = replace(fresh(), status=flow.COMPLETED)
    assert flow.claimable(closed, now=T0, option_on=False, policy=P) == (closed, [])


def test_housekeeping_expiry_closes_but_never_dials():
    req = fresh()
    assert flow.expire(req, now=T0 + MIN, option_on=True, policy=P) == (req, [])
    new, commands = flow.expire(req, now=T0 + 10 * MIN, option_on=True, policy=P)
    assert new.status == flow.FAILED and commands
    new, commands = flow.expire(req, now=T0 + MIN, option_on=False, policy=P)
    assert new.status == flow.CANCELLED and commands


# -- the caller leg's hangup causes ------------------------------------------------------------

# (cause, caller answered, bridged) -> outcome after attempt 1, outcome after attempt 2
# (causes on our side, which never count, are below: EMPLOYEE_GONE, PLATFORM_CAUSES)
CAUSES = [
    ("NORMAL_CLEARING", True, True, flow.COMPLETED, flow.COMPLETED),
    ("NO_ANSWER", False, False, flow.PENDING, flow.FAILED),
    ("USER_BUSY", False, False, flow.PENDING, flow.FAILED),
    ("CALL_REJECTED", False, False, flow.PENDING, flow.FAILED),
    ("NO_USER_RESPONSE", False, False, flow.PENDING, flow.FAILED),
    ("ORIGINATOR_CANCEL", False, False, flow.PENDING, flow.FAILED),
    ("ALLOTTED_TIMEOUT", False, False, flow.PENDING, flow.FAILED),
    ("NORMAL_TEMPORARY_FAILURE", False, False, flow.PENDING, flow.FAILED),
    ("LOST", False, False, flow.PENDING, flow.FAILED),
    ("UNALLOCATED_NUMBER", False, False, flow.FAILED, flow.FAILED),
]


@pytest.mark.parametrize(("cause", "answered", "bridged", "after_1", "after_2"), CAUSES)
def test_every_caller_leg_cause_on_attempt_1(cause, answered, bridged, after_1, after_2):
    req, attempt = claim(fresh(), T0)
    req, attempt = up_to_caller(req, attempt, T0 + SEC)
    if bridged:
        req, attempt, _ = flow.on_bridged(req, attempt, now=T0 + 20 * SEC, policy=P)
    ended = T0 + MIN
    new, done, commands = flow.on_attempt_finished(
        req, attempt, caller_answered=answered, bridged=bridged, cause=cause, now=ended, policy=P
    )
    assert new.status == after_1
    assert done.status == flow.FINISHED and done.cause == cause and done.ended_at == ended
    assert new.current_attempt_id is None
    if after_1 == flow.PENDING:
        assert new.attempts_made == 1
        assert new.next_attempt_at == ended + 5 * MIN
        assert commands == []
    elif after_1 == flow.FAILED:
        assert new.close_reason == flow.REASON_UNREACHABLE
        assert commands == [Notify("callback_failed", flow.REASON_UNREACHABLE)]
    else:
        assert new.close_reason == flow.REASON_CONNECTED and commands == []
        assert done.caller_answered_at == T0 + 20 * SEC


@pytest.mark.parametrize(("cause", "answered", "bridged", "after_1", "after_2"), CAUSES)
def test_every_caller_leg_cause_on_attempt_2(cause, answered, bridged, after_1, after_2):
    req, _, _ = first_attempt_missed("NO_ANSWER", ended=T0 + MIN)
    second_due = T0 + 6 * MIN
    req, attempt = claim(req, second_due, attempt_id=11)
    assert attempt.number == 2
    req, attempt = up_to_caller(req, attempt, second_due)
    if bridged:
        req, attempt, _ = flow.on_bridged(req, attempt, now=second_due + SEC, policy=P)
    new, done, commands = flow.on_attempt_finished(
        req,
        attempt,
        caller_answered=answered,
        bridged=bridged,
        cause=cause,
        now=second_due + MIN,
        policy=P,
    )
    assert new.status == after_2
    assert done.cause == cause
    if after_2 == flow.FAILED:
        assert new.attempts_made == 2
        assert new.next_attempt_at is None and new.closed_at == second_due + MIN
        assert len(commands) == 1 and commands[0].kind == "callback_failed"
    else:
        assert commands == []


def test_a_bridged_attempt_completes_whatever_the_cause_reported():
    req, attempt = claim(fresh(), T0)
    req, attempt = up_to_caller(req, attempt, T0)
    req, attempt, _ = flow.on_bridged(req, attempt, now=T0 + SEC, policy=P)
    new, _, _ = flow.on_attempt_finished(
        req, attempt, caller_answered=False, bridged=False, cause="LOST", now=T0 + MIN, policy=P
    )
    assert new.status == flow.COMPLETED


# -- the second attempt's timing ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("after_end", "claimed"),
    [
        (4 * MIN + 59 * SEC, False),
        (5 * MIN - dt.timedelta(microseconds=1), False),
        (5 * MIN, True),
        (5 * MIN + 9 * MIN + 59 * SEC, True),
    ],
)
def test_second_attempt_comes_exactly_5_minutes_after_a_missed_callback(after_end, claimed):
    ended = T0 + 2 * MIN
    req, _, _ = first_attempt_missed(ended=ended)
    new, commands = flow.claimable(req, now=ended + after_end, option_on=True, policy=P)
    if claimed:
        assert commands == [StartAttempt(2)] and new.status == flow.DIALING
    else:
        assert (new, commands) == (req, [])


def test_a_second_attempt_that_nobody_started_within_its_window_fails():
    ended = T0 + 2 * MIN
    req, _, _ = first_attempt_missed(ended=ended)
    assert req.retry_deadline == ended + 15 * MIN
    new, commands = flow.claimable(req, now=ended + 15 * MIN, option_on=True, policy=P)
    assert new.status == flow.FAILED and new.close_reason == flow.REASON_NO_ANSWER
    assert commands == [Notify("callback_failed", flow.REASON_NO_ANSWER)]


# -- no employee free ------------------------------------------------------------------------------


def test_no_employee_free_tries_again_30_seconds_later_without_counting_an_attempt():
    req, attempt = claim(fresh(), T0)
    new, done, commands = flow.on_no_employee_free(req, attempt, now=T0 + MIN, policy=P)
    assert new.status == flow.PENDING and new.attempts_made == 0
    assert new.next_attempt_at == T0 + MIN + 30 * SEC
    assert done.cause == flow.NO_EMPLOYEE and commands == []
    again, commands = flow.claimable(new, now=T0 + MIN + 30 * SEC, option_on=True, policy=P)
    assert commands == [StartAttempt(1)]


def test_the_last_no_employee_retry_is_pulled_inside_the_window():
    req, attempt = claim(fresh(), T0 + 9 * MIN + 40 * SEC)
    new, _, _ = flow.on_no_employee_free(req, attempt, now=T0 + 9 * MIN + 45 * SEC, policy=P)
    assert new.next_attempt_at == T0 + 9 * MIN + 59 * SEC
    _, commands = flow.claimable(new, now=new.next_attempt_at, option_on=True, policy=P)
    assert commands == [StartAttempt(1)]


def test_no_employee_free_at_the_deadline_fails_the_request():
    req, attempt = claim(fresh(), T0 + 9 * MIN)
    new, done, commands = flow.on_no_employee_free(req, attempt, now=T0 + 10 * MIN, policy=P)
    assert new.status == flow.FAILED and new.close_reason == flow.REASON_WINDOW
    assert done.status == flow.FINISHED
    assert commands == [Notify("callback_failed", flow.REASON_WINDOW)]


def test_an_attempt_lost_before_any_employee_answered_does_not_count():
    req, attempt = claim(fresh(), T0)
    new, done, _ = flow.on_attempt_lost(req, attempt, now=T0 + 3 * MIN, policy=P)
    assert new.status == flow.PENDING and new.attempts_made == 0
    assert done.cause == flow.LOST


def test_an_attempt_lost_after_the_caller_was_dialled_counts():
    req, attempt = claim(fresh(), T0)
    req, attempt = up_to_caller(req, attempt, T0)
    new, _, _ = flow.on_attempt_lost(req, attempt, now=T0 + 3 * MIN, policy=P)
    assert new.status == flow.PENDING and new.attempts_made == 1
    assert new.next_attempt_at == T0 + 8 * MIN


# -- stale events and duplicates -----------------------------------------------------------------


def test_events_of_an_older_attempt_are_ignored():
    req, old, _ = first_attempt_missed()
    current, attempt = claim(req, T0 + 6 * MIN, attempt_id=11)
    stale = replace(old, status=flow.DIALING_CALLER)  # as if it were still running
    for step in (
        lambda: flow.on_employee_answered(
            current, stale, employee_id=1, employee_uuid="x", now=T0 + 7 * MIN, policy=P
        ),
        lambda: flow.on_caller_dialing(
            current, stale, caller_uuid="y", caller_id_shown="", now=T0 + 7 * MIN, policy=P
        ),
        lambda: flow.on_bridged(current, stale, now=T0 + 7 * MIN, policy=P),
        lambda: flow.on_attempt_finished(
            current,
            stale,
            caller_answered=True,
            bridged=True,
            cause="NORMAL_CLEARING",
            now=T0 + 7 * MIN,
            policy=P,
        ),
        lambda: flow.on_no_employee_free(current, stale, now=T0 + 7 * MIN, policy=P),
        lambda: flow.on_attempt_lost(current, stale, now=T0 + 7 * MIN, policy=P),
    ):
        assert step() == (current, stale, [])


def test_the_same_finish_twice_changes_nothing_the_second_time():
    req, attempt = claim(fresh(), T0)
    req, attempt = up_to_caller(req, attempt, T0)
    once = flow.on_attempt_finished(
        req, attempt, caller_answered=False, bridged=False, cause="NO_ANSWER", now=T0 + MIN
    )
    new, done, _ = once
    twice = flow.on_attempt_finished(
        new, done, caller_answered=False, bridged=False, cause="NO_ANSWER", now=T0 + 2 * MIN
    )
    assert twice == (new, done, [])
    assert new.attempts_made == 1


def test_duplicated_progress_events_are_recorded_once():
    req, attempt = claim(fresh(), T0)
    r1, a1, _ = flow.on_employee_answered(
        req, attempt, employee_id=7, employee_uuid="e1", now=T0 + SEC, policy=P
    )
    assert flow.on_employee_answered(
        r1, a1, employee_id=8, employee_uuid="e2", now=T0 + 2 * SEC, policy=P
    ) == (r1, a1, [])
    r2, a2, _ = flow.on_caller_dialing(
        r1, a1, caller_uuid="c1", caller_id_shown="+7", now=T0 + 2 * SEC, policy=P
    )
    assert flow.on_caller_dialing(
        r2, a2, caller_uuid="c2", caller_id_shown="+7", now=T0 + 3 * SEC, policy=P
    ) == (r2, a2, [])
    r3, a3, _ = flow.on_bridged(r2, a2, now=T0 + 4 * SEC, policy=P)
    assert flow.on_bridged(r3, a3, now=T0 + 5 * SEC, policy=P) == (r3, a3, [])
    assert a3.employee_id == 7 and a3.caller_uuid == "c1" and a3.caller_answered_at == T0 + 4 * SEC


def test_no_employee_free_after_the_caller_was_dialled_is_ignored():
    req, attempt = claim(fresh(), T0)
    req, attempt = up_to_caller(req, attempt, T0)
    assert flow.on_no_employee_free(req, attempt, now=T0 + MIN, policy=P) == (req, attempt, [])


def test_each_step_extends_the_claim():
    req, attempt = claim(fresh(), T0)
    assert req.claim_expires_at == T0 + P.claim_ttl + 2 * P.ring_allowance
    r1, a1, _ = flow.on_employee_answered(
        req, attempt, employee_id=7, employee_uuid="e1", now=T0 + MIN, policy=P
    )
    assert r1.claim_expires_at == T0 + MIN + P.claim_ttl
    r2, a2, _ = flow.on_caller_dialing(
        r1, a1, caller_uuid="c1", caller_id_shown="+7", now=T0 + 2 * MIN, policy=P
    )
    r3, _, _ = flow.on_bridged(r2, a2, now=T0 + 3 * MIN, policy=P)
    assert r3.claim_expires_at == T0 + 3 * MIN + P.max_call
    assert not flow.abandoned(r3, None, now=T0 + 3 * MIN + P.max_call)
    assert flow.abandoned(r3, None, now=T0 + 3 * MIN + P.max_call + SEC)


def test_an_employee_hanging_up_before_the_caller_is_connected_does_not_use_up_an_attempt():
    req, attempt = claim(fresh(), T0)
    req, attempt = up_to_caller(req, attempt, T0 + 10 * SEC)
    new, done, commands = flow.on_attempt_finished(
        req,
        attempt,
        caller_answered=False,
        bridged=False,
        cause=flow.EMPLOYEE_GONE,
        now=T0 + 20 * SEC,
        policy=P,
    )
    assert new.status == flow.PENDING and new.attempts_made == 0
    assert new.next_attempt_at == T0 + 50 * SEC and commands == []
    assert done.cause == flow.EMPLOYEE_GONE


@pytest.mark.parametrize("cause", sorted(flow.PLATFORM_CAUSES))
def test_a_failure_of_our_own_trunk_does_not_use_up_the_callers_attempt(cause):
    req, attempt = claim(fresh(), T0)
    req, attempt = up_to_caller(req, attempt, T0 + 10 * SEC)
    new, done, commands = flow.on_attempt_finished(
        req, attempt, caller_answered=False, bridged=False, cause=cause, now=T0 + MIN, policy=P
    )
    assert new.status == flow.PENDING and new.attempts_made == 0
    assert new.next_attempt_at == T0 + MIN + 30 * SEC  # again soon, inside the 10 minutes
    assert done.cause == cause and commands == []
