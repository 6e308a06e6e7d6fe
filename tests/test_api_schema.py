"""The OpenAPI schema and its Swagger UI describe every endpoint of the API."""

from __future__ import annotations

import io
import re

from django.core.management import call_command
from rest_framework.test import APIClient

PATHS = {
    "/api/v1/departments/": {"get", "post"},
    "/api/v1/departments/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/employees/": {"get", "post"},
    "/api/v1/employees/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/numbers/": {"get", "post"},
    "/api/v1/numbers/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/numbers/available/": {"get"},
    "/api/v1/platform/numbers/": {"get", "post"},
    "/api/v1/platform/numbers/{id}/": {"get", "delete"},
    "/api/v1/options/": {"get"},
    "/api/v1/options/{code}/": {"put", "post"},
    "/api/v1/ledger/": {"get"},
    "/api/v1/balance/": {"get"},
    "/api/v1/tokens/": {"get", "post"},
    "/api/v1/tokens/{id}/": {"delete"},
}


def test_the_schema_lists_every_endpoint_and_method(admin_client):
    response = admin_client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    for path, methods in PATHS.items():
        assert path in schema["paths"], path
        assert methods <= set(schema["paths"][path]), (path, set(schema["paths"][path]))
    assert schema["components"]["securitySchemes"]["customerToken"]["in"] == "header"


def test_the_schema_renders_money_as_strings_and_hides_secrets(admin_client):
    schema = admin_client.get(
        "/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json"
    ).json()
    components = schema["components"]["schemas"]
    assert components["Balance"]["properties"]["balance"]["type"] == "string"
    assert components["LedgerEntry"]["properties"]["amount"]["type"] == "string"
    assert components["Employee"]["properties"]["sip_password"]["writeOnly"] is True
    assert "key" in components["ApiTokenCreated"]["properties"]
    assert "key" not in components["ApiToken"]["properties"]


def test_the_schema_validates_without_warnings(db):
    # Raises (SystemExit) on any warning or OpenAPI validation error.
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=io.StringIO())


def test_the_swagger_ui_is_served(admin_client):
    response = admin_client.get("/api/v1/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
    # Swagger UI's files come from us (drf-spectacular-sidecar), never from a CDN.
    html = response.content.decode()
    assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", html)
    assert any("swagger-ui" in url for url in assets)
    assert [url for url in assets if url.startswith(("http:", "https:", "//"))] == []


def test_the_api_root_lists_the_resources(admin_client):
    response = APIClient().get("/api/v1/")
    assert response.status_code == 401
    body = admin_client.get("/api/v1/", HTTP_ACCEPT="application/json").json()
    assert {"departments", "employees", "numbers", "tokens"} <= set(body)
