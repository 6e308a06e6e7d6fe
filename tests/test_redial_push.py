"""Auto-redial to a callee with voicemail: no IVR offer; when the callee is back the offer is
pushed to the caller (SMS with a one-time link, our model of Push USSD); accepting connects."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from portal.billing import services as billing
from portal.billing.models import Option
from portal.redial import rules, services
from portal.redial.models import RedialRequest, SubscriberSettings
from tests import factories
from tests.http_boundary import sms_sent

pytestmark = pytest.mark.django_db


@pytest.fixture
def pushed(twilio, settings, django_capture_on_commit_callbacks):
    settings.SITE_URL = "https://pbx.example.com"
    customer = factories.customer()
    caller = factories.employee(
        customer, extension="101", name="Анна", mobile_number="+79160000101"
    )
    callee = factories.employee(
        customer, extension="102", name="Борис", mobile_number="+79160000102"
    )
    SubscriberSettings.objects.create(employee=callee, voicemail=True)
    billing.option_set(customer=customer, code=Option.AUTO_REDIAL, enabled=True)
    billing.payment_record(customer=customer, amount=Decimal("100"), reference="p")
    now = timezone.now()
    offer = services.offer_start(
        customer_id=customer.pk,
        caller_id=caller.pk,
        callee_id=callee.pk,
        cause="USER_BUSY",
        origin_uuid="vm-call",
        now=now,
    )
    assert offer.push and not offer.offer  # no IVR: the call goes on as usual
    assert RedialRequest.objects.get().status == rules.PUSH_WAIT
    with django_capture_on_commit_callbacks(execute=True):
        assert services.callee_back(
            customer_id=customer.pk, callee_id=callee.pk, now=now, source=rules.CALL_ENDED
        ) == [(offer.request_id, rules.PUSH)]
    (sms,) = sms_sent(twilio)
    assert sms["To"] == ["+79160000101"] and "Борис (102)" in sms["Body"][0]
    url = re.search(r"https://pbx.example.com(/redial/push/[^ ]+/)", sms["Body"][0]).group(1)
    return url


def test_the_caller_accepts_the_pushed_offer_and_the_request_is_due_to_connect(pushed):
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(pushed)
    assert page.status_code == 200 and "Соединить" in page.content.decode()
    token = page.cookies["csrftoken"].value
    answer = browser.post(pushed, {"answer": "yes", "csrfmiddlewaretoken": token})
    assert 'data-push="connecting"' in answer.content.decode()
    assert RedialRequest.objects.get().status == rules.CONNECTING
    (plan,) = services.claim_due(now=timezone.now(), worker="fs1")
    assert plan.action == rules.CONNECT
    # The link is dead now.
    assert browser.get(pushed).status_code == 404
    again = browser.post(pushed, {"answer": "yes", "csrfmiddlewaretoken": token})
    assert again.status_code == 404


def test_declining_the_push_ends_the_request(pushed):
    browser = Client()
    assert browser.post(pushed, {"answer": "no"}).status_code == 200
    request = RedialRequest.objects.get()
    assert request.status == rules.DONE and request.outcome == rules.NOT_CONNECTED


def test_the_push_link_needs_csrf_a_valid_token_and_an_open_window(pushed):
    browser = Client(enforce_csrf_checks=True)
    assert browser.post(pushed, {"answer": "yes"}).status_code == 403  # no CSRF token
    assert Client().get("/redial/push/not-a-token/").status_code == 404
    assert Client().get("/redial/push/" + "x" * 300 + "/").status_code == 404
    RedialRequest.objects.update(created_at=timezone.now() - timezone.timedelta(hours=2))
    assert Client().post(pushed, {"answer": "yes"}).status_code == 410
    assert RedialRequest.objects.get().status == rules.PUSHED


def test_a_pushed_offer_nobody_answers_texts_the_callee_at_two_hours(
    pushed, twilio, django_capture_on_commit_callbacks
):
    RedialRequest.objects.update(
        created_at=timezone.now() - timezone.timedelta(hours=2),
        due_at=timezone.now() - timezone.timedelta(seconds=1),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert services.windows_close(now=timezone.now()) == 1
    assert RedialRequest.objects.get().outcome == rules.SMS
    assert [sms["To"] for sms in sms_sent(twilio)] == [["+79160000101"], ["+79160000102"]]
