"""Fictive-number services against the database (PostgreSQL in CI; SQLite must pass too)."""

from __future__ import annotations

import datetime as dt
import threading
import urllib.parse

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from portal.billing import services as billing
from portal.billing.models import Option
from portal.calls.models import Recording
from portal.fictive import ivr, services, sms
from portal.fictive.models import FictiveCall, PendingMissedCall
from portal.notifications.models import Delivery
from tests import factories

T0 = dt.datetime(2024, 3, 1, 9, 0, tzinfo=dt.UTC)
MIN = dt.timedelta(minutes=1)
ACCESS = "+420234234399"
RETURN = "+420234234390"
SHOPPER = "+420601000001"
DEALER = "+420777123456"


class Office:
    """A customer with the option on, an access and a return number, one project, one shopper
    with two fictive numbers (IDs 1 and 2)."""

    def __init__(self, *, base=ACCESS[:-2], option=True, language="cs", shopper=SHOPPER):
        self.customer = factories.customer(language=language)
        self.access = factories.number(self.customer, base + "99", kind="access")
        self.ret = factories.number(self.customer, base + "90", kind="return")
        self.project = services.project_save(
            customer=self.customer, name="Auta", allowed_prefixes="+420"
        )
        self.shopper = services.shopper_save(
            customer=self.customer, name="Jana", real_number=shopper, project=self.project
        )
        self.numbers = [
            factories.number(self.customer, f"{base}0{i}", kind="fictive") for i in (1, 2)
        ]
        self.fictive = [
            services.fictive_pair(customer=self.customer, shopper=self.shopper, number=n)
            for n in self.numbers
        ]
        if option:
            billing.option_set(
                customer=self.customer, code=Option.FICTIVE_NUMBERS, enabled=True, now=T0 - MIN
            )

    def inbound(self, i=0):
        ctx, reason = services.inbound_context(
            fictive_e164=self.numbers[i].e164, dealer_number=DEALER
        )
        assert reason == "ok", reason
        return ctx


def missed(office, uuid, *, i=0, dealer=DEALER, now=T0):
    return services.inbound_call_finished(
        ctx=office.inbound(i),
        dealer_number=dealer,
        uuid=uuid,
        answered=False,
        recording_path="",
        now=now,
    )


# -- access number ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_shopper_calling_the_access_number_gets_their_fictive_numbers_in_id_order():
    o = Office()
    ctx, reason = services.access_context(access_e164=ACCESS, caller_number=SHOPPER)
    assert reason == "ok"
    assert ctx.customer_id == o.customer.pk and ctx.language == "cs" and ctx.region == "CZ"
    assert ctx.shopper_id == o.shopper.pk and ctx.project_id == o.project.pk
    assert ctx.allowed_prefixes == ("+420",)
    assert [(c.ordinal, c.e164) for c in ctx.fictive] == [
        (1, "+420234234301"),
        (2, "+420234234302"),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "caller", ["420601000001", "00420601000001", "601000001", " +420601000001"]
)
def test_the_callers_number_is_recognised_however_the_trunk_writes_it(caller):
    Office()
    ctx, reason = services.access_context(access_e164=ACCESS[1:], caller_number=caller)
    assert reason == "ok" and ctx.caller_e164 == SHOPPER


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("access", "caller", "option", "reason"),
    [
        ("+420234234391", SHOPPER, True, "unknown_access"),
        (RETURN, SHOPPER, True, "unknown_access"),  # the return number is no access number
        (ACCESS, SHOPPER, False, "option_off"),
        (ACCESS, "+420601000009", True, "unknown_caller"),
        (ACCESS, "anonymous", True, "unknown_caller"),
        (ACCESS, "", True, "unknown_caller"),
    ],
)
def test_the_access_number_refuses(access, caller, option, reason):
    Office(option=option)
    assert services.access_context(access_e164=access, caller_number=caller) == (None, reason)


@pytest.mark.django_db
def test_a_shopper_without_fictive_numbers_is_refused():
    o = Office()
    for f in o.fictive:
        services.fictive_unpair(customer=o.customer, fictive=f)
    assert services.access_context(access_e164=ACCESS, caller_number=SHOPPER) == (
        None,
        "no_fictive",
    )


