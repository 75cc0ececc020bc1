"""Optional basic auth on the DLR callback, and how the callback token is compared.

A provider may be told to send a username and password (HTTP basic auth) with every
delivery report: set in the dashboard, the API or the admin, stored encrypted, never
shown again; reports without them get 401 with `WWW-Authenticate` and change nothing.
"""

from __future__ import annotations

import base64
import hmac
import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from providers.config.services import provider_rotate_token
from providers.models import DeliveryReport, Message, Provider
from providers.ops.keys import provider_secrets_rotate
from providers.ops.transfer import providers_export
from providers.sending.create import message_create
from tests.factories import provider_edit_data, provider_form_data

Status = Message.Status
CALLBACK_USER = "sinch-dlr"
CALLBACK_PASSWORD = "cb-PASS-Zq8!"


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.fixture
def guarded_provider(generic_provider) -> Provider:
    generic_provider.callback_username = CALLBACK_USER
    generic_provider.callback_password = CALLBACK_PASSWORD
    generic_provider.save()
    return generic_provider


@pytest.fixture
def submitted(guarded_provider) -> Message:
    message = message_create(provider=guarded_provider, to="+919876543210", body="Hi")
    Message.objects.filter(id=message.id).update(status=Status.SUBMITTED)
    return message


def deliver(client: Client, provider: Provider, message: Message, **headers: str):
    body = [{"event": "delivered", "data": [{"meta": str(message.id), "ts": 1654512921}]}]
    return client.post(
        reverse("dlr_callback", args=[provider.callback_token]),
        data=json.dumps(body),
        content_type="application/json",
        headers=headers,
    )


# ---------------------------------------------------------------- the callback


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        basic(CALLBACK_USER, "wrong"),
        basic("someone-else", CALLBACK_PASSWORD),
        basic(CALLBACK_USER, ""),
        "Basic not-base64!!",
        "Basic " + base64.b64encode(b"no-colon-at-all").decode(),
        "Bearer " + CALLBACK_PASSWORD,
    ],
)
def test_a_report_without_the_right_credentials_is_401_and_changes_nothing(
    client, guarded_provider, submitted, authorization
):
    headers = {"Authorization": authorization} if authorization else {}

    response = deliver(client, guarded_provider, submitted, **headers)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith('Basic realm="smsgateway DLR"')
    assert Message.objects.get(id=submitted.id).status == Status.SUBMITTED
    assert not DeliveryReport.objects.exists()


def test_a_report_with_the_right_credentials_applies(client, guarded_provider, submitted):
    response = deliver(
        client, guarded_provider, submitted, Authorization=basic(CALLBACK_USER, CALLBACK_PASSWORD)
    )

    assert response.status_code == 200
    assert response.json()["status"] == "success"
    assert Message.objects.get(id=submitted.id).status == Status.DELIVERED


def test_a_wrong_token_is_404_even_with_the_right_credentials(client, guarded_provider, submitted):
    response = client.post(
        "/dlr/" + "x" * 43 + "/",
        data="[]",
        content_type="application/json",
        headers={"Authorization": basic(CALLBACK_USER, CALLBACK_PASSWORD)},
    )

    assert response.status_code == 404


def test_without_basic_auth_configured_any_authorization_header_is_ignored(
    client, generic_provider
):
    message = message_create(provider=generic_provider, to="+919876543210", body="Hi")

    response = deliver(client, generic_provider, message, Authorization="Basic Zm9vOmJhcg==")

    assert response.status_code == 200
    assert Message.objects.get(id=message.id).status == Status.DELIVERED


def test_the_401_does_not_log_the_callback_token(client, guarded_provider, submitted, caplog):
    deliver(client, guarded_provider, submitted)

    assert "without valid basic auth" in caplog.text
    assert guarded_provider.callback_token not in caplog.text


# ---------------------------------------------------------------- the token


def test_the_database_is_never_asked_for_the_token_itself(client, submitted, monkeypatch):
    compared = []
    real_compare = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr("providers.callbacks.hmac.compare_digest", spy)
    token = submitted.provider.callback_token

    with CaptureQueriesContext(connection) as queries:
        response = deliver(
            client,
            submitted.provider,
            submitted,
            Authorization=basic(CALLBACK_USER, CALLBACK_PASSWORD),
        )

    assert response.status_code == 200
    assert not [q["sql"] for q in queries.captured_queries if token in q["sql"]]
    assert (token, token) in compared  # the token itself: compared in constant time


