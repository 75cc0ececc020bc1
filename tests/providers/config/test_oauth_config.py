"""Configuring OAuth 2.0 client credentials: the rules every path shares, what the form
shows, and that new credentials drop the stored token."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from providers.config.services import provider_update
from providers.models import AccessToken, Provider
from providers.ops.transfer import providers_export, providers_import
from tests.factories import field_text, provider_edit_data, provider_form_data

pytestmark = pytest.mark.django_db

OAUTH = {
    "auth_type": "oauth2",
    "oauth_token_url": "https://auth.acme-sms.example/oauth2/token",
    "oauth_client_id": "acme-client",
    "oauth_client_secret": "client-SECRET-7",
    "oauth_scope": "sms.send",
    "oauth_extra": {"audience": "sms-api"},
}


@pytest.fixture
def api(admin_user) -> APIClient:
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


def new_provider(**overrides: Any) -> dict[str, Any]:
    return {
        "nickname": "Acme OAuth",
        "endpoint": "https://sms.acme-sms.example/send",
        "payload": {"to": "$$To", "text": "$$Body"},
        **OAUTH,
        **overrides,
    }


def test_the_api_saves_oauth_credentials_and_never_returns_the_secret(api):
    response = api.post("/api/v1/providers/", new_provider(), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert "oauth_client_secret" not in body
    assert b"client-SECRET-7" not in response.content
    assert body["oauth_token_url"] == OAUTH["oauth_token_url"]
    assert body["oauth_extra"] == {"audience": "sms-api"}
    assert body["dispatch_error"] == ""
    assert Provider.objects.get().oauth_client_secret == "client-SECRET-7"


def test_oauth_needs_a_token_url_a_client_id_and_a_secret(api):
    response = api.post(
        "/api/v1/providers/",
        new_provider(oauth_token_url="", oauth_client_id="", oauth_client_secret=""),
        format="json",
    )

    assert response.status_code == 400
    errors = response.json()
    assert errors["oauth_token_url"] == ["OAuth 2.0 needs the token URL."]
    assert errors["oauth_client_id"] == ["OAuth 2.0 needs the client id."]
    assert errors["oauth_client_secret"] == ["OAuth 2.0 needs the client secret."]


@pytest.mark.parametrize(
    "url, message",
    [
        ("http://auth.example.com/token", "The token URL must use https://."),
        ("https://localhost/token", "The token URL may not point at this machine."),
        ("https://10.0.0.5/token", "The token URL may not be a private"),
    ],
)
def test_the_token_url_is_checked_like_the_endpoint(api, url, message):
    response = api.post("/api/v1/providers/", new_provider(oauth_token_url=url), format="json")
    assert response.status_code == 400
    assert message in response.json()["oauth_token_url"][0]


def test_extra_values_may_not_replace_the_grant(api):
    response = api.post(
        "/api/v1/providers/",
        new_provider(oauth_extra={"grant_type": "password", "audience": "x"}),
        format="json",
    )
    assert response.status_code == 400
    assert "grant_type cannot be set here" in response.json()["oauth_extra"][0]


def test_access_token_in_the_payload_needs_oauth(api):
    response = api.post(
        "/api/v1/providers/",
        new_provider(
            auth_type="none", payload={"to": "$$To", "text": "$$Body", "t": "$$AccessToken"}
        ),
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["payload"] == ["$$AccessToken needs OAuth 2.0 authentication."]


def test_the_dashboard_form_saves_oauth_and_shows_its_section(marketer):
    data = provider_form_data(
        auth_type="oauth2",
        oauth_token_url=OAUTH["oauth_token_url"],
        oauth_client_id="acme-client",
        oauth_client_secret="client-SECRET-7",
        oauth_scope="sms.send",
        oauth_extra='{"audience": "sms-api"}',
    )
    response = marketer.post(reverse("provider_create"), data)
    assert response.status_code == 302

    provider = Provider.objects.get()
    assert (provider.auth_type, provider.oauth_client_secret) == ("oauth2", "client-SECRET-7")
    assert provider.oauth_extra == {"audience": "sms-api"}
    page = marketer.get(reverse("provider_edit", args=[provider.pk]))
    html = page.content.decode()
    assert "client-SECRET-7" not in html
    assert '<div class="grid-2" data-section="oauth">' in html  # shown
    assert '<div class="grid-2" data-section="credentials" hidden>' in html  # username hidden
    assert "HTTP Basic" in field_text(page, "oauth_client_secret")

    # Left blank on an edit, the stored secret is kept.
    edit = provider_edit_data(
        provider,
        oauth_token_url=OAUTH["oauth_token_url"],
        oauth_client_id="acme-client",
        oauth_client_secret="",
    )
    assert marketer.post(reverse("provider_edit", args=[provider.pk]), edit).status_code == 302
    provider.refresh_from_db()
    assert provider.oauth_client_secret == "client-SECRET-7"


def test_the_dashboard_form_says_what_oauth_is_missing(marketer):
    response = marketer.post(reverse("provider_create"), provider_form_data(auth_type="oauth2"))
    assert response.status_code == 400
    assert "OAuth 2.0 needs the token URL." in field_text(response, "oauth_token_url")
    assert "OAuth 2.0 needs the client secret." in field_text(response, "oauth_client_secret")


def oauth_provider_with_token() -> Provider:
    provider = Provider.objects.create(
        nickname="Acme OAuth",
        endpoint="https://sms.acme-sms.example/send",
        payload={"to": "$$To", "text": "$$Body"},
        **OAUTH,
    )
    AccessToken.objects.create(
        provider=provider,
        token="stored-token",
        fetched_at=timezone.now(),
        expires_at=timezone.now() + timedelta(hours=1),
    )
    Provider.objects.filter(id=provider.id).update(dispatch_error="Dispatch error: old")
    provider.refresh_from_db()
    return provider


@pytest.mark.parametrize(
    "change",
    [
        {"oauth_client_secret": "new-secret"},
        {"oauth_client_id": "other-client"},
        {"oauth_token_url": "https://auth.other.example/token"},
        {"oauth_scope": "sms.send sms.read"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_new_credentials_drop_the_stored_token_and_the_old_error(change):
    provider = oauth_provider_with_token()
    provider_update(provider=provider, data=change)

    assert not AccessToken.objects.filter(provider=provider).exists()
    provider.refresh_from_db()
    assert provider.dispatch_error == ""


def test_other_changes_keep_the_token():
    provider = oauth_provider_with_token()
    provider_update(provider=provider, data={"nickname": "Renamed", "oauth_client_secret": ""})
    assert AccessToken.objects.get(provider=provider).token == "stored-token"


def test_export_and_import_carry_the_oauth_settings():
    provider = oauth_provider_with_token()
    [record] = providers_export()
    assert "oauth_client_secret" not in record
    assert record["oauth_token_url"] == OAUTH["oauth_token_url"]

    Provider.objects.filter(id=provider.id).update(oauth_scope="")
    providers_import(records=[record])
    provider.refresh_from_db()
    assert provider.oauth_scope == "sms.send"
    assert provider.oauth_client_secret == "client-SECRET-7"
