"""The finance exports, documents and rate-deck import speak English when the user asks for
it: the Russian msgids have their English in portal/exports/locale."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import translation

from portal.billing.models import RateDeck, Tariff
from portal.billing.ratedeck import RateDeckImportError, rate_deck_import
from tests import factories
from tests.test_rating_import import HEADER


@pytest.fixture(autouse=True)
def exports_dir(settings, tmp_path):
    settings.EXPORTS_DIR = tmp_path / "exports"
    return settings.EXPORTS_DIR


@pytest.fixture
def admin_client(db):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(factories.user(factories.customer()))
    return client


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_the_exports_page_is_in_english(admin_client):
    html = page(admin_client, "/pbx/exports/")
    for english in [
        "Finance exports",
        "Invoices and acts",
        "What to export",
        "Rated calls",
        "Monthly totals",
        "Create",
        "No exports yet.",
        "Exports and documents",
    ]:
        assert english in html, english
    for russian in [
        "Выгрузки для бухгалтерии",
        "Счета и акты",
        "Сформировать",
        "Звонки с тарификацией",
        "Выгрузок пока нет",
        "Выгрузки и документы",
    ]:
        assert russian not in html, russian


def test_the_documents_page_is_in_english(admin_client):
    html = page(admin_client, "/pbx/documents/")
    for english in [
        "Invoices and acts",
        "Company details for documents",
        "No documents yet",
        "Finance exports",
    ]:
        assert english in html, english
    for russian in [
        "Счета и акты",
        "Реквизиты для документов",
        "Документов пока нет",
        "Выгрузки для бухгалтерии",
    ]:
        assert russian not in html, russian


def test_a_rate_deck_import_error_is_in_english(db):
    from portal.billing import catalog

    catalog.ensure()
    deck = RateDeck.objects.create(tariff=Tariff.objects.get(name="Средний"), name="Средний")
    data = HEADER + "7812;СПб;-0.50;60/0;0;0;maybe;2026-13-01;\n"
    with translation.override("en"), pytest.raises(RateDeckImportError) as caught:
        rate_deck_import(deck=deck, data=data)
    text = "\n".join(f"{line}: {message}" for line, message in caught.value.errors)
    assert "2: minute price cannot be negative: -0.50" in text
    assert "2: increment “60/0”" in text
    assert "2: included “maybe”: 1 or 0" in text
    assert "2: start date “2026-13-01”: YYYY-MM-DD needed" in text
    assert "не" not in text
