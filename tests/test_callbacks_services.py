"""Callback services against the database (PostgreSQL in CI; SQLite must pass too)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.core import mail
from django.db import connection
from django_q.models import Schedule

from portal.billing import services as billing
from portal.billing.models import Option
from portal.callbacks import services, tasks
from portal.callbacks.models import CallbackAttempt, CallbackRequest
from portal.directory.models import PhoneNumber
from portal.notifications.models import Notification
from tests import factories

T0 = dt.datetime(2024, 3, 1, 9, 0, tzinfo=dt.UTC)
MIN = dt.timedelta(minutes=1)
SEC = dt.timedelta(seconds=1)
MC = "+74957770001"
CALLER = "+79161234567"


def setup_customer(*, option=True, mc=MC, notify=True):
    customer = factories.customer()
    dept = factories.department(
        customer,
        notify_callback=notify,
        notify_email=True,
        notification_emails="sales@example.com",
        notify_portal=False,
    )
    number = factories.number(customer, mc, kind=PhoneNumber.Kind.MULTICHANNEL, department=dept)
    if option:
        billing.option_set(customer=customer, code=Option.CALLBACK, enabled=True, now=T0 - MIN)
    return customer, dept, number


def create(customer, *, caller=CALLER, origin="uuid-1", number=MC, now=T0, left=True):
    """Record a request; with `left`, the caller's call ends at the same moment (due now)."""
    req, reason = services.callback_request_create(
        customer_id=customer.pk,
        number_e164=number,
        caller_number=caller,
        origin_uuid=origin,
        now=now,
    )
    if left and reason == "created":
        services.callback_request_caller_left(origin_uuid=origin, now=now)
        req.refresh_from_db()
    return req, reason


def claim_one(now, worker="fs1"):
    plans = services.callback_claim_due(now=now, worker=worker)
    assert len(plans) == 1, plans
    return plans[0]


def reach_caller(plan, now, employee_index=0):
    cand = plan.candidates[employee_index]
    services.callback_attempt_employee_answered(
        attempt_id=plan.attempt_id, employee_id=cand.employee_id, employee_uuid="e-1", now=now
    )
    services.callback_attempt_caller_dialing(
        attempt_id=plan.attempt_id,
        caller_uuid="c-1",
        caller_id_shown=cand.caller_id_to_show,
        now=now,
    )


# -- creation ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_request_is_created_pending_due_at_once_and_the_department_is_notified(
    django_capture_on_commit_callbacks,
):
    customer, dept, number = setup_customer()
    with django_capture_on_commit_callbacks(execute=True):
        req, reason = create(customer, caller="89161234567")
    assert reason == "created"
    assert req.status == "pending" and req.caller_number == CALLER
    assert req.department == dept and req.number == number
    assert req.next_attempt_at == T0 and req.first_attempt_deadline == T0 + 10 * MIN
    note = Notification.objects.get(kind="callback_requested")
    assert note.department == dept and note.payload["callback_request_id"] == req.pk
    assert [m.to for m in mail.outbox] == [["sales@example.com"]]
    assert "+7 916 123-45-67" in mail.outbox[0].subject


@pytest.mark.django_db
def test_a_department_without_the_notify_flag_gets_no_notification():
    customer, _, _ = setup_customer(notify=False)
    req, reason = create(customer)
    assert reason == "created"
    assert not Notification.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "caller", ["anonymous", "Anonymous", "unknown", "", "0000000000", "+7916abc4567", "12"]
)
def test_anonymous_withheld_or_invalid_callers_are_refused(caller):
    customer, _, _ = setup_customer()
    assert create(customer, caller=caller) == (None, "anonymous")
    assert not CallbackRequest.objects.exists()


@pytest.mark.django_db
def test_no_request_while_the_option_is_off():
    customer, _, _ = setup_customer(option=False)
    assert create(customer) == (None, "option_off")


