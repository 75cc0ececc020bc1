"""Helpers for the DLR callback tests: captured payloads, messages, the callback URL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from providers.models import Message, Provider
from providers.sending.create import message_create

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "dlr"


def fixture_text(name: str, **ids: Any) -> str:
    """A captured payload with its `<Name>` placeholders replaced by the given values."""
    content = (FIXTURES / name).read_text().strip()
    for placeholder, value in ids.items():
        content = content.replace(f"<{placeholder}>", str(value))
    return content


def dlr_url(provider: Provider) -> str:
    return reverse("dlr_callback", args=[provider.callback_token])


def post_json(client: Client, provider: Provider, payload: Any) -> Any:
    body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    return client.post(dlr_url(provider), data=body, content_type="application/json")


def reload(message: Message) -> Message:
    return Message.objects.get(id=message.id)


@pytest.fixture
def make_message(generic_provider):
    """Create a message for the generic provider, already in the given status."""
    numbers = (f"+9198{n:08d}" for n in range(10**8))

    def make(status: str = Message.Status.SUBMITTED, provider: Provider | None = None) -> Message:
        message = message_create(provider=provider or generic_provider, to=next(numbers), body="Hi")
        Message.objects.filter(id=message.id).update(status=status)
        return reload(message)

    return make


@pytest.fixture
def message(make_message) -> Message:
    """A message the provider has accepted and will report on."""
    return make_message()
