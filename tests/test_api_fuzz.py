"""Hostile inputs generated from the OpenAPI schema (schemathesis): no API operation answers
5xx, whatever the path ids, query parameters and bodies. Requests go to the Django WSGI app in
process, as a customer administrator's API token; derandomized, so a run is repeatable."""

from __future__ import annotations

import pytest
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator

from portal.tenants.models import ApiToken
from tests import factories

# schemathesis==4.32.5 belongs in tests/requirements.txt; until it is installed, this skips.
schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402


def _schema():
    document = SchemaGenerator().get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(document)
    loaded.app = get_wsgi_application()
    return loaded


schema = _schema()


@pytest.fixture
def keep_the_connection():
    """The WSGI handler closes the database connection after each request, as in production;
    here that would close the test's transaction (Django's test client does the same)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def token_header(db, keep_the_connection) -> dict[str, str]:
    customer = factories.customer()
    factories.department(customer)
    factories.employee(customer)
    factories.number(customer)
    _token, key = ApiToken.issue(customer=customer, name="fuzz")
    return {"Authorization": f"Token {key}"}


@schema.parametrize()
@settings(
    max_examples=15,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_api_operation_answers_a_server_error(case, token_header):
    case.call_and_validate(headers=token_header, checks=[not_a_server_error])
