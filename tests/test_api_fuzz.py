"""The REST API fuzzed from its own OpenAPI schema: no generated request gets a 5xx.

Schemathesis generates requests for every operation of /api/schema/ (ones that fit
the schema and ones that break it) and sends them to the WSGI app with a user's API
token. Half the time a case's ids are swapped for objects that exist and its phone
numbers, endpoint and payload for valid ones, so that it gets past the first 404 or
400 to the code behind. Each request is rolled back: every case starts from the same
data.

Outbound HTTP never leaves 127.0.0.1: every host name resolves to loopback, and the
one provider that exists points at a FakeProvider there.

Derandomized: CI runs the same cases every time. A deeper search (more examples,
random seeds) is a local run with these settings changed, not a CI run that flakes.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error

from campaigns import services as campaign_services
from campaigns.models import Campaign, Upload
from providers.http import transport
from providers.models import Message, Provider
from smsgateway.wsgi import application
from tests.factories import csv_file, make_campaign
from tests.fake_provider import FakeProvider

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)

# Body fields that random values almost never get right, with values that pass.
VALID_FIELDS: dict[str, Any] = {
    "to": "+919876543210",
    "country_code": "91",
    "mobile": "9876543210",
    "endpoint": "https://sms.example.com/send",
    "payload": {"to": "$$To", "text": "$$Body", "id": "$$MessageID"},
}


@dataclass
class Existing:
    """One object of each kind the API addresses by id."""

    provider: Provider
    campaign: Campaign
    upload: Upload
    message: Message

    def make_valid(self, case: schemathesis.Case) -> None:
        """Point the case's ids at these objects; give its body's hard fields valid values."""
        if case.path_parameters:
            case.path_parameters = {**case.path_parameters, **self.path_parameters(case.path)}
        if isinstance(case.body, dict) and case.media_type == "application/json":
            valid = {**VALID_FIELDS, "provider": self.provider.pk}
            case.body = {name: valid.get(name, value) for name, value in case.body.items()}

    def path_parameters(self, path: str) -> dict[str, Any]:
        if path.startswith("/api/v1/campaigns/{campaign_id}/uploads/"):
            return {"campaign_id": self.campaign.pk, "id": self.upload.pk}
        if path.startswith("/api/v1/campaigns/"):
            return {"id": self.campaign.pk}
        if path.startswith("/api/v1/providers/"):
            return {"id": self.provider.pk}
        if path.startswith("/api/v1/messages/"):
            return {"id": str(self.message.pk)}
        return {}


def resolve_to_loopback(host: str, port: int) -> list[tuple[Any, ...]]:
    return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))]


@contextmanager
def rolled_back() -> Iterator[None]:
    """Undo what a request wrote, even after a database error (PostgreSQL then refuses
    every further query until the rollback)."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


@pytest.fixture
def fake_provider() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake
    transport.close_sessions()


@pytest.fixture
def loopback_only(settings, monkeypatch) -> None:
    """Endpoints may be http and private, but every host name is 127.0.0.1."""
    settings.SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS = True
    monkeypatch.setattr(transport, "resolve", resolve_to_loopback)


@pytest.fixture
def connection_kept_open() -> Iterator[None]:
    """As in Django's test client: the end of a request must not close the connection,
    and with it the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def existing(db, settings, tmp_path, loopback_only, fake_provider, user) -> Existing:
    settings.MEDIA_ROOT = tmp_path / "media"
    provider = Provider.objects.create(
        nickname="Fake",
        endpoint=f"{fake_provider.url}/send",
        payload={"to": "$$To", "text": "$$Body", "id": "$$MessageID"},
    )
    campaign = make_campaign(provider, created_by=user)
    # One accepted row and one rejected, for the upload's errors and errors.csv.
    upload = campaign_services.upload_create(
        campaign=campaign, file=csv_file("phone,first_name\n9876543210,Asha\nnot-a-number,Ravi\n")
    )
    message = Message.objects.create(provider=provider, to="+919876543210", body="Hello")
    return Existing(provider=provider, campaign=campaign, upload=upload, message=message)


@pytest.fixture
def token(user) -> str:
    return Token.objects.create(user=user).key


@schema.parametrize()
@schema.given(data=st.data())
@hypothesis.settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        # Safe here: every request is rolled back, so the fixtures hold for every case.
        hypothesis.HealthCheck.function_scoped_fixture,
        # Generating large bodies on a busy CI machine is slow, not wrong.
        hypothesis.HealthCheck.too_slow,
    ],
)
def test_no_request_gets_a_server_error(
    case: schemathesis.Case,
    data: st.DataObject,
    existing: Existing,
    token: str,
    connection_kept_open: None,
) -> None:
    if data.draw(st.booleans(), label="valid ids and fields"):
        existing.make_valid(case)
    with rolled_back():
        response = case.call(headers={"Authorization": f"Token {token}"})
    case.validate_response(response, checks=[not_a_server_error])
