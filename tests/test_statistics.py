"""Statistics: each chart's numbers from known rows (selectors), the page (charts and the
tables beside them, period picker, tenant isolation) and the API."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from portal.callbacks.models import CallbackRequest
from portal.calls.models import CallRecord
from portal.fictive.models import FictiveCall
from portal.redial.models import RedialRequest
from portal.statistics import selectors
from portal.statistics.forms import preset_dates
from portal.tenants.models import ApiToken
from tests import factories

MSK = ZoneInfo("Europe/Moscow")
PERIOD = ("2026-10-05", "2026-10-07")
_uuid = iter(range(10**6))


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 10, day, hour, minute, tzinfo=MSK)


def call(customer, start, direction, *, billsec, duration, caller="", callee="", **tags):
    return CallRecord.objects.create(
        customer=customer,
        uuid=f"stat-{next(_uuid)}",
        direction=direction,
        caller_number=caller,
        callee_number=callee,
        started_at=start,
        answered_at=start + dt.timedelta(seconds=duration - billsec) if billsec else None,
        ended_at=start + dt.timedelta(seconds=duration),
        duration_seconds=duration,
        billsec=billsec,
        hangup_cause="NORMAL_CLEARING",
        variables={k: str(v) for k, v in tags.items()},
    )


@pytest.fixture
def known(customer, other_customer):
    """Four calls on 5 October (Moscow), one at 00:30 on the 6th (still the 5th in UTC), one on
    the 8th (outside the period), and another customer's call on the 5th."""
    sales = factories.department(customer, "Продажи")
    support = factories.department(customer, "Поддержка")
    theirs = factories.department(other_customer, "Их отдел")
    call(
        customer,
        local(5, 9, 30),
        "inbound",
        billsec=60,
        duration=75,
        caller="+79160000001",
        callee="+74951110000",
        pbx_department=sales.pk,
    )
    call(
        customer,
        local(5, 9, 45),
        "inbound",
        billsec=0,
        duration=20,
        caller="+79160000001",
        callee="+74951110000",
        pbx_department=sales.pk,
    )
    call(
        customer,
        local(5, 9, 50),
        "inbound",
        billsec=90,
        duration=115,
        caller="+79160000003",
        callee="+74951110000",
        pbx_department=sales.pk,
    )
    call(
        customer,
        local(5, 23, 30),
        "outbound",
        billsec=120,
        duration=130,
        caller="101",
        callee="+74950000002",
        pbx_department=support.pk,
    )
    call(
        customer,
        local(6, 0, 30),
        "internal",
        billsec=30,
        duration=35,
        caller="101",
        callee="102",
        pbx_department=theirs.pk,
    )  # not a department of theirs
    call(customer, local(8, 12), "inbound", billsec=10, duration=12, caller="+79169999999")
    call(
        other_customer,
        local(5, 10),
        "inbound",
        billsec=600,
        duration=610,
        caller="+79160000001",
        pbx_department=theirs.pk,
    )
    return {"sales": sales, "support": support}


def period(customer):
    return selectors.period_for(
        customer, dt.date.fromisoformat(PERIOD[0]), dt.date.fromisoformat(PERIOD[1])
    )


def test_calls_per_day_are_counted_on_the_customers_local_dates(customer, known):
    days = selectors.calls_per_day(customer, period(customer))
    assert [d["day"].isoformat() for d in days] == ["2026-10-05", "2026-10-06", "2026-10-07"]
    fifth, sixth, seventh = days
    assert (fifth["total"], fifth["answered"], fifth["missed"]) == (4, 3, 1)
    assert (fifth["inbound"], fifth["outbound"], fifth["internal"]) == (3, 1, 0)
    assert (sixth["total"], sixth["answered"], sixth["internal"]) == (1, 1, 1)
    assert seventh["total"] == 0 and seventh["missed"] == 0


def test_calls_per_hour_use_the_customers_clock(customer, known):
    hours = selectors.calls_per_hour(customer, period(customer))
    assert len(hours) == 24
    by_hour = {h["hour"]: h for h in hours if h["total"]}
    assert set(by_hour) == {0, 9, 23}
    assert (by_hour[9]["total"], by_hour[9]["answered"], by_hour[9]["missed"]) == (3, 2, 1)
    assert by_hour[0]["internal"] == 1 and by_hour[23]["outbound"] == 1


