"""Fixtures of the REST API tests."""

from __future__ import annotations

import pytest
import responses
from rest_framework.test import APIClient

from providers.models import Provider


@pytest.fixture
def anonymous_client() -> APIClient:
    return APIClient()


@pytest.fixture
def api(user) -> APIClient:
    """A client signed in as the marketer."""
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def fake_provider_endpoint():
    """Fakes the provider's HTTP endpoint; nothing leaves the machine."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def secret_provider(db) -> Provider:
    """A basic-auth provider whose every credential is a recognisable string."""
    return Provider.objects.create(
        nickname="Secretive",
        endpoint="https://sms.example.com/send",
        auth_type=Provider.AuthType.BASIC,
        username="user-SECRET-1",
        password="pass-SECRET-2",
        headers={"X-Api-Key": "header-SECRET-3", "Accept": "application/json"},
        payload={"to": "$$To", "text": "$$Body", "id": "$$MessageID"},
    )