@pytest.mark.django_db
def test_another_customers_number_or_a_regular_number_is_refused():
    customer, _, _ = setup_customer()
    other, _, _ = setup_customer(mc="+74957770002")
    assert create(customer, number="+74957770002") == (None, "unknown_number")
    factories.number(customer, "+74957770003", kind=PhoneNumber.Kind.REGULAR)
    assert create(customer, number="+74957770003") == (None, "unknown_number")
    assert create(customer, number="not a number") == (None, "unknown_number")
    assert not CallbackRequest.objects.exists()


@pytest.mark.django_db
def test_a_queue_reached_through_a_voice_menu_files_the_request_under_that_department():
    customer, dept, _ = setup_customer()
    support = factories.department(customer, name="Поддержка")
    regular = "+74957770009"
    factories.number(customer, regular, kind=PhoneNumber.Kind.REGULAR, department=dept)
    req, reason = services.callback_request_create(
        customer_id=customer.pk,
        number_e164=regular,
        caller_number=CALLER,
        origin_uuid="menu-1",
        now=T0,
        department_id=support.pk,  # the menu key's queue, as the channel is tagged
    )
    assert reason == "created" and req.department == support and req.number.e164 == regular
    # a department of another customer is never taken from the channel
    theirs = factories.department(factories.customer())
    assert services.callback_request_create(
        customer_id=customer.pk,
        number_e164=regular,
        caller_number="+79160000055",
        origin_uuid="menu-2",
        now=T0,
        department_id=theirs.pk,
    ) == (None, "no_department")


@pytest.mark.django_db
def test_a_caller_with_an_open_request_for_the_department_gets_no_second_one():
    customer, _, _ = setup_customer()
    first, _ = create(customer, origin="u-1")
    again, reason = create(customer, origin="u-2", caller="79161234567")
    assert (again, reason) == (first, "duplicate")
    assert CallbackRequest.objects.count() == 1
    assert Notification.objects.filter(kind="callback_requested").count() == 1


@pytest.mark.django_db
def test_the_same_origin_channel_makes_one_request():
    customer, _, _ = setup_customer()
    first, _ = create(customer, origin="u-1")
    CallbackRequest.objects.filter(pk=first.pk).update(status="completed")
    assert create(customer, origin="u-1") == (first, "duplicate")
    assert CallbackRequest.objects.count() == 1


@pytest.mark.django_db
def test_a_closed_request_does_not_block_a_new_one():
    customer, _, _ = setup_customer()
    first, _ = create(customer, origin="u-1")
    CallbackRequest.objects.filter(pk=first.pk).update(status="failed")
    second, reason = create(customer, origin="u-2", now=T0 + 20 * MIN)
    assert reason == "created" and second.pk != first.pk


# -- claiming ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_claim_gives_the_plan_with_least_recently_used_employee_first():
    customer, dept, _ = setup_customer()
    busy = factories.employee(customer, dept, extension="201", caller_id_option=True)
    factories.employee(customer, dept, extension="202", mobile_number="+79990001122")
    factories.employee(customer, dept, extension="203")
    factories.employee(customer, dept, extension="204", is_active=False)
    factories.employee(customer, None, extension="205")
    old, _ = create(customer, origin="old", caller="+79160000001", now=T0 - dt.timedelta(days=1))
    CallbackAttempt.objects.create(
        request=old,
        number=1,
        status="finished",
        started_at=T0,
        employee=busy,
        employee_answered_at=T0 - dt.timedelta(hours=1),
    )
    req, _ = create(customer)
    plan = claim_one(T0 + SEC)
    assert plan.request_id == req.pk and plan.attempt_number == 1
    assert plan.caller_number == CALLER and plan.multichannel_number == MC
    assert plan.customer_id == customer.pk and plan.department_id == dept.pk
    assert [(c.extension, c.caller_id_to_show) for c in plan.candidates] == [
        ("202", MC),  # never the employee's own mobile: the customer's only number
        ("203", MC),
        ("201", MC),  # took a callback an hour ago, so last
    ]
    req.refresh_from_db()
    assert req.status == "dialing" and req.claimed_by == "fs1"
    assert req.current_attempt_id == plan.attempt_id
    assert services.callback_claim_due(now=T0 + 2 * SEC, worker="fs2") == []


