"""Kannel and Jasmin replies: parameters on GET or POST, answered in text."""

from __future__ import annotations

import pytest

from providers.models import OptOut, Provider, Reply
from tests.providers.inbound.conftest import fixture_text, mo_url


@pytest.fixture
def kannel(generic_provider) -> Provider:
    generic_provider.inbound_format = Provider.InboundFormat.PARAMS
    generic_provider.save()
    return generic_provider


def test_kannel_calls_the_get_url_and_the_stop_opts_the_number_out(client, kannel):
    response = client.get(mo_url(kannel) + "?" + fixture_text("kannel_mo.txt"))

    assert response.status_code == 200
    assert response.content == b"OK"
    reply = Reply.objects.get()
    assert (reply.phone, reply.to, reply.text, reply.action) == (
        "+919876543210",
        "56767",
        "STOP please",
        "opted_out",
    )
    assert reply.sent_at.timestamp() == 1654512921
    assert OptOut.objects.filter(phone="+919876543210").exists()


def test_jasmin_posts_its_content_and_reads_its_ack(client, kannel):
    response = client.post(
        mo_url(kannel),
        data=fixture_text("jasmin_mo.txt"),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    assert response.content == b"ACK/Jasmin"
    reply = Reply.objects.get()
    assert (reply.phone, reply.text, reply.to) == ("+919876543210", "STOP", "56767")
    assert reply.raw["origin-connector"] == "smpp-sinch"


@pytest.mark.parametrize(
    "query, reason",
    [
        ("to=56767&text=STOP", "missing from (the number that replied)"),
        ("from=919876543210&to=56767", "missing text (Jasmin: content)"),
        ("from=abc&text=STOP", "from: 'abc' is not a phone number."),
    ],
)
def test_a_reply_that_cannot_be_read_is_400_with_the_reason(client, kannel, query, reason):
    response = client.get(mo_url(kannel) + "?" + query)

    assert response.status_code == 400
    assert response.content.decode() == reason
    assert not Reply.objects.exists() and not OptOut.objects.exists()


def test_other_formats_take_only_post(client, generic_provider):
    response = client.get(mo_url(generic_provider) + "?from=919876543210&text=STOP")

    assert response.status_code == 405
    assert not Reply.objects.exists()
