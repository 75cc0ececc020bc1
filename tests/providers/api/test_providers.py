"""The provider endpoints: CRUD, secrets never returned, shared validation, protected delete."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import pytest

from campaigns.models import Campaign
from providers.models import Message, Provider
from providers.sending.rendering import MASK

LIST_URL = "/api/v1/providers/"
SECRETS = ("user-SECRET-1", "pass-SECRET-2", "header-SECRET-3")


def detail_url(provider: Provider) -> str:
    return f"/api/v1/providers/{provider.pk}/"


def new_provider(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "nickname": "Acme SMS",
        "endpoint": "https://sms.example.com/send",
        "auth_type": "basic",
        "username": "user-SECRET-1",
        "password": "pass-SECRET-2",
        "headers": {"X-Api-Key": "header-SECRET-3"},
        "payload": {"to": "$$To", "text": "$$Body", "id": "$$MessageID"},
    }
    data.update(overrides)
    return data


def assert_no_secret_in(content: bytes) -> None:
    for secret in SECRETS:
        assert secret.encode() not in content


# ---------------------------------------------------------------- CRUD


def test_it_lists_providers_by_nickname(api, generic_provider, sinch_provider):
    response = api.get(LIST_URL)

    assert response.status_code == 200
    assert response.json()["count"] == 2
    assert [p["nickname"] for p in response.json()["results"]] == ["Generic", "Sinch India"]


def test_it_creates_a_provider_with_the_documented_defaults(api):
    response = api.post(LIST_URL, new_provider(), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    provider = Provider.objects.get(pk=body["id"])
    assert body["kind"] == "generic"
    assert body["dlr_format"] == "clevertap"
    assert body["request_type"] == "POST"
    assert body["callback_url"] == provider.callback_url
    assert body["callback_url"].startswith("https://gateway.example.com/dlr/")
    assert body["last_test_at"] is None
    assert (provider.username, provider.password) == ("user-SECRET-1", "pass-SECRET-2")
    assert provider.headers == {"X-Api-Key": "header-SECRET-3"}


def test_response_rules_are_written_and_read_back(api):
    rules = {
        "success": {"path": "status", "equals": ["success"]},
        "message_id": {"path": "data.0.id"},
        "transient_codes": ["503"],
    }
    created = api.post(LIST_URL, new_provider(response=rules), format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["response"] == rules

    cleared = api.patch(detail_url(Provider.objects.get()), {"response": {}}, format="json")
    assert cleared.json()["response"] == {}
    assert Provider.objects.get().response == {}


def test_it_shows_the_custom_placeholders_a_provider_needs(api, sinch_provider):
    response = api.get(detail_url(sinch_provider))

    assert response.status_code == 200
    assert response.json()["custom_placeholders"] == ["AppID", "SenderID", "EntityID"]


def test_it_replaces_a_provider_with_put(api, secret_provider):
    data = new_provider(nickname="Renamed", auth_type="none", username=None, password=None)
    data["headers"] = {}

    response = api.put(detail_url(secret_provider), data, format="json")

    assert response.status_code == 200, response.json()
    secret_provider.refresh_from_db()
    assert secret_provider.nickname == "Renamed"
    assert secret_provider.auth_type == "none"
    assert secret_provider.username == ""
    assert secret_provider.headers == {}


def test_it_patches_one_field_and_keeps_the_credentials(api, secret_provider):
    response = api.patch(detail_url(secret_provider), {"batch_size": 50}, format="json")

    assert response.status_code == 200, response.json()
    secret_provider.refresh_from_db()
    assert secret_provider.batch_size == 50
    assert secret_provider.username == "user-SECRET-1"
    assert secret_provider.password == "pass-SECRET-2"
    assert secret_provider.headers["X-Api-Key"] == "header-SECRET-3"


def test_it_deletes_a_provider_without_messages(api, generic_provider):
    response = api.delete(detail_url(generic_provider))

    assert response.status_code == 204
    assert not Provider.objects.filter(pk=generic_provider.pk).exists()


def test_it_answers_409_when_deleting_a_provider_with_messages(api, generic_provider):
    Message.objects.create(provider=generic_provider, to="+919876543210", body="hi")

    response = api.delete(detail_url(generic_provider))

    assert response.status_code == 409
    assert "cannot be deleted" in response.json()["detail"]
    assert Provider.objects.filter(pk=generic_provider.pk).exists()


def test_it_answers_409_when_deleting_a_provider_used_by_a_campaign(api, generic_provider):
    Campaign.objects.create(provider=generic_provider, name="Diwali", message="Hi")

    response = api.delete(detail_url(generic_provider))

    assert response.status_code == 409
    assert response.json()["detail"] == (
        "“Generic” is still used by campaigns, so it cannot be deleted."
    )
    assert Provider.objects.filter(pk=generic_provider.pk).exists()


def test_it_answers_404_for_an_unknown_provider(api, db):
    assert api.get("/api/v1/providers/999999/").status_code == 404


# ---------------------------------------------------------------- secrets


@pytest.mark.parametrize("action", ["list", "detail", "create", "put", "patch"])
def test_no_response_contains_a_credential(api, secret_provider, action):
    if action == "list":
        response = api.get(LIST_URL)
    elif action == "detail":
        response = api.get(detail_url(secret_provider))
    elif action == "create":
        response = api.post(LIST_URL, new_provider(nickname="Other"), format="json")
    elif action == "put":
        response = api.put(detail_url(secret_provider), new_provider(), format="json")
    else:
        response = api.patch(detail_url(secret_provider), new_provider(), format="json")

    assert response.status_code in (200, 201), response.content
    assert_no_secret_in(response.content)


def test_it_returns_the_username_and_header_values_masked(api, secret_provider):
    body = api.get(detail_url(secret_provider)).json()

    assert body["username"] == MASK
    assert body["headers"] == {"X-Api-Key": MASK, "Accept": MASK}
    assert "password" not in body


def test_it_returns_a_blank_username_when_none_is_set(api, generic_provider):
    assert api.get(detail_url(generic_provider)).json()["username"] == ""


def test_sending_back_what_was_read_keeps_every_credential(api, secret_provider):
    read = api.get(detail_url(secret_provider)).json()

    response = api.put(detail_url(secret_provider), read, format="json")

    assert response.status_code == 200, response.json()
    secret_provider.refresh_from_db()
    assert secret_provider.username == "user-SECRET-1"
    assert secret_provider.password == "pass-SECRET-2"
    assert secret_provider.headers == {
        "X-Api-Key": "header-SECRET-3",
        "Accept": "application/json",
    }


def test_a_masked_header_value_keeps_the_stored_value(api, secret_provider):
    headers = {"X-Api-Key": MASK, "X-Tenant": "acme"}

    response = api.patch(detail_url(secret_provider), {"headers": headers}, format="json")

    assert response.status_code == 200, response.json()
    secret_provider.refresh_from_db()
    # Accept was left out, so it is removed; X-Api-Key keeps its stored value.
    assert secret_provider.headers == {"X-Api-Key": "header-SECRET-3", "X-Tenant": "acme"}


def test_a_new_header_value_replaces_the_stored_one(api, secret_provider):
    headers = {"X-Api-Key": "rotated-key"}

    api.patch(detail_url(secret_provider), {"headers": headers}, format="json")

    secret_provider.refresh_from_db()
    assert secret_provider.headers == {"X-Api-Key": "rotated-key"}


def test_a_masked_value_for_an_unknown_header_is_refused(api, secret_provider):
    headers = {"X-Unknown": MASK}

    response = api.patch(detail_url(secret_provider), {"headers": headers}, format="json")

    assert response.status_code == 400
    assert "X-Unknown" in response.json()["headers"][0]


def test_a_masked_header_value_is_refused_on_create(api):
    response = api.post(LIST_URL, new_provider(headers={"X-Api-Key": MASK}), format="json")

    assert response.status_code == 400
    assert "headers" in response.json()


@pytest.mark.parametrize("password", [None, ""], ids=["omitted", "blank"])
def test_an_omitted_or_blank_password_keeps_the_stored_one(api, secret_provider, password):
    data = new_provider(nickname="Secretive")
    data.pop("password")
    if password is not None:
        data["password"] = password

    response = api.put(detail_url(secret_provider), data, format="json")

    assert response.status_code == 200, response.json()
    secret_provider.refresh_from_db()
    assert secret_provider.password == "pass-SECRET-2"


def test_a_new_password_replaces_the_stored_one(api, secret_provider):
    api.patch(detail_url(secret_provider), {"password": "new-pass"}, format="json")

    secret_provider.refresh_from_db()
    assert secret_provider.password == "new-pass"


def test_a_masked_username_keeps_the_stored_one(api, secret_provider):
    api.patch(detail_url(secret_provider), {"username": MASK}, format="json")

    secret_provider.refresh_from_db()
    assert secret_provider.username == "user-SECRET-1"


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("overrides", "field", "text"),
    [
        ({"endpoint": "http://sms.example.com/send"}, "endpoint", "https"),
        ({"endpoint": "https://127.0.0.1/send"}, "endpoint", "private"),
        ({"payload": {"text": "$$Body"}}, "payload", "$$To"),
        ({"payload": {"to": "$$To"}}, "payload", "$$Body"),
        ({"batch_size": 0}, "batch_size", "between 1 and 1,000"),
        ({"batch_size": 1001}, "batch_size", "between 1 and 1,000"),
        ({"username": ""}, "username", "needs a username"),
        ({"password": ""}, "password", "needs a password"),
        ({"headers": {"Bad Name": "x"}}, "headers", "not a valid header name"),
        ({"dlr_format": "custom", "dlr_mapping": {}}, "dlr_mapping", "the status field name"),
        ({"response": {"success": {"path": ""}}}, "response", "success: the path must be"),
        ({"response": ["status"]}, "response", "must be a JSON object"),
    ],
    ids=[
        "http-endpoint",
        "private-endpoint",
        "no-To",
        "no-Body",
        "batch-size-0",
        "batch-size-1001",
        "basic-auth-without-username",
        "basic-auth-without-password",
        "bad-header-name",
        "custom-dlr-without-mapping",
        "response-rule-without-path",
        "response-rules-not-an-object",
    ],
)
def test_it_refuses_an_invalid_configuration(api, db, overrides, field, text):
    response = api.post(LIST_URL, new_provider(**overrides), format="json")

    assert response.status_code == 400
    errors = response.json()
    assert field in errors, errors
    assert any(text in message for message in errors[field]), errors
    assert not Provider.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"payload": {"to": "$$To", "text": "$$Body", "from": "Acme\u0000"}}, "payload"),
        ({"payload": {"to": "$$To", "text": "$$Body", "\udc81": "x"}}, "payload"),
        (
            {"dlr_format": "custom", "dlr_mapping": {"id": "ref\u0000", "status": "st"}},
            "dlr_mapping",
        ),
    ],
    ids=["null-in-the-payload", "lone-surrogate-in-the-payload", "null-in-the-dlr-mapping"],
)
def test_json_a_database_cannot_store_is_refused(api, db, overrides, field):
    # As JSON text: the escapes are what a client sends.
    body = json.dumps(new_provider(**overrides))

    response = api.post(LIST_URL, body, content_type="application/json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert not Provider.objects.exists()


def test_batch_size_1001_is_refused_in_batch_mode(api, db):
    data = new_provider(
        batch_enabled=True,
        batch_key="msgs",
        batch_size=1001,
        payload={"msgs": [{"to": "$$To", "text": "$$Body"}]},
    )

    response = api.post(LIST_URL, data, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["batch_size"]


def test_a_patch_is_validated_against_the_stored_configuration(api, batch_provider):
    # Batch mode is stored; switching to GET alone would break it.
    response = api.patch(detail_url(batch_provider), {"request_type": "GET"}, format="json")

    assert response.status_code == 400
    assert "batch_enabled" in response.json()
    batch_provider.refresh_from_db()
    assert batch_provider.request_type == "POST"


def test_switching_to_basic_auth_needs_a_username(api, generic_provider):
    response = api.patch(detail_url(generic_provider), {"auth_type": "basic"}, format="json")

    assert response.status_code == 400
    assert "username" in response.json()


def test_it_refuses_a_duplicate_nickname_on_create_whatever_its_case(api, generic_provider):
    response = api.post(LIST_URL, new_provider(nickname="GENERIC"), format="json")

    assert response.status_code == 400
    assert response.json()["nickname"] == ["A provider called “GENERIC” already exists."]


def test_it_refuses_a_duplicate_nickname_on_update(api, generic_provider, sinch_provider):
    response = api.patch(detail_url(sinch_provider), {"nickname": "Generic"}, format="json")

    assert response.status_code == 400
    assert "nickname" in response.json()


def test_it_refuses_an_unknown_choice(api, db):
    response = api.post(LIST_URL, new_provider(number_format="words"), format="json")

    assert response.status_code == 400
    assert "number_format" in response.json()


def test_a_nickname_taken_by_a_parallel_request_is_a_clear_400(api, generic_provider):
    # Both requests pass the uniqueness check; the database constraint decides.
    taken = "A provider called “generic” already exists."
    # The checks before saving miss it; the database refuses it; the service says why.
    with (
        mock.patch("providers.api.serializers.provider_errors", return_value={}),
        mock.patch("providers.config.services.nickname_taken", side_effect=[None, taken]),
    ):
        response = api.post(LIST_URL, new_provider(nickname="generic"), format="json")

    assert response.status_code == 400
    assert response.json()["nickname"] == ["A provider called “generic” already exists."]
