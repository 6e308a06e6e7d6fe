"""Auto-redial rules (seed 003), pure: windows, eligibility, causes, stale and duplicate events."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from pbx import render
from portal.redial import rules

T0 = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)


def at(**delta) -> dt.datetime:
    return T0 + dt.timedelta(**delta)


@pytest.mark.parametrize(
    ("back", "action"),
    [
        (at(hours=1, minutes=59, seconds=59), rules.CONNECT),
        (at(hours=2), rules.SEND_SMS),
        (at(minutes=40), rules.CONNECT),
    ],
)
def test_accepted_connects_until_two_hours_then_texts(back, action):
    assert rules.on_callee_back(rules.ACCEPTED, T0, back) == action


@pytest.mark.parametrize(
    ("back", "action"),
    [
        (at(minutes=29, seconds=59), rules.FLASH),
        (at(minutes=30), rules.SEND_SMS),
        (at(minutes=10), rules.FLASH),
        (at(minutes=31), rules.SEND_SMS),
    ],
)
def test_declined_flashes_until_thirty_minutes_then_texts(back, action):
    assert rules.on_callee_back(rules.DECLINED, T0, back) == action


@pytest.mark.parametrize(
    ("status", "now", "action"),
    [
        (rules.ACCEPTED, at(hours=1, minutes=59, seconds=59), None),
        (rules.ACCEPTED, at(hours=2), rules.SEND_SMS),
        (rules.DECLINED, at(minutes=29, seconds=59), None),
        (rules.DECLINED, at(minutes=30), rules.SEND_SMS),
        (rules.DONE, at(hours=5), None),
        (rules.CONNECTING, at(hours=5), None),
    ],
)
def test_housekeeping_texts_exactly_when_a_window_closes(status, now, action):
    assert rules.on_tick(status, T0, now) == action


@pytest.mark.parametrize(
    "status",
    [rules.OFFERED, rules.CONNECTING, rules.FLASHING, rules.DONE, rules.REFUSED],
)
def test_a_callee_back_event_for_a_request_not_waiting_does_nothing(status):
    # A second registration after the first one moved the request on, a late hangup event,
    # a replay after an ESL reconnect: nothing to do.
    assert rules.on_callee_back(status, T0, at(minutes=1)) is None


def test_the_offer_is_answered_once():
    assert rules.answer(rules.OFFERED, "1") == rules.ACCEPTED
    assert rules.answer(rules.OFFERED, "2") == rules.DECLINED
    assert rules.answer(rules.OFFERED, None) == rules.DECLINED  # no answer = declined
    assert rules.answer(rules.ACCEPTED, "1") is None
    assert rules.answer(rules.DECLINED, "1") is None


@pytest.mark.parametrize(
    ("cause", "kind"),
    [
        ("USER_BUSY", rules.BUSY),
        ("USER_NOT_REGISTERED", rules.UNREACHABLE),
        ("SUBSCRIBER_ABSENT", rules.UNREACHABLE),
        ("NO_USER_RESPONSE", rules.UNREACHABLE),
        ("DESTINATION_OUT_OF_ORDER", rules.UNREACHABLE),
        ("NO_ANSWER", None),  # it rang: the callee was reachable
        ("CALL_REJECTED", None),
        ("UNALLOCATED_NUMBER", None),
        ("NORMAL_CLEARING", None),
        ("", None),
        ("user_busy", rules.BUSY),
    ],
)
def test_hangup_causes_map_to_busy_unreachable_or_no_offer(cause, kind):
    assert rules.cause_kind(cause) == kind


def test_the_dialplan_hands_over_exactly_the_causes_the_rules_offer():
    assert render.REDIAL_CAUSES == rules.OFFER_CAUSES


ELIGIBLE = rules.Facts(
    cause="USER_BUSY",
    option_on=True,
    caller_balance_ok=True,
    caller_blacklisted_by_callee=False,
    callee_call_waiting=False,
    caller_forwarding=False,
    caller_roaming=False,
    caller_open_requests=0,
    customer_requests_last_minute=0,
    max_open_per_caller=3,
    max_per_minute=10,
)


def test_an_eligible_caller_is_offered():
    assert rules.refusal(ELIGIBLE) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"cause": "NO_ANSWER"}, rules.NOT_OFFERED_CAUSE),
        ({"option_on": False}, rules.OPTION_OFF),
        ({"same_person": True}, rules.SAME_PERSON),
        ({"caller_balance_ok": False}, rules.LOW_BALANCE),
        ({"caller_blacklisted_by_callee": True}, rules.BLACKLISTED),
        ({"callee_call_waiting": True}, rules.CALL_WAITING),
        ({"caller_forwarding": True}, rules.FORWARDING),
        ({"caller_roaming": True}, rules.ROAMING),
        ({"caller_open_requests": 3}, rules.TOO_MANY_OPEN),
        ({"customer_requests_last_minute": 10}, rules.TOO_MANY_PER_MINUTE),
    ],
)
def test_every_eligibility_rule_refuses_with_its_reason(change, reason):
    assert rules.refusal(dataclasses.replace(ELIGIBLE, **change)) == reason


def test_limits_count_up_to_but_not_including_the_maximum():
    assert rules.refusal(dataclasses.replace(ELIGIBLE, caller_open_requests=2)) is None
    assert rules.refusal(dataclasses.replace(ELIGIBLE, customer_requests_last_minute=9)) is None


def test_a_voicemail_callee_back_within_two_hours_gets_the_offer_pushed_to_the_caller():
    assert rules.on_callee_back(rules.PUSH_WAIT, T0, at(hours=1, minutes=59)) == rules.PUSH
    assert rules.on_callee_back(rules.PUSH_WAIT, T0, at(hours=2)) == rules.SEND_SMS
    assert rules.on_tick(rules.PUSHED, T0, at(hours=2)) == rules.SEND_SMS
    assert rules.on_tick(rules.PUSHED, T0, at(hours=1, minutes=59, seconds=59)) is None


def test_a_pushed_offer_is_answered_once_and_only_inside_the_window():
    assert rules.push_answer(rules.PUSHED, True, T0, at(minutes=50)) == rules.CONNECTING
    assert rules.push_answer(rules.PUSHED, False, T0, at(minutes=50)) == rules.DONE
    assert rules.push_answer(rules.PUSHED, True, T0, at(hours=2)) is None
    assert rules.push_answer(rules.CONNECTING, True, T0, at(minutes=50)) is None


@pytest.mark.parametrize(
    ("kind", "source", "back"),
    [
        (rules.BUSY, rules.REFRESH, False),  # a busy phone's routine re-REGISTER
        (rules.BUSY, rules.NEW_REGISTRATION, False),  # registered is not free
        (rules.BUSY, rules.CALL_ENDED, True),  # the end of their call is
        (rules.UNREACHABLE, rules.REFRESH, False),
        (rules.UNREACHABLE, rules.NEW_REGISTRATION, True),
        (rules.UNREACHABLE, rules.CALL_ENDED, True),
    ],
)
def test_a_busy_callee_is_back_when_their_call_ends_an_unreachable_one_on_a_new_registration(
    kind, source, back
):
    assert rules.counts_as_back(kind, source) is back


def step(leg, cause, *, attempts=1, now=None, status=rules.CONNECTING):
    return rules.after_attempt(
        status=status,
        leg=leg,
        cause=cause,
        attempts=attempts,
        created=T0,
        now=now or at(minutes=40),
    )


@pytest.mark.parametrize(
    ("leg", "cause", "expected"),
    [
        # the callee busy or away again at connection time: wait for them again (same window)
        ("callee", "USER_BUSY", rules.Step(rules.WAIT, kind=rules.BUSY)),
        ("callee", "USER_NOT_REGISTERED", rules.Step(rules.WAIT, kind=rules.UNREACHABLE)),
        # nobody picked up, or the caller was busy or away: the next attempt 5 minutes later
        ("callee", "NO_ANSWER", rules.Step(rules.RETRY, retry_at=at(minutes=45))),
        ("caller", "USER_BUSY", rules.Step(rules.RETRY, retry_at=at(minutes=45))),
        ("caller", "USER_NOT_REGISTERED", rules.Step(rules.RETRY, retry_at=at(minutes=45))),
        ("caller", "NO_ANSWER", rules.Step(rules.RETRY, retry_at=at(minutes=45))),
        # whoever declines has decided
        ("caller", "CALL_REJECTED", rules.Step(rules.DONE, outcome=rules.NOT_CONNECTED)),
        ("callee", "CALL_REJECTED", rules.Step(rules.DONE, outcome=rules.NOT_CONNECTED)),
        ("caller", "OUTGOING_CALL_BARRED", rules.Step(rules.DONE, outcome=rules.NOT_CONNECTED)),
    ],
)
def test_a_failed_connection_waits_for_the_callee_or_retries_the_caller(leg, cause, expected):
    assert step(leg, cause) == expected


def test_connection_attempts_end_with_an_sms_when_they_or_the_window_run_out():
    assert step("caller", "NO_ANSWER", attempts=3) == rules.Step(rules.SEND_SMS)
    assert step("callee", "USER_BUSY", attempts=3) == rules.Step(rules.SEND_SMS)
    # the next attempt would come after 2 h: the callee gets the SMS now
    late = at(hours=1, minutes=56)
    assert step("caller", "USER_BUSY", now=late) == rules.Step(rules.SEND_SMS)
    assert step("callee", "USER_BUSY", now=at(hours=2)) == rules.Step(rules.SEND_SMS)


@pytest.mark.parametrize(
    ("cause", "expected"),
    [
        ("NORMAL_CLEARING", rules.Step(rules.DONE, outcome=rules.FLASHED)),  # we ended it ringing
        ("NO_ANSWER", rules.Step(rules.DONE, outcome=rules.FLASHED)),
        ("CALL_REJECTED", rules.Step(rules.DONE, outcome=rules.FLASHED)),  # they saw it
        ("USER_BUSY", rules.Step(rules.WAIT, kind=rules.BUSY)),  # never showed: wait again
        ("USER_NOT_REGISTERED", rules.Step(rules.WAIT, kind=rules.UNREACHABLE)),
    ],
)
def test_a_flash_is_recorded_as_what_happened(cause, expected):
    assert step("flash", cause, status=rules.FLASHING, now=at(minutes=10)) == expected
    assert rules.after_flash_answered() == rules.Step(rules.DONE, outcome=rules.FLASH_ANSWERED)


def test_a_flash_that_met_a_busy_phone_after_thirty_minutes_texts_instead():
    assert step("flash", "USER_BUSY", status=rules.FLASHING, now=at(minutes=30)) == rules.Step(
        rules.SEND_SMS
    )


class _Phone:
    def __init__(self, pk, extension):
        self.pk, self.extension, self.is_active = pk, extension, True


def _public(options, phones):
    from types import SimpleNamespace

    customer = SimpleNamespace(pk=7, status="active", language="ru")
    number = SimpleNamespace(pk=3, e164="+74951112244", kind="regular", department_id=5)
    call = render.PublicCall(number=number, customer=customer, employees=phones, options=options)
    return render.render_public_dialplan("74951112244", call, settings=render.RenderSettings())


def test_a_call_from_outside_to_a_number_that_rings_one_phone_goes_to_the_offer():
    xml = _public(frozenset({render.AUTO_REDIAL}), [_Phone(11, "102")])
    assert 'data="continue_on_fail=' + ",".join(sorted(render.REDIAL_CAUSES)) + '"' in xml
    assert 'data="pbx_redial_callee=11"' in xml
    assert 'data="pbx_flow=redial_offer"' in xml and 'application="socket"' in xml
    assert xml.index('application="bridge"') < xml.index('application="socket"')


def test_without_the_option_or_with_a_hunt_group_a_call_from_outside_gets_no_offer():
    assert "redial_offer" not in _public(frozenset(), [_Phone(11, "102")])
    two = [_Phone(11, "102"), _Phone(12, "103")]
    assert "redial_offer" not in _public(frozenset({render.AUTO_REDIAL}), two)
