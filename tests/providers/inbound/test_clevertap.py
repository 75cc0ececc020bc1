"""CleverTap's replied event on the inbound URL (the provider's default inbound format)."""

from __future__ import annotations

from providers.inbound import clevertap
from providers.models import OptOut, Reply
from tests.providers.inbound.conftest import fixture_text, post_json, replied


def test_each_reply_is_stored_with_its_sender_in_e164(client, generic_provider):
    response = post_json(client, generic_provider, fixture_text("clevertap_replied.json"))

    assert response.status_code == 200
    assert response.json() == {"status": "success", "processed": 2, "unprocessed": []}
    stop, question = Reply.objects.order_by("id")
    assert (stop.phone, stop.to, stop.text, stop.action) == (
        "+919876543210",
        "5555",
        "STOP",
        "opted_out",
    )
    assert stop.sent_at is not None and stop.sent_at.timestamp() == 1654512921
    assert (question.phone, question.text, question.action) == (
        "+919876543211",
        "When does the sale end?",
        "",
    )
    assert list(OptOut.objects.values_list("phone", flat=True)) == ["+919876543210"]
    assert OptOut.objects.get().source == "reply via Generic"


def test_a_record_that_cannot_be_stored_is_listed_and_the_others_are_kept(client, generic_provider):
    body = [
        {
            "event": "replied",
            "data": [
                {"fromPhone": "919876543210", "incomingText": "Yes"},
                {"fromPhone": "12", "incomingText": "No"},
                {"incomingText": "who?"},
            ],
        },
        {"event": "delivered", "data": [{"meta": "x"}]},
    ]

    response = post_json(client, generic_provider, body)

    assert response.status_code == 200
    answer = response.json()
    assert (answer["status"], answer["processed"]) == ("partial", 1)
    errors = sorted(item["error"] for item in answer["unprocessed"])
    assert errors == [
        "from: '12' is not a phone number.",
        "missing fromPhone (the number that replied) or meta",
        "not a reply: 'delivered' (delivery reports go to the callback URL)",
    ]
    assert list(Reply.objects.values_list("text", flat=True)) == ["Yes"]


def test_a_body_with_no_reply_that_can_be_stored_is_400(client, generic_provider):
    response = post_json(client, generic_provider, replied("not-a-number", "STOP"))

    assert response.status_code == 400
    assert response.json()["status"] == "fail"
    assert not Reply.objects.exists() and not OptOut.objects.exists()


def test_the_parser_reads_the_newer_incoming_message_key_and_a_single_event():
    parsed = clevertap.parse(
        b'{"event": "replied", "data": {"from": "919876543210", "incomingMessage": " hi "}}'
    )

    [reply] = parsed.replies
    assert (reply.phone, reply.text) == ("919876543210", "hi")
