"""Sending for an OAuth 2.0 provider: the worker's dispatcher and the single sends, over
real HTTP to a fake token endpoint and provider. What a marketer sees: messages sent
with one token, a token the provider refuses renewed once, messages held (queued) while
no token can be had, and the reason on the provider's page."""

from __future__ import annotations

import json
import logging
import time

import pytest
from django.urls import reverse

from providers.models import AccessToken, Message, MessageEvent, Provider
from providers.ops.transfer import providers_export
from providers.sending import send_now
from providers.sending.create import message_create
from tests.factories import dispatcher_running, run_worker, send_due, wait_for
from tests.fake_oauth import CLIENT_SECRET, FakeOAuth, oauth_provider, sent_token
from tests.fake_provider import Answer

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _loopback(settings):
    settings.SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS = True
    settings.SMSGATEWAY_RETRY_BASE_SECONDS = 0.01
    settings.SMSGATEWAY_RETRY_MAX_SECONDS = 0.05
    settings.SMSGATEWAY_OAUTH_RETRY_SECONDS = 0.2


def queue(provider: Provider, count: int) -> list[Message]:
    return [
        message_create(provider=provider, to=f"+9198765{n:05d}", body="OTP 1234")
        for n in range(count)
    ]


def statuses() -> set[str]:
    return set(Message.objects.values_list("status", flat=True))


def test_one_token_is_fetched_for_many_messages_and_sent_as_a_bearer_header():
    with FakeOAuth() as fake:
        provider = oauth_provider(fake.url)
        queue(provider, 50)
        run_worker()

    assert statuses() == {"submitted"}
    assert len(fake.token_requests) == 1
    assert {r.headers["Authorization"] for r in fake.sends} == {f"Bearer {fake.issued[0]}"}
    assert set(Message.objects.values_list("attempts", flat=True)) == {1}


def test_an_expired_token_is_fetched_again():
    with FakeOAuth() as fake:
        provider = oauth_provider(fake.url)
        queue(provider, 3)
        run_worker()
        # The stored token reaches its last minute: the next worker renews it.
        AccessToken.objects.update(expires_at=AccessToken.objects.get().fetched_at)
        queue(provider, 3)
        run_worker()

    assert statuses() == {"submitted"}
    assert len(fake.token_requests) == 2
    assert sent_token(fake.sends[-1]) == fake.issued[1]


def test_a_401_to_the_token_renews_it_once_and_the_messages_go_at_once():
    with FakeOAuth() as fake:
        provider = oauth_provider(fake.url)
        queue(provider, 2)
        run_worker()
        fake.revoke()  # the provider expired its tokens early
        later = queue(provider, 20)
        run_worker()

    assert statuses() == {"submitted"}
    assert len(fake.token_requests) == 2
    # Each went once more with the new token, not counted as a failed attempt.
    assert {m.attempts for m in Message.objects.filter(id__in=[m.id for m in later])} == {1}
    assert sent_token(fake.sends[-1]) == fake.issued[1]
    history = list(later[0].events.order_by("id").values_list("status", "description"))
    assert history[-2:] == [
        ("sending", "Access token refused (HTTP 401): sending again with a new token"),
        ("submitted", "Accepted by the provider (HTTP 200)"),
    ]


def test_a_second_401_with_a_new_token_fails_as_authentication_rejected():
    with FakeOAuth() as fake:
        fake.refuse_all = True
        provider = oauth_provider(fake.url)
        [message] = queue(provider, 1)
        run_worker()

    message.refresh_from_db()
    assert message.status == "failed"
    assert message.error_code == "auth_rejected"
    assert len(fake.token_requests) == 2
    assert [sent_token(r) for r in fake.sends] == fake.issued


