"""What a customer reads on the forms and the tariff page: labels, channels, help texts and the
confirmation of a switched option (issue 19, "forms and wording")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from portal.billing import services as billing
from tests import factories

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


def field_block(html: str, name: str) -> str:
    """The <div class="field ..."> that holds the input `name`."""
    for block in re.findall(r'<div class="field[^"]*">.*?</div>', html, re.S):
        if f'name="{name}"' in block:
            return block
    raise AssertionError(f"no field {name}")


def test_the_channels_sit_indented_under_the_callback_flag(admin_client, customer):
    dept = factories.department(customer, "Продажи", notify_callback=True)
    html = admin_client.get(f"/departments/{dept.pk}/").content.decode()
    assert 'class="field checkbox"' in field_block(html, "notify_callback")
    for name in ("notify_email", "notify_sms", "notify_portal", "notify_webhook"):
        assert re.search(r'class="field checkbox nested"', field_block(html, name)), name
    assert "nested" in field_block(html, "notification_emails")
    assert "nested" not in field_block(html, "name")


def test_help_text_is_under_its_textarea_and_labels_have_no_colon(admin_client, customer):
    dept = factories.department(customer, "Продажи")
    html = admin_client.get(f"/departments/{dept.pk}/").content.decode()
    block = field_block(html, "notification_emails")
    assert block.index("</textarea>") < block.index('class="help muted small"')
    assert 'aria-describedby="id_notification_emails_helptext"' in block
    assert 'id="id_notification_emails_helptext"' in block
    assert ":</label>" not in html
    assert ">Адреса e-mail для оповещений</label>" in block


def test_the_department_list_names_its_channels_with_commas(admin_client, customer):
    factories.department(
        customer, "Продажи", notify_callback=True, notify_email=True, notify_portal=True
    )
    html = admin_client.get("/departments/").content.decode()
    assert "e-mail, портал" in html
    assert "e-mail портал" not in html


def test_the_integrated_number_page_is_russian(admin_client, customer):
    html = admin_client.get("/pbx/integrated/").content.decode()
    assert ">Номера</label>" in html
    assert "Numbers" not in html


def test_no_template_uses_djangos_label_tag_any_more():
    templates = [*ROOT.glob("templates/**/*.html"), *ROOT.glob("portal/*/templates/**/*.html")]
    assert len(templates) > 30
    assert [str(t) for t in templates if "label_tag" in t.read_text()] == []


def test_a_switched_option_is_confirmed_with_or_without_javascript(admin_client, customer):
    billing.option_set(customer=customer, code="caller_id", enabled=True)
    response = admin_client.post(
        "/pbx/tariff/options/",
        {"code": "caller_id", "enabled": "off"},
        HTTP_ACCEPT="application/json",
    )
    assert response.json()["message"] == "Опция «АОН» отключена."
    response = admin_client.post("/pbx/tariff/options/", {"code": "caller_id", "enabled": "on"})
    page = admin_client.get(response["Location"]).content.decode()
    assert "Опция «АОН» подключена." in page
    # The page has the place where the script shows the confirmation.
    assert 'id="option-status" role="status"' in page
