"""Outbound call policy through the services and the mod_xml_curl answers FreeSWITCH gets.

The dialplan is cached (pbx/xmlcache.py): every change here must reach the very next lookup,
so the tests ask over HTTP before and after, with on-commit callbacks run.
"""

from __future__ import annotations

import datetime as dt
import uuid as uuidlib
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from portal.billing import callpolicy
from portal.billing import services as billing
from portal.billing.models import CallPolicy, LedgerEntry
from portal.calls.services import cdr_ingest
from portal.directory.models import PhoneNumber
from portal.notifications.models import Delivery, Notification
from tests import factories
from tests.test_cdr_ingest import plain_event
from tests.test_xml_curl import dialplan, domain, parsed, sip_auth

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)  # 15:00 in Moscow


@pytest.fixture(autouse=True)
def xml_settings(settings):
    from tests.test_xml_curl import BASE, PASSWORD, USER

    settings.FREESWITCH_XML_CURL_USER = USER
    settings.FREESWITCH_XML_CURL_PASSWORD = PASSWORD
    settings.PBX_SIP_DOMAIN = BASE
    settings.ADMINS = []
    settings.PBX_ABUSE_ALERT_EMAILS = ["noc@platform.example"]


@pytest.fixture
def office(customer):
    dept = factories.department(customer)
    phone = factories.employee(customer, dept, extension="101")
    other = factories.employee(customer, dept, extension="102")
    factories.number(customer, "+74951112233", kind=PhoneNumber.Kind.REGULAR, department=dept)
    return phone, other


def bridges(client, customer, destination) -> list[str]:
    root = parsed(dialplan(client, f"customer_{customer.pk}", destination))
    return [a.get("data") for a in root.iter("action") if a.get("application") == "bridge"]


def prompts(client, customer, destination) -> list[str]:
    root = parsed(dialplan(client, f"customer_{customer.pk}", destination))
    return [a.get("data") for a in root.iter("action") if a.get("application") == "playback"]


def toll_allow(client, customer, extension) -> str:
    root = parsed(sip_auth(client, extension, domain(customer)))
    return next(v.get("value") for v in root.iter("variable") if v.get("name") == "toll_allow")


# --------------------------------------------------------------------------- classes


@pytest.mark.parametrize(
    ("cls", "dialled"),
    [
        ("international", "+442079460000"),
        ("premium", "88095551234"),
        ("satellite", "+881612345678"),
    ],
)
def test_a_class_switched_on_reaches_the_next_lookup_and_off_again(
    client, customer, office, django_capture_on_commit_callbacks, cls, dialled
):
    assert bridges(client, customer, dialled) == []  # off by default (and now cached)
    with django_capture_on_commit_callbacks(execute=True):
        callpolicy.call_policy_update(customer=customer, classes={cls: True})
    assert len(bridges(client, customer, dialled)) == 1
    assert toll_allow(client, customer, "101") == cls
    with django_capture_on_commit_callbacks(execute=True):
        callpolicy.call_policy_update(customer=customer, classes={cls: False})
    assert bridges(client, customer, dialled) == []
    assert toll_allow(client, customer, "101") == "none"


def test_an_employee_kept_off_a_class_loses_it_from_toll_allow(
    client, customer, office, django_capture_on_commit_callbacks
):
    phone, other = office
    with django_capture_on_commit_callbacks(execute=True):
        callpolicy.call_policy_update(customer=customer, classes={"international": True})
    assert toll_allow(client, customer, "101") == "international"
    with django_capture_on_commit_callbacks(execute=True):
        callpolicy.call_barring_set(
            customer=customer, employee_id=phone.pk, call_class="international", barred=True
        )
    assert toll_allow(client, customer, "101") == "none"
    assert toll_allow(client, customer, "102") == "international"


