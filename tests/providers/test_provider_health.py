"""A provider that keeps failing is visible on the dashboard.

`selectors.provider_health` judges each provider on its send attempts of the last 15
minutes; the provider list shows a "Failing" badge and the provider page a banner.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from providers import selectors
from providers.http.transport import ErrorKind
from providers.models import Message, MessageEvent, Provider
from providers.selectors import ProviderHealth

Status = Message.Status
SEND = MessageEvent.Source.SEND
# Attempts as letters, oldest first: accepted, failed and retried, failed for good.
MARKS = {"O": Status.SUBMITTED, "R": Status.QUEUED, "F": Status.FAILED}


def make_provider(nickname: str) -> Provider:
    return Provider.objects.create(
        nickname=nickname,
        endpoint="https://sms.example.com/send",
        payload={"to": "$$To", "text": "$$Body"},
    )


def record_attempts(
    provider: Provider, pattern: str, *, code: str = ErrorKind.TIMEOUT, minutes_ago: float = 0
) -> None:
    """Send attempts as `pattern` spells them, a second apart, the last `minutes_ago`."""
    message = Message.objects.create(provider=provider, to="+919876543210", body="hi")
    last = timezone.now() - timedelta(minutes=minutes_ago)
    for index, mark in enumerate(pattern):
        event = MessageEvent.objects.create(
            message=message,
            source=SEND,
            status=MARKS[mark],
            code="" if mark == "O" else code,
        )
        # created_at is set on insert; move the attempt to its place in time.
        at = last - timedelta(seconds=len(pattern) - 1 - index)
        MessageEvent.objects.filter(pk=event.pk).update(created_at=at)


def health_of(*providers: Provider) -> list[ProviderHealth]:
    ids = [provider.pk for provider in providers]
    found = dict(selectors.provider_health(providers=Provider.objects.filter(pk__in=ids)))
    return [found[provider] for provider in providers]


def list_row(page: str, nickname: str) -> str:
    [row] = [row for row in re.split(r"<tr[\s>]", page) if f">{nickname}</a>" in row]
    return row


# ---------------------------------------------------------------- the selector


def test_it_counts_recent_attempts_failures_and_the_last_error(db):
    provider = make_provider("Flaky")
    record_attempts(provider, "ORRORRRRRRRRRF")

    [health] = health_of(provider)

    assert health == ProviderHealth(
        attempts=14, failures=12, latest_failures=5, last_error_code=ErrorKind.TIMEOUT
    )
    assert health.failing
    assert health.last_error == "Timed out"
    assert health.summary == "12 of the last 14 attempts failed in the last 15 minutes: Timed out"


@pytest.mark.parametrize(
    "pattern, failing",
    [
        ("", False),
        ("OOOOOOOOOO", False),
        ("RRRRF", True),  # the last five all failed
        ("OOOOOOOOOOOOOOORRRRF", True),  # ... however many succeeded before
        ("OOOOOOOOOOOOOOORRRRO", False),  # four of the last five, a fifth of all
        ("RRFOOO", True),  # half of six
        ("RRFOOOO", False),  # under half
        ("RROO", False),  # half, but too few attempts to tell
        ("RRRF", False),  # all, but too few attempts to tell
    ],
)
def test_a_provider_is_failing_when_its_latest_or_half_its_attempts_failed(db, pattern, failing):
    provider = make_provider("Judged")
    record_attempts(provider, pattern)

    [health] = health_of(provider)

    assert health.attempts == len(pattern)
    assert health.failures == pattern.count("R") + pattern.count("F")
    assert health.failing is failing


def test_only_send_attempts_of_the_last_fifteen_minutes_count(db):
    provider = make_provider("Recovered")
    record_attempts(provider, "RRRRRRRRRF", minutes_ago=16)
    record_attempts(provider, "OO", minutes_ago=1)
    message = Message.objects.create(provider=provider, to="+919876543210", body="hi")
    for source in (MessageEvent.Source.DLR, MessageEvent.Source.ADMIN):
        MessageEvent.objects.create(message=message, source=source, status=Status.FAILED)

    [health] = health_of(provider)

    assert (health.attempts, health.failures, health.failing) == (2, 0, False)


def test_the_last_error_is_the_kind_of_the_latest_failure(db):
    provider = make_provider("Unreachable")
    record_attempts(provider, "RRRR", code=ErrorKind.CONNECTION, minutes_ago=3)
    record_attempts(provider, "RF", code=ErrorKind.DNS, minutes_ago=1)

    [health] = health_of(provider)

    assert health.last_error_code == ErrorKind.DNS
    assert health.summary.endswith(": DNS error: the endpoint's host name does not resolve")


def test_each_provider_is_judged_on_its_own_attempts(db):
    failing, healthy, idle = make_provider("A"), make_provider("B"), make_provider("C")
    record_attempts(failing, "RRRRR", code=ErrorKind.SERVER_ERROR)
    record_attempts(healthy, "OOOOOR", code=ErrorKind.RATE_LIMITED)

    health = health_of(failing, healthy, idle)

    assert [(h.attempts, h.failures, h.failing) for h in health] == [
        (5, 5, True),
        (6, 1, False),
        (0, 0, False),
    ]
    assert [h.last_error_code for h in health] == [
        ErrorKind.SERVER_ERROR,
        ErrorKind.RATE_LIMITED,
        "",
    ]


# ---------------------------------------------------------------- the pages


def test_the_list_marks_a_failing_provider_and_only_it(marketer, db):
    failing, healthy = make_provider("Flaky"), make_provider("Steady")
    record_attempts(failing, "ORRORRRRRRRRRF")
    record_attempts(healthy, "OOOOOOOOOR")

    page = marketer.get(reverse("provider_list")).content.decode()

    row = " ".join(list_row(page, "Flaky").split())
    assert 'data-health="failing"' in row
    assert '<span class="badge badge--failing">Failing</span>' in row
    assert "12 of 14 attempts failed · Timed out" in row
    assert "Failing" not in list_row(page, "Steady")


def test_the_provider_page_warns_when_sending_is_failing(marketer, db):
    provider = make_provider("Flaky")
    record_attempts(provider, "ORRORRRRRRRRRF")

    page = marketer.get(provider.get_absolute_url()).content.decode()

    assert 'data-health="failing"' in page
    assert "12 of the last 14 attempts failed in the last 15 minutes: Timed out" in page


def test_the_provider_page_of_a_healthy_provider_has_no_warning(marketer, db):
    provider = make_provider("Steady")
    record_attempts(provider, "OOOOOOOOOR")

    page = marketer.get(provider.get_absolute_url()).content.decode()

    assert 'data-health="failing"' not in page
    assert "attempts failed" not in page


@pytest.mark.parametrize("providers", [1, 12])
def test_the_lists_query_count_does_not_grow_with_providers(
    marketer, db, providers, django_assert_max_num_queries
):
    for index in range(providers):
        provider = make_provider(f"Provider {index:02d}")
        record_attempts(provider, "RRRRF" if index % 2 else "OOOOO")

    # Session and user, then the providers with their message counts and health.
    with django_assert_max_num_queries(3):
        page = marketer.get(reverse("provider_list")).content.decode()

    assert page.count('data-health="failing"') == providers // 2


def test_an_unknown_provider_page_is_not_found(marketer, db):
    assert marketer.get(reverse("provider_detail", args=[999_999])).status_code == 404
