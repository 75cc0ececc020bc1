"""Queueing a list of messages in one request: all or nothing, in order, idempotent."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from providers.models import Message, MessageEvent, OptOut, Provider

LIST_URL = "/api/v1/messages/"


def item(via: Provider, n: int, **overrides: Any) -> dict[str, Any]:
    return {"provider": via.pk, "to": f"+9198765432{n:02d}", "body": f"OTP {n}", **overrides}


def test_a_list_is_queued_in_order_and_answered_as_a_list(api, generic_provider, batch_provider):
    items = [item(generic_provider, n) for n in range(3)] + [item(batch_provider, 3)]

    response = api.post(LIST_URL, items, format="json")

    assert response.status_code == 202, response.json()
    body = response.json()
    assert [m["to"] for m in body] == [i["to"] for i in items]
    assert [m["provider"] for m in body] == [i["provider"] for i in items]
    assert {m["status"] for m in body} == {"queued"}
    stored = {str(m.id): m for m in Message.objects.all()}
    assert [stored[m["id"]].body for m in body] == ["OTP 0", "OTP 1", "OTP 2", "OTP 3"]
    # Each has its history from the start, as a single message does.
    assert MessageEvent.objects.filter(status="queued").count() == 4


def test_a_list_with_an_invalid_item_is_refused_whole(api, generic_provider):
    OptOut.objects.create(phone="+919876543203")
    items = [
        item(generic_provider, 0),
        item(generic_provider, 1, to="12"),
        item(generic_provider, 2, provider=999999),
        item(generic_provider, 3),  # opted out
        item(generic_provider, 4, body=""),
    ]

    response = api.post(LIST_URL, items, format="json")

    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"1", "2", "3", "4"}
    assert "to" in errors["1"]
    assert "provider" in errors["2"]
    assert "opted out" in errors["3"]["to"][0]
    assert "body" in errors["4"]
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    ("items", "error"),
    [([], "at least one"), ([{"provider": 1}] * 1001, "At most 1,000")],
    ids=["empty", "too-many"],
)
def test_an_empty_or_overlong_list_is_refused(api, generic_provider, items, error):
    response = api.post(LIST_URL, items, format="json")

    assert response.status_code == 400
    assert error in response.json()["non_field_errors"][0]
    assert not Message.objects.exists()


def test_a_list_of_1000_takes_the_queries_a_list_of_2_takes(api, generic_provider):
    def queries_for(count: int) -> int:
        items = [item(generic_provider, n % 100) for n in range(count)]
        with CaptureQueriesContext(connection) as queries:
            response = api.post(LIST_URL, items, format="json")
        assert response.status_code == 202
        return len(queries)

    api.post(LIST_URL, [item(generic_provider, 0)], format="json")  # the lane is made
    assert queries_for(1000) == queries_for(2)
    assert Message.objects.count() == 1 + 1000 + 2


def test_the_same_key_for_the_same_list_queues_it_once(api, generic_provider):
    items = [item(generic_provider, n) for n in range(3)]

    first = api.post(LIST_URL, items, format="json", HTTP_IDEMPOTENCY_KEY="batch-7")
    again = api.post(LIST_URL, items, format="json", HTTP_IDEMPOTENCY_KEY="batch-7")

    assert first.status_code == again.status_code == 202
    assert [m["id"] for m in again.json()] == [m["id"] for m in first.json()]
    assert Message.objects.count() == 3


def test_the_same_key_for_a_different_list_is_refused(api, generic_provider):
    items = [item(generic_provider, n) for n in range(3)]
    api.post(LIST_URL, items, format="json", HTTP_IDEMPOTENCY_KEY="batch-8")

    changed = [*items[:2], item(generic_provider, 9)]
    response = api.post(LIST_URL, changed, format="json", HTTP_IDEMPOTENCY_KEY="batch-8")

    assert response.status_code == 422
    assert Message.objects.count() == 3


def test_a_refused_list_leaves_its_key_free(api, generic_provider):
    bad = [item(generic_provider, 0), item(generic_provider, 1, to="12")]
    assert api.post(LIST_URL, bad, format="json", HTTP_IDEMPOTENCY_KEY="b-9").status_code == 400

    good = [item(generic_provider, 0), item(generic_provider, 1)]
    response = api.post(LIST_URL, good, format="json", HTTP_IDEMPOTENCY_KEY="b-9")

    assert response.status_code == 202
    assert Message.objects.count() == 2


@pytest.mark.parametrize("body", [[1, 2], ["x"], [None], [[]]], ids=str)
def test_items_that_are_not_objects_are_refused_by_position(api, generic_provider, body):
    response = api.post(LIST_URL, body, format="json")

    assert response.status_code == 400
    assert "0" in response.json()
    assert not Message.objects.exists()