def test_another_customers_employee_cannot_be_barred_or_freed(customer, other_customer, office):
    stranger = factories.employee(other_customer, extension="101")
    with pytest.raises(ValidationError):
        callpolicy.call_barring_set(
            customer=customer, employee_id=stranger.pk, call_class="premium", barred=True
        )


@pytest.mark.parametrize(
    "limits",
    [{"max_calls": 0}, {"max_calls": "1001"}, {"calls_per_minute": "x"}, {"nope": 1}],
)
def test_limits_out_of_range_are_refused_and_nothing_is_written(customer, limits):
    with pytest.raises(ValidationError):
        callpolicy.call_policy_update(customer=customer, limits=limits)
    assert not CallPolicy.objects.filter(customer=customer).exists()


def test_new_limits_reach_the_dialplan(
    client, customer, office, django_capture_on_commit_callbacks
):
    bridges(client, customer, "89161234567")
    with django_capture_on_commit_callbacks(execute=True):
        callpolicy.call_policy_update(
            customer=customer, limits={"max_calls": "3", "max_calls_per_phone": 1}
        )
    root = parsed(dialplan(client, f"customer_{customer.pk}", "89161234567"))
    limits = [a.get("data") for a in root.iter("action") if a.get("application") == "limit"]
    assert f"hash pbx_out c{customer.pk} 3 pbx_limit_exceeded XML customer_{customer.pk}" in limits
    assert any(f"c{customer.pk}_e${{pbx_employee}} 1 " in data for data in limits)


# --------------------------------------------------------------------------- emergency


def test_112_is_routed_for_a_suspended_customer_and_never_billed(
    client, customer, office, django_capture_on_commit_callbacks
):
    customer.status = "suspended"
    customer.save()
    assert bridges(client, customer, "112") == ["sofia/gateway/pstn/112"]
    event = charged_call(customer, billsec=600)
    event["Caller-Destination-Number"] = "112"
    event["variable_pbx_flow"] = "emergency"
    with django_capture_on_commit_callbacks(execute=True):
        cdr_ingest(event, source="event")
    assert not LedgerEntry.objects.filter(customer=customer, category="calls").exists()
    # 101 is an emergency number in RU and an extension here: untagged, it is billed as before
    event = charged_call(customer, billsec=60)
    event["Caller-Destination-Number"] = "101"
    with django_capture_on_commit_callbacks(execute=True):
        cdr_ingest(event, source="event")
    assert LedgerEntry.objects.filter(customer=customer, category="calls").count() == 1


def test_the_emergency_route_setting_reaches_the_dialplan(client, customer, office, settings):
    settings.PBX_EMERGENCY_ROUTE = "psap/+74950000112"
    assert bridges(client, customer, "03") == ["sofia/gateway/psap/+74950000112"]


# --------------------------------------------------------------------------- money


def charged_call(customer, *, billsec: int) -> dict:
    event = plain_event("02d-originate-answer-park-kill.txt")  # a real answered outbound leg
    event["variable_pbx_customer"] = str(customer.pk)
    event["variable_pbx_direction"] = "outbound"
    event["variable_billsec"] = str(billsec)
    event["Unique-ID"] = str(uuidlib.uuid4())
    # a call of today (the recording is of another day): the cap counts today's calls
    end = int(dt.datetime.now(dt.UTC).timestamp())
    event["variable_start_epoch"] = str(end - billsec - 5)
    event["variable_answer_epoch"] = str(end - billsec)
    event["variable_end_epoch"] = str(end)
    return event


def pay(customer, amount: str, ref: str) -> None:
    billing.payment_record(customer=customer, amount=Decimal(amount), reference=ref)


