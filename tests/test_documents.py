"""Monthly invoice and act per customer: issued once, numbered, rendered as a Russian PDF whose
text is read back; the customer sees their own, the platform sees all of a month."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from pypdf import PdfReader

from portal.billing.management.commands.demo import create_demo_customer
from portal.billing.services import accrue_customer_day
from portal.exports.documents import documents_issue, render_pdf
from portal.exports.models import CustomerDetails, Document
from tests import factories

DEMO_MONTH = dt.date(2026, 10, 1)


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


@pytest.fixture
def demo(db):
    customer = create_demo_customer(month=DEMO_MONTH, tz=ZoneInfo("Europe/Moscow"))
    CustomerDetails.objects.create(
        customer=customer,
        legal_name="ООО «Клиент 1»",
        inn="7701234567",
        kpp="770101001",
        address="г. Москва, ул. Тверская, д. 1",
        contract="№ 17/10 от 17.10.2026",
    )
    return customer


def test_the_demo_month_gives_an_invoice_and_an_act_of_the_seed_total(demo):
    created = documents_issue(month=DEMO_MONTH)
    invoice, act = sorted(created, key=lambda d: d.kind != "invoice")
    assert (invoice.kind, act.kind) == ("invoice", "act")
    assert invoice.total == act.total == Decimal("1052.55")  # seed 001's accrued month
    assert invoice.number == "С-2026-00001" and act.number == "А-2026-00001"
    assert act.issued_on == dt.date(2026, 10, 31)
    assert {line["amount"] for line in invoice.lines} == {"628.95", "130.65", "292.95"}

    text = pdf_text(render_pdf(invoice))
    assert "Счёт на оплату № С-2026-00001" in text
    assert "за октябрь 2026 г." in text
    assert "ООО «Клиент 1», ИНН 7701234567, КПП 770101001" in text
    assert "Абонентская плата по тарифу «Средний»" in text
    assert "1 052,55" in text and "628,95" in text

    text = pdf_text(render_pdf(act))
    assert "Акт оказанных услуг № А-2026-00001 от 31 октября 2026 г." in text
    assert "Исполнитель" in text and "Заказчик: ООО «Клиент 1»" in text
    assert "претензий" in text


def test_documents_are_issued_once_and_numbered_in_sequence(demo):
    other = factories.customer(name="Второй", activated_on=dt.date(2026, 10, 1))
    accrue_customer_day(other, dt.date(2026, 10, 30))
    first = documents_issue(month=DEMO_MONTH)
    assert len(first) == 4
    assert documents_issue(month=DEMO_MONTH) == []
    numbers = sorted(Document.objects.filter(kind="invoice").values_list("number", flat=True))
    assert numbers == ["С-2026-00001", "С-2026-00002"]
    # a customer without charges that month gets none
    assert documents_issue(month=dt.date(2026, 9, 1)) == []


def test_an_issued_document_keeps_its_lines_when_the_ledger_changes(demo):
    [invoice, _act] = documents_issue(month=DEMO_MONTH)
    accrue_customer_day(demo, dt.date(2026, 10, 16))  # a late accrual of a day before joining
    invoice.refresh_from_db()
    assert invoice.total == Decimal("1052.55")


# --- the pages -------------------------------------------------------------------------------


def test_a_customer_downloads_their_documents_and_never_anothers(demo):
    other = factories.customer(name="Чужой", activated_on=dt.date(2026, 10, 1))
    accrue_customer_day(other, dt.date(2026, 10, 30))
    documents_issue(month=DEMO_MONTH)
    mine = Document.objects.get(customer=demo, kind="invoice")
    theirs = Document.objects.get(customer=other, kind="invoice")
    client = Client()
    client.force_login(factories.user(demo, role="staff"))  # looking is for everyone
    page = client.get("/pbx/documents/").content.decode()
    assert mine.number in page and theirs.number not in page
    response = client.get(f"/pbx/documents/{mine.pk}.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert "С-2026-00001" in pdf_text(response.content)
    assert client.get(f"/pbx/documents/{theirs.pk}.pdf").status_code == 404
    api = Client(HTTP_AUTHORIZATION=f"Token {_key(demo)}")
    listed = [d["number"] for d in api.get("/api/v1/documents/").json()["results"]]
    assert listed == ["А-2026-00001", "С-2026-00001"]
    assert api.get(f"/api/v1/documents/{theirs.pk}/pdf/").status_code == 404
    assert api.get(f"/api/v1/documents/{mine.pk}/pdf/").status_code == 200


def _key(customer) -> str:
    from portal.tenants.models import ApiToken

    return ApiToken.issue(customer=customer, name="docs")[1]


def test_the_admin_sets_the_details_printed_on_documents(db):
    customer = factories.customer(name="Гамма")
    admin = Client()
    admin.force_login(factories.user(customer))
    bad = admin.post("/pbx/documents/", {"legal_name": "ООО «Гамма»", "inn": "12345"})
    assert bad.status_code == 400
    good = admin.post(
        "/pbx/documents/", {"legal_name": "ООО «Гамма»", "inn": "7712345678", "kpp": ""}
    )
    assert good.status_code == 302
    assert CustomerDetails.objects.get(customer=customer).inn == "7712345678"
    staff = Client()
    staff.force_login(factories.user(customer, role="staff"))
    assert staff.post("/pbx/documents/", {"legal_name": "x"}).status_code == 403
    csrf = Client(enforce_csrf_checks=True)
    csrf.force_login(factories.user(customer))
    assert csrf.post("/pbx/documents/", {"legal_name": "y"}).status_code == 403
    assert CustomerDetails.objects.get(customer=customer).legal_name == "ООО «Гамма»"


def test_the_platform_lists_and_issues_the_documents_of_a_month(demo):
    staff = Client()
    staff.force_login(factories.user(None, is_staff=True))
    page = staff.get("/platform/billing/documents/?month=2026-10")
    assert page.status_code == 200 and "За этот месяц документов нет" in page.content.decode()
    assert staff.post("/platform/billing/documents/", {"month": "2026-10"}).status_code == 302
    page = staff.get("/platform/billing/documents/?month=2026-10").content.decode()
    assert "С-2026-00001" in page and "А-2026-00001" in page and "Клиент 1" in page
    doc = Document.objects.get(kind="act")
    assert staff.get(f"/platform/billing/documents/{doc.pk}.pdf").status_code == 200
    assert staff.get("/platform/billing/documents/?month=2026-13").status_code == 400

    customer_admin = Client()
    customer_admin.force_login(factories.user(demo))
    assert customer_admin.get("/platform/billing/documents/?month=2026-10").status_code == 403
    assert customer_admin.get(f"/platform/billing/documents/{doc.pk}.pdf").status_code == 403
    csrf = Client(enforce_csrf_checks=True)
    csrf.force_login(factories.user(None, is_staff=True, username="ops2"))
    assert csrf.post("/platform/billing/documents/", {"month": "2026-11"}).status_code == 403