@pytest.mark.django_db
def test_a_shopper_never_reaches_another_customers_fictive_numbers():
    mine = Office()
    theirs = Office(base="+4202342353", shopper="+420601000002")
    # my shopper calls their access number: not one of theirs
    assert services.access_context(access_e164=theirs.access.e164, caller_number=SHOPPER) == (
        None,
        "unknown_caller",
    )
    # the same real number registered with both customers sees only that customer's numbers
    services.shopper_save(
        customer=theirs.customer, name="Jana", real_number=SHOPPER, project=theirs.project
    )
    ctx, reason = services.access_context(access_e164=theirs.access.e164, caller_number=SHOPPER)
    assert reason == "no_fictive" and ctx is None
    ctx, _ = services.access_context(access_e164=ACCESS, caller_number=SHOPPER)
    with pytest.raises(ValidationError):
        services.outbound_call_started(
            ctx=ctx,
            fictive_id=theirs.fictive[0].pk,
            destination_e164=DEALER,
            uuid="u-1",
            recording_path="",
            now=T0,
        )
    assert {c.fictive_id for c in ctx.fictive} == {f.pk for f in mine.fictive}


@pytest.mark.django_db
def test_a_shopper_never_reaches_another_shoppers_fictive_numbers_in_the_same_customer():
    o = Office()
    other_project = services.project_save(customer=o.customer, name="Banky")
    other = services.shopper_save(
        customer=o.customer, name="Petr", real_number="+420601000003", project=other_project
    )
    n = factories.number(o.customer, "+420234234303", kind="fictive")
    theirs = services.fictive_pair(customer=o.customer, shopper=other, number=n)
    ctx, _ = services.access_context(access_e164=ACCESS, caller_number=SHOPPER)
    assert theirs.pk not in {c.fictive_id for c in ctx.fictive}
    with pytest.raises(ValidationError):
        services.outbound_call_started(
            ctx=ctx,
            fictive_id=theirs.pk,
            destination_e164=DEALER,
            uuid="u-1",
            recording_path="",
            now=T0,
        )
    assert not FictiveCall.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("destination", ["+74951234567", "+420900123456", "112", "+420777123456}"])
def test_an_outbound_call_to_a_refused_destination_is_not_logged(destination):
    Office()
    ctx, _ = services.access_context(access_e164=ACCESS, caller_number=SHOPPER)
    with pytest.raises(ValidationError):
        services.outbound_call_started(
            ctx=ctx,
            fictive_id=ctx.fictive[0].fictive_id,
            destination_e164=destination,
            uuid="u-1",
            recording_path="",
            now=T0,
        )
    assert not FictiveCall.objects.exists()


@pytest.mark.django_db
def test_an_outbound_call_is_logged_once_and_its_recording_counts_against_storage(
    settings, tmp_path
):
    settings.RECORDINGS_DIR = tmp_path
    o = Office()
    wav = tmp_path / "fictive" / "u-1.wav"
    wav.parent.mkdir()
    wav.write_bytes(b"x" * 1234)
    ctx, _ = services.access_context(access_e164=ACCESS, caller_number=SHOPPER)
    kwargs = dict(
        ctx=ctx,
        fictive_id=ctx.fictive[1].fictive_id,
        destination_e164=DEALER,
        uuid="u-1",
        recording_path=str(wav),
        now=T0,
    )
    call_id = services.outbound_call_started(**kwargs)
    assert services.outbound_call_started(**kwargs) == call_id
    call = FictiveCall.objects.get()
    assert (call.direction, call.fictive_e164, call.other_number) == (
        "outbound",
        "+420234234302",
        DEALER,
    )
    assert call.shopper == o.shopper and call.project == o.project
    rec = Recording.objects.get()
    assert rec.customer == o.customer and rec.size_bytes == 1234
    assert services.fictive_call_finished(
        uuid="u-1", bridged=True, cause="NORMAL_CLEARING", now=T0 + MIN
    )
    assert services.fictive_call_finished(uuid="u-1", bridged=False, cause="X", now=T0 + 2 * MIN)
    call.refresh_from_db()
    assert call.bridged and call.ended_at == T0 + MIN and call.cause == "NORMAL_CLEARING"
    assert not services.fictive_call_finished(uuid="nope", bridged=True, cause="", now=T0)


@pytest.mark.django_db
def test_a_recording_not_yet_written_is_registered_with_size_zero(settings, tmp_path):
    settings.RECORDINGS_DIR = tmp_path
    o = Office()
    ctx, _ = services.access_context(access_e164=ACCESS, caller_number=SHOPPER)
    services.outbound_call_started(
        ctx=ctx,
        fictive_id=ctx.fictive[0].fictive_id,
        destination_e164=DEALER,
        uuid="u-2",
        recording_path=str(tmp_path / "later.wav"),
        now=T0,
    )
    assert Recording.objects.get(customer=o.customer).size_bytes == 0


