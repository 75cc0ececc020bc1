"""Pages that stay quick with a million messages: the capped message log and the sampled
health of a provider's sends."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from providers import pagination, selectors, views
from providers.models import Message, MessageEvent, Provider

pytestmark = pytest.mark.django_db
Status = Message.Status


@pytest.fixture
def client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def provider() -> Provider:
    return Provider.objects.create(
        nickname="Bulk", endpoint="https://sms.example.com/send", payload={"to": "$$To"}
    )


def make_messages(provider: Provider, count: int) -> None:
    now = timezone.now()
    for index in range(count):
        message = Message.objects.create(provider=provider, to="+919876543210", body=f"m-{index}")
        Message.objects.filter(pk=message.pk).update(created_at=now - timedelta(minutes=index))


def test_the_log_counts_up_to_the_cap_and_says_there_are_more(client, provider, monkeypatch):
    monkeypatch.setattr(pagination, "COUNT_CAP", 5)
    monkeypatch.setattr(views, "MESSAGES_PER_PAGE", 2)
    make_messages(provider, 8)
    url = reverse("provider_messages", args=[provider.pk])

    first = client.get(url).content.decode()
    assert "1–2 of 5+" in first
    assert re.findall(r"m-\d", first) == ["m-0", "m-1"]

    last = client.get(url, {"page": 3}).content.decode()
    assert re.findall(r"m-\d", last) == ["m-4"]
    assert "These are the newest 5 messages" in last
    assert 'rel="next"' not in last


def test_a_log_under_the_cap_shows_its_exact_count(client, provider, monkeypatch):
    monkeypatch.setattr(views, "MESSAGES_PER_PAGE", 2)
    make_messages(provider, 3)
    page = client.get(reverse("provider_messages", args=[provider.pk])).content.decode()
    assert "1–2 of 3<" in page
    assert "These are the newest" not in page


def test_the_list_counts_every_message_of_each_provider(client, provider):
    make_messages(provider, 3)
    page = client.get(reverse("provider_list")).content.decode()
    assert re.search(r'<td class="num">3</td>', page)


def test_health_looks_at_the_most_recently_active_messages(provider, monkeypatch):
    monkeypatch.setattr(selectors, "HEALTH_SAMPLE", 2)
    now = timezone.now()
    for minutes_ago, status in ((10, Status.FAILED), (2, Status.SUBMITTED), (1, Status.SUBMITTED)):
        message = Message.objects.create(provider=provider, to="+919876543210", status=status)
        MessageEvent.objects.create(message=message, source=MessageEvent.Source.SEND, status=status)
        Message.objects.filter(pk=message.pk).update(
            updated_at=now - timedelta(minutes=minutes_ago)
        )

    [(_, health)] = selectors.provider_health(providers=Provider.objects.all())

    # The failure ten minutes ago is older than the two latest active messages.
    assert (health.attempts, health.failures) == (2, 0)
