"""Replies and DND failures on the DLR callback (CleverTap's format): a STOP opts the
number out however it arrives, and a reply that names no message is no longer lost."""

from __future__ import annotations

from providers.dlr import clevertap
from providers.models import DeliveryReport, Message, MessageEvent, OptOut, Reply
from tests.providers.dlr.conftest import post_json, reload

Status = Message.Status


def test_a_stop_without_meta_opts_the_number_out_instead_of_being_rejected(
    client, generic_provider
):
    payload = [
        {
            "event": "replied",
            "data": [
                {
                    "ts": 1654512921,
                    "fromPhone": "919876543210",
                    "toPhone": "5555",
                    "incomingText": "STOP",
                }
            ],
        }
    ]

    response = post_json(client, generic_provider, payload)

    assert response.status_code == 200
    assert response.json() == {"status": "success", "processed": 1, "unprocessed": []}
    assert OptOut.objects.get().phone == "+919876543210"
    reply = Reply.objects.get()
    assert (reply.phone, reply.to, reply.text, reply.action) == (
        "+919876543210",
        "5555",
        "STOP",
        "opted_out",
    )
    assert not DeliveryReport.objects.exists()  # it names no message to report on


def test_a_reply_with_meta_is_in_the_messages_history_and_in_the_inbox(client, message):
    payload = [{"event": "replied", "data": [{"meta": str(message.id), "incomingMessage": "Stop"}]}]

    answer = post_json(client, message.provider, payload).json()

    assert answer["processed"] == 1
    reply = Reply.objects.get()
    assert (reply.phone, reply.text, reply.action) == (message.to, "Stop", "opted_out")
    event = MessageEvent.objects.filter(message=message, source="dlr").get()
    assert event.description == "Reply: Stop"
    assert OptOut.objects.filter(phone=message.to).exists()


def test_a_reply_without_meta_from_no_phone_number_is_unprocessed(client, generic_provider):
    payload = [{"event": "replied", "data": [{"fromPhone": "abc", "incomingText": "STOP"}]}]

    answer = post_json(client, generic_provider, payload).json()

    assert answer["status"] == "fail"
    [item] = answer["unprocessed"]
    assert (item["code"], item["error"]) == (400, "from: 'abc' is not a phone number.")
    assert not OptOut.objects.exists()


def test_failed_dnd_fails_the_message_as_a_dnd_failure(client, message):
    payload = [{"event": "failed_dnd", "data": [{"meta": str(message.id), "ts": 1654512921}]}]

    answer = post_json(client, message.provider, payload).json()

    assert answer == {"status": "success", "processed": 1, "unprocessed": []}
    message = reload(message)
    assert (message.status, message.error_code) == (Status.FAILED, "901")
    assert message.error_description == "DND failure"
    assert DeliveryReport.objects.get().event == "failed_dnd"


def test_failed_dnd_keeps_a_code_the_provider_gives():
    parsed = clevertap.parse(b'[{"event": "failed_dnd", "data": [{"meta": "m1", "code": 913}]}]')

    [report] = parsed.reports
    assert (report.status, report.code) == (Status.FAILED, "913")