# -- inbound ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_dealer_calling_a_fictive_number_rings_the_shopper_showing_the_return_number():
    o = Office()
    ctx = o.inbound(1)
    assert ctx == services.InboundContext(
        customer_id=o.customer.pk,
        language="cs",
        shopper_id=o.shopper.pk,
        fictive_id=o.fictive[1].pk,
        fictive_e164="+420234234302",
        shopper_real_e164=SHOPPER,
        return_e164=RETURN,
        project_id=o.project.pk,
    )


@pytest.mark.django_db
def test_inbound_refusals():
    o = Office()
    loose = factories.number(o.customer, "+420234234305", kind="fictive")
    assert services.inbound_context(fictive_e164="+420234234388", dealer_number=DEALER) == (
        None,
        "unknown_fictive",
    )
    assert services.inbound_context(fictive_e164=loose.e164, dealer_number=DEALER) == (
        None,
        "not_paired",
    )
    o.ret.delete()
    assert services.inbound_context(fictive_e164=o.numbers[0].e164, dealer_number=DEALER) == (
        None,
        "no_return_number",
    )
    billing.option_set(customer=o.customer, code=Option.FICTIVE_NUMBERS, enabled=False, now=T0)
    assert services.inbound_context(fictive_e164=o.numbers[0].e164, dealer_number=DEALER) == (
        None,
        "option_off",
    )


@pytest.mark.django_db
def test_an_answered_inbound_call_is_logged_with_its_recording_and_leaves_nothing_pending(
    settings, tmp_path
):
    settings.RECORDINGS_DIR = tmp_path
    o = Office()
    result = services.inbound_call_finished(
        ctx=o.inbound(),
        dealer_number="420777123456",
        uuid="in-1",
        answered=True,
        recording_path=str(tmp_path / "in-1.wav"),
        now=T0,
    )
    assert result is None and not PendingMissedCall.objects.exists()
    call = FictiveCall.objects.get()
    assert (call.direction, call.other_number, call.bridged) == ("inbound", DEALER, True)
    assert Recording.objects.filter(customer=o.customer, path=str(tmp_path / "in-1.wav")).exists()


@pytest.mark.django_db
def test_missed_calls_get_sequence_numbers_per_shopper_never_reused_while_open(
    django_capture_on_commit_callbacks,
):
    o = Office()
    other = services.shopper_save(
        customer=o.customer, name="Petr", real_number="+420601000003", project=o.project
    )
    n3 = factories.number(o.customer, "+420234234303", kind="fictive")
    services.fictive_pair(customer=o.customer, shopper=other, number=n3)
    o.numbers.append(n3)
    with django_capture_on_commit_callbacks():
        p1 = missed(o, "in-1")
        p2 = missed(o, "in-2", i=1, dealer="+420603000111")
        q1 = missed(o, "in-3", i=2)
    assert (p1.sequence, p2.sequence, q1.sequence) == (1, 2, 1)
    assert p2.fictive_e164 == "+420234234302" and p2.dealer_number == "+420603000111"
    services.pending_connected(pending_id=p1.pk, uuid="r-1", answered=True, now=T0 + MIN)
    with django_capture_on_commit_callbacks():
        p3 = missed(o, "in-4")
    assert p3.sequence == 3  # 2 is still open
    services.pending_connected(pending_id=p2.pk, uuid="r-2", answered=True, now=T0 + MIN)
    services.pending_connected(pending_id=p3.pk, uuid="r-3", answered=True, now=T0 + MIN)
    with django_capture_on_commit_callbacks():
        assert missed(o, "in-5").sequence == 1  # nothing open: numbering starts again


@pytest.mark.django_db
def test_a_replayed_missed_call_changes_nothing_and_sends_no_second_sms(
    django_capture_on_commit_callbacks,
):
    o = Office()
    with django_capture_on_commit_callbacks():
        first = missed(o, "in-1")
        again = missed(o, "in-1")
    assert again == first
    assert PendingMissedCall.objects.count() == 1 and Delivery.objects.count() == 1


