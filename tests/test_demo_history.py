"""The demo's recent history: made by the features' own services, deterministic, replaced (never
doubled) when the demo runs again, and billed without moving the seed's figures."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from portal.billing import catalog, selectors
from portal.billing.demo_history import CALLS, NOT_SENT
from portal.billing.management.commands.demo import create_demo_customer, current_month
from portal.billing.models import LedgerEntry
from portal.callbacks.models import CallbackRequest
from portal.calls.models import CallRecord, Recording
from portal.directory.models import PhoneNumber
from portal.fictive.models import FictiveCall, PendingMissedCall
from portal.integrated.models import ChatMessage, IntegratedCall
from portal.notifications.models import Delivery, PortalNotice
from portal.redial.models import RedialRequest
from portal.tenants.models import Customer
from portal.video.models import VideoSession

MSK = ZoneInfo("Europe/Moscow")
NOW = dt.datetime(2026, 12, 8, 11, 15, tzinfo=MSK)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo(settings, tmp_path):
    settings.RECORDINGS_DIR = tmp_path / "recordings"
    catalog.ensure()
    started = time.monotonic()
    customer = create_demo_customer(month=current_month(MSK, NOW), tz=MSK, now=NOW, history=True)
    customer.seconds = time.monotonic() - started
    return customer


def test_every_feature_has_a_recent_history(demo):
    print(f"demo with history: {demo.seconds:.1f} s")
    calls = CallRecord.objects.filter(customer=demo)
    assert calls.count() >= CALLS
    assert {d for (d,) in calls.values_list("direction").distinct()} == {
        "inbound",
        "outbound",
        "internal",
    }
    first, last = calls.order_by("started_at")[0], calls.order_by("-started_at")[0]
    assert NOW - dt.timedelta(days=29) < first.started_at and last.started_at < NOW
    assert (last.started_at - first.started_at) > dt.timedelta(days=14)  # weeks, not a day
    # The answered calls' recordings: metadata only (no files), so the quota stays the seed's.
    sizes = Recording.objects.filter(customer=demo).values_list("size_bytes", flat=True)
    assert len(sizes) > 100 and set(sizes) == {0}

    reasons = set(
        CallbackRequest.objects.filter(customer=demo).values_list("status", "close_reason")
    )
    assert reasons == {
        ("completed", "connected"),
        ("completed", "caller got through"),
        ("completed", "marked done by staff"),
        ("cancelled", "cancelled by staff"),
        ("failed", "caller did not answer"),
    }
    handled = CallbackRequest.objects.filter(customer=demo, handled_by__isnull=False)
    assert handled.count() == 2 and {r.handled_by.username for r in handled} == {"demo"}
    outcomes = set(RedialRequest.objects.filter(customer=demo).values_list("outcome", "reason"))
    assert outcomes == {
        ("connected", ""),
        ("flashed", ""),
        ("sms", ""),
        ("", "blacklisted"),
        ("", "call_waiting"),
    }
    fictive = FictiveCall.objects.filter(customer=demo)
    assert set(fictive.values_list("direction", flat=True)) == {"outbound", "inbound"}
    assert PendingMissedCall.objects.filter(customer=demo).exists()  # a dealer's missed call
    # The campaign's numbers went back to the platform: the demo holds the seed's three.
    assert PhoneNumber.objects.filter(customer=demo).count() == 3
    chat = IntegratedCall.objects.get(service__customer=demo, chat_enabled_at__isnull=False)
    assert chat.ended_at is not None and ChatMessage.objects.filter(call=chat).count() == 5
    session = VideoSession.objects.get(customer=demo)
    assert session.status == "ended" and session.annotations == 5
    assert session.consent_at and session.latitude and session.messages.count() == 3


def test_calls_are_billed_by_the_normal_path_and_the_seed_figures_hold(demo):
    calls = LedgerEntry.objects.filter(customer=demo, category="calls")
    outbound = CallRecord.objects.filter(customer=demo, direction="outbound", billsec__gt=0)
    assert calls.count() == outbound.count() > 50
    assert {e.source_key for e in calls} == {f"cdr:{c.uuid}" for c in outbound}
    page = selectors.tariff_page(customer=demo, month=dt.date(2026, 12, 1))
    assert page.accrued_total == Decimal("1052.55") and page.balance == Decimal("0.00")
    assert page.enabled_count == 11 and page.storage_free_gb == Decimal("5.00")
    # Payments: the advance at the start and the settlement.
    assert LedgerEntry.objects.filter(customer=demo, kind="payment").count() == 2


def test_the_demo_sends_portal_notices_and_never_texts_or_mails_its_made_up_people(demo):
    notices = PortalNotice.objects.filter(user__customer=demo, user__username="demo")
    kinds = set(notices.values_list("notification__kind", flat=True))
    assert {"callback_requested", "callback_failed", "integrated"} <= kinds
    outside = Delivery.objects.filter(notification__customer=demo).exclude(channel="portal")
    assert outside.exists()
    assert set(outside.values_list("status", "last_error")) == {("failed", NOT_SENT)}
    assert not Delivery.objects.filter(notification__customer=demo, status="pending").exists()


def test_running_the_demo_again_replaces_it_with_the_same_history(demo):
    def shape(customer):
        return sorted(
            CallRecord.objects.filter(customer=customer).values_list(
                "direction", "caller_number", "callee_number", "billsec"
            )
        )

    before = shape(demo)
    rows = CallRecord.objects.count()
    again = create_demo_customer(month=current_month(MSK, NOW), tz=MSK, now=NOW, history=True)
    assert Customer.objects.filter(name="Клиент 1").count() == 1
    assert CallRecord.objects.count() == rows and not CallRecord.objects.filter(customer=None)
    assert shape(again) == before
    assert selectors.customer_balance(again) == Decimal("0.00")
