"""Messages through the real queue: message_create -> db_worker -> HTTP to a fake provider."""

from __future__ import annotations

import itertools

import pytest
from django.core.management import call_command

from providers.models import Message, Provider
from providers.sending.create import message_create
from tests.fake_provider import Answer, FakeProvider

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _loopback(settings):
    settings.SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS = True
    settings.SMSGATEWAY_RETRY_BASE_SECONDS = 0.01
    settings.SMSGATEWAY_RETRY_MAX_SECONDS = 0.05


def run_worker() -> None:
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", "--interval", "0")


def provider_at(url: str) -> Provider:
    return Provider.objects.create(
        nickname="Loopback",
        endpoint=url + "/send",
        payload={"to": "$$To", "text": "$$Body", "msgid": "$$MessageID"},
    )


def test_the_worker_sends_each_queued_message_once():
    with FakeProvider() as fake:
        provider = provider_at(fake.url)
        messages = [
            message_create(provider=provider, to=f"+9198765432{i:02d}", body=f"hello {i}")
            for i in range(5)
        ]
        run_worker()
        run_worker()  # a second pass finds nothing more to send
    sent_ids = sorted(request.json()["msgid"] for request in fake.received)
    assert sent_ids == sorted(str(m.id) for m in messages)
    assert set(Message.objects.values_list("status", flat=True)) == {"submitted"}


def test_a_transient_failure_is_retried_until_it_succeeds():
    answers = itertools.chain([Answer(status=503, body="busy")], itertools.repeat(Answer()))
    with FakeProvider(lambda request: next(answers)) as fake:
        provider = provider_at(fake.url)
        message = message_create(provider=provider, to="+919876543210", body="hi")
        for _ in range(20):
            run_worker()
            message.refresh_from_db()
            if message.status != "queued":
                break
    assert message.status == "submitted"
    assert message.attempts == 2
    assert len(fake.received) == 2
