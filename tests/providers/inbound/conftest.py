"""Helpers for the inbound (MO) tests: captured payloads, the inbound URL, campaign messages."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from providers.models import Lane, Message, Provider
from providers.sending.bulk import messages_insert

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "inbound"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text().strip()


def mo_url(provider: Provider) -> str:
    return reverse("inbound_callback", args=[provider.inbound_token])


def post_json(client: Client, provider: Provider, payload: Any, **headers: str) -> Any:
    body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    return client.post(
        mo_url(provider), data=body, content_type="application/json", headers=headers
    )


def replied(phone: str, text: str, **more: Any) -> list[dict[str, Any]]:
    """CleverTap's replied event without meta, from `phone`."""
    return [{"event": "replied", "data": [{"fromPhone": phone, "incomingText": text, **more}]}]


@pytest.fixture
def campaign_messages(generic_provider):
    """Make messages of a campaign (by its reference) to the given numbers, in a campaign
    lane, with the given status: as campaign_prepare writes them."""

    def make(
        campaign_ref: str, numbers: list[str], status: str = Message.Status.QUEUED
    ) -> list[Message]:
        lane = Lane.objects.create(provider=generic_provider, name=f"Campaign {campaign_ref}")
        rows = [(uuid.uuid4(), number, "20% off today") for number in numbers]
        messages_insert(
            rows=rows,
            shared={
                "provider_id": generic_provider.pk,
                "lane_id": lane.pk,
                "template_id": "",
                "variables": {},
                "campaign_ref": campaign_ref,
                "created_by_id": None,
            },
        )
        ids = [row[0] for row in rows]
        Message.objects.filter(id__in=ids).update(status=status)
        return list(Message.objects.filter(id__in=ids).order_by("to"))

    return make
