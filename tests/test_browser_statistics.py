"""The Statistics page in a real browser (Debian's Chromium through Playwright): Plotly, served
by the portal itself with every request outside 127.0.0.1 blocked, draws each chart from known
calls, and the tables beside the charts hold the same numbers."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest

from portal.calls.models import CallRecord
from tests import factories
from tests.browser import AVAILABLE, launch

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not AVAILABLE, reason="needs Debian's chromium"),
]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "var" / "artifacts" / "browser"  # git-ignored (var/): screenshots of the pages
MSK = ZoneInfo("Europe/Moscow")
CHARTS = 8


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 10, day, hour, minute, tzinfo=MSK)


def known_calls(customer) -> None:
    """5 Oct: 3 answered + 1 missed; 6 Oct: 2 answered; 7 Oct: none (Moscow dates)."""
    sales = factories.department(customer, "Продажи")
    rows = [
        (at(5, 9, 10), "inbound", 60, 70, "+79160000001"),
        (at(5, 9, 20), "inbound", 0, 25, "+79160000001"),
        (at(5, 14), "inbound", 120, 130, "+79160000002"),
        (at(5, 15), "outbound", 30, 40, "+74950000003"),
        (at(6, 0, 30), "inbound", 45, 50, "+79160000001"),
        (at(6, 11), "outbound", 90, 95, "+74950000003"),
    ]
    for n, (start, direction, billsec, duration, other) in enumerate(rows):
        inbound = direction == "inbound"
        CallRecord.objects.create(
            customer=customer,
            uuid=f"browser-stats-{n}",
            direction=direction,
            caller_number=other if inbound else "101",
            callee_number="+74951110000" if inbound else other,
            started_at=start,
            ended_at=start + dt.timedelta(seconds=duration),
            duration_seconds=duration,
            billsec=billsec,
            hangup_cause="NORMAL_CLEARING",
            variables={"pbx_department": str(sales.pk)},
        )


def test_the_charts_are_drawn_offline_from_known_calls(live_server):
    customer = factories.customer(time_zone="Europe/Moscow")
    factories.user(customer, username="stats-admin")
    known_calls(customer)
    blocked: list[str] = []

    def only_the_portal(route):
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):  # loopback
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with playwright_sync.sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_context(locale="ru-RU", viewport={"width": 1280, "height": 900})
            page = page.new_page()
            page.route("**/*", only_the_portal)
            page.goto(f"{live_server.url}/login/")
            page.get_by_label("Логин").fill("stats-admin")
            page.get_by_label("Пароль").fill(factories.PASSWORD)
            page.get_by_role("button", name="Войти").click()
            expect(page).to_have_url(re.compile(r"/pbx/"))
            page.get_by_role("link", name="Статистика", exact=True).first.click()
            expect(page.get_by_role("heading", name="Статистика", level=1)).to_be_visible()
            page.get_by_label("С", exact=True).fill("2026-10-05")
            page.get_by_label("По", exact=True).fill("2026-10-07")
            page.get_by_role("button", name="Показать").click()
            expect(page.locator("html")).to_have_attribute("data-charts-drawn", str(CHARTS))

            # every chart is an SVG Plotly drew, with a real size
            for chart in page.locator("[data-chart]").all():
                box = chart.locator("svg.main-svg").first.bounding_box()
                assert box and box["width"] > 200 and box["height"] > 200
            # the per-day chart holds the known numbers: Plotly's own data on the element
            per_day = page.evaluate(
                """() => document.getElementById('chart-per-day').data.map(
                    t => ({name: t.name, x: t.x, y: t.y}))"""
            )
            assert per_day == [
                {"name": "С ответом", "x": ["05.10", "06.10", "07.10"], "y": [3, 2, 0]},
                {"name": "Без ответа", "x": ["05.10", "06.10", "07.10"], "y": [1, 0, 0]},
            ]
            # bars drawn: 3 non-zero bars among the answered ones, 1 missed (zero bars stay flat)
            bars = page.locator("#chart-per-day g.trace.bars path")
            assert bars.count() >= 4
            hours = page.evaluate("() => document.getElementById('chart-per-hour').data[0].y")
            assert hours[9] == 1 and hours[14] == 1 and hours[0] == 1 and sum(hours) == 5
            talk = page.evaluate("() => document.getElementById('chart-departments').data[1].y")
            assert talk == [69.0]  # (60+120+30+45+90)/5
            top = page.evaluate("() => document.getElementById('chart-top-numbers').data[0]")
            assert top["x"][:2] == ["+79160000001", "+74950000003"] and top["y"][:2] == [3, 2]

            # the table beside the chart holds the same numbers
            row = page.locator('[data-chart-table="per-day"] tr[data-key="2026-10-05"]')
            expect(row.locator('[data-col="answered"]')).to_have_text("3")
            expect(row.locator('[data-col="missed"]')).to_have_text("1")
            expect(page.locator('[data-chart-table="per-day"] caption')).to_contain_text(
                "Звонки по дням"
            )
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "statistics-charts.png"), full_page=True)

            # the presets move the period; the charts are drawn again
            page.locator('[data-preset="today"]').click()
            expect(page.locator("html")).to_have_attribute("data-charts-drawn", str(CHARTS))
        finally:
            browser.close()
    assert blocked == []
