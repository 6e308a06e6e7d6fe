from __future__ import annotations

import pytest

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
