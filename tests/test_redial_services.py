"""Auto-redial services on the database: eligibility from real rows, one action per event,
claims by compare-and-swap, SMS when a window closes (Twilio at the HTTP boundary)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from portal.billing import services as billing
from portal.billing.models import Option
from portal.redial import rules, services
from portal.redial.models import RedialLimits, RedialRequest, SubscriberSettings
from tests import factories
from tests.http_boundary import sms_sent

pytestmark = pytest.mark.django_db


class Office:
    def __init__(self, *, balance: str = "500"):
        self.customer = factories.customer()
        self.caller = factories.employee(self.customer, extension="101", name="Анна")
        self.callee = factories.employee(
            self.customer, extension="102", name="Борис", mobile_number="+79160000102"
        )
        billing.option_set(customer=self.customer, code=Option.AUTO_REDIAL, enabled=True)
        if Decimal(balance) > 0:
            billing.payment_record(customer=self.customer, amount=Decimal(balance), reference="p1")

    def offer(self, uuid="call-1", cause="USER_BUSY", now=None, caller=None, callee=None):
        return services.offer_start(
            customer_id=self.customer.pk,
            caller_id=(caller or self.caller).pk,
            callee_id=(callee or self.callee).pk,
            cause=cause,
            origin_uuid=uuid,
            now=now or timezone.now(),
        )


@pytest.fixture
def office():
    return Office()


def test_a_busy_callee_gets_the_caller_an_offer_once_per_call(office):
    first = office.offer()
    again = office.offer()
    assert first.offer and again.request_id == first.request_id
    request = RedialRequest.objects.get()
    assert request.status == rules.OFFERED and request.kind == rules.BUSY
    assert [e.kind for e in request.events.all()] == ["failed_call", "offered"]


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (
            lambda o: SubscriberSettings.objects.create(employee=o.callee, blacklist="101"),
            "blacklisted",
        ),
        (
            lambda o: SubscriberSettings.objects.create(employee=o.callee, call_waiting=True),
            "call_waiting",
        ),
        (
            lambda o: SubscriberSettings.objects.create(employee=o.caller, forwarding=True),
            "forwarding",
        ),
        (lambda o: SubscriberSettings.objects.create(employee=o.caller, roaming=True), "roaming"),
        (
            lambda o: billing.option_set(
                customer=o.customer, code=Option.AUTO_REDIAL, enabled=False
            ),
            "option_off",
        ),
    ],
)
def test_an_ineligible_caller_is_refused_with_the_reason_recorded_and_no_offer(
    office, setup, reason
):
    setup(office)
    offer = office.offer()
    assert not offer.offer
    request = RedialRequest.objects.get()
    assert request.status == rules.REFUSED and request.reason == reason


def test_a_caller_without_money_for_a_minute_is_refused():
    office = Office(balance="0")
    assert not office.offer().offer
    assert RedialRequest.objects.get().reason == "balance"


def test_a_call_that_rang_unanswered_is_not_offered(office):
    assert not office.offer(cause="NO_ANSWER").offer
    assert RedialRequest.objects.get().reason == "cause"


def test_limits_per_caller_and_per_minute(office):
    RedialLimits.objects.create(customer=office.customer, max_open_per_caller=2, max_per_minute=3)
    assert office.offer("a").offer and office.offer("b").offer
    assert not office.offer("c").offer  # two open already
    assert RedialRequest.objects.get(origin_uuid="c").reason == "limit_open"
    other = factories.employee(office.customer, extension="103")
    assert office.offer("d", caller=other).offer  # the third offer of this minute
    assert not office.offer("e", caller=other).offer
    assert RedialRequest.objects.get(origin_uuid="e").reason == "limit_rate"


def test_employees_of_another_customer_are_never_paired(office):
    stranger = factories.employee(factories.customer(), extension="555")
    assert office.offer(callee=stranger) is None
    assert not RedialRequest.objects.exists()


def test_accepted_then_back_at_40_minutes_connects_once(office):
    t0 = timezone.now()
    offer = office.offer(now=t0)
    assert services.offer_answered(request_id=offer.request_id, pressed="1", now=t0) == "accepted"
    assert services.offer_answered(request_id=offer.request_id, pressed="2", now=t0) is None
    back = t0 + dt.timedelta(minutes=40)
    kw = dict(customer_id=office.customer.pk, callee_id=office.callee.pk, now=back)
    # the callee was busy: their call ended
    assert services.callee_back(**kw, source=rules.CALL_ENDED) == [(offer.request_id, "connect")]
    assert services.callee_back(**kw, source=rules.CALL_ENDED) == []  # the duplicate: nothing
    plans = services.claim_due(now=back, worker="fs1")
    assert [(p.action, p.caller_extension, p.callee_extension) for p in plans] == [
        ("connect", "101", "102")
    ]
    assert services.claim_due(now=back, worker="fs2") == []  # one node dials
    assert services.connect_finished(
        request_id=offer.request_id, connected=True, cause="NORMAL_CLEARING", now=back
    )
    request = RedialRequest.objects.get()
    assert request.status == rules.DONE and request.outcome == rules.CONNECTED


def test_a_claim_of_a_dead_node_lapses_and_another_node_dials(office):
    t0 = timezone.now()
    offer = office.offer(now=t0)
    services.offer_answered(request_id=offer.request_id, pressed="1", now=t0)
    services.callee_back(
        customer_id=office.customer.pk, callee_id=office.callee.pk, now=t0, source=rules.CALL_ENDED
    )
    assert services.claim_due(now=t0, worker="fs1")
    later = t0 + dt.timedelta(seconds=services.CLAIM_SECONDS + 1)
    assert [p.request_id for p in services.claim_due(now=later, worker="fs2")] == [offer.request_id]


def test_declined_back_within_30_minutes_flashes(office):
    t0 = timezone.now()
    offer = office.offer(now=t0)
    services.offer_answered(request_id=offer.request_id, pressed=None, now=t0)
    back = t0 + dt.timedelta(minutes=29, seconds=59)
    assert services.callee_back(
        customer_id=office.customer.pk,
        callee_id=office.callee.pk,
        now=back,
        source=rules.CALL_ENDED,
    ) == [(offer.request_id, "flash")]
    (plan,) = services.claim_due(now=back, worker="fs1")
    assert plan.action == "flash"
    assert services.flash_finished(request_id=plan.request_id, cause="NORMAL_CLEARING", now=back)
    assert RedialRequest.objects.get().outcome == rules.FLASHED


def test_the_flash_end_is_a_row_claimed_once_at_its_time_never_a_timer(office):
    t0 = timezone.now()
    offer = office.offer(now=t0)
    services.offer_answered(request_id=offer.request_id, pressed=None, now=t0)
    back = t0 + dt.timedelta(minutes=10)
    services.callee_back(
        customer_id=office.customer.pk,
        callee_id=office.callee.pk,
        now=back,
        source=rules.CALL_ENDED,
    )
    (plan,) = services.claim_due(now=back, worker="fs1")
    services.legs_started(request_id=plan.request_id, callee_uuid="leg-flash")
    created = back + dt.timedelta(seconds=0.1)
    services.flash_end_due(request_id=plan.request_id, at=created + dt.timedelta(seconds=0.5))
    assert services.claim_flash_ends(now=created + dt.timedelta(seconds=0.49)) == []
    at = created + dt.timedelta(seconds=0.5)
    assert services.claim_flash_ends(now=at) == ["leg-flash"]
    assert services.claim_flash_ends(now=at + dt.timedelta(seconds=5)) == []  # once only
    assert RedialRequest.objects.get().flash_end_at is None


def test_a_claim_for_one_customer_never_takes_another_customers_request(office):
    t0 = timezone.now()
    offer = office.offer(now=t0)
    services.offer_answered(request_id=offer.request_id, pressed=None, now=t0)
    back = t0 + dt.timedelta(minutes=10)
    services.callee_back(
        customer_id=office.customer.pk,
        callee_id=office.callee.pk,
        now=back,
        source=rules.CALL_ENDED,
    )
    other = factories.customer()
    assert services.claim_due(now=back, worker="demo", customer_id=other.pk) == []
    (plan,) = services.claim_due(now=back, worker="demo", customer_id=office.customer.pk)
    assert plan.request_id == offer.request_id


def test_windows_close_with_one_sms_to_the_callee(
    office, twilio, django_capture_on_commit_callbacks
):
    t0 = timezone.now() - dt.timedelta(hours=3)
    accepted = office.offer("a", now=t0)
    services.offer_answered(request_id=accepted.request_id, pressed="1", now=t0)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.windows_close(now=t0 + dt.timedelta(hours=1, minutes=59, seconds=59)) == 0
        assert services.windows_close(now=t0 + dt.timedelta(hours=2)) == 1
        assert services.windows_close(now=t0 + dt.timedelta(hours=2, minutes=1)) == 0
    request = RedialRequest.objects.get()
    assert request.outcome == rules.SMS and request.sms.target == "+79160000102"
    (sms,) = sms_sent(twilio)
    assert sms["To"] == ["+79160000102"] and "Анна (101)" in sms["Body"][0]


def accepted(office, *, cause="USER_BUSY", uuid="call-1", t0=None):
    t0 = t0 or timezone.now()
    offer = office.offer(uuid, cause=cause, now=t0)
    services.offer_answered(request_id=offer.request_id, pressed="1", now=t0)
    return offer.request_id, t0


def back(office, now, source, registration=""):
    return services.callee_back(
        customer_id=office.customer.pk,
        callee_id=office.callee.pk,
        now=now,
        source=source,
        registration=registration,
    )


def test_a_busy_callees_registration_is_not_availability_the_end_of_their_call_is(office):
    request_id, t0 = accepted(office)
    later = t0 + dt.timedelta(minutes=3)
    assert back(office, later, rules.REFRESH, "reg-1@phone") == []
    assert back(office, later, rules.NEW_REGISTRATION, "reg-2@phone") == []
    assert RedialRequest.objects.get().status == rules.ACCEPTED
    assert back(office, later, rules.CALL_ENDED) == [(request_id, rules.CONNECT)]


def test_a_phone_refresh_keeps_its_call_id_a_new_registration_does_not(office):
    now = timezone.now()
    pk = office.callee.pk
    assert services.registration_seen(employee_id=pk, call_id="a@1", now=now)
    assert not services.registration_seen(employee_id=pk, call_id="a@1", now=now)  # refresh
    assert services.registration_seen(employee_id=pk, call_id="b@1", now=now)  # rebooted
    services.registration_ended(employee_id=pk)
    assert services.registration_seen(employee_id=pk, call_id="b@1", now=now)  # after a lapse


def test_a_registered_phone_that_did_not_answer_is_back_on_a_new_registration_only(office):
    now = timezone.now()
    services.registration_seen(employee_id=office.callee.pk, call_id="a@1", now=now)
    request_id, t0 = accepted(office, cause="NO_USER_RESPONSE")
    assert RedialRequest.objects.get().callee_registration == "a@1"
    assert back(office, t0, rules.NEW_REGISTRATION, "a@1") == []  # what the flow saw first
    services.registration_ended(employee_id=office.callee.pk)  # it lapsed
    assert back(office, t0, rules.NEW_REGISTRATION, "a@1") == [(request_id, rules.CONNECT)]


def connecting(office, t0):
    (plan,) = services.claim_due(now=t0, worker="fs1")
    return plan


def test_a_callee_busy_again_at_connection_time_is_waited_for_again(office):
    request_id, t0 = accepted(office, cause="USER_NOT_REGISTERED")
    back(office, t0, rules.NEW_REGISTRATION, "a@1")
    connecting(office, t0)
    assert services.attempt_failed(request_id=request_id, leg="callee", cause="USER_BUSY", now=t0)
    request = RedialRequest.objects.get()
    assert (request.status, request.kind, request.outcome) == (rules.ACCEPTED, rules.BUSY, "")
    assert request.claimed_by == "" and request.due_at == t0 + dt.timedelta(hours=2)
    assert back(office, t0, rules.REFRESH) == []
    assert back(office, t0, rules.CALL_ENDED) == [(request_id, rules.CONNECT)]
    assert connecting(office, t0).action == rules.CONNECT
    assert RedialRequest.objects.get().attempts == 2


def test_a_caller_away_at_connection_time_is_tried_again_then_the_callee_gets_an_sms(
    office, twilio, django_capture_on_commit_callbacks
):
    request_id, t0 = accepted(office)
    back(office, t0, rules.CALL_ENDED)
    now = t0
    for attempt in (1, 2):
        assert connecting(office, now).action == rules.CONNECT
        services.attempt_failed(request_id=request_id, leg="caller", cause="NO_ANSWER", now=now)
        request = RedialRequest.objects.get()
        assert request.status == rules.ACCEPTED and request.attempts == attempt
        assert request.retry_at == now + dt.timedelta(minutes=5)
        assert services.claim_due(now=now + dt.timedelta(minutes=4), worker="fs1") == []
        now += dt.timedelta(minutes=5)
    assert connecting(office, now).action == rules.CONNECT
    with django_capture_on_commit_callbacks(execute=True):
        services.attempt_failed(
            request_id=request_id, leg="caller", cause="USER_NOT_REGISTERED", now=now
        )
    request = RedialRequest.objects.get()
    assert (request.status, request.outcome, request.attempts) == (rules.DONE, rules.SMS, 3)
    (sms,) = sms_sent(twilio)
    assert sms["To"] == ["+79160000102"]


def test_a_flash_to_a_busy_phone_waits_for_the_callee_and_an_answered_one_says_so(office):
    t0 = timezone.now()
    offer = office.offer(cause="USER_NOT_REGISTERED", now=t0)
    services.offer_answered(request_id=offer.request_id, pressed="2", now=t0)
    back(office, t0, rules.NEW_REGISTRATION, "a@1")
    assert connecting(office, t0).action == rules.FLASH
    assert not services.flash_answered(request_id=offer.request_id + 1000, now=t0)
    services.flash_finished(request_id=offer.request_id, cause="USER_BUSY", now=t0)
    request = RedialRequest.objects.get()
    assert (request.status, request.kind, request.outcome) == (rules.DECLINED, rules.BUSY, "")
    back(office, t0, rules.CALL_ENDED)
    assert connecting(office, t0).action == rules.FLASH
    assert services.flash_answered(request_id=offer.request_id, now=t0)
    assert RedialRequest.objects.get().outcome == rules.FLASH_ANSWERED


def test_a_caller_from_outside_is_offered_and_called_back_at_their_number(office):
    t0 = timezone.now()
    offer = services.offer_start(
        customer_id=office.customer.pk,
        caller_id=None,
        callee_id=office.callee.pk,
        cause="USER_BUSY",
        origin_uuid="trunk-1",
        now=t0,
        caller_number="74957654321",
        called_number="+74951112244",
    )
    assert offer.offer
    request = RedialRequest.objects.get()
    assert request.caller is None and request.caller_number == "+74957654321"
    services.offer_answered(request_id=request.pk, pressed="1", now=t0)
    back(office, t0, rules.CALL_ENDED)
    (plan,) = services.claim_due(now=t0, worker="fs1")
    assert (plan.caller_extension, plan.caller_number, plan.called_number) == (
        "",
        "+74957654321",
        "+74951112244",
    )


@pytest.mark.parametrize("number", ["anonymous", "", "101", "0000000000"])
def test_an_anonymous_or_uncallable_outside_caller_gets_no_offer(office, number):
    offer = services.offer_start(
        customer_id=office.customer.pk,
        caller_id=None,
        callee_id=office.callee.pk,
        cause="USER_BUSY",
        origin_uuid="trunk-2",
        now=timezone.now(),
        caller_number=number,
        called_number="+74951112244",
    )
    assert offer is None and not RedialRequest.objects.exists()