def test_a_rotated_token_gets_a_new_digest(client, submitted):
    provider = submitted.provider
    old_token = provider.callback_token
    new_token = provider_rotate_token(provider=provider)
    auth = {"Authorization": basic(CALLBACK_USER, CALLBACK_PASSWORD)}

    old = client.post(
        f"/dlr/{old_token}/", data="[]", content_type="application/json", headers=auth
    )
    provider.refresh_from_db()
    new = deliver(client, provider, submitted, **auth)

    assert old.status_code == 404
    assert provider.callback_token == new_token
    assert new.status_code == 200


def test_a_rotated_token_stops_working_at_once_after_serving_callbacks(client, submitted):
    provider = submitted.provider
    old_token = provider.callback_token
    auth = {"Authorization": basic(CALLBACK_USER, CALLBACK_PASSWORD)}
    served = client.post(
        f"/dlr/{old_token}/", data="[]", content_type="application/json", headers=auth
    )

    provider_rotate_token(provider=provider)
    after = client.post(
        f"/dlr/{old_token}/", data="[]", content_type="application/json", headers=auth
    )

    assert (served.status_code, after.status_code) == (200, 404)


@pytest.mark.parametrize("lifetime", [2.0, 0])
def test_a_change_made_by_another_process_shows_within_the_cache_lifetime(
    client, submitted, monkeypatch, settings, lifetime
):
    settings.SMSGATEWAY_LOOKUP_CACHE_SECONDS = lifetime
    clock = [1000.0]
    monkeypatch.setattr("smsgateway.process_cache.time.monotonic", lambda: clock[0])
    provider = submitted.provider
    auth = {"Authorization": basic(CALLBACK_USER, CALLBACK_PASSWORD)}

    def callback() -> int:
        return client.post(
            f"/dlr/{provider.callback_token}/",
            data="[]",
            content_type="application/json",
            headers=auth,
        ).status_code

    first = callback()
    # Another web process turns the callback credentials off and back on with a new
    # password: no signal reaches this process.
    Provider.objects.filter(id=provider.id).update(
        callback_password=Provider._meta.get_field("callback_password").get_prep_value("new")
    )
    clock[0] += 1.0
    soon = callback()
    clock[0] += 1.5
    later = callback()

    assert first == 200
    assert (soon, later) == ((200, 401) if lifetime else (401, 401))


# ---------------------------------------------------------------- setting it up


def test_the_dashboard_sets_basic_auth_and_keeps_it_on_a_later_edit(user, generic_provider):
    client = Client()
    client.force_login(user)
    url = reverse("provider_edit", args=[generic_provider.pk])

    client.post(
        url,
        provider_edit_data(
            generic_provider,
            callback_auth="on",
            callback_username=CALLBACK_USER,
            callback_password=CALLBACK_PASSWORD,
        ),
    )
    generic_provider.refresh_from_db()
    assert (generic_provider.callback_username, generic_provider.callback_password) == (
        CALLBACK_USER,
        CALLBACK_PASSWORD,
    )

    page = client.get(url).content.decode()
    assert CALLBACK_PASSWORD not in page and CALLBACK_USER not in page
    assert "Stored: leave blank to keep" in page
    assert "Basic auth required" in client.get(generic_provider.get_absolute_url()).content.decode()

    client.post(url, provider_edit_data(generic_provider, callback_auth="on"))
    generic_provider.refresh_from_db()
    assert generic_provider.callback_password == CALLBACK_PASSWORD

    client.post(url, provider_edit_data(generic_provider))  # box unticked
    generic_provider.refresh_from_db()
    assert not generic_provider.callback_requires_auth


def test_the_dashboard_asks_for_both_credentials(user):
    client = Client()
    client.force_login(user)

    response = client.post(
        reverse("provider_create"),
        provider_form_data(callback_auth="on", callback_username="only-me"),
    )

    assert response.status_code == 400
    assert "Basic auth on the callback needs a password." in response.content.decode()
    assert not Provider.objects.exists()


