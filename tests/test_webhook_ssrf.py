"""Webhook SSRF: URLs two parsers read differently, and names that resolve differently between
the check and the connection (DNS rebinding), at the HTTP boundary.

The department's endpoint is a real server on 127.0.0.1 that must receive nothing. Name lookups
are stubbed (`socket.getaddrinfo`) and every connection attempt is recorded at urllib3's
`create_connection`; anything but 127.0.0.1 is refused there, so nothing leaves the machine.
"""

from __future__ import annotations

import socket

import pytest
import urllib3.util.connection

from portal.notifications.http import UrlRefused, parse_http_url
from portal.notifications.models import Delivery
from tests.test_notifications import deliveries, department, notify

Status = Delivery.Status
PUBLIC = "93.184.216.34"
_real_getaddrinfo = socket.getaddrinfo
_real_create_connection = urllib3.util.connection.create_connection


@pytest.fixture
def send_on_commit(django_capture_on_commit_callbacks):
    def run(dept):
        with django_capture_on_commit_callbacks(execute=True):
            return notify(dept)

    return run


@pytest.fixture
def connections(monkeypatch):
    """(host, port) of every connection urllib3 opens; only 127.0.0.1 is really connected."""
    seen: list[tuple[str, int]] = []

    def create_connection(address, *args, **kwargs):
        seen.append(address)
        if address[0] != "127.0.0.1":
            raise ConnectionRefusedError(f"test: no network beyond 127.0.0.1 ({address[0]})")
        return _real_create_connection(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)
    return seen


@pytest.fixture
def dns(monkeypatch):
    """Stub resolver: `dns.answers[name]` is a list of answers, one per lookup (the last one
    repeats); `dns.lookups` lists the names looked up. IP literals resolve as usual."""

    class Resolver:
        answers: dict[str, list[list[str]]] = {}
        lookups: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in Resolver.answers:
            return _real_getaddrinfo(host, port, *args, **kwargs)
        Resolver.lookups.append(host)
        queue = Resolver.answers[host]
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        return [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, port))
            for a in addresses
        ]

    Resolver.answers, Resolver.lookups = {}, []
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return Resolver


@pytest.fixture
def endpoint(http_boundary):
    host, port = "127.0.0.1", int(http_boundary.url.rsplit(":", 1)[1])
    return http_boundary, host, port


def test_the_backslash_bypass_is_refused_and_nothing_reaches_the_loopback_server(
    customer, endpoint, settings, connections, send_on_commit
):
    server, _host, port = endpoint
    settings.WEBHOOK_ALLOW_PRIVATE = False
    url = f"http://127.0.0.1:{port}\\@{PUBLIC}/hook"
    dept = department(customer, notify_webhook=True, webhook_url=url)

    send_on_commit(dept)

    (hook,) = deliveries("webhook")
    assert (hook.status, hook.permanent) == (Status.FAILED, True)
    assert "backslash" in hook.last_error
    assert server.requests == []
    assert connections == []


@pytest.mark.parametrize(
    "template",
    [
        "http://127.0.0.1:{port}\\@{public}/hook",
        "http://{public}:80\\@127.0.0.1:{port}/hook",
        "http://user:pass@127.0.0.1:{port}/hook",
        "http://{public}@127.0.0.1:{port}/hook",
        "http://127.0.0.1:{port}/ho ok",
        "http://127.0.0.1:{port}/\thook",
        "http://127.1:{port}/hook",
        "http://0x7f.0.0.1:{port}/hook",
        "http://2130706433:{port}/hook",
        "http://127.0.0.1%2e:{port}/hook",
        "http:\\\\127.0.0.1:{port}/hook",
    ],
)
def test_urls_the_http_client_could_read_differently_are_refused_even_with_private_targets_on(
    customer, endpoint, settings, connections, send_on_commit, template
):
    server, _host, port = endpoint
    settings.WEBHOOK_ALLOW_PRIVATE = True
    url = template.format(port=port, public=PUBLIC)
    dept = department(customer, notify_webhook=True, webhook_url=url)

    send_on_commit(dept)

    (hook,) = deliveries("webhook")
    assert (hook.status, hook.permanent) == (Status.FAILED, True), hook.last_error
    assert server.requests == []
    assert connections == []


