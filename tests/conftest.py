from __future__ import annotations

import pytest
from django.conf import settings as django_settings

from tests import factories


@pytest.fixture
def customer(db):
    return factories.customer()


@pytest.fixture
def admin_user(customer):
    return factories.user(customer)


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def other_customer(db):
    return factories.customer(name="Чужой клиент")


@pytest.fixture
def http_boundary():
    """A real HTTP server on 127.0.0.1 recording what we send (tests/http_boundary.py)."""
    from tests.http_boundary import recorder

    with recorder() as server:
        yield server


@pytest.fixture
def twilio(settings, http_boundary):
    """Twilio's REST API at the HTTP boundary: settings point there, requests are recorded."""
    from tests.http_boundary import point_twilio_at

    point_twilio_at(settings, http_boundary)
    return http_boundary


@pytest.fixture(autouse=True)
def _fresh_xml_cache():
    """mod_xml_curl answers cached by one test (whose rows were rolled back, ids reused on
    SQLite) must never answer another test's lookup."""
    from pbx import xmlcache

    xmlcache.reset_store()
    try:
        xmlcache.store().clear()
    except Exception:  # a test without Redis at all: nothing was cached there
        pass
    yield
    xmlcache.reset_store()


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the site's language: Django's LocaleMiddleware activates a
    request's language in the thread and never deactivates it, so an English page fetched by
    one test would turn the next test's Russian messages into English."""
    from django.utils import translation

    translation.activate(django_settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _own_throttle_counters(settings):
    """Throttle counters (portal.web.throttle) of this test only: Redis keys outlive a test's
    transaction, and other runs may share the Redis database."""
    import uuid

    settings.THROTTLE_PREFIX = f"test-{uuid.uuid4().hex[:12]}"
