"""The callback flow's queue-exit session outside working hours, through call control and
the ESL double: the caller hears that the company calls back at the opening, and when (the
time digit by digit), and nobody is dialled at night."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from portal.callbacks.models import CallbackAttempt, CallbackRequest
from portal.menus import services as menus
from tests.callcontrol_process import eventually
from tests.test_callback_e2e import (  # noqa: F401 - fixtures
    office,
    press_1_in_the_queue,
    service,
    switch,
)

pytestmark = pytest.mark.django_db(transaction=True)


def closed_today_schedule(customer):
    """Open every day but today (in the customer's zone): closed now, opens at midnight."""
    zone = ZoneInfo(customer.time_zone)
    today = timezone.now().astimezone(zone).weekday()
    spans = [(d, dt.time(0), dt.time(0)) for d in range(7) if d != today]
    return menus.schedule_save(
        customer=customer, name="Не сегодня", time_zone=customer.time_zone, spans=spans
    )


def test_a_caller_outside_the_hours_hears_when_the_call_back_comes(switch, service, office):  # noqa: F811
    customer, dept = office[0], office[1]
    schedule = closed_today_schedule(customer)
    menu = menus.menu_save(customer=customer, name="Меню")
    menus.option_set(
        customer=customer,
        menu=menu,
        key="1",
        target=f"dept:{dept.pk}",
        schedule_id=schedule.pk,
        closed_target="hangup",
    )
    session = press_1_in_the_queue(switch, service, customer)
    assert session.wait_closed(timeout=15)
    request = eventually(lambda: CallbackRequest.objects.filter(customer=customer).first())
    zone = ZoneInfo(customer.time_zone)
    opening = request.next_attempt_at.astimezone(zone)
    assert (opening.hour, opening.minute) == (0, 0) and opening > timezone.now()
    (played,) = [arg for app, arg in session.executed if app == "playback"]
    files = played.removeprefix("file_string://").split("!")
    assert files[0].endswith("/callback_scheduled.wav")
    assert [f.rsplit("/", 1)[1] for f in files[1:]] == [f"digit_{d}.wav" for d in "0000"]
    # the caller's hangup did not make it due: nothing is dialled before the opening
    request.refresh_from_db()
    assert request.next_attempt_at == opening
    assert not CallbackAttempt.objects.filter(request=request).exists()