@pytest.mark.django_db
def test_an_anonymous_dealer_cannot_be_called_back_so_nothing_is_pending():
    o = Office()
    assert missed(o, "in-1", dealer="anonymous") is None
    assert FictiveCall.objects.get().other_number == ""
    assert not PendingMissedCall.objects.exists() and not Delivery.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_missed_calls_get_distinct_sequence_numbers():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    o = Office()
    ctx = o.inbound()
    barrier = threading.Barrier(6)
    errors = []

    def one(i):
        try:
            barrier.wait(timeout=10)
            services.inbound_call_finished(
                ctx=ctx,
                dealer_number=f"+42077712345{i}",
                uuid=f"in-{i}",
                answered=False,
                recording_path="",
                now=T0,
            )
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    assert sorted(PendingMissedCall.objects.values_list("sequence", flat=True)) == [
        1,
        2,
        3,
        4,
        5,
        6,
    ]


# -- the SMS ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("cs", ["Zmeškaný hovor č. 4", "Zavolejte zpět"]),
        ("ru", ["Пропущенный вызов № 4", "Перезвоните"]),
        ("en", ["Missed call no. 4", "Call back"]),
        ("kk", ["№ 4 қабылданбаған", "қайта қоңырау"]),
        ("bg", ["Пропуснато обаждане № 4", "Обадете се обратно"]),
        ("xx", ["Пропущенный вызов № 4"]),  # unknown language: Russian
    ],
)
def test_the_missed_call_sms_names_dealer_sequence_and_return_number_in_the_customers_language(
    language, words
):
    title, body = sms.missed_call_text(
        language=language, sequence=4, dealer=DEALER, fictive="+420234234301", return_number=RETURN
    )
    text = sms.full_text(title, body)
    for word in words:
        assert word in text
    assert "+420 777 123 456" in text and "+420 234 234 390" in text and "4 и #" not in title
    assert len(title) <= 200


@pytest.mark.django_db
def test_a_missed_call_sends_the_shopper_a_czech_sms_through_twilio_and_logs_it_as_sent(
    twilio, django_capture_on_commit_callbacks
):
    o = Office()
    with django_capture_on_commit_callbacks(execute=True):
        missed(o, "in-0")
        pending = missed(o, "in-1", i=1, dealer="+420603000111")
    assert len(twilio.requests) == 2
    path, _, body = twilio.requests[1]
    assert path.endswith("/Messages.json")
    form = urllib.parse.parse_qs(body.decode())
    assert form["To"] == [SHOPPER] and form["From"] == ["+15005550006"]
    text = form["Body"][0]
    assert text.startswith("Zmeškaný hovor č. 2 z čísla +420 603 000 111")
    assert "+420 234 234 390" in text and "zadejte 2 a #" in text
    pending.refresh_from_db()
    assert pending.sms.status == Delivery.Status.SENT and pending.sms.external_id == "SM42"
    assert pending.sms.channel == "sms" and pending.sms.target == SHOPPER
    assert pending.sms.notification.customer == o.customer


@pytest.mark.django_db
def test_an_sms_that_cannot_be_sent_is_logged_as_failed(
    settings, django_capture_on_commit_callbacks
):
    settings.TWILIO_ACCOUNT_SID = ""
    o = Office()
    with django_capture_on_commit_callbacks(execute=True):
        pending = missed(o, "in-1")
    pending.refresh_from_db()
    assert (
        pending.sms.status == Delivery.Status.FAILED and "not configured" in pending.sms.last_error
    )


# -- return number ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_return_number_lists_the_callers_open_pending_calls_only(
    django_capture_on_commit_callbacks,
):
    o = Office()
    theirs = Office(base="+4202342353", shopper="+420601000002")
    with django_capture_on_commit_callbacks():
        p1 = missed(o, "in-1")
        p2 = missed(o, "in-2", i=1, dealer="+420603000111")
        missed(theirs, "in-3")
    ctx, reason = services.return_context(return_e164=RETURN, caller_number=SHOPPER)
    assert reason == "ok" and ctx.shopper_id == o.shopper.pk and ctx.language == "cs"
    assert ctx.pending == (
        ivr.PendingChoice(p1.pk, 1, DEALER, "+420234234301"),
        ivr.PendingChoice(p2.pk, 2, "+420603000111", "+420234234302"),
    )
    # my shopper calling their return number is nobody there
    assert services.return_context(return_e164=theirs.ret.e164, caller_number=SHOPPER) == (
        None,
        "unknown_caller",
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("number", "caller", "option", "reason"),
    [
        (ACCESS, SHOPPER, True, "unknown_return"),
        (RETURN, SHOPPER, False, "option_off"),
        (RETURN, "+420601000009", True, "unknown_caller"),
    ],
)
def test_the_return_number_refuses(number, caller, option, reason):
    Office(option=option)
    assert services.return_context(return_e164=number, caller_number=caller) == (None, reason)


