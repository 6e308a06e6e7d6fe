"""The API docs page renders in a real browser with every request outside the portal blocked:
Swagger UI is served by the portal itself, not from a CDN. Pages name an icon the portal serves."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

import pytest

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


def test_the_api_docs_render_offline(live_server):
    customer = factories.customer()
    factories.user(customer, username="docs-admin")
    blocked: list[str] = []

    def only_the_portal(route):
        host = urlsplit(route.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with playwright_sync.sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_context(locale="ru-RU").new_page()
            page.route("**/*", only_the_portal)
            page.goto(f"{live_server.url}/login/")
            page.get_by_label("Логин").fill("docs-admin")
            page.get_by_label("Пароль").fill(factories.PASSWORD)
            page.get_by_role("button", name="Войти").click()
            expect(page).to_have_url(re.compile(r"/pbx/"))
            # every page names its icon, and the portal serves it (no /favicon.ico 404)
            icon = "fetch(document.querySelector('link[rel=icon]').href).then(r => r.status)"
            assert page.evaluate(icon) == 200
            page.goto(f"{live_server.url}/api/v1/docs/")
            expect(page.locator(".swagger-ui .info .title")).to_contain_text("Cloud PBX API")
            expect(page.locator(".opblock").first).to_be_visible()
        finally:
            browser.close()
    assert blocked == []
