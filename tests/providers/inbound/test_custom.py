"""Replies in a provider's own JSON, read through its inbound mapping."""

from __future__ import annotations

import pytest

from providers.models import OptOut, Provider, Reply
from tests.providers.inbound.conftest import fixture_text, post_json

MAPPING = {"from": "msisdn", "to": "shortcode", "text": "message", "time": "received"}


@pytest.fixture
def custom(generic_provider) -> Provider:
    generic_provider.inbound_format = Provider.InboundFormat.CUSTOM
    generic_provider.inbound_mapping = MAPPING
    generic_provider.save()
    return generic_provider


def test_the_mapped_fields_make_the_reply_and_start_opts_back_in(client, custom):
    OptOut.objects.create(phone="+919876543210", source="earlier", text="STOP")

    response = post_json(client, custom, fixture_text("custom_reply.json"))

    assert response.status_code == 200
    reply = Reply.objects.get()
    assert (reply.phone, reply.to, reply.text, reply.action) == (
        "+919876543210",
        "56767",
        "Start",
        "opted_in",
    )
    assert reply.sent_at is not None
    assert not OptOut.objects.exists()


def test_a_record_without_the_mapped_sender_is_listed(client, custom):
    response = post_json(client, custom, [{"message": "hi"}, {"msisdn": "9876543210"}])

    assert response.status_code == 400
    assert [item["error"] for item in response.json()["unprocessed"]] == [
        "missing msisdn",
        "missing message",
    ]


def test_a_provider_without_a_usable_mapping_answers_503_so_the_sender_retries(client, custom):
    Provider.objects.filter(id=custom.id).update(inbound_mapping={"from": "msisdn"})
    custom.refresh_from_db()
    custom.save()  # as an operator's edit would: the cached provider is forgotten

    response = post_json(client, custom, fixture_text("custom_reply.json"))

    assert response.status_code == 503
    assert not Reply.objects.exists()