@pytest.mark.django_db
def test_a_shopper_with_nothing_pending_gets_an_empty_list():
    Office()
    ctx, reason = services.return_context(return_e164=RETURN, caller_number=SHOPPER)
    assert reason == "ok" and ctx.pending == ()


@pytest.mark.django_db
def test_pending_connected_closes_the_pending_call_once_and_logs_the_return_call_once(
    django_capture_on_commit_callbacks,
):
    o = Office()
    with django_capture_on_commit_callbacks():
        p = missed(o, "in-1")
    services.pending_connected(pending_id=p.pk, uuid="r-1", answered=False, now=T0 + MIN)
    p.refresh_from_db()
    assert p.status == "open" and p.closed_at is None
    for minute in (2, 3):
        services.pending_connected(
            pending_id=p.pk, uuid="r-2", answered=True, now=T0 + minute * MIN
        )
    p.refresh_from_db()
    assert p.status == "connected" and p.closed_at == T0 + 2 * MIN
    returns = FictiveCall.objects.filter(direction="return").order_by("uuid")
    assert [(c.uuid, c.bridged, c.other_number) for c in returns] == [
        ("r-1", False, DEALER),
        ("r-2", True, DEALER),
    ]
    assert services.pending_connected(pending_id=999999, uuid="x", answered=True, now=T0) is None
    ctx, _ = services.return_context(return_e164=RETURN, caller_number=SHOPPER)
    assert ctx.pending == ()


@pytest.mark.django_db
def test_pending_calls_nobody_returned_expire_after_a_week(django_capture_on_commit_callbacks):
    o = Office()
    with django_capture_on_commit_callbacks():
        old = missed(o, "in-1", now=T0)
        new = missed(o, "in-2", now=T0 + dt.timedelta(days=6))
    assert services.pending_expire(now=T0 + dt.timedelta(days=7, minutes=1)) == 1
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.status, new.status) == ("expired", "open")


# -- portal edits ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_fictive_numbers_get_the_next_free_id_and_a_clash_is_refused():
    o = Office()
    services.fictive_unpair(customer=o.customer, fictive=o.fictive[0])
    n = factories.number(o.customer, "+420234234307", kind="fictive")
    assert services.fictive_pair(customer=o.customer, shopper=o.shopper, number=n).ordinal == 1
    m = factories.number(o.customer, "+420234234308", kind="fictive")
    with pytest.raises(ValidationError) as exc:
        services.fictive_pair(customer=o.customer, shopper=o.shopper, number=m, ordinal=2)
    assert "ordinal" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.fictive_pair(customer=o.customer, shopper=o.shopper, number=n)
    assert "number" in exc.value.message_dict


@pytest.mark.django_db
def test_only_the_customers_own_fictive_phone_numbers_can_be_paired():
    o = Office()
    other = factories.customer()
    theirs = factories.number(other, "+420234236301", kind="fictive")
    regular = factories.number(o.customer, "+420234234309", kind="regular")
    for number in (theirs, regular):
        with pytest.raises(ValidationError) as exc:
            services.fictive_pair(customer=o.customer, shopper=o.shopper, number=number)
        assert "number" in exc.value.message_dict


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("number", "field"), [("123", "real_number"), ("", "real_number"), (SHOPPER, "real_number")]
)
def test_a_shopper_needs_a_valid_number_not_used_by_another_shopper(number, field):
    o = Office()
    with pytest.raises(ValidationError) as exc:
        services.shopper_save(customer=o.customer, name="X", real_number=number, project=o.project)
    assert field in exc.value.message_dict


@pytest.mark.django_db
def test_project_prefixes_are_normalised_and_garbage_is_refused():
    o = Office()
    p = services.project_save(customer=o.customer, name="Mix", allowed_prefixes=" 420\n00421 \n\n")
    assert p.allowed_prefixes == "+420\n+421" and p.prefixes == ("+420", "+421")
    with pytest.raises(ValidationError) as exc:
        services.project_save(customer=o.customer, name="Bad", allowed_prefixes="+42x")
    assert "allowed_prefixes" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.project_save(customer=o.customer, name="Auta")
    assert "name" in exc.value.message_dict
