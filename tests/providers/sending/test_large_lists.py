"""Pages that stay quick with a million messages: the capped message log, the search by
number, the provider list's counts kept a few seconds and the sampled health of a
provider's sends."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from providers import pagination, selectors, views
from providers.models import Message, MessageEvent, Provider
from tests.cache_clock import let_seconds_pass

pytestmark = pytest.mark.django_db
Status = Message.Status


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


def test_the_log_counts_up_to_the_cap_and_says_there_are_more(marketer, provider, monkeypatch):
    monkeypatch.setattr(pagination, "COUNT_CAP", 5)
    monkeypatch.setattr(views, "MESSAGES_PER_PAGE", 2)
    make_messages(provider, 8)
    url = reverse("provider_messages", args=[provider.pk])

    first = marketer.get(url).content.decode()
    assert "1–2 of 5+" in first
    assert re.findall(r"m-\d", first) == ["m-0", "m-1"]

    last = marketer.get(url, {"page": 3}).content.decode()
    assert re.findall(r"m-\d", last) == ["m-4"]
    assert "These are the newest 5 messages" in last
    assert 'rel="next"' not in last


def test_a_log_under_the_cap_shows_its_exact_count(marketer, provider, monkeypatch):
    monkeypatch.setattr(views, "MESSAGES_PER_PAGE", 2)
    make_messages(provider, 3)
    page = marketer.get(reverse("provider_messages", args=[provider.pk])).content.decode()
    assert "1–2 of 3<" in page
    assert "These are the newest" not in page


def test_the_list_counts_every_message_of_each_provider(marketer, provider):
    make_messages(provider, 3)
    page = marketer.get(reverse("provider_list")).content.decode()
    assert re.search(r'<td class="num">3</td>', page)


def test_health_looks_at_the_newest_messages(provider, monkeypatch):
    monkeypatch.setattr(selectors, "HEALTH_SAMPLE", 2)
    now = timezone.now()
    # A message made an hour ago and retried (and failing) now, then two newer ones.
    for minutes_ago, status in ((60, Status.FAILED), (2, Status.SUBMITTED), (1, Status.SUBMITTED)):
        message = Message.objects.create(provider=provider, to="+919876543210", status=status)
        MessageEvent.objects.create(message=message, source=MessageEvent.Source.SEND, status=status)
        Message.objects.filter(pk=message.pk).update(
            created_at=now - timedelta(minutes=minutes_ago)
        )

    [(_, health)] = selectors.provider_health(providers=Provider.objects.all())

    # The failing message is older than the two newest.
    assert (health.attempts, health.failures) == (2, 0)


def test_the_list_says_what_its_health_badge_means(marketer, provider):
    page = " ".join(marketer.get(reverse("provider_list")).content.decode().split())
    assert "Message counts and send health are updated every few seconds." in page
    assert "the last 15 minutes on each provider's newest 200 messages" in page


def test_the_lists_counts_catch_up_within_a_few_seconds(marketer, provider, monkeypatch):
    make_messages(provider, 3)
    assert re.search(
        r'<td class="num">3</td>', marketer.get(reverse("provider_list")).content.decode()
    )

    make_messages(provider, 2)
    kept = marketer.get(reverse("provider_list")).content.decode()
    assert re.search(r'<td class="num">3</td>', kept)

    let_seconds_pass(monkeypatch, selectors.LIST_FIGURES_SECONDS + 1)
    later = marketer.get(reverse("provider_list")).content.decode()
    assert re.search(r'<td class="num">5</td>', later)


def test_a_new_or_renamed_provider_shows_at_once(marketer, provider):
    make_messages(provider, 3)
    marketer.get(reverse("provider_list"))

    Provider.objects.filter(pk=provider.pk).update(nickname="Bulk renamed")
    added = Provider.objects.create(
        nickname="Added", endpoint="https://sms2.example.com/send", payload={"to": "$$To"}
    )
    make_messages(added, 2)
    page = marketer.get(reverse("provider_list")).content.decode()

    assert ">Bulk renamed</a>" in page
    assert [int(n) for n in re.findall(r'<td class="num">(\d+)</td>', page)] == [2, 3]


# ---------------------------------------------------------------- searching by number


def send_to(provider: Provider, *numbers: str) -> None:
    """Messages to `numbers`, the first the oldest, with the number as their body."""
    now = timezone.now()
    for age, number in enumerate(reversed(numbers)):
        message = Message.objects.create(provider=provider, to=number, body=f"to {number}")
        Message.objects.filter(pk=message.pk).update(created_at=now - timedelta(minutes=age))


def found(marketer: Client, provider: Provider, q: str) -> list[str]:
    page = marketer.get(reverse("provider_messages", args=[provider.pk]), {"q": q}).content.decode()
    return re.findall(r"to (\+\d+)", page)


@pytest.mark.parametrize("q", ["+919876543210", "9876543210", "919876543210", "+91 98765 43210"])
def test_a_whole_number_finds_exactly_that_number(marketer, provider, q):
    send_to(provider, "+919876543210", "+449876543210", "+919876543211")
    assert found(marketer, provider, q) == ["+919876543210"]


def test_part_of_a_number_finds_every_number_containing_it(marketer, provider):
    send_to(provider, "+919876543210", "+449876543210", "+919811111111")
    assert found(marketer, provider, "98765") == ["+449876543210", "+919876543210"]


def test_part_of_a_number_is_looked_for_among_the_newest_messages(marketer, provider, monkeypatch):
    monkeypatch.setattr(selectors, "PARTIAL_SEARCH_SCOPE", 2)
    send_to(provider, "+919876543210", "+919811111111", "+919876500000")
    url = reverse("provider_messages", args=[provider.pk])

    page = marketer.get(url, {"q": "98765"}).content.decode()
    assert re.findall(r"to (\+\d+)", page) == ["+919876500000"]
    assert "Part of a number is looked for among the newest 2 messages." in page

    whole = marketer.get(url, {"q": "9876543210"}).content.decode()
    assert re.findall(r"to (\+\d+)", whole) == ["+919876543210"]
    assert "Part of a number" not in whole
