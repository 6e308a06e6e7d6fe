"""Monthly documents: an invoice ("счёт") and an act ("акт") per customer, as PDF, in Russian.

`documents_issue(month=...)` issues both for every customer with charges in that month, once
(unique per customer, kind and month), numbered per kind and year under a row lock
(С-2026-00001, А-2026-00001). The lines are the month's charges per category, net of
corrections, frozen at issue. The PDF is drawn on request from the stored row (fpdf2, the
DejaVu Sans font for Cyrillic: Debian's fonts-dejavu-core).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.billing.models import LedgerEntry
from portal.billing.selectors import month_bounds
from portal.exports import queries
from portal.exports.models import CustomerDetails, Document, DocumentCounter
from portal.tenants.models import Customer

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
PREFIX = {Document.Kind.INVOICE: "С", Document.Kind.ACT: "А"}
MONTHS = [
    "январь", "февраль", "март", "апрель", "май", "июнь",
    "июль", "август", "сентябрь", "октябрь", "ноябрь", "декабрь",
]  # fmt: skip
MONTHS_GENITIVE = [
    "января", "февраля", "марта", "апреля", "мая", "июня",
    "июля", "августа", "сентября", "октября", "ноября", "декабря",
]  # fmt: skip
LINE_NAMES = {
    LedgerEntry.Category.TARIFF: "Абонентская плата по тарифу «{tariff}»",
    LedgerEntry.Category.EXTRA_MULTICHANNEL_NUMBERS: "Дополнительные многоканальные номера",
    LedgerEntry.Category.EXTRA_NUMBERS: "Дополнительные номера",
    LedgerEntry.Category.EXTRA_SERVICES: "Дополнительные услуги и опции",
    LedgerEntry.Category.CALLS: "Исходящие звонки",
}
DEFAULT_SELLER = {
    "name": "ООО «Облачная АТС»",
    "inn": "7700000000",
    "kpp": "770001001",
    "address": "г. Москва",
    "bank": "",
    "bik": "",
    "account": "",
    "corr_account": "",
}


def seller() -> dict:
    return {**DEFAULT_SELLER, **getattr(settings, "BILLING_SELLER", {})}


def buyer(customer: Customer) -> dict:
    details = CustomerDetails.objects.filter(customer=customer).first()
    if details is None:
        return {"name": customer.name, "inn": "", "kpp": "", "address": "", "contract": ""}
    return {
        "name": details.legal_name or customer.name,
        "inn": details.inn,
        "kpp": details.kpp,
        "address": details.address,
        "contract": details.contract,
    }


def month_lines(customer: Customer, month: dt.date) -> list[dict]:
    first, last = month_bounds(month)
    filters = queries.Filters(date_from=first, date_to=last)
    cells = queries.month_totals(customer, filters)
    lines = []
    for cell in cells:
        for category, amount in cell["charges"].items():
            if amount > 0:
                name = LINE_NAMES[LedgerEntry.Category(category)].format(
                    tariff=customer.tariff.name
                )
                lines.append({"name": name, "category": category, "amount": str(amount)})
    return lines


def _next_number(kind: str, year: int) -> int:
    counter, _ = DocumentCounter.objects.get_or_create(kind=kind, year=year)
    counter = DocumentCounter.objects.select_for_update().get(pk=counter.pk)
    counter.last += 1
    counter.save(update_fields=["last"])
    return counter.last


def documents_issue(*, month: dt.date, customer: Customer | None = None) -> list[Document]:
    """Issue the invoice and the act of `month` for each customer with charges (or one
    customer). Safe to run again: what exists is kept. Returns the documents created."""
    first, last = month_bounds(month)
    customers = Customer.objects.filter(
        ledger__kind=LedgerEntry.Kind.CHARGE,
        ledger__period_start__gte=first,
        ledger__period_start__lte=last,
    ).distinct()
    if customer is not None:
        customers = customers.filter(pk=customer.pk)
    created = []
    today = timezone.localdate()
    issued_on = min(today, last) if today >= first else first
    for cust in customers.select_related("tariff").order_by("id"):
        lines = month_lines(cust, first)
        if not lines:
            continue
        total = sum((Decimal(line["amount"]) for line in lines), Decimal("0"))
        for kind in (Document.Kind.INVOICE, Document.Kind.ACT):
            if Document.objects.filter(customer=cust, kind=kind, month=first).exists():
                continue
            try:
                with transaction.atomic():
                    seq = _next_number(kind, first.year)
                    created.append(
                        Document.objects.create(
                            customer=cust,
                            kind=kind,
                            month=first,
                            year=first.year,
                            seq=seq,
                            number=f"{PREFIX[kind]}-{first.year}-{seq:05d}",
                            issued_on=issued_on if kind == Document.Kind.INVOICE else last,
                            total=total,
                            currency=cust.currency,
                            lines=lines,
                            buyer=buyer(cust),
                            seller=seller(),
                        )
                    )
            except IntegrityError:
                continue  # issued meanwhile by another run
    return created


def documents_issue_previous_month() -> int:
    """The monthly schedule: documents of the month that just ended."""
    today = timezone.localdate()
    previous = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    return len(documents_issue(month=previous))


# --- PDF -------------------------------------------------------------------------------------


def money(value: Decimal | str) -> str:
    text = f"{Decimal(value):,.2f}"
    return text.replace(",", " ").replace(".", ",")


def ru_date(day: dt.date) -> str:
    return f"{day.day} {MONTHS_GENITIVE[day.month - 1]} {day.year} г."


def render_pdf(document: Document) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_margins(15, 15, 15)
    pdf.add_page()
    pdf.add_font("DejaVu", "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    is_invoice = document.kind == Document.Kind.INVOICE
    s, b = document.seller, document.buyer
    width = pdf.epw

    def text(line: str, size: int = 10, style: str = "", height: float = 5.5) -> None:
        pdf.set_font("DejaVu", style, size)
        pdf.multi_cell(width, height, line, new_x="LMARGIN", new_y="NEXT")

    if is_invoice and (s.get("bank") or s.get("account")):
        text(f"Банк получателя: {s.get('bank', '')}, БИК {s.get('bik', '')}", 9)
        text(f"Сч. № {s.get('account', '')}, корр. сч. {s.get('corr_account', '')}", 9)
        pdf.ln(2)
    title = "Счёт на оплату" if is_invoice else "Акт оказанных услуг"
    text(f"{title} № {document.number} от {ru_date(document.issued_on)}", 14, "B", 8)
    period = f"{MONTHS[document.month.month - 1]} {document.month.year} г."
    text(f"за {period}", 10)
    pdf.ln(3)
    role_seller = "Поставщик" if is_invoice else "Исполнитель"
    role_buyer = "Покупатель" if is_invoice else "Заказчик"
    text(f"{role_seller}: {s['name']}, ИНН {s['inn']}, КПП {s['kpp']}, {s['address']}".rstrip(", "))
    buyer_line = f"{role_buyer}: {b['name']}"
    if b.get("inn"):
        buyer_line += f", ИНН {b['inn']}"
    if b.get("kpp"):
        buyer_line += f", КПП {b['kpp']}"
    if b.get("address"):
        buyer_line += f", {b['address']}"
    text(buyer_line)
    if b.get("contract"):
        text(f"Основание: договор {b['contract']}")
    pdf.ln(3)

    pdf.set_font("DejaVu", "B", 9)
    columns = [("№", 10), ("Наименование услуги", width - 10 - 20 - 15 - 30), ("Кол-во", 20)]
    columns += [("Ед.", 15), (f"Сумма, {_currency(document.currency)}", 30)]
    for name, w in columns:
        pdf.cell(w, 7, name, border=1, align="C")
    pdf.ln()
    pdf.set_font("DejaVu", "", 9)
    for n, line in enumerate(document.lines, start=1):
        cells = [str(n), line["name"], "1", "усл.", money(line["amount"])]
        aligns = ["C", "L", "C", "C", "R"]
        for (_name, w), value, align in zip(columns, cells, aligns, strict=True):
            pdf.cell(w, 7, value, border=1, align=align)
        pdf.ln()
    pdf.set_font("DejaVu", "B", 10)
    pdf.cell(width - 30, 7, "Итого:", align="R")
    pdf.cell(30, 7, money(document.total), align="R")
    pdf.ln()
    pdf.cell(width - 30, 7, "Без налога (НДС):", align="R")
    pdf.cell(30, 7, "—", align="R")
    pdf.ln(10)
    text(
        f"Всего оказано услуг {len(document.lines)}, на сумму {money(document.total)} "
        f"{_currency(document.currency)}"
    )
    if is_invoice:
        text(f"Оплатить до {ru_date(document.issued_on + dt.timedelta(days=10))}.", 9)
    else:
        text(
            "Вышеперечисленные услуги оказаны полностью и в срок. Заказчик претензий "
            "по объёму, качеству и срокам оказания услуг не имеет.",
            9,
        )
    pdf.ln(12)
    pdf.set_font("DejaVu", "", 10)
    pdf.cell(width / 2, 6, f"{role_seller} ____________________")
    if not is_invoice:
        pdf.cell(width / 2, 6, f"{role_buyer} ____________________")
    return bytes(pdf.output())


def _currency(code: str) -> str:
    return "руб." if code == "RUB" else code