@pytest.mark.django_db
def test_the_first_attempt_is_due_only_once_the_callers_call_has_ended():
    customer, dept, _ = setup_customer()
    factories.employee(customer, dept, extension="201")
    req, _ = create(customer, origin="origin-1", left=False)
    # The caller still hears the confirmation prompt: their line is busy.
    assert services.callback_claim_due(now=T0 + 2 * SEC, worker="fs1") == []
    assert services.callback_request_caller_left(origin_uuid="origin-1", now=T0 + 3 * SEC)
    assert not services.callback_request_caller_left(origin_uuid="origin-1", now=T0 + 4 * SEC)
    assert not services.callback_request_caller_left(origin_uuid="unknown", now=T0 + 4 * SEC)
    plan = claim_one(T0 + 3 * SEC)
    assert plan.request_id == req.pk


@pytest.mark.django_db
def test_a_request_whose_callers_hangup_was_never_reported_is_dialled_a_minute_later():
    customer, dept, _ = setup_customer()
    factories.employee(customer, dept, extension="201")
    create(customer, left=False)
    assert services.callback_claim_due(now=T0 + 59 * SEC, worker="fs1") == []
    claim_one(T0 + MIN)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("customer_aon", "employee_aon", "shown"),
    [
        (True, True, MC),  # АОН: the multichannel number the caller called
        (True, False, "+74957770000"),  # the customer's number its outside calls present
        (False, True, "+74957770000"),  # the employee's flag alone is not the option
        (False, False, "+74957770000"),
    ],
)
def test_the_caller_always_sees_one_of_the_customers_numbers(customer_aon, employee_aon, shown):
    customer, dept, _ = setup_customer()
    factories.number(customer, "+74957770000", kind=PhoneNumber.Kind.REGULAR)
    if customer_aon:
        billing.option_set(customer=customer, code=Option.CALLER_ID, enabled=True, now=T0 - MIN)
    factories.employee(
        customer,
        dept,
        extension="201",
        caller_id_option=employee_aon,
        mobile_number="+79990001122",  # personal: never shown
    )
    create(customer)
    (candidate,) = claim_one(T0 + SEC).candidates
    assert candidate.caller_id_to_show == shown


@pytest.mark.django_db
def test_a_request_not_yet_due_is_not_claimed():
    customer, _, _ = setup_customer()
    create(customer)
    assert services.callback_claim_due(now=T0 - SEC, worker="fs1") == []


@pytest.mark.django_db
def test_a_late_worker_fails_the_request_instead_of_dialling_after_10_minutes():
    customer, _, _ = setup_customer()
    req, _ = create(customer)
    assert services.callback_claim_due(now=T0 + 10 * MIN, worker="fs1") == []
    req.refresh_from_db()
    assert req.status == "failed" and req.close_reason == "no employee free within 10 minutes"
    assert not CallbackAttempt.objects.exists()
    assert Notification.objects.filter(kind="callback_failed").count() == 1


@pytest.mark.django_db
def test_option_switched_off_while_pending_cancels_instead_of_dialling():
    customer, _, _ = setup_customer()
    req, _ = create(customer)
    billing.option_set(customer=customer, code=Option.CALLBACK, enabled=False, now=T0 + SEC)
    assert services.callback_claim_due(now=T0 + 2 * SEC, worker="fs1") == []
    req.refresh_from_db()
    assert req.status == "cancelled" and not CallbackAttempt.objects.exists()
    assert Notification.objects.filter(kind="callback_failed").count() == 1


