"""The inbound URL's guard, shared with the DLR callback: its own secret token, the
provider's optional basic auth, bodies over 1 MB refused, bad input never a 500."""

from __future__ import annotations

import base64

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from providers.models import OptOut, Provider, Reply
from tests.providers.inbound.conftest import mo_url, post_json, replied

USER, PASSWORD = "sinch-mo", "mo-PASS-7!"


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.fixture
def guarded(generic_provider) -> Provider:
    generic_provider.callback_username = USER
    generic_provider.callback_password = PASSWORD
    generic_provider.save()
    return generic_provider


@pytest.mark.parametrize("authorization", [None, basic(USER, "wrong"), "Bearer " + PASSWORD])
def test_without_the_callbacks_basic_auth_a_reply_is_401_and_stores_nothing(
    client, guarded, authorization
):
    headers = {"Authorization": authorization} if authorization else {}

    response = post_json(client, guarded, replied("919876543210", "STOP"), **headers)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith('Basic realm="smsgateway MO"')
    assert not Reply.objects.exists() and not OptOut.objects.exists()


def test_with_the_callbacks_basic_auth_the_reply_is_stored(client, guarded):
    response = post_json(
        client,
        guarded,
        replied("919876543210", "STOP"),
        Authorization=basic(USER, PASSWORD),
    )

    assert response.status_code == 200
    assert OptOut.objects.filter(phone="+919876543210").exists()


def test_the_callback_token_does_not_open_the_inbound_url_nor_the_other_way(
    client, generic_provider
):
    wrong = reverse("inbound_callback", args=[generic_provider.callback_token])
    body = '[{"event": "replied", "data": [{"fromPhone": "919876543210", "incomingText": "Hi"}]}]'

    response = client.post(wrong, data=body, content_type="application/json")
    as_dlr = client.post(
        reverse("dlr_callback", args=[generic_provider.inbound_token]),
        data=body,
        content_type="application/json",
    )

    assert (response.status_code, as_dlr.status_code) == (404, 404)
    assert not Reply.objects.exists()


def test_the_unknown_token_is_not_logged(client, generic_provider, caplog):
    client.post("/mo/" + "x" * 43 + "/", data="[]", content_type="application/json")

    assert "Inbound URL with an unknown token" in caplog.text
    assert "x" * 43 not in caplog.text


@pytest.mark.parametrize(
    "body, reason",
    [
        ("not json", "not valid JSON"),
        ('"STOP"', "expected a JSON array of event objects"),
        ("[1, 2]", "expected a JSON array of event objects"),
    ],
)
def test_a_malformed_body_is_400_with_the_reason(client, generic_provider, body, reason):
    response = post_json(client, generic_provider, body)

    assert response.status_code == 400
    assert response.json()["status"] == "fail"
    assert response.json()["error"].startswith(reason)


def test_a_body_over_1_mb_is_413(client, generic_provider):
    response = post_json(client, generic_provider, "[" + " " * (1024 * 1024) + "]")

    assert response.status_code == 413


def test_the_provider_page_shows_the_inbound_url_with_a_copy_button(marketer, generic_provider):
    page = marketer.get(generic_provider.get_absolute_url()).content.decode()

    assert generic_provider.inbound_url == (
        f"https://gateway.example.com/mo/{generic_provider.inbound_token}/"
    )
    assert f'value="{generic_provider.inbound_url}"' in page
    assert 'data-copy="#inbound-url"' in page
    assert mo_url(generic_provider) != reverse(
        "dlr_callback", args=[generic_provider.callback_token]
    )


def test_a_crash_is_a_500_that_never_names_the_token(
    settings, generic_provider, monkeypatch, caplog
):
    settings.DEBUG = False
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    def crash(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("providers.inbound.views.replies_receive", crash)
    client = Client(raise_request_exception=False)

    response = post_json(client, generic_provider, replied("919876543210", "STOP"))

    assert response.status_code == 500  # the provider sends the reply again later
    assert "database went away" in caplog.text
    assert generic_provider.inbound_token not in caplog.text
    assert not mail.outbox
