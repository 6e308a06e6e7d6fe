"""Queue callback and working hours: a request taken outside the department's hours (or whose
10-minute window would end after closing) is not dialled at night; it is due at the opening,
its window counts from there, the caller hears when, and staff see it."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from portal.callbacks import flow
from portal.callbacks import services as callbacks
from portal.menus import services as menus
from tests import factories
from tests.test_callbacks_services import CALLER, MC, MIN, setup_customer

pytestmark = pytest.mark.django_db
MSK = ZoneInfo("Europe/Moscow")


def at(d, h, m=0):
    return dt.datetime(2026, 12, d, h, m, tzinfo=MSK)  # 7 December 2026 is a Monday


def with_hours(customer, number, dept, *, on="number"):
    schedule = menus.schedule_save(
        customer=customer,
        name="Будни",
        time_zone="Europe/Moscow",
        spans=[(d, dt.time(9), dt.time(18)) for d in range(5)],
    )
    if on == "number":
        menu = menus.menu_save(customer=customer, name="Меню")
        menus.number_route_set(
            customer=customer,
            number=number,
            target=f"menu:{menu.pk}",
            schedule_id=schedule.pk,
            closed_target=f"dept:{dept.pk}",
        )
    else:  # a menu key leading to the department has the hours
        menu = menus.menu_save(customer=customer, name="Меню")
        menus.option_set(
            customer=customer,
            menu=menu,
            key="1",
            target=f"dept:{dept.pk}",
            schedule_id=schedule.pk,
            closed_target="hangup",
        )
    return schedule


def create(customer, now, origin="uuid-1"):
    return callbacks.callback_request_create(
        customer_id=customer.pk,
        number_e164=MC,
        caller_number=CALLER,
        origin_uuid=origin,
        now=now,
    )


@pytest.mark.parametrize("on", ["number", "menu_key"])
def test_a_request_at_night_is_due_at_opening_with_its_window_from_there(on):
    customer, dept, number = setup_customer()
    with_hours(customer, number, dept, on=on)
    req, reason = create(customer, at(7, 22))
    assert reason == "scheduled"
    assert req.next_attempt_at == at(8, 9)
    assert req.first_attempt_deadline == at(8, 9, 10)
    # The caller hanging up does not make it due at night.
    assert not callbacks.callback_request_caller_left(origin_uuid="uuid-1", now=at(7, 22, 1))
    assert callbacks.callback_claim_due(now=at(8, 8, 59), worker="fs1") == []
    (plan,) = callbacks.callback_claim_due(now=at(8, 9), worker="fs1")
    req.refresh_from_db()
    assert req.status == flow.DIALING and plan.request_id == req.pk


def test_a_request_whose_window_would_end_after_closing_waits_for_the_next_morning():
    customer, dept, number = setup_customer()
    with_hours(customer, number, dept)
    assert create(customer, at(7, 17, 50))[1] == "created"
    req, reason = create(customer, at(7, 17, 51), origin="uuid-2")
    assert reason == "duplicate"  # one open request per caller and department
    customer2, dept2, number2 = setup_customer(mc="+74957770002")
    with_hours(customer2, number2, dept2)
    req, reason = callbacks.callback_request_create(
        customer_id=customer2.pk,
        number_e164="+74957770002",
        caller_number=CALLER,
        origin_uuid="uuid-3",
        now=at(7, 17, 51),
    )
    assert reason == "scheduled" and req.next_attempt_at == at(8, 9)


def test_inside_the_hours_or_without_a_schedule_nothing_changes():
    customer, dept, number = setup_customer()
    req, reason = create(customer, at(7, 22))
    assert reason == "created" and req.next_attempt_at == at(7, 22) + MIN  # caller_leave_timeout
    customer2, dept2, number2 = setup_customer(mc="+74957770002")
    with_hours(customer2, number2, dept2)
    req, reason = callbacks.callback_request_create(
        customer_id=customer2.pk,
        number_e164="+74957770002",
        caller_number=CALLER,
        origin_uuid="uuid-4",
        now=at(7, 12),
    )
    assert reason == "created" and req.first_attempt_deadline == at(7, 12, 10)


def test_another_customers_schedule_never_applies(other_customer):
    customer, dept, number = setup_customer()
    theirs = menus.schedule_save(customer=other_customer, name="Их", time_zone="UTC", spans=[])
    assert theirs.pk  # a schedule exists, but not on this customer's number or keys
    assert create(customer, at(7, 22))[1] == "created"


def test_staff_see_when_a_scheduled_request_will_be_called(client):
    customer, dept, number = setup_customer()
    with_hours(customer, number, dept)
    req, _ = create(customer, at(7, 22))
    client.force_login(factories.user(customer))
    html = client.get("/pbx/callbacks/").content.decode()
    row = html[html.index(f'data-request="{req.pk}"') :]
    assert "позвоним" in row[: row.index("</tr>")]
    assert "08.12.2026 09:00" in row[: row.index("</tr>")]