@pytest.mark.django_db
def test_housekeeping_cancels_pending_requests_when_the_option_is_switched_off():
    customer, _, _ = setup_customer()
    req, _ = create(customer)
    req2, _ = create(customer, caller="+79160000002", origin="u-2")
    billing.option_set(customer=customer, code=Option.CALLBACK, enabled=False, now=T0 + SEC)
    counts = services.callbacks_housekeeping(now=T0 + 2 * SEC)
    assert counts["cancelled"] == 2
    assert set(CallbackRequest.objects.values_list("status", flat=True)) == {"cancelled"}
    assert services.callbacks_housekeeping(now=T0 + 3 * SEC)["cancelled"] == 0
    assert create(customer, origin="u-3") == (None, "option_off")


@pytest.mark.django_db
def test_housekeeping_fails_pending_requests_whose_window_passed_and_never_dials():
    customer, _, _ = setup_customer()
    req, _ = create(customer)
    assert services.callbacks_housekeeping(now=T0 + 9 * MIN) == {
        "recovered": 0,
        "failed": 0,
        "cancelled": 0,
    }
    assert services.callbacks_housekeeping(now=T0 + 10 * MIN)["failed"] == 1
    req.refresh_from_db()
    assert req.status == "failed" and not CallbackAttempt.objects.exists()


# -- a whole callback ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_first_attempt_missed_then_second_attempt_5_minutes_later_connects():
    customer, dept, _ = setup_customer()
    emp = factories.employee(customer, dept, extension="301", caller_id_option=True)
    req, _ = create(customer)
    plan = claim_one(T0 + SEC)
    reach_caller(plan, T0 + 10 * SEC)
    status = services.callback_attempt_finished(
        attempt_id=plan.attempt_id,
        caller_answered=False,
        bridged=False,
        cause="NO_ANSWER",
        now=T0 + MIN,
    )
    assert status == "pending"
    a1 = CallbackAttempt.objects.get(pk=plan.attempt_id)
    assert a1.status == "finished" and a1.cause == "NO_ANSWER" and a1.employee == emp
    assert a1.caller_id_shown == MC and a1.caller_uuid == "c-1" and a1.employee_uuid == "e-1"
    # -- restart: nothing in memory; the database alone says when attempt 2 is due
    assert services.callback_claim_due(now=T0 + 6 * MIN - SEC, worker="fs2") == []
    plan2 = claim_one(T0 + 6 * MIN, worker="fs2")
    assert plan2.attempt_number == 2 and plan2.request_id == req.pk
    reach_caller(plan2, T0 + 6 * MIN + 5 * SEC)
    services.callback_attempt_bridged(
        attempt_id=plan2.attempt_id, now=T0 + 6 * MIN + 20 * SEC, recording_path="/r/x.wav"
    )
    status = services.callback_attempt_finished(
        attempt_id=plan2.attempt_id,
        caller_answered=True,
        bridged=True,
        cause="NORMAL_CLEARING",
        now=T0 + 9 * MIN,
    )
    assert status == "completed"
    req.refresh_from_db()
    assert req.employee == emp and req.attempts_made == 1 and req.closed_at == T0 + 9 * MIN
    a2 = CallbackAttempt.objects.get(pk=plan2.attempt_id)
    assert a2.caller_answered_at == T0 + 6 * MIN + 20 * SEC and a2.recording_path == "/r/x.wav"
    assert not Notification.objects.filter(kind="callback_failed").exists()


@pytest.mark.django_db
def test_two_missed_attempts_fail_the_request_and_notify_the_department(
    django_capture_on_commit_callbacks,
):
    customer, dept, _ = setup_customer()
    factories.employee(customer, dept)
    req, _ = create(customer)
    for n, at in ((1, T0), (2, T0 + 6 * MIN)):
        plan = claim_one(at)
        assert plan.attempt_number == n
        reach_caller(plan, at)
        with django_capture_on_commit_callbacks(execute=True):
            status = services.callback_attempt_finished(
                attempt_id=plan.attempt_id,
                caller_answered=False,
                bridged=False,
                cause="USER_BUSY",
                now=at + MIN,
            )
    assert status == "failed"
    req.refresh_from_db()
    assert req.attempts_made == 2 and req.close_reason == "caller did not answer"
    note = Notification.objects.get(kind="callback_failed")
    assert note.payload["status"] == "failed" and note.payload["attempts_made"] == 2
    assert any("не состоялся" in m.subject for m in mail.outbox)


