"""The campaign endpoints: create, list, detail, edit and delete drafts, validation, auth."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.authtoken.models import Token

from campaigns import services
from campaigns.models import Campaign, Recipient, Upload
from providers.models import Message
from tests.campaigns.api.conftest import LIST_URL, campaign_input, detail_url, set_status
from tests.factories import csv_file, make_campaign, numbers_csv

pytestmark = pytest.mark.django_db


def add_messages(campaign: Campaign, **counts: int) -> None:
    """Messages of the campaign in the given statuses, as a launch would create them."""
    Message.objects.bulk_create(
        Message(
            provider=campaign.provider,
            to="+919876543210",
            campaign_ref=str(campaign.pk),
            status=status,
        )
        for status, count in counts.items()
        for _ in range(count)
    )


# ---------------------------------------------------------------- create


def test_it_creates_a_draft_owned_by_the_caller(api, user, generic_provider):
    response = api.post(LIST_URL, campaign_input(generic_provider), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    campaign = Campaign.objects.get(pk=body["id"])
    assert campaign.created_by == user
    assert body["status"] == "draft"
    assert body["provider"] == generic_provider.pk
    assert body["kind"] == "transactional"
    assert body["default_country"] == "IN"
    assert body["variables"] == {}
    assert body["launched_at"] is None
    assert body["stats"] == {
        "total": 0,
        "queued": 0,
        "sending": 0,
        "submitted": 0,
        "delivered": 0,
        "failed": 0,
        "pending": 0,
        "delivery_rate": None,
    }


def test_the_status_cannot_be_written(api, generic_provider):
    response = api.post(LIST_URL, campaign_input(generic_provider, status="running"), format="json")

    assert response.status_code == 201
    assert Campaign.objects.get().status == Campaign.Status.DRAFT


def test_a_promotional_campaign_with_a_six_digit_sender_id_is_accepted(api, generic_provider):
    data = campaign_input(generic_provider, kind="promotional", sender_id="123456")

    response = api.post(LIST_URL, data, format="json")

    assert response.status_code == 201, response.json()
    assert Campaign.objects.get().is_promotional


def test_the_provider_variables_are_accepted_with_the_campaign_fields(api, sinch_provider):
    # $$SenderID and $$EntityID come from the campaign's own fields; $$AppID from variables.
    data = campaign_input(
        sinch_provider, entity_id="1701158123540939524", variables={"AppID": "acme"}
    )

    response = api.post(LIST_URL, data, format="json")

    assert response.status_code == 201, response.json()
    assert Campaign.objects.get().variables == {"AppID": "acme"}


@pytest.mark.parametrize(
    ("overrides", "field", "text"),
    [
        ({"kind": "promotional", "sender_id": "ACMEIN"}, "sender_id", "6 digits"),
        ({"kind": "transactional", "sender_id": "123456"}, "sender_id", "6 letters"),
        ({"kind": "transactional", "sender_id": "ACME1"}, "sender_id", "6 letters"),
        ({"message": "   "}, "message", "Write the message"),
        ({"dlt_template": "Your OTP is ready"}, "dlt_template", "does not match"),
        ({"throttle_per_second": 0}, "throttle_per_second", "at least 1"),
        ({"default_country": "XX"}, "default_country", "country code"),
        ({"provider": 999999}, "provider", "object does not exist"),
        ({"kind": "bulk"}, "kind", "not a valid choice"),
        ({"variables": "AppID=acme"}, "variables", "dictionary"),
    ],
    ids=[
        "promotional-letters",
        "transactional-digits",
        "transactional-short",
        "blank-message",
        "dlt-mismatch",
        "zero-throttle",
        "unknown-country",
        "unknown-provider",
        "unknown-kind",
        "variables-not-an-object",
    ],
)
def test_invalid_settings_are_field_errors(api, generic_provider, overrides, field, text):
    response = api.post(LIST_URL, campaign_input(generic_provider, **overrides), format="json")

    assert response.status_code == 400
    errors = response.json()
    assert field in errors, errors
    assert text in " ".join(errors[field])
    assert not Campaign.objects.exists()


@pytest.mark.parametrize("name", ["App\u0000", "\udc81"], ids=["null", "lone-surrogate"])
def test_a_variable_name_a_database_cannot_store_is_refused(api, generic_provider, name):
    # As JSON text: the escapes are what a client sends.
    body = json.dumps(campaign_input(generic_provider, variables={name: "acme"}))

    response = api.post(LIST_URL, body, content_type="application/json")

    assert response.status_code == 400
    assert "variables" in response.json()
    assert not Campaign.objects.exists()


def test_missing_provider_variables_are_named(api, sinch_provider):
    response = api.post(LIST_URL, campaign_input(sinch_provider), format="json")

    assert response.status_code == 400
    assert response.json()["variables"] == ["The provider needs a value for $$AppID, $$EntityID."]


def test_the_sender_id_rules_apply_to_india_only(api, generic_provider):
    data = campaign_input(
        generic_provider, kind="promotional", sender_id="ACME", default_country="us"
    )

    response = api.post(LIST_URL, data, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["default_country"] == "US"


# ---------------------------------------------------------------- list and detail


def test_it_lists_campaigns_newest_first_with_a_summary(api, generic_provider):
    older = make_campaign(generic_provider, name="Older")
    newer = make_campaign(generic_provider, name="Newer")
    services.upload_create(campaign=older, file=csv_file(numbers_csv(4)))
    add_messages(older, delivered=2, failed=1, submitted=1)

    response = api.get(LIST_URL)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [c["id"] for c in body["results"]] == [newer.pk, older.pk]
    assert body["results"][1]["summary"] == {
        "recipients": 4,
        "messages": 4,
        "delivered": 2,
        "failed": 1,
    }
    assert body["results"][0]["summary"] == {
        "recipients": 0,
        "messages": 0,
        "delivered": 0,
        "failed": 0,
    }
    assert "stats" not in body["results"][0]


def test_the_list_makes_the_same_few_queries_however_many_campaigns(
    api, generic_provider, django_assert_max_num_queries
):
    for number in range(12):
        campaign = make_campaign(generic_provider, name=f"Campaign {number}")
        services.upload_create(campaign=campaign, file=csv_file(numbers_csv(2, start=number * 2)))
        add_messages(campaign, delivered=1)

    # The page count, the page (with its recipient counts) and the message counts.
    with django_assert_max_num_queries(3):
        response = api.get(LIST_URL)

    assert response.status_code == 200
    assert len(response.json()["results"]) == 12
    assert {c["summary"]["recipients"] for c in response.json()["results"]} == {2}


def test_the_detail_has_the_full_stats(api, draft):
    services.upload_create(campaign=draft, file=csv_file(numbers_csv(5)))
    add_messages(draft, delivered=3, failed=1, queued=1)

    response = api.get(detail_url(draft))

    assert response.status_code == 200
    stats = response.json()["stats"]
    assert stats == {
        "total": 5,
        "queued": 1,
        "sending": 0,
        "submitted": 0,
        "delivered": 3,
        "failed": 1,
        "pending": 1,
        "delivery_rate": 75.0,
    }


def test_an_unknown_campaign_is_404(api, db):
    assert api.get(detail_url(999999)).status_code == 404


# ---------------------------------------------------------------- update


def test_a_draft_can_be_patched(api, draft):
    response = api.patch(
        detail_url(draft),
        {"name": "Diwali offer (final)", "throttle_per_second": 5},
        format="json",
    )

    assert response.status_code == 200, response.json()
    draft.refresh_from_db()
    assert draft.name == "Diwali offer (final)"
    assert draft.throttle_per_second == 5
    assert draft.message == "Hi {{first_name|there}}, 20% off today"


def test_a_draft_can_be_replaced(api, draft, generic_provider):
    data = campaign_input(
        generic_provider,
        name="Replaced",
        kind="promotional",
        sender_id="654321",
        variables={"x": "1"},
    )

    response = api.put(detail_url(draft), data, format="json")

    assert response.status_code == 200, response.json()
    draft.refresh_from_db()
    assert (draft.name, draft.kind, draft.sender_id) == ("Replaced", "promotional", "654321")


def test_a_patch_is_checked_together_with_the_stored_values(api, draft):
    # The stored sender id ACMEIN is valid for transactional messages only.
    response = api.patch(detail_url(draft), {"kind": "promotional"}, format="json")

    assert response.status_code == 400
    assert "sender_id" in response.json()
    draft.refresh_from_db()
    assert draft.kind == Campaign.Kind.TRANSACTIONAL


@pytest.mark.parametrize("status", ["scheduled", "running", "paused", "completed", "cancelled"])
def test_only_a_draft_can_be_edited(api, draft, status):
    set_status(draft, status)

    response = api.patch(detail_url(draft), {"name": "Changed"}, format="json")

    assert response.status_code == 409
    assert "Only a draft campaign can be edited" in response.json()["detail"]
    draft.refresh_from_db()
    assert draft.name == "Diwali offer"


def test_editing_a_running_campaign_is_409_even_with_invalid_input(api, draft, generic_provider):
    set_status(draft, "running")

    response = api.put(detail_url(draft), {"name": ""}, format="json")

    assert response.status_code == 409


def test_an_edit_never_writes_back_a_status(api, draft, monkeypatch):
    """A launch between reading the campaign and saving it keeps its status."""
    from campaigns.api import serializers

    validate = serializers.CampaignBaseSerializer.validate

    def launch_meanwhile(self: Any, attrs: dict[str, Any]) -> dict[str, Any]:
        Campaign.objects.filter(pk=draft.pk).update(status="running")
        return validate(self, attrs)

    monkeypatch.setattr(serializers.CampaignBaseSerializer, "validate", launch_meanwhile)

    response = api.patch(detail_url(draft), {"name": "Changed"}, format="json")

    assert response.status_code == 409
    draft.refresh_from_db()
    assert (draft.status, draft.name) == ("running", "Diwali offer")


# ---------------------------------------------------------------- delete


def test_a_draft_can_be_deleted_with_its_lists(api, draft):
    services.upload_create(campaign=draft, file=csv_file(numbers_csv(3)))

    response = api.delete(detail_url(draft))

    assert response.status_code == 204
    assert not Campaign.objects.exists()
    assert not Upload.objects.exists()
    assert not Recipient.objects.exists()


def test_a_launched_campaign_cannot_be_deleted(api, draft):
    set_status(draft, "running")

    response = api.delete(detail_url(draft))

    assert response.status_code == 409
    assert "Only a draft campaign can be deleted" in response.json()["detail"]
    assert Campaign.objects.filter(pk=draft.pk).exists()


# ---------------------------------------------------------------- authentication

PROTECTED = [
    ("get", "/api/v1/campaigns/"),
    ("post", "/api/v1/campaigns/"),
    ("get", "/api/v1/campaigns/{id}/"),
    ("patch", "/api/v1/campaigns/{id}/"),
    ("delete", "/api/v1/campaigns/{id}/"),
    ("get", "/api/v1/campaigns/{id}/uploads/"),
    ("post", "/api/v1/campaigns/{id}/uploads/"),
    ("get", "/api/v1/campaigns/{id}/uploads/1/"),
    ("get", "/api/v1/campaigns/{id}/uploads/1/errors.csv"),
    ("post", "/api/v1/campaigns/{id}/launch/"),
    ("post", "/api/v1/campaigns/{id}/pause/"),
    ("post", "/api/v1/campaigns/{id}/resume/"),
    ("post", "/api/v1/campaigns/{id}/cancel/"),
    ("get", "/api/v1/campaigns/{id}/export/"),
]


@pytest.mark.parametrize(("method", "url"), PROTECTED)
def test_it_answers_401_without_credentials(anonymous_client, draft, method, url):
    response = getattr(anonymous_client, method)(url.format(id=draft.pk))

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    draft.refresh_from_db()
    assert draft.status == Campaign.Status.DRAFT


def test_a_token_authenticates(anonymous_client, user, draft):
    token = Token.objects.create(user=user)
    anonymous_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    assert anonymous_client.get(detail_url(draft)).status_code == 200


def test_a_signed_in_session_authenticates(client, user, draft):
    client.force_login(user)

    assert client.get(LIST_URL).status_code == 200