def test_messages_wait_while_the_token_endpoint_is_down_and_go_once_it_is_back(marketer):
    with FakeOAuth() as fake:
        fake.token_answer = Answer(reset=True)  # down: the connection is cut
        provider = oauth_provider(fake.url)
        messages = queue(provider, 5)
        run_worker()

        assert statuses() == {"queued"}
        assert {m.attempts for m in Message.objects.all()} == {0}
        page = marketer.get(reverse("provider_detail", args=[provider.pk])).content.decode()
        assert "Dispatch error: the token endpoint could not be reached" in page
        assert fake.sends == []

        with dispatcher_running():
            time.sleep(0.5)  # held: asked again every SMSGATEWAY_OAUTH_RETRY_SECONDS
            assert statuses() == {"queued"}
            fake.token_answer = None  # back
            wait_for(lambda: statuses() == {"submitted"}, "the held messages to go")

    assert {m.attempts for m in Message.objects.filter(id__in=[m.id for m in messages])} == {1}
    provider.refresh_from_db()
    assert provider.dispatch_error == ""
    page = marketer.get(reverse("provider_detail", args=[provider.pk])).content.decode()
    assert "Dispatch error" not in page


def test_refused_credentials_hold_the_messages_and_show_the_answer(marketer):
    with FakeOAuth() as fake:
        provider = oauth_provider(fake.url, oauth_client_secret="not-the-secret")
        queue(provider, 3)
        run_worker()

    assert statuses() == {"queued"}
    provider.refresh_from_db()
    assert provider.dispatch_error.startswith(
        "Dispatch error: the token endpoint refused the credentials — HTTP 401:"
    )
    page = marketer.get(reverse("provider_detail", args=[provider.pk])).content.decode()
    assert "the token endpoint refused the credentials" in page
    assert "Unknown client" in page


def test_access_token_in_the_body_replaces_the_authorization_header():
    with FakeOAuth() as fake:
        provider = oauth_provider(
            fake.url, payload={"to": "$$To", "text": "$$Body", "token": "$$AccessToken"}
        )
        [message] = queue(provider, 1)
        run_worker()

    [send] = fake.sends
    assert "Authorization" not in send.headers
    assert send.json()["token"] == fake.issued[0]
    message.refresh_from_db()
    assert message.status == "submitted"


def test_the_token_and_the_client_secret_never_reach_events_logs_the_api_or_an_export(
    caplog, admin_user
):
    from rest_framework.test import APIClient

    caplog.set_level(logging.DEBUG)
    with FakeOAuth() as fake:
        provider = oauth_provider(
            fake.url, payload={"to": "$$To", "text": "$$Body", "token": "$$AccessToken"}
        )
        queue(provider, 2)
        run_worker()
        fake.revoke()
        queue(provider, 1)
        run_worker()

    events = json.dumps(
        list(MessageEvent.objects.values("description", "data")), ensure_ascii=False
    )
    api = APIClient()
    api.force_authenticate(admin_user)
    shown = [
        events,
        caplog.text,
        api.get(f"/api/v1/providers/{provider.pk}/").content.decode(),
        json.dumps(providers_export()),
    ]
    for token in fake.issued:
        for text in shown:
            assert token not in text
    for text in shown:
        assert CLIENT_SECRET not in text
    assert "********" in events


def test_the_test_sms_shows_a_token_failure_and_sends_with_a_token_otherwise():
    with FakeOAuth() as fake:
        provider = oauth_provider(fake.url, oauth_client_secret="not-the-secret")
        refused = send_now.test_sms_send(
            provider=provider, country_code="91", mobile="9876543210", message="Hi"
        )
        provider.oauth_client_secret = CLIENT_SECRET
        provider.save()
        sent = send_now.test_sms_send(
            provider=provider, country_code="91", mobile="9876543210", message="Hi"
        )

    assert not refused.ok
    assert refused.error.startswith(
        "No OAuth access token: the token endpoint refused the credentials — HTTP 401"
    )
    assert sent.ok
    assert sent_token(fake.sends[-1]) == fake.issued[0]


def test_send_now_holds_a_message_when_no_token_can_be_had():
    with FakeOAuth() as fake:
        fake.token_answer = Answer(status=503, body="maintenance")
        provider = oauth_provider(fake.url)
        [message] = queue(provider, 1)
        result = send_due(message)

    assert result is not None and not result.ok
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("queued", 0)
    assert "the token endpoint failed — HTTP 503: maintenance" in message.events.last().description