def test_the_api_sets_masks_keeps_and_clears_basic_auth(user, generic_provider):
    api = APIClient()
    api.force_authenticate(user)
    url = f"/api/v1/providers/{generic_provider.pk}/"

    response = api.patch(
        url,
        {"callback_username": CALLBACK_USER, "callback_password": CALLBACK_PASSWORD},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["callback_auth"] is True
    assert body["callback_username"] == "********"
    assert "callback_password" not in body
    assert CALLBACK_PASSWORD not in response.content.decode()

    response = api.patch(url, {"callback_username": "********"}, format="json")
    generic_provider.refresh_from_db()
    assert response.status_code == 200
    assert generic_provider.callback_username == CALLBACK_USER

    response = api.patch(url, {"callback_username": "", "callback_password": ""}, format="json")
    generic_provider.refresh_from_db()
    assert response.status_code == 200
    assert generic_provider.callback_requires_auth  # blank keeps, as on every path

    response = api.patch(url, {"callback_username": None, "callback_password": None}, format="json")
    generic_provider.refresh_from_db()
    assert response.status_code == 200
    assert response.json()["callback_auth"] is False
    assert not generic_provider.callback_requires_auth


def test_the_api_refuses_half_a_credential(user, generic_provider):
    api = APIClient()
    api.force_authenticate(user)

    response = api.patch(
        f"/api/v1/providers/{generic_provider.pk}/",
        {"callback_password": CALLBACK_PASSWORD},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["callback_username"] == ["Basic auth on the callback needs a username."]
    generic_provider.refresh_from_db()
    assert not generic_provider.callback_requires_auth


def test_the_admin_sets_basic_auth_without_ever_showing_it(admin_user, generic_provider):
    client = Client()
    client.force_login(admin_user)
    url = reverse("admin:providers_provider_change", args=[generic_provider.pk])
    page = client.get(url)
    form = {
        "nickname": generic_provider.nickname,
        "kind": generic_provider.kind,
        "request_type": "POST",
        "endpoint": generic_provider.endpoint,
        "content_type": "json",
        "auth_type": "none",
        "header_lines": "X-Api-Key: ********",
        "payload": json.dumps(generic_provider.payload),
        "number_format": "digits",
        "batch_key": "",
        "batch_size": "100",
        "dlr_format": "clevertap",
        "dlr_mapping": "{}",
        "new_callback_username": CALLBACK_USER,
        "new_callback_password": CALLBACK_PASSWORD,
    }
    assert page.status_code == 200

    response = client.post(url, form)

    assert response.status_code == 302, response.content.decode()[:2000]
    generic_provider.refresh_from_db()
    assert generic_provider.callback_password == CALLBACK_PASSWORD
    page = client.get(url).content.decode()
    assert CALLBACK_PASSWORD not in page and CALLBACK_USER not in page

    client.post(
        url,
        {
            **form,
            "new_callback_username": "",
            "new_callback_password": "",
            "clear_callback_auth": "on",
        },
    )
    generic_provider.refresh_from_db()
    assert not generic_provider.callback_requires_auth


def test_callback_credentials_are_encrypted_at_rest_and_rotate_with_the_keys(
    guarded_provider, settings
):
    table = Provider._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT callback_username, callback_password FROM {table} WHERE id = %s",
            [guarded_provider.id],
        )
        before = cursor.fetchone()
    assert CALLBACK_USER not in before[0] and CALLBACK_PASSWORD not in before[1]

    from cryptography.fernet import Fernet

    settings.SMSGATEWAY_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    provider_secrets_rotate()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT callback_password FROM {table} WHERE id = %s", [guarded_provider.id]
        )
        after = cursor.fetchone()

    assert after[0] != before[1]
    assert Provider.objects.get(id=guarded_provider.id).callback_password == CALLBACK_PASSWORD


def test_an_export_leaves_callback_credentials_out_unless_asked(guarded_provider):
    plain = providers_export()[0]
    full = providers_export(include_secrets=True)[0]

    assert "callback_password" not in plain and "callback_username" not in plain
    assert full["callback_password"] == CALLBACK_PASSWORD
