"""The message endpoints: queueing (with idempotency), listing with filters, detail."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from rest_framework.test import APIClient

from providers.models import Message, MessageEvent, OptOut, Provider

LIST_URL = "/api/v1/messages/"


def message_input(via: Provider, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"provider": via.pk, "to": "+919876543210", "body": "Hello"}
    data.update(overrides)
    return data


def make_message(provider: Provider, *, age_minutes: int = 0, **fields: Any) -> Message:
    message = Message.objects.create(provider=provider, **{"to": "+919876543210", **fields})
    # created_at is auto_now_add: set the age afterwards.
    created = timezone.now() - timedelta(minutes=age_minutes)
    Message.objects.filter(pk=message.pk).update(created_at=created)
    return message


# ---------------------------------------------------------------- create


def test_it_queues_a_message_and_answers_202(api, user, generic_provider):
    response = api.post(
        LIST_URL, message_input(generic_provider, to="+91 98765 43210"), format="json"
    )

    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "queued"
    assert body["to"] == "+919876543210"
    assert body["provider"] == generic_provider.pk
    assert response["Location"].endswith(f"/api/v1/messages/{body['id']}/")
    message = Message.objects.get(id=body["id"])
    assert message.created_by_id == user.pk
    # Due at once, for the dispatchers to find: no task of its own.
    assert message.next_attempt_at <= timezone.now()
    assert not DBTaskResult.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"to": "12345"}, "to"),
        ({"body": ""}, "body"),
        ({"provider": 999999}, "provider"),
        ({"to": ""}, "to"),
    ],
    ids=["invalid-number", "no-body-or-template", "unknown-provider", "blank-number"],
)
def test_it_answers_400_for_invalid_input(api, generic_provider, overrides, field):
    response = api.post(LIST_URL, message_input(generic_provider, **overrides), format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    "variables",
    [{"AppID": "app\u0000"}, {"App\u0000": "app"}, {"AppID": "\udc81"}],
    ids=["null-in-a-value", "null-in-a-name", "lone-surrogate"],
)
def test_variables_a_database_cannot_store_are_refused(api, generic_provider, variables):
    # As JSON text: the escapes are what a client sends.
    body = json.dumps(message_input(generic_provider, variables=variables))

    response = api.post(LIST_URL, body, content_type="application/json")

    assert response.status_code == 400
    assert "variables" in response.json()
    assert not Message.objects.exists()


def test_it_refuses_an_opted_out_number(api, generic_provider):
    OptOut.objects.create(phone="+919876543210")

    response = api.post(LIST_URL, message_input(generic_provider), format="json")

    assert response.status_code == 400
    assert "opted out" in response.json()["to"][0]


def test_it_needs_the_custom_placeholder_values(api, sinch_provider):
    response = api.post(LIST_URL, message_input(sinch_provider), format="json")

    assert response.status_code == 400
    assert "variables" in response.json()


def test_it_accepts_a_template_id_and_variables(api, sinch_provider):
    variables = {"AppID": "app-1", "SenderID": "ACMEIN", "EntityID": "1101"}
    data = message_input(sinch_provider, body="", template_id="T-42", variables=variables)

    response = api.post(LIST_URL, data, format="json")

    assert response.status_code == 202, response.json()
    message = Message.objects.get(id=response.json()["id"])
    assert (message.template_id, message.variables) == ("T-42", variables)


# ---------------------------------------------------------------- idempotency


def test_the_same_idempotency_key_twice_creates_one_message(api, generic_provider):
    data = message_input(generic_provider)

    first = api.post(LIST_URL, data, format="json", HTTP_IDEMPOTENCY_KEY="order-17")
    second = api.post(LIST_URL, data, format="json", HTTP_IDEMPOTENCY_KEY="order-17")

    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert Message.objects.count() == 1


def test_a_retry_with_the_number_written_differently_is_the_same_request(api, generic_provider):
    first = api.post(
        LIST_URL,
        message_input(generic_provider, to="919876543210"),
        format="json",
        HTTP_IDEMPOTENCY_KEY="order-18",
    )
    second = api.post(
        LIST_URL,
        message_input(generic_provider, to="+91 98765 43210"),
        format="json",
        HTTP_IDEMPOTENCY_KEY="order-18",
    )

    assert second.status_code == 202
    assert second.json()["id"] == first.json()["id"]


def test_reusing_a_key_for_a_different_message_answers_422(api, generic_provider):
    api.post(
        LIST_URL, message_input(generic_provider), format="json", HTTP_IDEMPOTENCY_KEY="order-19"
    )

    response = api.post(
        LIST_URL,
        message_input(generic_provider, body="Something else"),
        format="json",
        HTTP_IDEMPOTENCY_KEY="order-19",
    )

    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["detail"]
    assert Message.objects.count() == 1


def test_idempotency_keys_belong_to_each_user(api, generic_provider):
    other = get_user_model().objects.create_user("integrator", password="x-pass-123!")
    other_client = APIClient()
    other_client.force_authenticate(other)
    data = message_input(generic_provider)

    first = api.post(LIST_URL, data, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    second = other_client.post(LIST_URL, data, format="json", HTTP_IDEMPOTENCY_KEY="k1")

    assert first.json()["id"] != second.json()["id"]
    assert Message.objects.count() == 2


def test_without_a_key_each_request_creates_a_message(api, generic_provider):
    api.post(LIST_URL, message_input(generic_provider), format="json")
    api.post(LIST_URL, message_input(generic_provider), format="json")

    assert Message.objects.count() == 2


def test_an_idempotency_key_with_a_null_character_is_refused(api, generic_provider):
    response = api.post(
        LIST_URL, message_input(generic_provider), format="json", HTTP_IDEMPOTENCY_KEY="k\x00"
    )

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()
    assert not Message.objects.exists()


def test_an_overlong_idempotency_key_is_refused(api, generic_provider):
    response = api.post(
        LIST_URL,
        message_input(generic_provider),
        format="json",
        HTTP_IDEMPOTENCY_KEY="k" * 256,
    )

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()


# ---------------------------------------------------------------- list and filters


def test_it_lists_messages_newest_first_without_events(api, generic_provider):
    old = make_message(generic_provider, age_minutes=10)
    new = make_message(generic_provider, age_minutes=1)

    response = api.get(LIST_URL)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [m["id"] for m in body["results"]] == [str(new.id), str(old.id)]
    assert "events" not in body["results"][0]


def test_the_list_is_paginated_50_per_page(api, generic_provider):
    Message.objects.bulk_create(
        Message(provider=generic_provider, to="+919876543210") for _ in range(51)
    )

    first_page = api.get(LIST_URL).json()
    second_page = api.get(first_page["next"]).json()

    assert first_page["count"] == 51
    assert len(first_page["results"]) == 50
    assert len(second_page["results"]) == 1


def test_the_list_takes_the_same_queries_for_many_messages(
    api, generic_provider, django_assert_max_num_queries
):
    for age in range(20):
        message = make_message(generic_provider, age_minutes=age)
        MessageEvent.objects.create(message=message, source="api", status="queued")

    # One count, one page.
    with django_assert_max_num_queries(2):
        response = api.get(LIST_URL)

    assert len(response.json()["results"]) == 20


def test_it_filters_by_status(api, generic_provider):
    make_message(generic_provider, status=Message.Status.QUEUED)
    delivered = make_message(generic_provider, status=Message.Status.DELIVERED)

    results = api.get(LIST_URL, {"status": "delivered"}).json()["results"]

    assert [m["id"] for m in results] == [str(delivered.id)]


def test_it_filters_by_provider(api, generic_provider, sinch_provider):
    make_message(generic_provider)
    via_sinch = make_message(sinch_provider)

    results = api.get(LIST_URL, {"provider": sinch_provider.pk}).json()["results"]

    assert [m["id"] for m in results] == [str(via_sinch.id)]


@pytest.mark.parametrize(
    "typed", ["+919876543210", "+91 98765 43210", "919876543210", "98765-43210", "098765 43210"]
)
def test_it_filters_by_a_number_typed_in_any_form(api, generic_provider, typed):
    wanted = make_message(generic_provider, to="+919876543210")
    make_message(generic_provider, to="+919812345678")

    results = api.get(LIST_URL, {"to": typed}).json()["results"]

    assert [m["id"] for m in results] == [str(wanted.id)]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "lost"}, "status"),
        ({"provider": "abc"}, "provider"),
        ({"provider": str(2**63)}, "provider"),
        ({"to": "n/a"}, "to"),
    ],
    ids=["unknown-status", "provider-not-a-number", "provider-beyond-any-id", "not-a-number"],
)
def test_it_answers_400_for_an_invalid_filter(api, db, params, field):
    response = api.get(LIST_URL, params)

    assert response.status_code == 400
    assert field in response.json()


# ---------------------------------------------------------------- detail


def test_the_detail_shows_the_history_with_the_masked_request(api, generic_provider):
    message = make_message(generic_provider, status=Message.Status.SUBMITTED)
    MessageEvent.objects.create(message=message, source="api", status="queued")
    masked = {"method": "POST", "headers": {"X-Api-Key": "********"}}
    MessageEvent.objects.create(
        message=message,
        source="send",
        status="submitted",
        http_status=200,
        description="Accepted",
        data={"request": masked, "response": "ok"},
    )

    response = api.get(f"{LIST_URL}{message.id}/")

    assert response.status_code == 200
    events = response.json()["events"]
    assert [e["status"] for e in events] == ["queued", "submitted"]
    assert events[1]["http_status"] == 200
    assert events[1]["data"]["request"] == masked
    assert set(events[1]) == {
        "created_at",
        "source",
        "status",
        "code",
        "description",
        "http_status",
        "data",
    }


def test_the_detail_prefetches_the_events(api, generic_provider, django_assert_num_queries):
    message = make_message(generic_provider)
    for _ in range(5):
        MessageEvent.objects.create(message=message, source="dlr", status="")

    with django_assert_num_queries(2):
        response = api.get(f"{LIST_URL}{message.id}/")

    assert len(response.json()["events"]) == 5


@pytest.mark.parametrize("message_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
def test_the_detail_answers_404_for_an_unknown_message(api, db, message_id):
    assert api.get(f"{LIST_URL}{message_id}/").status_code == 404


def test_the_answer_to_a_new_message_is_what_its_detail_shows(api, generic_provider):
    from providers.api.serializers import MessageDetailSerializer

    response = api.post(LIST_URL, message_input(generic_provider), format="json")

    assert response.status_code == 202
    message = Message.objects.prefetch_related("events").get(id=response.json()["id"])
    assert response.json() == MessageDetailSerializer(message).data
    assert api.get(f"{LIST_URL}{message.id}/").json() == response.json()