def test_a_name_that_rebinds_to_loopback_after_the_check_is_still_called_at_the_checked_address(
    customer, endpoint, settings, dns, connections, send_on_commit
):
    server, _host, port = endpoint
    settings.WEBHOOK_ALLOW_PRIVATE = False
    # first answer public (the check), every later answer loopback (a second lookup)
    dns.answers["hooks.rebind.test"] = [[PUBLIC], ["127.0.0.1"]]
    dept = department(
        customer, notify_webhook=True, webhook_url=f"http://hooks.rebind.test:{port}/hook"
    )

    send_on_commit(dept)

    assert dns.lookups == ["hooks.rebind.test"]  # resolved once
    assert connections == [(PUBLIC, port)]  # connected to the address that was checked
    assert server.requests == []
    (hook,) = deliveries("webhook")
    assert (hook.status, hook.permanent) == (Status.PENDING, False)  # unreachable: retried


def test_a_name_with_one_private_address_among_public_ones_is_refused(
    customer, endpoint, settings, dns, connections, send_on_commit
):
    server, _host, port = endpoint
    settings.WEBHOOK_ALLOW_PRIVATE = False
    dns.answers["hooks.mixed.test"] = [[PUBLIC, "127.0.0.1"]]
    dept = department(
        customer, notify_webhook=True, webhook_url=f"http://hooks.mixed.test:{port}/hook"
    )

    send_on_commit(dept)

    (hook,) = deliveries("webhook")
    assert (hook.status, hook.permanent) == (Status.FAILED, True)
    assert "non-public address 127.0.0.1" in hook.last_error
    assert connections == [] and server.requests == []


@pytest.mark.parametrize("private", ["10.1.2.3", "169.254.169.254", "::ffff:127.0.0.1", "::1"])
def test_names_resolving_to_private_link_local_or_mapped_loopback_addresses_are_refused(
    customer, endpoint, settings, dns, connections, send_on_commit, private
):
    _server, _host, port = endpoint
    settings.WEBHOOK_ALLOW_PRIVATE = False
    dns.answers["hooks.private.test"] = [[private]]
    dept = department(
        customer, notify_webhook=True, webhook_url=f"http://hooks.private.test:{port}/hook"
    )

    send_on_commit(dept)

    (hook,) = deliveries("webhook")
    assert (hook.status, hook.permanent) == (Status.FAILED, True)
    assert "non-public address" in hook.last_error
    assert connections == []


def test_with_private_targets_allowed_a_name_is_called_once_resolved_with_its_host_header(
    customer, endpoint, settings, dns, connections, send_on_commit
):
    server, _host, port = endpoint
    settings.WEBHOOK_ALLOW_PRIVATE = True
    dns.answers["hooks.internal.test"] = [["127.0.0.1"], [PUBLIC]]
    dept = department(
        customer, notify_webhook=True, webhook_url=f"http://hooks.internal.test:{port}/h?x=1"
    )

    send_on_commit(dept)

    (hook,) = deliveries("webhook")
    assert hook.status == Status.SENT, hook.last_error
    assert dns.lookups == ["hooks.internal.test"]
    assert connections == [("127.0.0.1", port)]
    ((path, headers, _body),) = server.requests
    assert path == "/h?x=1"
    assert headers["Host"] == f"hooks.internal.test:{port}"


@pytest.mark.parametrize(
    "url",
    [
        f"http://127.0.0.1:8211\\@{PUBLIC}/hook",
        "http://user:secret@example.com/hook",
        "https://example.com@evil.example/hook",
    ],
)
def test_the_api_refuses_such_a_webhook_address_with_a_400(customer, django_user_model, url):
    from rest_framework.test import APIClient

    from portal.tenants.models import ApiToken

    _token, key = ApiToken.issue(customer=customer, name="t")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = client.post(
        "/api/v1/departments/",
        {"name": "Продажи", "notify_webhook": True, "webhook_url": url},
        format="json",
    )
    assert response.status_code == 400
    assert "webhook_url" in response.json()


def test_the_strict_parser_keeps_ordinary_urls():
    target = parse_http_url("https://Hooks.Example.com/pbx/events?id=7")
    assert (target.scheme, target.host, target.port, target.path) == (
        "https",
        "hooks.example.com",
        443,
        "/pbx/events?id=7",
    )
    assert parse_http_url("http://[2001:db8::1]:8080/").host_header == "[2001:db8::1]:8080"
    with pytest.raises(UrlRefused):
        parse_http_url("http://example.com:0/")
