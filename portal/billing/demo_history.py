"""Four weeks of use for the demo customer, made by the services the live system runs.

`fill(customer, now=...)` plays, in time order, what call control and people would have done
in the `HISTORY_DAYS` days before `now`, each step through the feature's own write path with
`now` set to the moment it happened:

- callback requests (portal.callbacks.services): created by a caller pressing 1, claimed by
  compare-and-swap (only this customer's rows), attempts answered, bridged, missed twice;
  cancelled or marked done by a person; one closed because the caller got through (by the CDR
  receiver). The option was on before the contract's month only (seed 001 switches it on
  again), so none is pending now;
- auto-redial (portal.redial.services): offers accepted and declined, the callee back in time
  (connected, the 0.5 s call) or too late (SMS), refusals (blacklist, call waiting);
- an integrated call with its chat (portal.integrated.services: live, chat enabled, messages,
  ended), which alerts the operator (portal.notifications.integrated);
- a mystery-shopping campaign (portal.fictive.services): calls through the access number
  from two fictive numbers, dealers calling back (answered, or missed: numbered, texted). It ran
  before the contract's month and its numbers went back to the platform (numbers held on a
  charged day are "Доп. номера", and the seed shows 0 ₽ there); its calls stay.
- a finished video session (portal.video.services: link, consent, location, call, five
  annotations, chat, end);
- a few hundred CDRs (inbound, outbound, internal; the answered ones recorded) as one batch
  through portal.calls.services.cdr_ingest_batch, so the normal receivers rate the outgoing
  calls into the ledger, register the recordings and close callback requests.

Pseudo-random but deterministic (`random.Random(seed)`): the same `now` and seed give the same
history. Notifications it raised are sent by the notifications' own `delivery_send` when they
go to the portal; SMS and e-mails to the made-up people of the demo are never sent: they are
marked failed, with the reason, in the transaction that made them. An advance payment at the
start keeps the balance positive while the history runs (auto-redial checks it); the demo
command settles the rest.

Recordings are metadata only (paths in the CDRs, rows counted at size 0: no files), so the
storage line stays the seed's "свободно 5.00 из 5 ГБ".
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from collections import Counter
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from portal.billing import services as billing
from portal.billing.models import Option
from portal.callbacks import services as callbacks
from portal.calls.services import CdrDelivery, cdr_ingest_batch
from portal.directory import services as directory
from portal.directory.models import Employee, PhoneNumber, PlatformNumber
from portal.fictive import services as fictive
from portal.integrated import services as integrated
from portal.integrated.models import Caller, IntegratedService, Operator
from portal.notifications import services as notifications
from portal.notifications.models import Delivery, Notification
from portal.redial import rules as redial_rules
from portal.redial import services as redial
from portal.redial.models import SubscriberSettings
from portal.tenants.models import Customer, User
from portal.video import services as video
from portal.video.models import VideoMessage

HISTORY_DAYS = 28
FICTIVE_ACCESS = "+74950000010"
FICTIVE_RETURN = "+74950000011"
FICTIVE_NUMBERS = ("+74950000012", "+74950000013")
CALLS = 320
SEED = 2026
ADVANCE = Decimal("500.00")
WORKER = "demo-history"
NOT_SENT = "demo: the demo's people are made up, nothing was sent"
SEC = dt.timedelta(seconds=1)
MIN = dt.timedelta(minutes=1)

FIRST_NAMES = ["Анна", "Иван", "Мария", "Олег", "Елена", "Сергей", "Ольга", "Павел", "Нина"]
LAST_NAMES = ["Смирнов", "Кузнецов", "Попов", "Васильев", "Соколов", "Михайлов", "Новиков"]


class _History:
    def __init__(self, customer: Customer, now: dt.datetime, seed: int) -> None:
        self.customer = customer
        self.now = now
        self.rng = random.Random(seed)
        self.start = now - dt.timedelta(days=HISTORY_DAYS)
        self.cdrs: list[dict] = []
        self.counts: Counter[str] = Counter()
        self.user = User.objects.filter(customer=customer, role=User.Role.CUSTOMER_ADMIN).first()
        self.employees = list(Employee.objects.filter(customer=customer).order_by("extension"))
        numbers = PhoneNumber.objects.filter(customer=customer).order_by("e164")
        self.multichannel = [n for n in numbers if n.kind == PhoneNumber.Kind.MULTICHANNEL]
        self.regular = [n for n in numbers if n.kind == PhoneNumber.Kind.REGULAR]
        self.serial = 0
        # What must be over before the first charged day (the seed's figures count no callback
        # option and no extra numbers): half an hour ago at the latest.
        contract = dt.datetime.combine(
            customer.activated_on, dt.time.min, tzinfo=ZoneInfo(customer.time_zone)
        )
        self.before_contract = min(now - 30 * MIN, contract - MIN)

    # -- helpers -------------------------------------------------------------------------------

    def uuid(self, what: str) -> str:
        self.serial += 1
        return f"demo-{self.customer.pk}-{what}-{self.serial:04d}"

    def moment(self, *, days_ago_max: float = HISTORY_DAYS - 1, min_days_ago: float = 0.2):
        """A working-hours moment (Moscow, Mon-Fri 9-19) between the bounds, before `now`."""
        days_ago_max = max(days_ago_max, min_days_ago + 1)
        for _ in range(100):
            back = self.rng.uniform(min_days_ago, days_ago_max)
            t = self.now - dt.timedelta(days=back)
            local = timezone.localtime(t, timezone.get_default_timezone())
            if local.weekday() < 5 and 9 <= local.hour < 19:
                return t.replace(microsecond=0)
        return (self.now - dt.timedelta(days=min_days_ago)).replace(microsecond=0)

    def mobile(self) -> str:
        return f"+7916{self.rng.randrange(10**7):07d}"

    def landline(self) -> str:
        return f"+7495{self.rng.randrange(10**7):07d}"

    def person(self) -> str:
        return f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"

    def recording(self, uuid: str) -> str:
        return f"{settings.RECORDINGS_DIR}/c{self.customer.pk}/{uuid}.wav"

    def cdr(
        self,
        *,
        uuid: str,
        direction: str,
        caller: str,
        callee: str,
        started: dt.datetime,
        talk: int,
        ring: int = 8,
        cause: str = "NORMAL_CLEARING",
        shown: str = "",
        recorded: bool = False,
        **variables: str,
    ) -> None:
        """One CDR as the switch's CHANNEL_HANGUP_COMPLETE would carry it."""
        start = int(started.timestamp())
        answered = start + ring if talk else 0
        end = (answered + talk) if talk else start + ring
        fields = {
            "Unique-ID": uuid,
            "Caller-ANI": caller,
            "Caller-Destination-Number": callee,
            "Caller-Context": "public" if direction == "inbound" else "default",
            "Hangup-Cause": cause,
            "variable_pbx_customer": str(self.customer.pk),
            "variable_pbx_direction": direction,
            "variable_start_epoch": str(start),
            "variable_answer_epoch": str(answered),
            "variable_end_epoch": str(end),
            "variable_duration": str(end - start),
            "variable_billsec": str(talk),
        }
        if shown:
            fields["variable_effective_caller_id_number"] = shown
        if recorded and talk:
            fields["variable_pbx_recording"] = self.recording(uuid)
        fields.update({f"variable_pbx_{k}": v for k, v in variables.items()})
        self.cdrs.append(fields)

    # -- callback requests ---------------------------------------------------------------------

    def callbacks(self) -> None:
        """The callback option was on for a while before the contract's month (seed 001's
        step 3 switches it on again): it is switched off before the first charged day, so the
        seed's figures hold, and every request falls inside that time."""
        until = self.before_contract
        billing.option_set(
            customer=self.customer, code=Option.CALLBACK, enabled=True, now=self.start
        )
        number = self.multichannel[0].e164  # the sales department's queue
        plan = (
            ["completed"] * 9
            + ["no_answer"] * 3
            + ["retry_then_completed"] * 2
            + ["staff_cancelled", "staff_done", "got_through"]
        )
        latest = (self.now - until) / dt.timedelta(days=1) + 0.1
        moments = sorted(self.moment(min_days_ago=latest) for _ in plan)
        for what, t in zip(self.rng.sample(plan, len(plan)), moments, strict=True):
            self.callback(what, number=number, at=t)
        billing.option_set(customer=self.customer, code=Option.CALLBACK, enabled=False, now=until)

    def callback(self, what: str, *, number: str, at: dt.datetime) -> None:
        caller = self.mobile()
        origin = self.uuid("cb")
        r, _status = callbacks.callback_request_create(
            customer_id=self.customer.pk,
            number_e164=number,
            caller_number=caller,
            origin_uuid=origin,
            now=at,
        )
        self.counts["callback requests"] += 1
        # The call in which they pressed 1 (answered by the queue's IVR, not by a person).
        self.cdr(
            uuid=origin,
            direction="inbound",
            caller=caller,
            callee=number,
            started=at - 50 * SEC,
            talk=50,
            ring=0,
            number=number,
        )
        if what == "staff_cancelled":  # a wrong number: cancelled before it was due
            callbacks.callback_request_act(
                customer_id=self.customer.pk,
                request_id=r.pk,
                action="cancel",
                user=self.user,
                now=at + 10 * SEC,
            )
            return
        if what == "got_through":  # they call again and a person answers: the CDR closes it
            self.cdrs, before = [], self.cdrs
            self.cdr(
                uuid=self.uuid("in"),
                direction="inbound",
                caller=caller,
                callee=number,
                started=at + 20 * SEC,
                talk=140,
                recorded=True,
                number=number,
            )
            cdr_ingest_batch([CdrDelivery(f) for f in self.cdrs], source="event")
            self.cdrs = before + self.cdrs
            return
        callbacks.callback_request_caller_left(origin_uuid=origin, now=at + 2 * SEC)
        t = at + 3 * SEC
        outcomes = {
            "completed": [True],
            "no_answer": [False, False],
            "retry_then_completed": [False, True],
            "staff_done": [False, False],
        }[what]
        for answered in outcomes:
            t = self.callback_attempt(r.pk, caller=caller, number=number, at=t, answered=answered)
            t += 5 * MIN
        if what == "staff_done":  # reached them from a mobile later that day
            callbacks.callback_request_act(
                customer_id=self.customer.pk,
                request_id=r.pk,
                action="done",
                user=self.user,
                now=t + 40 * MIN,
            )

    def callback_attempt(self, request_id: int, *, caller: str, number: str, at, answered: bool):
        plans = callbacks.callback_claim_due(now=at, worker=WORKER, customer_id=self.customer.pk)
        plan = next(p for p in plans if p.request_id == request_id)
        employee = plan.candidates[0]
        t = at + 6 * SEC
        callbacks.callback_attempt_employee_answered(
            attempt_id=plan.attempt_id,
            employee_id=employee.employee_id,
            employee_uuid=self.uuid("cbe"),
            now=t,
        )
        caller_uuid = self.uuid("cbc")
        callbacks.callback_attempt_caller_dialing(
            attempt_id=plan.attempt_id,
            caller_uuid=caller_uuid,
            caller_id_shown=employee.caller_id_to_show,
            now=t + SEC,
        )
        if not answered:
            t += 31 * SEC
            callbacks.callback_attempt_finished(
                attempt_id=plan.attempt_id,
                caller_answered=False,
                bridged=False,
                cause="NO_ANSWER",
                now=t,
            )
            self.cdr(
                uuid=caller_uuid,
                direction="outbound",
                caller=employee.extension,
                callee=caller,
                started=t - 30 * SEC,
                talk=0,
                ring=30,
                cause="NO_ANSWER",
                shown=employee.caller_id_to_show,
                flow="callback",
            )
            return t
        talk = self.rng.randint(60, 420)
        bridged = t + 9 * SEC
        callbacks.callback_attempt_bridged(
            attempt_id=plan.attempt_id, now=bridged, recording_path=self.recording(caller_uuid)
        )
        t = bridged + talk * SEC
        callbacks.callback_attempt_finished(
            attempt_id=plan.attempt_id,
            caller_answered=True,
            bridged=True,
            cause="NORMAL_CLEARING",
            now=t,
        )
        # The caller's leg is an outgoing call of the customer: billed like one.
        self.cdr(
            uuid=caller_uuid,
            direction="outbound",
            caller=employee.extension,
            callee=caller,
            started=t - (talk + 8) * SEC,
            talk=talk,
            shown=employee.caller_id_to_show,
            recorded=True,
            flow="callback",
        )
        return t

    # -- auto-redial -----------------------------------------------------------------------------

    def redials(self) -> None:
        staff = self.employees
        for e in staff[:6]:
            e.mobile_number = self.mobile()
        Employee.objects.bulk_update(staff[:6], ["mobile_number"])
        SubscriberSettings.objects.update_or_create(
            employee=staff[7], defaults={"blacklist": staff[2].extension}
        )
        SubscriberSettings.objects.update_or_create(
            employee=staff[8], defaults={"call_waiting": True}
        )
        cases = [
            ("1", 4 * MIN, staff[1], staff[4]),  # accepted, back in 4 min: connected
            ("1", 25 * MIN, staff[0], staff[3]),
            ("", 12 * MIN, staff[5], staff[2]),  # declined, back in 12 min: the 0.5 s call
            ("", 50 * MIN, staff[3], staff[1]),  # declined, back after 30 min: SMS
            ("1", 150 * MIN, staff[4], staff[0]),  # accepted, back after 2 h: SMS
            ("1", None, staff[2], staff[7]),  # on the callee's blacklist: refused
            ("1", None, staff[6], staff[8]),  # the callee has call waiting: refused
        ]
        for pressed, back_after, caller, callee in cases:
            with self.nothing_sent_outside():
                self.redial(pressed, back_after, caller, callee, at=self.moment(min_days_ago=1))

    def redial(self, pressed: str, back_after, caller: Employee, callee: Employee, *, at) -> None:
        offer = redial.offer_start(
            customer_id=self.customer.pk,
            caller_id=caller.pk,
            callee_id=callee.pk,
            cause="USER_BUSY",
            origin_uuid=self.uuid("rd"),
            now=at,
        )
        self.counts["auto-redial requests"] += 1
        if offer is None or not offer.offer:
            return
        redial.offer_answered(
            request_id=offer.request_id, pressed=pressed or None, now=at + 6 * SEC
        )
        back = at + back_after
        done = redial.callee_back(
            customer_id=self.customer.pk,
            callee_id=callee.pk,
            now=back,
            source=redial_rules.CALL_ENDED,
        )
        actions = dict(done)
        action = actions.get(offer.request_id)
        if action not in (redial_rules.CONNECT, redial_rules.FLASH):
            return
        # Call control's tick: claims what is due by compare-and-swap (as of that moment).
        plans = redial.claim_due(now=back + SEC, worker=WORKER, customer_id=self.customer.pk)
        if not any(p.request_id == offer.request_id for p in plans):
            return
        if action == redial_rules.FLASH:
            redial.legs_started(request_id=offer.request_id, callee_uuid=self.uuid("rdf"))
            redial.flash_finished(request_id=offer.request_id, cause="ORIGINATOR_CANCEL", now=back)
            return
        redial.legs_started(
            request_id=offer.request_id, caller_uuid=self.uuid("rdc"), callee_uuid=self.uuid("rdd")
        )
        redial.connect_bridged(request_id=offer.request_id, now=back + 12 * SEC)
        talk = self.rng.randint(40, 300)
        redial.connect_finished(
            request_id=offer.request_id,
            connected=True,
            cause="NORMAL_CLEARING",
            now=back + (12 + talk) * SEC,
        )

    # -- integrated number and its chat ----------------------------------------------------------

    def integrated_calls(self) -> None:
        number = (self.regular or self.multichannel)[0]
        service, _ = IntegratedService.objects.get_or_create(
            customer=self.customer,
            defaults={
                "name": "Медицинская консультация",
                "description": "Дежурный врач отвечает на звонки и в чате звонка",
            },
        )
        service.numbers.add(number)
        operator = self.employees[0]
        Operator.objects.get_or_create(employee=operator, defaults={"user": self.user})
        people = [
            ("+79161110001", "Анна Смирнова", (55.7601, 37.6186)),
            ("+79161110002", "Иван Кузнецов", (55.7512, 37.5842)),
        ]
        for index, (phone, name, (lat, lon)) in enumerate(people):
            t = self.moment(days_ago_max=6, min_days_ago=0.3 + index)
            caller, new = Caller.objects.get_or_create(
                phone=phone, defaults={"name": name, "verified_at": t - dt.timedelta(days=30)}
            )
            if new:  # a caller's account is theirs, not the demo's: never changed
                integrated.location_set(caller, lat=lat, lon=lon, now=t - 2 * MIN)
            uuid = self.uuid("int")
            call = integrated.call_live(
                customer_id=self.customer.pk,
                number_id=number.pk,
                call_uuid=uuid,
                operator_uuid=f"{uuid}-b",
                caller_number=phone,
                operator_extension=operator.extension,
                now=t,
            )
            self.counts["integrated calls"] += 1
            talk = 300 + 120 * index
            if index == 0:
                integrated.chat_enable(call, self.user, now=t + 40 * SEC)
                chat = [
                    ("caller", "Здравствуйте! Отправляю фото сыпи, о которой говорила.", 70),
                    ("operator", "Вижу. Давно появилась? Температура есть?", 95),
                    ("caller", "Со вчерашнего вечера, температура 37,2.", 130),
                    ("operator", "Похоже на аллергию. Запишу вас к дерматологу на завтра.", 190),
                    ("caller", "Спасибо большое!", 230),
                ]
                for author, text, offset in chat:
                    integrated.message_add(call, author=author, text=text, now=t + offset * SEC)
                    self.counts["chat messages"] += 1
            integrated.call_ended(uuid=uuid, now=t + talk * SEC)
            self.cdr(
                uuid=uuid,
                direction="inbound",
                caller=phone,
                callee=number.e164,
                started=t - 8 * SEC,
                talk=talk,
                recorded=True,
                number=number.e164,
            )

    # -- fictive numbers (a mystery-shopping campaign) ------------------------------------------

    def fictive_campaign(self) -> None:
        """A campaign run before the contract's month with its own access, return and fictive
        numbers, given back to the platform when it ended: numbers the customer holds on a
        charged day are "Доп. номера", and the seed shows 0 ₽ there. Its calls stay."""
        kinds = [
            (FICTIVE_ACCESS, PhoneNumber.Kind.ACCESS),
            (FICTIVE_RETURN, PhoneNumber.Kind.RETURN),
            *((e164, PhoneNumber.Kind.FICTIVE) for e164 in FICTIVE_NUMBERS),
        ]
        numbers = []
        for e164, kind in kinds:
            PlatformNumber.objects.get_or_create(e164=e164)
            if PhoneNumber.objects.filter(e164=e164).exists():
                return  # somebody holds it on this platform: no campaign in this demo
            numbers.append(directory.number_create(customer=self.customer, e164=e164, kind=kind))
        project = fictive.project_save(
            customer=self.customer,
            name="Тайный покупатель: автосалоны",
            allowed_prefixes="+7495\n+7499",
        )
        shopper = fictive.shopper_save(
            customer=self.customer,
            name="Мария Соколова",
            real_number="+79165550101",
            project=project,
        )
        for number in numbers[2:]:
            fictive.fictive_pair(customer=self.customer, shopper=shopper, number=number)
        ctx, _why = fictive.access_context(
            access_e164=FICTIVE_ACCESS, caller_number=shopper.real_number
        )
        latest = (self.now - self.before_contract) / dt.timedelta(days=1) + 0.1
        for _ in range(12):
            t = self.moment(min_days_ago=latest)
            choice = self.rng.choice(ctx.fictive)
            dealer = f"+7495{self.rng.randrange(10**7):07d}"
            uuid = self.uuid("fx")
            answered = self.rng.random() < 0.8
            talk = self.rng.randint(90, 420) if answered else 0
            path = self.recording(uuid)
            fictive.outbound_call_started(
                ctx=ctx,
                fictive_id=choice.fictive_id,
                destination_e164=dealer,
                uuid=uuid,
                recording_path=path if answered else "",
                now=t,
            )
            fictive.fictive_call_finished(
                uuid=uuid,
                bridged=answered,
                cause="NORMAL_CLEARING" if answered else "NO_ANSWER",
                now=t + (talk + 12) * SEC,
            )
            self.counts["fictive calls"] += 1
            self.cdr(  # the shopper's call to the access number (the IVR, then the dealer)
                uuid=uuid,
                direction="inbound",
                caller=shopper.real_number,
                callee=FICTIVE_ACCESS,
                started=t - 25 * SEC,
                talk=talk + 37,
                ring=0,
                number=FICTIVE_ACCESS,
            )
            self.cdr(  # the leg to the dealer, showing the fictive number: billed
                uuid=f"{uuid}-b",
                direction="outbound",
                caller=choice.e164,
                callee=dealer,
                started=t,
                talk=talk,
                ring=12 if answered else 30,
                cause="NORMAL_CLEARING" if answered else "NO_ANSWER",
                shown=choice.e164,
                flow="fictive",
            )
            if answered and self.rng.random() < 0.5:  # the dealer calls back later
                self.dealer_calls_back(choice.e164, dealer, at=t + self.rng.randint(20, 90) * MIN)
        with transaction.atomic():
            for number in numbers:
                directory.number_delete(customer=self.customer, number_id=number.pk)

    def dealer_calls_back(self, fictive_e164: str, dealer: str, *, at) -> None:
        ctx, _why = fictive.inbound_context(fictive_e164=fictive_e164, dealer_number=dealer)
        answered = self.rng.random() < 0.5
        talk = self.rng.randint(40, 200) if answered else 0
        uuid = self.uuid("fxin")
        with self.nothing_sent_outside():  # the missed call's SMS to the shopper
            fictive.inbound_call_finished(
                ctx=ctx,
                dealer_number=dealer,
                uuid=uuid,
                answered=answered,
                recording_path=self.recording(uuid) if answered else "",
                now=at + (talk + 15) * SEC,
                started_at=at,
                cause="NORMAL_CLEARING" if answered else "NO_ANSWER",
            )
        self.counts["fictive calls"] += 1
        self.cdr(
            uuid=uuid,
            direction="inbound",
            caller=dealer,
            callee=fictive_e164,
            started=at,
            talk=talk,
            ring=15,
            cause="NORMAL_CLEARING" if answered else "NO_ANSWER",
            number=fictive_e164,
        )

    # -- video assistant -------------------------------------------------------------------------

    def video_session(self) -> None:
        t = self.moment(days_ago_max=5, min_days_ago=0.4)
        with self.nothing_sent_outside():  # the link's e-mail
            created = video.session_create(
                specialist=self.user, name="Игорь Васильев", email="igor@example.com", now=t
            )
        session = created.session
        token = created.url.rstrip("/").rsplit("/", 1)[-1]
        video.open_link(token=token, browser_key=None, bind=True, now=t + 3 * MIN)
        video.location(session, lat=55.7963, lon=37.5376, now=t + 3 * MIN + 20 * SEC)
        video.call_started(session.pk, now=t + 4 * MIN)
        for _ in range(5):  # pointer, rectangle, arrow...: counted as the consumer does
            video.annotated(session.pk)
        session.refresh_from_db()
        for author, text in [
            (VideoMessage.Author.SPECIALIST, "Покажите, пожалуйста, табличку на корпусе насоса."),
            (VideoMessage.Author.CLIENT, "Вот она, под крышкой."),
            (VideoMessage.Author.SPECIALIST, "Спасибо. Стрелкой отметил винт, его нужно ослабить."),
        ]:
            video.message_add(session, author=author, text=text)
        video.call_ended(session.pk, now=t + 16 * MIN)
        self.counts["video sessions"] += 1

    # -- calls ----------------------------------------------------------------------------------

    def calls(self) -> None:
        staff = self.employees
        for _ in range(CALLS):
            t = self.moment()
            kind = self.rng.choices(["inbound", "outbound", "internal"], weights=[5, 3, 1])[0]
            employee = self.rng.choice(staff)
            if kind == "inbound":
                number = self.rng.choice(self.multichannel + self.regular)
                missed = self.rng.random() < 0.12
                self.cdr(
                    uuid=self.uuid("in"),
                    direction="inbound",
                    caller=self.rng.choice([self.mobile(), self.landline()]),
                    callee=number.e164,
                    started=t,
                    talk=0 if missed else self.rng.randint(15, 540),
                    ring=self.rng.randint(3, 25),
                    cause="ORIGINATOR_CANCEL" if missed else "NORMAL_CLEARING",
                    recorded=True,
                    number=number.e164,
                )
            elif kind == "outbound":
                busy = self.rng.random() < 0.1
                self.cdr(
                    uuid=self.uuid("out"),
                    direction="outbound",
                    caller=employee.extension,
                    callee=self.rng.choice([self.mobile(), self.landline()]),
                    started=t,
                    talk=0 if busy else self.rng.randint(10, 600),
                    ring=self.rng.randint(3, 20),
                    cause="USER_BUSY" if busy else "NORMAL_CLEARING",
                    shown=self.multichannel[0].e164,
                    recorded=True,
                )
            else:
                other = self.rng.choice([e for e in staff if e.pk != employee.pk])
                self.cdr(
                    uuid=self.uuid("int"),
                    direction="internal",
                    caller=employee.extension,
                    callee=other.extension,
                    started=t,
                    talk=self.rng.randint(10, 200),
                    ring=self.rng.randint(2, 10),
                )

    def ingest(self) -> None:
        self.cdrs.sort(key=lambda f: int(f["variable_start_epoch"]))
        result = cdr_ingest_batch([CdrDelivery(f) for f in self.cdrs], source="event")
        self.counts["CDRs"] = result.created + result.merged

    @contextlib.contextmanager
    def nothing_sent_outside(self):
        """SMS and e-mails to the made-up people of the demo are marked not sent (with why) in
        the transaction that made them: their sends, queued after commit, find nothing to do."""
        with transaction.atomic():
            yield
            Delivery.objects.filter(
                notification__customer=self.customer, status=Delivery.Status.PENDING
            ).exclude(channel=Delivery.Channel.PORTAL).update(
                status=Delivery.Status.FAILED, permanent=True, last_error=NOT_SENT
            )

    def send_notifications(self) -> None:
        """What the worker would send: the portal notices, by the real send."""
        pending = Delivery.objects.filter(
            notification__customer=self.customer,
            status=Delivery.Status.PENDING,
            channel=Delivery.Channel.PORTAL,
        )
        for delivery_id in pending.values_list("pk", flat=True):
            notifications.delivery_send(delivery_id)
        self.counts["notifications"] = Notification.objects.filter(customer=self.customer).count()


def fill(customer: Customer, *, now: dt.datetime | None = None, seed: int = SEED) -> dict:
    """Play the demo's recent history (see the module). Returns what was made, by kind."""
    now = now or timezone.now()
    history = _History(customer, now, seed)
    billing.payment_record(
        customer=customer,
        amount=ADVANCE,
        reference="demo-advance",
        on=timezone.localtime(history.start).date(),
    )
    # Each step commits as it would live: the CDR receivers (a caller who got through) run
    # before the next step's claim.
    history.callbacks()
    history.redials()
    history.integrated_calls()
    history.fictive_campaign()
    history.video_session()
    history.calls()
    history.ingest()
    history.send_notifications()
    return dict(history.counts)
