"""The API of replies and opt-outs, and the provider's inbound settings over the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from providers.inbound.services import reply_receive
from providers.models import Message, OptOut, Reply
from providers.ops.transfer import providers_export, providers_import
from tests.factories import queued


@pytest.fixture
def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def replies(generic_provider, sinch_provider, campaign_messages):
    campaign_messages("7", ["+919876543211"], Message.Status.DELIVERED)
    reply_receive(provider=generic_provider, phone="+919876543210", text="Hello")
    reply_receive(provider=generic_provider, phone="+919876543211", text="Is it free?")
    reply_receive(provider=sinch_provider, phone="+919876543210", text="STOP")


def texts(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["text"] for item in response.json()["results"]]


def test_replies_are_listed_newest_first(api, replies):
    response = api.get("/api/v1/inbound/")

    assert texts(response) == ["STOP", "Is it free?", "Hello"]
    first = response.json()["results"][0]
    assert (first["phone"], first["action"]) == ("+919876543210", "opted_out")


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"phone": "+91 98765 43210"}, ["STOP", "Hello"]),
        ({"campaign": "7"}, ["Is it free?"]),
        ({"phone": "+919876543210", "provider": "PROVIDER"}, ["Hello"]),
    ],
)
def test_replies_are_filtered(api, replies, generic_provider, params, expected):
    params = {k: generic_provider.pk if v == "PROVIDER" else v for k, v in params.items()}

    assert texts(api.get("/api/v1/inbound/", params)) == expected


def test_replies_are_filtered_by_time(api, replies):
    Reply.objects.filter(text="Hello").update(received_at=timezone.now() - timedelta(days=2))
    since = (timezone.now() - timedelta(days=1)).isoformat()

    assert texts(api.get("/api/v1/inbound/", {"since": since})) == ["STOP", "Is it free?"]
    assert api.get("/api/v1/inbound/", {"since": "yesterday"}).status_code == 400
    assert api.get("/api/v1/inbound/", {"phone": "12"}).status_code == 400


def test_the_reply_api_needs_authentication(db):
    assert APIClient().get("/api/v1/inbound/").status_code in (401, 403)


def test_an_opt_out_added_over_the_api_fails_queued_campaign_messages(
    api, generic_provider, campaign_messages
):
    [waiting] = campaign_messages("9", ["+919876543210"])

    response = api.post(
        "/api/v1/opt-outs/", {"phone": "+91 98765 43210", "text": "asked by phone"}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["phone"], body["source"], body["messages_failed"]) == ("+919876543210", "API", 1)
    assert Message.objects.get(id=waiting.id).error_code == "opted_out"
    again = api.post("/api/v1/opt-outs/", {"phone": "+919876543210"}, format="json")
    assert (again.status_code, again.json()["text"]) == (200, "asked by phone")
    listed = api.get("/api/v1/opt-outs/").json()["results"]
    assert [item["phone"] for item in listed] == ["+919876543210"]


def test_an_invalid_number_is_refused(api, db):
    response = api.post("/api/v1/opt-outs/", {"phone": "12"}, format="json")

    assert response.status_code == 400
    assert "phone" in response.json()
    assert not OptOut.objects.exists()


def test_an_opt_out_is_removed_by_its_number(api, generic_provider):
    OptOut.objects.create(phone="+919876543210", source="reply")

    response = api.delete("/api/v1/opt-outs/+919876543210/")
    missing = api.delete("/api/v1/opt-outs/+919876543210/")

    assert (response.status_code, missing.status_code) == (204, 404)
    assert queued(generic_provider, to="+919876543210").status == "queued"


def test_the_provider_api_shows_the_inbound_url_and_sets_its_format(api, generic_provider):
    url = f"/api/v1/providers/{generic_provider.pk}/"

    body = api.get(url).json()
    changed = api.patch(
        url,
        {
            "inbound_format": "custom",
            "inbound_mapping": {"from": "msisdn", "text": "message"},
            "inbound_url": "https://elsewhere.example/",
        },
        format="json",
    )

    assert body["inbound_url"] == generic_provider.inbound_url
    assert body["inbound_format"] == "clevertap"
    assert changed.status_code == 200, changed.content
    generic_provider.refresh_from_db()
    assert generic_provider.inbound_format == "custom"
    assert generic_provider.inbound_mapping == {"from": "msisdn", "text": "message"}
    assert changed.json()["inbound_url"] == generic_provider.inbound_url


@pytest.mark.parametrize(
    "change, error",
    [
        (
            {"inbound_format": "custom", "inbound_mapping": {"from": "msisdn"}},
            "A custom inbound format needs at least the from and text field names.",
        ),
        (
            {"inbound_mapping": {"sender": "msisdn"}},
            'The inbound mapping names fields: {"from", "to", "text", "time"}.',
        ),
    ],
)
def test_the_provider_api_refuses_a_mapping_that_cannot_read_replies(
    api, generic_provider, change, error
):
    response = api.patch(f"/api/v1/providers/{generic_provider.pk}/", change, format="json")

    assert response.status_code == 400
    assert response.json()["inbound_mapping"] == [error]


def test_an_export_carries_the_inbound_format_to_an_import(generic_provider):
    generic_provider.inbound_format = "params"
    generic_provider.save()
    [record] = providers_export()
    assert record["inbound_format"] == "params"
    assert "inbound_token" not in record

    generic_provider.inbound_format = "clevertap"
    generic_provider.save()
    [change] = providers_import(records=[record])

    generic_provider.refresh_from_db()
    assert (change.action, change.fields) == ("update", ["inbound_format"])
    assert generic_provider.inbound_format == "params"
