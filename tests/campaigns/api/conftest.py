"""Fixtures and helpers of the campaign API tests."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.http import StreamingHttpResponse
from rest_framework.test import APIClient

from campaigns.models import Campaign
from providers.models import Provider
from tests.factories import make_campaign

LIST_URL = "/api/v1/campaigns/"


def detail_url(campaign: Campaign | int) -> str:
    return f"{LIST_URL}{getattr(campaign, 'pk', campaign)}/"


def uploads_url(campaign: Campaign | int) -> str:
    return f"{detail_url(campaign)}uploads/"


def set_status(campaign: Campaign, status: str) -> Campaign:
    Campaign.objects.filter(pk=campaign.pk).update(status=status)
    campaign.refresh_from_db()
    return campaign


def read_csv(response: StreamingHttpResponse) -> list[dict[str, str]]:
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def campaign_input(via: Provider, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Diwali offer",
        "provider": via.pk,
        "kind": "transactional",
        "sender_id": "ACMEIN",
        "message": "Hi {{first_name|there}}, 20% off today",
    }
    data.update(overrides)
    return data


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
def draft(generic_provider) -> Campaign:
    return make_campaign(generic_provider)
