"""The platform page /platform/switch/: who may see it and what it shows."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from portal.switch import services
from tests import factories

URL = "/platform/switch/"


@pytest.fixture
def nodes(db, settings):
    settings.FREESWITCH_NODES = {
        "fs1": {"host": "127.0.0.1", "port": 8021},
        "fs2": {"host": "127.0.0.1", "port": 8022},
    }
    synced = services.nodes_sync_from_settings()
    services.node_esl_state_set(node=synced[0], state="connected", now=timezone.now())
    return synced


def test_the_page_lives_at_platform_switch():
    assert reverse("switch:status") == URL


def test_anonymous_visitors_are_sent_to_the_login_page(client, nodes):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("web:login"))


def test_a_customer_admin_is_refused(admin_client, nodes):
    assert admin_client.get(URL).status_code == 403


def test_a_platform_operator_sees_every_node_with_its_state(client, nodes):
    client.force_login(factories.user(None, is_staff=True))
    response = client.get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-node="fs1"' in page and 'data-node="fs2"' in page
    assert "подключено" in page  # fs1
    assert "ещё не подключался" in page  # fs2: the service never reported on it
    assert 'http-equiv="refresh" content="10"' in page


def test_the_page_is_read_only(client, nodes):
    client.force_login(factories.user(None, is_staff=True))
    assert client.post(URL).status_code == 405
