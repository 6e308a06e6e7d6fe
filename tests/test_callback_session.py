"""The queue-exit session of the callback flow when the caller misbehaves."""

from __future__ import annotations

import pytest

from portal.billing import services as billing
from portal.callbacks.models import CallbackRequest
from tests.callcontrol_process import eventually
from tests.test_callback_e2e import (  # noqa: F401 - fixtures
    CALLER,
    office,
    press_1_in_the_queue,
    service,
    switch,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_caller_who_hangs_up_during_the_confirmation_keeps_one_request(switch, service, office):  # noqa: F811
    customer = office[0]
    switch.never_answers(CALLER)
    session = press_1_in_the_queue(switch, service, customer)
    switch.wait_for_command("sendmsg", timeout=15)  # the confirmation prompt is playing
    session.caller_hangs_up()
    assert session.wait_closed(timeout=15)
    eventually(lambda: CallbackRequest.objects.filter(customer=customer).count() == 1)
    # The service is unharmed: the next caller is served as usual.
    again = press_1_in_the_queue(switch, service, customer)
    assert again.wait_closed(timeout=15)
    assert CallbackRequest.objects.filter(customer=customer).count() == 1  # same caller: duplicate


def test_with_the_option_switched_off_pressing_1_records_nothing(switch, service, office):  # noqa: F811
    customer = office[0]
    billing.option_set(customer=customer, code="callback", enabled=False)
    session = press_1_in_the_queue(switch, service, customer)
    assert session.wait_closed(timeout=15)
    played = [arg for app, arg in session.executed if app == "playback"]
    assert played[0].endswith("/service_unavailable.wav")
    assert not CallbackRequest.objects.filter(customer=customer).exists()
