"""Sinch REST mo_text pushes."""

from __future__ import annotations

import json

import pytest

from providers.models import OptOut, Provider, Reply
from tests.providers.inbound.conftest import fixture_text, post_json


@pytest.fixture
def sinch(generic_provider) -> Provider:
    generic_provider.inbound_format = Provider.InboundFormat.SINCH_REST
    generic_provider.save()
    return generic_provider


def test_a_mo_text_is_stored_and_a_lower_case_stop_counts(client, sinch):
    response = post_json(client, sinch, fixture_text("sinch_rest_mo_text.json"))

    assert response.status_code == 200
    assert response.json()["processed"] == 1
    reply = Reply.objects.get()
    assert (reply.phone, reply.to, reply.text, reply.action) == (
        "+919876543210",
        "ACMEIN",
        "stop",
        "opted_out",
    )
    assert reply.sent_at.isoformat() == "2026-12-03T10:15:30+00:00"
    assert OptOut.objects.filter(phone="+919876543210").exists()


def test_a_binary_message_is_refused_by_name(client, sinch):
    record = {**json.loads(fixture_text("sinch_rest_mo_text.json")), "type": "mo_binary"}

    response = post_json(client, sinch, [record])

    assert response.status_code == 400
    [item] = response.json()["unprocessed"]
    assert item["error"] == "unsupported message type 'mo_binary'"
    assert not Reply.objects.exists()


def test_a_body_that_is_not_json_is_400(client, sinch):
    response = post_json(client, sinch, "{not json")

    assert response.status_code == 400
    assert response.json()["error"].startswith("not valid JSON")