def test_departments_average_wait_and_talk_of_answered_calls(customer, known):
    rows = selectors.department_times(customer, period(customer))
    assert [(r["name"], r["total"], r["answered"]) for r in rows] == [
        ("Продажи", 3, 2),
        ("Поддержка", 1, 1),
    ]
    sales, support = rows
    assert (sales["avg_wait"], sales["avg_talk"]) == (20.0, 75.0)  # (15+25)/2, (60+90)/2
    assert (support["avg_wait"], support["avg_talk"]) == (10.0, 120.0)


def test_top_numbers_are_the_outside_parties_busiest_first(customer, known):
    top = selectors.top_numbers(customer, period(customer))
    assert [(t["number"], t["total"], t["answered"], t["minutes"]) for t in top] == [
        ("+79160000001", 2, 1, 1),
        ("+74950000002", 1, 1, 2),
        ("+79160000003", 1, 1, 2),
    ]


def test_each_chart_is_one_query(customer, known):
    p = period(customer)
    for chart in (
        selectors.calls_per_day,
        selectors.calls_per_hour,
        selectors.calls_by_direction,
        selectors.department_times,
        selectors.top_numbers,
        selectors.callback_outcomes,
        selectors.redial_outcomes,
        selectors.fictive_calls,
    ):
        with CaptureQueriesContext(connection) as queries:
            chart(customer, p)
        # one over the calls; the departments' names come from a second, small query
        expected = 2 if chart is selectors.department_times else 1
        assert len(queries) == expected, chart.__name__


def test_callback_redial_and_fictive_outcomes(customer, other_customer, known):
    dept = known["sales"]
    callee = factories.employee(customer, dept)
    theirs = factories.employee(other_customer)
    for n, status in enumerate(["completed", "completed", "failed", "pending"]):
        CallbackRequest.objects.create(
            customer=customer,
            department=dept,
            caller_number=f"+7916000010{n}",
            status=status,
            first_attempt_deadline=local(5, 10),
            created_at=local(5, 10),
            origin_uuid=f"cb{n}",
        )
    CallbackRequest.objects.create(  # outside the period
        customer=customer,
        department=dept,
        caller_number="+79160000199",
        status="failed",
        first_attempt_deadline=local(9, 10),
        created_at=local(9, 10),
        origin_uuid="cb-late",
    )
    for n, (cust, who, status, outcome) in enumerate(
        [
            (customer, callee, "done", "connected"),
            (customer, callee, "done", "connected"),
            (customer, callee, "done", "sms"),
            (customer, callee, "refused", ""),
            (customer, callee, "accepted", ""),
            (other_customer, theirs, "done", "connected"),
        ]
    ):
        RedialRequest.objects.create(
            customer=cust,
            callee=who,
            origin_uuid=f"rd{n}",
            cause="USER_BUSY",
            status=status,
            outcome=outcome,
            created_at=local(6, 12),
            reason="roaming" if status == "refused" else "",
        )
    for n, (direction, bridged) in enumerate(
        [("outbound", True), ("outbound", False), ("inbound", True), ("return", True)]
    ):
        FictiveCall.objects.create(
            customer=customer,
            fictive_e164="+74950001111",
            direction=direction,
            uuid=f"fc{n}",
            bridged=bridged,
            started_at=local(7, 15),
        )
    p = period(customer)
    callbacks = {r["status"]: r["count"] for r in selectors.callback_outcomes(customer, p)}
    assert callbacks == {"pending": 1, "dialing": 0, "completed": 2, "failed": 1, "cancelled": 0}
    redial = {r["outcome"]: r["count"] for r in selectors.redial_outcomes(customer, p)}
    assert redial["connected"] == 2 and redial["sms"] == 1 and redial["flashed"] == 0
    assert redial["refused"] == 1 and redial["open"] == 1
    fictive = {
        r["direction"]: (r["total"], r["bridged"]) for r in selectors.fictive_calls(customer, p)
    }
    assert fictive == {"outbound": (2, 1), "inbound": (1, 1), "return": (1, 1)}


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("today", ("2026-10-15", "2026-10-15")),
        ("7d", ("2026-10-09", "2026-10-15")),
        ("30d", ("2026-09-16", "2026-10-15")),
        ("month", ("2026-10-01", "2026-10-15")),
        ("last_month", ("2026-09-01", "2026-09-30")),
    ],
)
def test_presets(preset, expected):
    start, end = preset_dates(preset, dt.date(2026, 10, 15))
    assert (start.isoformat(), end.isoformat()) == expected


