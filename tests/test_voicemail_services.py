"""Voicemail services on the database: boxes, a message filed from FreeSWITCH's RECORD_STOP
(quota, e-mail with the audio, portal notice), the dialplan loads, tenant isolation."""

from __future__ import annotations

import datetime as dt
import wave
from pathlib import Path

import pytest
from django.core import mail

from portal.billing.models import Option
from portal.billing.selectors import tariff_page
from portal.billing.services import option_set
from portal.calls.models import Recording
from portal.notifications.models import PortalNotice
from portal.switch.xmldata import customer_dialplan_xml, public_dialplan_xml
from portal.voicemail import selectors, services
from portal.voicemail.models import Mailbox, Message
from tests import factories

UUID = "0b7a4e0e-5a8f-4a52-9d1e-0c1f2a3b4c5d"


def write_wav(path: Path, seconds: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x10\x00" * int(8000 * seconds))
    return path


@pytest.fixture
def recordings_dir(settings, tmp_path):
    settings.RECORDINGS_DIR = tmp_path / "rec"
    settings.PROMPTS_DIR = tmp_path / "prompts"
    settings.RECORDINGS_DIR.mkdir()
    return settings.RECORDINGS_DIR


@pytest.fixture
def setup(customer, recordings_dir):
    dept = factories.department(customer, name="Продажи")
    emp = factories.employee(customer, dept, extension="101")
    box = services.mailbox_save(
        customer=customer,
        box=Mailbox(customer=customer, employee=emp, email="ivan@example.com"),
        pin="1234",
    )
    return dept, emp, box


def message_file(recordings_dir, customer, box, seconds=3.0, uuid=UUID):
    return write_wav(
        recordings_dir / f"c{customer.pk}" / "vm" / f"b{box.pk}" / f"{uuid}.wav", seconds
    )


def test_a_closed_message_is_filed_counted_against_the_quota_and_mailed_with_its_audio(
    customer, admin_user, setup, recordings_dir, django_capture_on_commit_callbacks
):
    _dept, _emp, box = setup
    path = message_file(recordings_dir, customer, box)
    with django_capture_on_commit_callbacks(execute=True):
        message = services.message_recorded(
            path=str(path), caller_number="+74957654321", customer_tag=customer.pk
        )
    assert message is not None and message.mailbox == box and message.duration_seconds == 3
    assert message.caller_number == "+74957654321"
    recording = Recording.objects.get(path=str(path))
    assert recording.customer == customer and recording.size_bytes == path.stat().st_size
    assert (
        tariff_page(customer=customer, month=dt.date.today().replace(day=1)).storage_used_bytes
        >= path.stat().st_size
    )
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["ivan@example.com"] and "+74957654321" in sent.subject
    assert sent.attachments[0][2] == "audio/wav"
    assert sent.attachments[0][1] == path.read_bytes()
    assert PortalNotice.objects.filter(user=admin_user).count() == 1
    # the same RECORD_STOP again files nothing new and sends nothing
    with django_capture_on_commit_callbacks(execute=True):
        again = services.message_recorded(path=str(path), customer_tag=customer.pk)
    assert again.pk == message.pk and Message.objects.count() == 1 and len(mail.outbox) == 1


def test_a_message_shorter_than_a_second_is_dropped_with_its_file(customer, setup, recordings_dir):
    _dept, _emp, box = setup
    path = message_file(recordings_dir, customer, box, seconds=0.2)
    assert services.message_recorded(path=str(path), customer_tag=customer.pk) is None
    assert not path.exists() and not Message.objects.exists()


def test_a_file_of_another_customers_box_or_outside_the_folder_is_not_filed(
    customer, other_customer, setup, recordings_dir, tmp_path
):
    _dept, _emp, box = setup
    # the path names our box but the other customer's folder
    forged = write_wav(
        recordings_dir / f"c{other_customer.pk}" / "vm" / f"b{box.pk}" / f"{UUID}.wav", 2
    )
    assert services.message_recorded(path=str(forged)) is None
    # the tag says another customer
    path = message_file(recordings_dir, customer, box)
    assert services.message_recorded(path=str(path), customer_tag=other_customer.pk) is None
    # outside the recordings folder, or climbing out of it
    outside = write_wav(tmp_path / f"c{customer.pk}" / "vm" / f"b{box.pk}" / f"{UUID}.wav", 2)
    assert services.message_recorded(path=str(outside)) is None
    sneaky = str(
        recordings_dir
        / f"c{customer.pk}"
        / "vm"
        / ".."
        / ".."
        / ".."
        / outside.relative_to(tmp_path)
    )
    assert services.message_recorded(path=sneaky) is None
    assert not Message.objects.exists()


def test_deleting_a_message_frees_its_quota_and_removes_the_file(customer, setup, recordings_dir):
    _dept, _emp, box = setup
    path = message_file(recordings_dir, customer, box)
    message = services.message_recorded(path=str(path), customer_tag=customer.pk)
    services.message_delete(customer=customer, message=message)
    assert not path.exists() and not Recording.objects.exists() and not Message.objects.exists()


def test_another_customer_cannot_touch_a_message(customer, other_customer, setup, recordings_dir):
    _dept, _emp, box = setup
    message = services.message_recorded(
        path=str(message_file(recordings_dir, customer, box)), customer_tag=customer.pk
    )
    with pytest.raises(services.VoicemailError):
        services.message_delete(customer=other_customer, message=message)
    with pytest.raises(services.VoicemailError):
        services.message_mark_heard(customer=other_customer, message=message)
    assert Message.objects.filter(heard_at__isnull=True).count() == 1


def test_the_pin_is_stored_hashed_and_checked(customer, setup):
    _dept, _emp, box = setup
    box.refresh_from_db()
    assert "1234" not in box.pin_hash
    assert services.pin_matches(box, "1234") and not services.pin_matches(box, "4321")


def test_a_box_for_another_customers_employee_is_refused(customer, other_customer):
    stranger = factories.employee(other_customer, extension="101")
    with pytest.raises(services.VoicemailError):
        services.mailbox_save(customer=customer, box=Mailbox(customer=customer, employee=stranger))


def test_the_dialplan_sends_a_missed_internal_call_to_the_box_only_with_the_option_on(
    customer, setup
):
    _dept, emp, box = setup
    assert "record_session" not in customer_dialplan_xml(customer.pk, "101")
    option_set(customer=customer, code=Option.VOICEMAIL, enabled=True)
    xml = customer_dialplan_xml(customer.pk, "101")
    assert f"/vm/b{box.pk}/" in xml and "continue_on_fail=true" in xml
    Mailbox.objects.filter(pk=box.pk).update(enabled=False)
    assert "record_session" not in customer_dialplan_xml(customer.pk, "101")


def test_a_regular_number_reaches_the_department_box(customer, setup):
    dept, _emp, _box = setup
    dbox = services.mailbox_save(customer=customer, box=Mailbox(customer=customer, department=dept))
    factories.number(customer, "+74951112233", kind="regular", department=dept)
    option_set(customer=customer, code=Option.VOICEMAIL, enabled=True)
    xml = public_dialplan_xml("+74951112233")
    assert f"/vm/b{dbox.pk}/" in xml


def test_box_for_menu_is_none_for_another_customer_or_with_the_option_off(
    customer, other_customer, setup
):
    _dept, _emp, box = setup
    assert selectors.box_for_menu(customer.pk, box.pk) is None  # option off
    option_set(customer=customer, code=Option.VOICEMAIL, enabled=True)
    assert selectors.box_for_menu(customer.pk, box.pk).id == box.pk
    assert selectors.box_for_menu(other_customer.pk, box.pk) is None


def test_a_generated_greeting_is_played_before_the_beep(customer, setup):
    _dept, _emp, box = setup
    box = services.greeting_generate(customer=customer, box=box, text="Оставьте сообщение")
    path = Path(selectors.greeting_path(box))
    assert path.is_file() and path.stat().st_size > 1000
    option_set(customer=customer, code=Option.VOICEMAIL, enabled=True)
    xml = customer_dialplan_xml(customer.pk, "101")
    assert f'data="{path}"' in xml


def test_a_phone_opens_only_its_own_enabled_box(customer, other_customer, setup):
    _dept, emp, box = setup
    assert services.box_for_phone(customer_id=customer.pk, employee_id=emp.pk) == box
    assert services.box_for_phone(customer_id=other_customer.pk, employee_id=emp.pk) is None
    Mailbox.objects.filter(pk=box.pk).update(enabled=False)
    assert services.box_for_phone(customer_id=customer.pk, employee_id=emp.pk) is None


def test_star_97_is_served_with_the_option_on(customer, setup):
    assert "voicemail_check" not in customer_dialplan_xml(customer.pk, "*97")
    option_set(customer=customer, code=Option.VOICEMAIL, enabled=True)
    assert "pbx_flow=voicemail_check" in customer_dialplan_xml(customer.pk, "*97")
