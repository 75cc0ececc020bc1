"""The OAuth 2.0 client credentials grant against a fake token endpoint over real HTTP:
what is asked, how long a token is kept, one fetch however many ask, and failures."""

from __future__ import annotations

import base64
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from providers.http import oauth
from providers.models import AccessToken, Provider
from tests.fake_oauth import CLIENT_ID, CLIENT_SECRET, FakeOAuth, oauth_provider, token_form
from tests.fake_provider import Answer, FakeProvider

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _loopback(settings):
    settings.SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS = True


def test_it_asks_for_client_credentials_with_http_basic_the_scope_and_extra_values():
    with FakeOAuth() as fake:
        provider = oauth_provider(fake.url, oauth_extra={"audience": "sms-api"})
        token = oauth.access_token_get(provider=provider)

    [request] = fake.token_requests
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {basic}"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert token_form(request) == {
        "grant_type": ["client_credentials"],
        "scope": ["sms.send"],
        "audience": ["sms-api"],
    }
    # The secret goes in the header only (RFC 6749 2.3.1), not in the body.
    assert CLIENT_SECRET not in request.body.decode()
    assert token.value == fake.issued[0]


def test_it_keeps_the_token_encrypted_and_reuses_it_until_shortly_before_it_expires():
    with FakeOAuth(expires_in=600) as fake:
        provider = oauth_provider(fake.url)
        first = oauth.access_token_get(provider=provider)
        again = oauth.access_token_get(provider=provider)
        assert again.value == first.value
        assert len(fake.token_requests) == 1
        with connection.cursor() as cursor:
            cursor.execute("SELECT token FROM providers_accesstoken")
            [(stored,)] = cursor.fetchall()
        assert first.value not in stored
        # 600 s: fetched again in its last minute.
        assert first.expires_at - first.refresh_at == timedelta(seconds=60)

        # Nine and a half minutes later:
        now = timezone.now()
        AccessToken.objects.update(
            fetched_at=now - timedelta(seconds=570), expires_at=now + timedelta(seconds=30)
        )
        renewed = oauth.access_token_get(provider=provider)

    assert len(fake.token_requests) == 2
    assert renewed.value == fake.issued[1]


def test_a_short_lived_token_is_renewed_in_the_last_tenth_of_its_life():
    with FakeOAuth(expires_in=100) as fake:
        token = oauth.access_token_get(provider=oauth_provider(fake.url))
    assert token.expires_at - token.refresh_at == timedelta(seconds=10)


def test_an_answer_without_expires_in_is_kept_for_an_hour():
    with FakeOAuth(expires_in=None) as fake:
        token = oauth.access_token_get(provider=oauth_provider(fake.url))
    lifetime = token.expires_at - AccessToken.objects.get().fetched_at
    assert lifetime == oauth.DEFAULT_LIFETIME == timedelta(hours=1)


def test_many_threads_asking_at_once_fetch_one_token():
    with FakeOAuth(token_delay=0.3) as fake:
        provider = oauth_provider(fake.url)
        got: list[str] = []

        def ask() -> None:
            try:
                got.append(oauth.access_token_get(provider=provider).value)
            finally:
                connection.close()

        threads = [threading.Thread(target=ask) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

    assert len(fake.token_requests) == 1
    assert got == [fake.issued[0]] * 6


def test_refused_credentials_are_a_dispatch_error_with_the_endpoints_answer():
    with FakeOAuth() as fake:
        provider = oauth_provider(fake.url, oauth_client_secret="wrong-secret")
        with pytest.raises(oauth.TokenUnavailable) as refused:
            oauth.access_token_get(provider=provider)
        provider.refresh_from_db()
        assert str(refused.value).startswith(
            "the token endpoint refused the credentials — HTTP 401:"
        )
        assert "Unknown client" in str(refused.value)
        assert provider.dispatch_error == f"Dispatch error: {refused.value}"
        assert provider.dispatch_error_at is not None

        # Fixed: the next token clears it.
        provider.oauth_client_secret = CLIENT_SECRET
        provider.save()
        oauth.access_token_get(provider=provider)
    provider.refresh_from_db()
    assert provider.dispatch_error == ""
    assert provider.dispatch_error_at is None


def test_a_token_endpoint_that_is_down_or_failing_says_so():
    down = FakeProvider(listening=False)
    with down:
        provider = oauth_provider("http://127.0.0.1:9", token_url=down.url + "/token")
        with pytest.raises(oauth.TokenUnavailable) as refused:
            oauth.access_token_get(provider=provider)
    assert str(refused.value).startswith(
        "the token endpoint could not be reached — Endpoint refused the connection"
    )

    with FakeOAuth() as fake:
        fake.token_answer = Answer(status=503, body="maintenance")
        with pytest.raises(oauth.TokenUnavailable) as failed:
            oauth.access_token_get(provider=oauth_provider(fake.url, nickname="Other"))
    assert str(failed.value) == "the token endpoint failed — HTTP 503: maintenance"


def test_an_answer_without_a_token_is_refused_and_an_echoed_secret_is_masked():
    with FakeOAuth() as fake:
        fake.token_answer = Answer(body='{"client_secret": "' + CLIENT_SECRET + '"}')
        with pytest.raises(oauth.TokenUnavailable) as refused:
            oauth.access_token_get(provider=oauth_provider(fake.url))
    assert "no usable token" in str(refused.value)
    assert CLIENT_SECRET not in str(refused.value)
    assert CLIENT_SECRET not in Provider.objects.get().dispatch_error


def test_a_private_token_url_is_refused_before_any_request(settings):
    settings.SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS = False
    provider = oauth_provider("https://sms.example.com", token_url="https://127.0.0.1/token")
    with pytest.raises(oauth.TokenUnavailable) as refused:
        oauth.access_token_get(provider=provider)
    assert "private, loopback or reserved" in str(refused.value)


def test_a_dropped_token_is_fetched_again_but_a_newer_one_is_kept():
    with FakeOAuth() as fake:
        provider = oauth_provider(fake.url)
        first = oauth.access_token_get(provider=provider).value
        oauth.access_token_drop(provider_id=provider.id, token=first)
        second = oauth.access_token_get(provider=provider).value
        # Another process refused the first token too, late: the second one stays.
        oauth.access_token_drop(provider_id=provider.id, token=first)
        assert oauth.access_token_get(provider=provider).value == second
    assert len(fake.token_requests) == 2


def test_key_rotation_keeps_the_stored_token_and_a_lost_key_only_costs_a_new_one(settings):
    from cryptography.fernet import Fernet

    from providers.ops.keys import provider_secrets_rotate

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.SMSGATEWAY_ENCRYPTION_KEYS = [old]
    with FakeOAuth() as fake:
        provider = oauth_provider(fake.url)
        first = oauth.access_token_get(provider=provider).value
        settings.SMSGATEWAY_ENCRYPTION_KEYS = [new, old]
        assert provider_secrets_rotate().failures == {}
        settings.SMSGATEWAY_ENCRYPTION_KEYS = [new]
        provider = Provider.objects.get(id=provider.id)
        assert oauth.access_token_get(provider=provider).value == first

        settings.SMSGATEWAY_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
        provider.save()  # the operator stored the secret again under the newest key
        assert oauth.access_token_get(provider=provider).value == fake.issued[1]