@pytest.mark.django_db
def test_a_second_finish_for_the_same_attempt_changes_nothing():
    customer, dept, _ = setup_customer()
    factories.employee(customer, dept)
    create(customer)
    plan = claim_one(T0)
    reach_caller(plan, T0)
    kwargs = dict(attempt_id=plan.attempt_id, caller_answered=False, bridged=False)
    assert (
        services.callback_attempt_finished(cause="NO_ANSWER", now=T0 + MIN, **kwargs) == "pending"
    )
    assert (
        services.callback_attempt_finished(cause="USER_BUSY", now=T0 + 2 * MIN, **kwargs)
        == "pending"
    )
    attempt = CallbackAttempt.objects.get(pk=plan.attempt_id)
    assert attempt.cause == "NO_ANSWER" and attempt.ended_at == T0 + MIN
    assert CallbackRequest.objects.get().next_attempt_at == T0 + 6 * MIN
    assert (
        services.callback_attempt_finished(
            cause="X", now=T0, attempt_id=999999, caller_answered=False, bridged=False
        )
        == ""
    )


@pytest.mark.django_db
def test_a_step_the_rules_refuse_tells_the_flow_not_to_dial_the_caller():
    customer, dept, _ = setup_customer()
    employee = factories.employee(customer, dept)
    create(customer)
    plan = claim_one(T0)
    answered = dict(attempt_id=plan.attempt_id, employee_id=employee.pk, now=T0)
    # The attempt ended while the employee's phone rang (e.g. the ring was reported lost) ...
    services.callback_attempt_lost(attempt_id=plan.attempt_id, now=T0)
    # ... so a late "employee answered" and the caller's leg are refused, not recorded.
    assert services.callback_attempt_employee_answered(employee_uuid="e-late", **answered) is False
    assert (
        services.callback_attempt_caller_dialing(
            attempt_id=plan.attempt_id, caller_uuid="c-1", caller_id_shown=MC, now=T0
        )
        is False
    )
    attempt = CallbackAttempt.objects.get(pk=plan.attempt_id)
    assert attempt.employee_uuid == "" and attempt.caller_uuid == ""


@pytest.mark.django_db
def test_a_step_the_rules_take_says_so_once():
    customer, dept, _ = setup_customer()
    employee = factories.employee(customer, dept)
    create(customer)
    plan = claim_one(T0)
    answered = dict(attempt_id=plan.attempt_id, employee_id=employee.pk, now=T0)
    assert services.callback_attempt_employee_answered(employee_uuid="e-1", **answered) is True
    # the same answer reported twice: the second is not a reason to dial the caller again
    assert services.callback_attempt_employee_answered(employee_uuid="e-1", **answered) is False
    assert services.callback_attempt_caller_dialing(
        attempt_id=plan.attempt_id, caller_uuid="c-1", caller_id_shown=MC, now=T0
    )


@pytest.mark.django_db
def test_no_employee_free_retries_in_30_seconds_as_the_same_attempt_number():
    customer, _, _ = setup_customer()
    req, _ = create(customer)
    plan = claim_one(T0)
    assert plan.candidates == []
    assert services.callback_no_employee_free(attempt_id=plan.attempt_id, now=T0 + SEC) == "pending"
    req.refresh_from_db()
    assert req.next_attempt_at == T0 + 31 * SEC and req.attempts_made == 0
    assert CallbackAttempt.objects.get(pk=plan.attempt_id).cause == "NO_EMPLOYEE"
    again = claim_one(T0 + 31 * SEC)
    assert again.attempt_number == 1 and again.attempt_id != plan.attempt_id


