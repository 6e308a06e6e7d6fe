"""The queue's "press 1" offer: the customer's own recording and language reach mod_callcenter."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from pbx.render import Queue, RenderSettings, render_callcenter_config
from portal.billing import services as billing
from portal.prompts import services as prompt_services
from portal.prompts.models import CustomPrompt
from portal.switch import xmldata
from portal.switch.models import ConfigChange
from portal.switch.services import push_commands_for
from tests import factories


def announce_sounds(xml: str) -> dict[str, str | None]:
    root = ET.fromstring(xml)
    out = {}
    for queue in root.iter("queue"):
        params = {p.get("name"): p.get("value") for p in queue.iter("param")}
        out[queue.get("name")] = params.get("announce-sound")
    return out


def test_the_queue_announces_the_file_the_portal_chose():
    chosen = "/srv/prompts/customers/12/kk/callback_offer-0a1b2c.wav"
    xml = render_callcenter_config(
        [Queue(12, 34, callback=True, language="kk", offer_sound=chosen)],
        settings=RenderSettings(),
    )
    assert announce_sounds(xml)["c12_d34@default"] == chosen
    assert announce_sounds(xml)["c12_d34_plain@default"] is None


@pytest.mark.parametrize("bad", ["relative/offer.wav", "/p/../etc/passwd", "/p/a b.wav", "/p/$x"])
def test_an_unsafe_offer_path_falls_back_to_the_generated_prompt(bad):
    xml = render_callcenter_config(
        [Queue(12, 34, callback=True, language="en", offer_sound=bad)], settings=RenderSettings()
    )
    assert announce_sounds(xml)["c12_d34@default"] == "$${pbx_sounds_dir}/en/callback_offer.wav"


@pytest.fixture
def prompts_dir(settings, tmp_path):
    settings.PROMPTS_DIR = tmp_path
    return tmp_path


def office(language: str, number: str = "+74957770001"):
    customer = factories.customer(language=language)
    dept = factories.department(customer)
    factories.employee(customer, dept, extension="101")
    factories.number(customer, number, kind="multichannel", department=dept)
    billing.option_set(customer=customer, code="callback", enabled=True)
    return customer, dept


@pytest.mark.django_db
def test_the_offer_is_in_the_customers_language_and_their_own_recording_wins(prompts_dir):
    kazakh, kdept = office("kk")
    czech, cdept = office("cs", "+74957770002")
    (prompts_dir / "kk").mkdir()
    (prompts_dir / "kk" / "callback_offer.wav").write_bytes(b"RIFF")
    own = prompts_dir / "customers" / str(czech.pk) / "cs" / "callback_offer-0a1b2c.wav"
    own.parent.mkdir(parents=True)
    own.write_bytes(b"RIFF")
    CustomPrompt.objects.create(
        customer=czech,
        key="callback_offer",
        language="cs",
        file_path=str(own.relative_to(prompts_dir)),
        size_bytes=4,
        duration_ms=1000,
    )
    sounds = announce_sounds(xmldata.configuration_xml("callcenter.conf"))
    assert sounds[f"c{kazakh.pk}_d{kdept.pk}@default"] == str(prompts_dir / "kk/callback_offer.wav")
    assert sounds[f"c{czech.pk}_d{cdept.pk}@default"] == str(own)


@pytest.mark.django_db(transaction=True)
def test_replacing_the_offer_recording_reloads_the_customers_queues(prompts_dir):
    customer, dept = office("ru")
    own = prompts_dir / "customers" / str(customer.pk) / "ru" / "callback_offer-0a1b2c.wav"
    own.parent.mkdir(parents=True)
    own.write_bytes(b"RIFF")
    CustomPrompt.objects.create(
        customer=customer,
        key="callback_offer",
        language="ru",
        file_path=str(own.relative_to(prompts_dir)),
        size_bytes=4,
        duration_ms=1000,
    )
    before = ConfigChange.objects.count()
    assert prompt_services.custom_prompt_delete(
        customer=customer, key="callback_offer", language="ru"
    )
    changes = list(ConfigChange.objects.all()[before:])
    assert [(c.customer_id, c.what) for c in changes] == [(customer.pk, "customer")]
    assert f"callcenter_config queue reload c{customer.pk}_d{dept.pk}@default" in (
        push_commands_for(changes)
    )
    # Prompts the flows choose per call need no reload.
    CustomPrompt.objects.create(
        customer=customer,
        key="callback_confirmed",
        language="ru",
        file_path="customers/x.wav",
        size_bytes=4,
        duration_ms=1000,
    )
    before = ConfigChange.objects.count()
    prompt_services.custom_prompt_delete(customer=customer, key="callback_confirmed", language="ru")
    assert ConfigChange.objects.count() == before