def test_reaching_the_daily_cap_blocks_the_next_paid_call_and_tells_admins_and_platform(
    client, customer, office, django_capture_on_commit_callbacks
):
    admin = factories.user(customer, email="boss@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        pay(customer, "1000", "p1")
        # "Средний": 1.50 per started minute; cap 4.50 = three one-minute calls
        callpolicy.call_policy_update(customer=customer, daily_spend_cap="4.50")
    for i in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            cdr_ingest(charged_call(customer, billsec=30), source="event")
        assert len(bridges(client, customer, "89161234567")) == 1, f"call {i + 2} refused"
    with django_capture_on_commit_callbacks(execute=True):
        cdr_ingest(charged_call(customer, billsec=30), source="event")  # spent 4.50 = the cap
    assert bridges(client, customer, "89161234567") == []
    assert any("spend_cap_reached" in p for p in prompts(client, customer, "89161234567"))
    assert bridges(client, customer, "112") == ["sofia/gateway/pstn/112"]
    assert bridges(client, customer, "102") == [f"user/102@{domain(customer)}"]

    notes = Notification.objects.filter(customer=customer, kind="paid_calls_blocked")
    assert notes.count() == 2  # the customer's admins, and the platform
    assert all("лимит" in note.title and note.payload["reason"] == "spend_cap" for note in notes)
    targets = set(
        Delivery.objects.filter(notification__customer=customer).values_list("channel", "target")
    )
    assert {("portal", str(admin.pk)), ("email", "boss@example.com")} <= targets
    assert ("email", "noc@platform.example") in targets
    # a fourth CDR arriving late changes nothing and tells nobody again
    sent = Delivery.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        cdr_ingest(charged_call(customer, billsec=30), source="event")
    assert Delivery.objects.count() == sent


def test_the_cap_lifts_after_the_customers_midnight(
    client, customer, office, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        pay(customer, "1000", "p1")
        CallPolicy.objects.create(customer=customer, daily_spend_cap=Decimal("1.00"))
        cdr_ingest(charged_call(customer, billsec=30), source="event")
    assert CallPolicy.objects.get(customer=customer).paid_blocked == "spend_cap"
    assert bridges(client, customer, "89161234567") == []
    tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert callpolicy.paid_calls_reassess_due(now=tomorrow) == 1
    assert CallPolicy.objects.get(customer=customer).paid_blocked == ""
    assert len(bridges(client, customer, "89161234567")) == 1


def test_a_balance_below_the_minimum_refuses_paid_calls_until_a_payment(
    client, customer, office, django_capture_on_commit_callbacks
):
    assert len(bridges(client, customer, "89161234567")) == 1
    with django_capture_on_commit_callbacks(execute=True):
        cdr_ingest(charged_call(customer, billsec=30), source="event")  # balance -1.50
    assert bridges(client, customer, "89161234567") == []
    assert any("balance_too_low" in p for p in prompts(client, customer, "89161234567"))
    with django_capture_on_commit_callbacks(execute=True):
        pay(customer, "100", "p2")
    assert len(bridges(client, customer, "89161234567")) == 1


# --------------------------------------------------------------------------- call control


def test_outbound_check_uses_the_same_classes_and_the_live_balance(customer, office):
    phone, _ = office
    check = callpolicy.outbound_check
    pay(customer, "10", "p1")
    assert check(customer_id=customer.pk, number="+79161234567").allowed
    assert check(customer_id=customer.pk, number="+78095551234").reason == "class:premium"
    assert check(customer_id=customer.pk, number="112").reason == "emergency"
    assert check(customer_id=customer.pk, number="${x}").reason == "invalid"
    callpolicy.call_policy_update(customer=customer, classes={"premium": True})
    callpolicy.call_barring_set(
        customer=customer, employee_id=phone.pk, call_class="premium", barred=True
    )
    assert check(customer_id=customer.pk, number="+78095551234").allowed
    got = check(customer_id=customer.pk, number="+78095551234", employee_id=phone.pk)
    assert got.reason == "barred:premium"
    LedgerEntry.objects.create(
        customer=customer, kind="charge", category="tariff", amount=Decimal("20"),
        period_start=dt.date.today(), period_end=dt.date.today(), source_key="t",
    )  # fmt: skip
    assert check(customer_id=customer.pk, number="+79161234567").reason == "balance"