def table(html: str, chart: str) -> str:
    return html.split(f'data-chart-table="{chart}"')[1].split("</table>")[0]


def test_the_page_shows_each_chart_with_its_table_of_the_period(admin_client, customer, known):
    url = reverse("web:statistics")
    response = admin_client.get(url, {"date_from": PERIOD[0], "date_to": PERIOD[1]})
    assert response.status_code == 200
    html = response.content.decode()
    for chart in (
        "per-day",
        "per-day-direction",
        "per-hour",
        "departments",
        "callbacks",
        "redial",
        "fictive",
        "top-numbers",
    ):
        assert f'id="chart-{chart}"' in html
        assert "<caption>" in table(html, chart) and 'scope="col"' in table(html, chart)
    day = table(html, "per-day").split('data-key="2026-10-05"')[1].split("</tr>")[0]
    assert '<th scope="row">05.10</th>' in day
    assert 'data-col="answered">3<' in day and 'data-col="missed">1<' in day
    deps = table(html, "departments")
    assert "Продажи" in deps and 'data-col="avg_wait">20,0<' in deps
    assert "+79160000001" in table(html, "top-numbers")
    assert "+79169999999" not in html  # the 8th is outside the period
    assert 'id="chart-data"' in html and "vendor/plotly/plotly.min.js" in html
    assert "С 05.10.2026 по 07.10.2026" in html


def test_the_page_counts_only_this_customers_calls(admin_client, customer, other_customer, known):
    html = admin_client.get(
        reverse("web:statistics"), {"date_from": PERIOD[0], "date_to": PERIOD[1]}
    ).content.decode()
    hour = table(html, "per-hour").split('data-key="10"')[1].split("</tr>")[0]
    assert 'data-col="answered">0<' in hour  # their call at 10:00 is not ours
    assert "Их отдел" not in html


def test_a_bad_period_is_a_form_error(admin_client, customer):
    url = reverse("web:statistics")
    response = admin_client.get(url, {"date_from": "2026-10-07", "date_to": "2026-10-05"})
    assert response.status_code == 400
    assert "Конец периода раньше начала." in response.content.decode()
    response = admin_client.get(url, {"date_from": "2020-01-01", "date_to": "2026-10-05"})
    assert response.status_code == 400
    assert admin_client.get(url, {"date_from": "not a date"}).status_code == 400


def test_staff_may_look_and_strangers_are_sent_to_log_in(client, customer):
    staff = factories.user(customer, role="department_staff")
    client.force_login(staff)
    assert client.get(reverse("web:statistics")).status_code == 200
    client.logout()
    response = client.get(reverse("web:statistics"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_page_speaks_english(admin_client, customer, known):
    admin_client.cookies["django_language"] = "en"
    html = admin_client.get(reverse("web:statistics")).content.decode()
    assert "Calls per day" in html and "Average wait and talk per department" in html
    assert "Звонки по дням" not in html


@pytest.fixture
def api(customer):
    _token, key = ApiToken.issue(customer=customer, name="stats")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_the_api_returns_the_same_numbers(api, customer, known):
    body = api.get("/api/v1/statistics/", {"date_from": PERIOD[0], "date_to": PERIOD[1]}).json()
    assert body["date_from"] == PERIOD[0] and body["time_zone"] == "Europe/Moscow"
    assert body["per_day"][0] == {
        "day": "2026-10-05",
        "total": 4,
        "answered": 3,
        "missed": 1,
        "inbound": 3,
        "outbound": 1,
        "internal": 0,
    }
    assert body["departments"][0]["avg_talk"] == 75.0
    assert [t["number"] for t in body["top_numbers"]][0] == "+79160000001"


def test_the_api_refuses_a_bad_period_and_strangers(api):
    response = api.get("/api/v1/statistics/", {"date_from": "2026-10-07", "date_to": "2026-10-01"})
    assert response.status_code == 400 and "date_to" in response.json()
    assert APIClient().get("/api/v1/statistics/").status_code == 401


def test_the_schema_describes_the_statistics_and_calls(admin_client):
    schema = admin_client.get(
        "/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json"
    ).json()
    for path in (
        "/api/v1/statistics/",
        "/api/v1/calls/",
        "/api/v1/calls/{id}/",
        "/api/v1/calls/{id}/recording/",
    ):
        assert "get" in schema["paths"][path], path
    assert "per_hour" in schema["components"]["schemas"]["Statistics"]["properties"]