@pytest.mark.django_db
def test_an_attempt_lost_after_the_caller_was_dialled_counts_as_missed():
    customer, dept, _ = setup_customer()
    factories.employee(customer, dept)
    req, _ = create(customer)
    plan = claim_one(T0)
    reach_caller(plan, T0)
    assert services.callback_attempt_lost(attempt_id=plan.attempt_id, now=T0 + MIN) == "pending"
    req.refresh_from_db()
    assert req.attempts_made == 1
    assert CallbackAttempt.objects.get(pk=plan.attempt_id).cause == "LOST"


# -- concurrency ---------------------------------------------------------------------------------


def _race(n, target):
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def run(i):
        try:
            barrier.wait(timeout=10)
            results[i] = target(i)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    return results


@pytest.mark.django_db(transaction=True)
def test_two_claimers_at_once_make_exactly_one_claim():
    customer, dept, _ = setup_customer()
    factories.employee(customer, dept)
    for i in range(10):
        create(customer, caller=f"+7916000{i:04d}", origin=f"u-{i}")
    results = _race(2, lambda i: services.callback_claim_due(now=T0 + SEC, worker=f"w{i}"))
    claimed = [p.request_id for plans in results for p in plans]
    assert len(claimed) == 10 and len(set(claimed)) == 10
    assert CallbackAttempt.objects.count() == 10
    assert set(CallbackRequest.objects.values_list("status", flat=True)) == {"dialing"}


@pytest.mark.django_db(transaction=True)
def test_two_identical_requests_at_once_make_one():
    customer, _, _ = setup_customer()
    results = _race(2, lambda i: create(customer, origin=f"u-{i}"))
    assert sorted(reason for _, reason in results) == ["created", "duplicate"]
    assert CallbackRequest.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_housekeeping_recovers_an_expired_claim_exactly_once():
    customer, dept, _ = setup_customer()
    factories.employee(customer, dept)
    req, _ = create(customer)
    plan = claim_one(T0, worker="dead-node")  # ...and the node dies before any employee answers
    req.refresh_from_db()
    assert services.callbacks_housekeeping(now=req.claim_expires_at)["recovered"] == 0
    later = req.claim_expires_at + SEC
    results = _race(2, lambda i: services.callbacks_housekeeping(now=later))
    assert sorted(r["recovered"] for r in results) == [0, 1]
    req.refresh_from_db()
    assert req.status == "pending" and req.attempts_made == 0 and req.claimed_by == ""
    assert req.next_attempt_at == later + 30 * SEC
    assert CallbackAttempt.objects.get(pk=plan.attempt_id).cause == "LOST"
    # the dead node's late events change nothing; a live node takes the next attempt
    services.callback_attempt_employee_answered(
        attempt_id=plan.attempt_id, employee_id=1, employee_uuid="x", now=later
    )
    assert CallbackAttempt.objects.get(pk=plan.attempt_id).employee_answered_at is None
    again = claim_one(later + 30 * SEC, worker="fs2")
    assert again.attempt_number == 1


@pytest.mark.django_db
def test_housekeeping_leaves_attempts_that_report_progress_alone():
    customer, dept, _ = setup_customer()
    factories.employee(customer, dept)
    create(customer)
    plan = claim_one(T0)
    reach_caller(plan, T0 + MIN)
    services.callback_attempt_bridged(attempt_id=plan.attempt_id, now=T0 + 2 * MIN)
    assert services.callbacks_housekeeping(now=T0 + 3 * dt.timedelta(hours=1))["recovered"] == 0
    counts = services.callbacks_housekeeping(now=T0 + 5 * dt.timedelta(hours=1))
    assert counts["recovered"] == 1
    assert CallbackRequest.objects.get().status == "completed"


@pytest.mark.django_db
def test_the_housekeeping_task_is_scheduled_every_minute():
    schedule = Schedule.objects.get(name="callbacks.callbacks_housekeeping")
    assert schedule.func == "portal.callbacks.tasks.callbacks_housekeeping"
    assert schedule.schedule_type == Schedule.MINUTES and schedule.minutes == 1
    assert tasks.callbacks_housekeeping() == {"recovered": 0, "failed": 0, "cancelled": 0}
