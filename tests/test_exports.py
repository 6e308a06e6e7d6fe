"""Exports for finance: CDRs with their rating, ledger entries and monthly totals, as CSV and
XLSX, opened and parsed back with totals equal to the ledger; started from the portal (a task,
progress, a link) and the API; one customer never sees or exports another's data."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.test import Client
from openpyxl import load_workbook

from portal.billing.models import LedgerEntry
from portal.billing.rating import calls_rate
from portal.billing.services import accrue_customer_day, payment_record
from portal.exports import services
from portal.exports.models import Export
from portal.exports.queries import Filters
from portal.tenants.models import ApiToken
from tests import factories
from tests.test_rating import T0, call, deck_for, rate

OCTOBER = Filters(date_from=dt.date(2026, 10, 1), date_to=dt.date(2026, 10, 31))


@pytest.fixture(autouse=True)
def exports_dir(settings, tmp_path):
    settings.EXPORTS_DIR = tmp_path / "exports"
    return settings.EXPORTS_DIR


@pytest.fixture
def world(db):
    """Two customers with calls, a rating, accruals and a payment in October 2026."""
    a = factories.customer(name="Альфа", activated_on=dt.date(2026, 10, 1))
    b = factories.customer(name="Бета", activated_on=dt.date(2026, 10, 1))
    deck = deck_for(a.tariff)
    rate(deck, "7495", "2.00", inc="1/1", fee="0.10")
    rate(deck, "44", "9.00")
    emp = factories.employee(a)
    calls = {
        "a": [
            call(a, "+74951234567", 61, variables={"pbx_employee": str(emp.pk)}),
            call(a, "+442071234567", 30, at=T0 + dt.timedelta(days=1)),
            call(a, "+74957654321", 0, at=T0 + dt.timedelta(days=2)),  # unanswered
            call(a, "+74957654321", 45, at=T0 + dt.timedelta(days=3), direction="inbound"),
            call(a, "+74951111111", 10, at=T0 + dt.timedelta(days=40)),  # November
        ],
        "b": [call(b, "+74959999999", 120), call(b, "+74958888888", 7)],
    }
    calls_rate()
    for cust in (a, b):
        for day in (1, 2, 3):
            accrue_customer_day(cust, dt.date(2026, 10, day))
    payment_record(customer=a, amount=Decimal("500"), reference="pp-1", on=dt.date(2026, 10, 4))
    return {"a": a, "b": b, "emp": emp, "calls": calls}


def run(customer, kind, fmt, filters=OCTOBER, user=None) -> Export:
    export = services.export_request(
        customer=customer, user=user, kind=kind, format=fmt, filters=filters
    )
    services.export_run(export.pk)
    export.refresh_from_db()
    assert export.status == Export.Status.DONE, export.error
    return export


def read_csv(export) -> list[list[str]]:
    text = services.export_path(export).read_text(encoding="utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def read_xlsx(export) -> list[list]:
    book = load_workbook(services.export_path(export), read_only=True)
    return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]


def ledger_sum(customer, *, category=None, month=(dt.date(2026, 10, 1), dt.date(2026, 10, 31))):
    total = Decimal("0")
    entries = LedgerEntry.objects.filter(
        customer=customer, period_start__gte=month[0], period_start__lte=month[1]
    )
    if category:
        entries = entries.filter(category=category)
    for e in entries:
        total += e.amount if e.kind == "charge" else -e.amount
    return total


def money(value) -> Decimal:
    return Decimal(str(value or "0")).quantize(Decimal("0.01"))


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_cdr_export_carries_the_rating_and_sums_to_the_ledger(world, fmt):
    export = run(world["a"], "cdrs", fmt)
    rows = read_csv(export) if fmt == "csv" else read_xlsx(export)
    header, data = rows[0], rows[1:]
    assert header[0] == "Начало" and header[-3] == "Сумма"
    assert len(data) == 4 == export.rows_total  # October only, every direction
    by_uuid = {row[-1]: row for row in data}
    first = by_uuid[world["calls"]["a"][0].uuid]
    # 61 s per second at 2.00 + 0.10 fee = 2.13; the employee's name; answered; the prefix
    assert money(first[12]) == Decimal("2.13")
    assert first[4] == world["emp"].name and first[7] == "отвечен" and first[9] == "7495"
    assert str(first[10]) == "61"
    assert first[0] == "2026-10-05 12:00:00"  # the customer's local time
    assert sum(money(row[12]) for row in data) == ledger_sum(world["a"], category="calls")
    assert not {c.uuid for c in world["calls"]["b"]} & set(by_uuid)


def test_cdr_filters_number_employee_direction_status(world):
    a, calls = world["a"], world["calls"]["a"]

    def uuids(**kw):
        filters = Filters(date_from=OCTOBER.date_from, date_to=OCTOBER.date_to, **kw)
        export = run(a, "cdrs", "csv", filters)
        return {row[-1] for row in read_csv(export)[1:]}

    assert uuids(number="44207") == {calls[1].uuid}
    assert uuids(employee=world["emp"].pk) == {calls[0].uuid}
    assert uuids(direction="inbound") == {calls[3].uuid}
    assert uuids(status="unanswered") == {calls[2].uuid}
    assert uuids(status="answered", direction="outbound") == {calls[0].uuid, calls[1].uuid}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_ledger_export_nets_to_the_balance_of_the_period(world, fmt):
    export = run(world["a"], "ledger", fmt)
    rows = read_csv(export) if fmt == "csv" else read_xlsx(export)
    data = rows[1:]
    charged = sum(money(row[4]) for row in data)
    paid = sum(money(row[5]) for row in data)
    assert charged - paid == ledger_sum(world["a"])
    assert paid == Decimal("500.00")
    assert {row[2] for row in data} >= {"Тариф", "Звонки", "Платёж"}


def test_month_totals_per_customer_and_for_the_platform(world):
    a, b = world["a"], world["b"]
    mine = read_csv(run(a, "totals", "csv"))
    assert len(mine) == 2  # header + October
    october = mine[1]
    assert october[0] == "2026-10"
    assert money(october[5]) == ledger_sum(a, category="calls")
    assert money(october[6]) == ledger_sum(a) + Decimal("500")  # total charged
    assert money(october[7]) == Decimal("500.00")

    platform = read_xlsx(run(None, "totals", "xlsx"))
    header, data = platform[0], platform[1:]
    assert header[:3] == ["ID клиента", "Клиент", "Месяц"]
    customers = {row[0]: row for row in data}
    assert set(customers) == {a.pk, b.pk, None} or set(customers) == {a.pk, b.pk, ""}
    platform_row = customers.get(None) or customers.get("")
    assert platform_row[1] == "Итого по платформе"
    assert money(platform_row[8]) == ledger_sum(a) + ledger_sum(b) + Decimal("500")


def test_a_platform_cdr_export_names_the_customer_of_each_call(world):
    data = read_csv(run(None, "cdrs", "csv"))[1:]
    assert {row[1] for row in data} == {"Альфа", "Бета"}
    assert len(data) == 6


# --- the portal ------------------------------------------------------------------------------


@pytest.fixture
def admin_client(world):
    client = Client()
    client.force_login(factories.user(world["a"]))
    return client


FORM = {"kind": "cdrs", "format": "csv", "date_from": "2026-10-01", "date_to": "2026-10-31"}


def test_an_admin_starts_an_export_watches_it_and_downloads_it(
    world, admin_client, django_capture_on_commit_callbacks
):
    page = admin_client.get("/pbx/exports/")
    assert page.status_code == 200 and "Сформировать" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/pbx/exports/", FORM)
    assert response.status_code == 302
    export = Export.objects.get(customer=world["a"])
    status = admin_client.get(f"/pbx/exports/{export.token}/status/").json()
    assert status["status"] == "done" and status["progress"] == 100
    assert status["rows_total"] == 4
    download = admin_client.get(status["url"])
    body = b"".join(download.streaming_content).decode("utf-8-sig")
    assert len(list(csv.reader(io.StringIO(body)))) == 5
    assert "cdrs-c" in download["Content-Disposition"]
    listing = admin_client.get("/pbx/exports/").content.decode()
    assert str(export.token) in listing and "<progress" in listing


def test_a_bad_period_is_a_400_with_the_form(world, admin_client):
    response = admin_client.post("/pbx/exports/", {**FORM, "date_to": "2026-09-01"})
    assert response.status_code == 400
    assert "Конец периода раньше начала" in response.content.decode()
    assert not Export.objects.exists()


def test_another_customers_export_is_not_found(world, django_capture_on_commit_callbacks):
    theirs = run(world["b"], "cdrs", "csv")
    intruder = Client()
    intruder.force_login(factories.user(world["a"]))
    assert intruder.get(f"/pbx/exports/{theirs.token}/status/").status_code == 404
    assert intruder.get(f"/pbx/exports/{theirs.token}/download/").status_code == 404
    assert str(theirs.token) not in intruder.get("/pbx/exports/").content.decode()
    # the owner can
    owner = Client()
    owner.force_login(factories.user(world["b"]))
    assert owner.get(f"/pbx/exports/{theirs.token}/download/").status_code == 200


def test_a_customer_cannot_widen_an_export_to_another_customer(
    world, admin_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/pbx/exports/", {**FORM, "customer": world["b"].pk})
    assert response.status_code == 302
    export = Export.objects.get()
    assert export.customer == world["a"] and export.filters["customer"] is None
    uuids = {row[-1] for row in read_csv(export)[1:]}
    assert uuids and not uuids & {c.uuid for c in world["calls"]["b"]}


def test_department_staff_may_look_but_not_export(world):
    client = Client()
    client.force_login(factories.user(world["a"], role="staff"))
    assert client.get("/pbx/exports/").status_code == 200
    assert client.post("/pbx/exports/", FORM).status_code == 403
    assert not Export.objects.exists()


def test_an_export_without_the_csrf_token_is_refused(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(factories.user(world["a"]))
    assert client.post("/pbx/exports/", FORM).status_code == 403
    assert not Export.objects.exists()


def test_platform_exports_are_for_platform_staff_only(world, django_capture_on_commit_callbacks):
    customer_admin = Client()
    customer_admin.force_login(factories.user(world["a"]))
    assert customer_admin.get("/platform/billing/exports/").status_code == 403
    mine = run(world["a"], "cdrs", "csv")
    staff = Client()
    staff.force_login(factories.user(None, is_staff=True))
    # a customer's export is not the platform's
    assert staff.get(f"/platform/billing/exports/{mine.token}/download/").status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        assert staff.post("/platform/billing/exports/", {**FORM, "customer": world["b"].pk}).status_code == 302  # fmt: skip
    export = Export.objects.get(customer__isnull=True)
    body = b"".join(
        staff.get(f"/platform/billing/exports/{export.token}/download/").streaming_content
    )
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))[1:]
    assert {row[1] for row in rows} == {"Бета"}
    assert customer_admin.get(f"/platform/billing/exports/{export.token}/download/").status_code == 403  # fmt: skip


def test_expired_exports_lose_their_file(world):
    export = run(world["a"], "ledger", "csv")
    path = services.export_path(export)
    assert path.exists()
    assert services.exports_expire(now=export.expires_at - dt.timedelta(seconds=1)) == 0
    assert services.exports_expire(now=export.expires_at) == 1
    assert not path.exists()
    export.refresh_from_db()
    assert export.status == Export.Status.EXPIRED


# --- the API ---------------------------------------------------------------------------------


def token_client(customer) -> Client:
    _token, key = ApiToken.issue(customer=customer, name="finance")
    return Client(HTTP_AUTHORIZATION=f"Token {key}")


def test_the_api_starts_an_export_and_serves_its_file(world, django_capture_on_commit_callbacks):
    api = token_client(world["a"])
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/exports/",
            {**FORM, "format": "xlsx", "kind": "ledger"},
            content_type="application/json",
        )
    assert response.status_code == 202, response.content
    token = response.json()["id"]
    detail = api.get(f"/api/v1/exports/{token}/").json()
    assert detail["status"] == "done" and detail["progress"] == 100
    file = api.get(f"/api/v1/exports/{token}/file/")
    assert file.status_code == 200
    book = load_workbook(io.BytesIO(b"".join(file.streaming_content)), read_only=True)
    assert next(book.worksheets[0].iter_rows(values_only=True))[0] == "Дата"
    assert [e["id"] for e in api.get("/api/v1/exports/").json()["results"]] == [token]


def test_the_api_never_shows_another_customers_export(world, django_capture_on_commit_callbacks):
    theirs = run(world["b"], "cdrs", "csv")
    api = token_client(world["a"])
    assert api.get(f"/api/v1/exports/{theirs.token}/").status_code == 404
    assert api.get(f"/api/v1/exports/{theirs.token}/file/").status_code == 404
    assert api.get("/api/v1/exports/").json()["results"] == []
    # nor exports another's employee's calls
    other_emp = factories.employee(world["b"])
    bad = api.post(
        "/api/v1/exports/", {**FORM, "employee": other_emp.pk}, content_type="application/json"
    )
    assert bad.status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        {**FORM, "kind": "passwords"},
        {**FORM, "date_to": "2026-09-01"},
        {**FORM, "date_from": "yesterday"},
        {**FORM, "number": "'; DROP TABLE x"},
        {"kind": "cdrs"},
    ],
)
def test_bad_api_requests_are_400(world, body):
    response = token_client(world["a"]).post(
        "/api/v1/exports/", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert not Export.objects.exists()


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_progress_is_reported_while_the_file_is_written(world, settings, fmt):
    # One update per row: on PostgreSQL the CSV comes from a COPY that keeps the connection
    # busy, so the progress must go another way (it failed the export before).
    settings.EXPORT_PROGRESS_EVERY = 1
    export = run(world["a"], "cdrs", fmt)
    assert export.rows_done == export.rows_total == 4
