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
    assert services.callee_back(**kw, source="register") == [(offer.request_id, "connect")]
    assert services.callee_back(**kw, source="register") == []  # the duplicate does nothing
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
        customer_id=office.customer.pk, callee_id=office.callee.pk, now=t0, source="x"
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
        customer_id=office.customer.pk, callee_id=office.callee.pk, now=back, source="register"
    ) == [(offer.request_id, "flash")]
    (plan,) = services.claim_due(now=back, worker="fs1")
    assert plan.action == "flash"
    assert services.flash_finished(request_id=plan.request_id, cause="NORMAL_CLEARING", now=back)
    assert RedialRequest.objects.get().outcome == rules.FLASHED


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
