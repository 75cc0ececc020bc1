"""CleverTap's generic DLR format (the default) through the callback, and its parser."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from providers.dlr import clevertap
from providers.dlr.base import MalformedBody
from providers.models import DeliveryReport, Message, MessageEvent, OptOut

from .conftest import fixture_text, post_json, reload

Status = Message.Status


def test_it_marks_the_message_delivered(client, message):
    response = post_json(
        client, message.provider, fixture_text("clevertap_delivered.json", MessageID=message.id)
    )

    assert response.status_code == 200
    assert response.json() == {"status": "success", "processed": 1, "unprocessed": []}
    message = reload(message)
    assert message.status == Status.DELIVERED
    report = DeliveryReport.objects.get()
    assert report.outcome == DeliveryReport.Outcome.APPLIED
    assert report.occurred_at == datetime(2022, 6, 6, 10, 55, 21, tzinfo=UTC)
    assert message.events.filter(source=MessageEvent.Source.DLR).get().description == (
        "Delivered to handset"
    )


def test_a_failure_keeps_the_code_and_gets_the_clevertap_meaning(client, message):
    post_json(client, message.provider, fixture_text("clevertap_failed.json", MessageID=message.id))

    message = reload(message)
    assert message.status == Status.FAILED
    assert message.error_code == "908"
    assert message.error_description == "Template blocked by DLT"


def test_a_failure_keeps_the_providers_own_description(client, message):
    payload = [
        {
            "event": "failed",
            "data": [{"meta": str(message.id), "code": 901, "description": "DND Failure"}],
        }
    ]
    post_json(client, message.provider, payload)

    message = reload(message)
    assert (message.error_code, message.error_description) == ("901", "DND Failure")


def test_a_stop_reply_puts_the_number_on_the_opt_out_list(client, message):
    response = post_json(
        client, message.provider, fixture_text("clevertap_replied_stop.json", MessageID=message.id)
    )

    assert response.json()["processed"] == 1
    assert OptOut.objects.get().phone == message.to
    assert reload(message).status == Status.SUBMITTED


def test_a_reply_other_than_stop_is_recorded_without_opting_out(client, message):
    payload = [{"event": "replied", "data": [{"meta": str(message.id), "incomingText": "Thanks"}]}]
    post_json(client, message.provider, payload)

    assert not OptOut.objects.exists()
    assert DeliveryReport.objects.get().outcome == DeliveryReport.Outcome.RECORDED
    assert message.events.filter(description="Reply: Thanks").exists()


def test_a_click_is_recorded_with_its_url(client, message):
    response = post_json(
        client, message.provider, fixture_text("clevertap_clicked.json", MessageID=message.id)
    )

    assert response.json()["status"] == "success"
    assert reload(message).status == Status.SUBMITTED
    assert message.events.filter(description="https://shop.example.com/sale").exists()


def test_a_mixed_batch_is_partly_processed_and_says_which_records_failed(
    client, message, make_message
):
    other = make_message()
    body = fixture_text("clevertap_mixed.json", MessageID=message.id, OtherMessageID=other.id)

    answer = post_json(client, message.provider, body).json()

    assert answer["status"] == "partial"
    assert answer["processed"] == 2
    errors = [(item["code"], item["error"]) for item in answer["unprocessed"]]
    assert errors == [
        (400, "missing meta"),
        (400, "unknown event 'bounced'"),
        (400, "missing event"),
    ]
    assert all(item["status"] == "fail" for item in answer["unprocessed"])
    assert answer["unprocessed"][0]["record"] == {
        "ts": 1654512922,
        "description": "Delivered to handset",
    }
    assert reload(message).status == Status.DELIVERED
    assert reload(other).status == Status.FAILED


def test_an_unknown_message_id_is_unprocessed_but_kept_for_audit(client, generic_provider):
    payload = [{"event": "delivered", "data": [{"meta": "no-such-message", "ts": 1654512921}]}]

    answer = post_json(client, generic_provider, payload).json()

    assert answer["status"] == "fail"
    assert answer["processed"] == 0
    [item] = answer["unprocessed"]
    assert (item["code"], item["error"]) == (404, "unknown message id")
    assert item["record"]["meta"] == "no-such-message"
    report = DeliveryReport.objects.get()
    assert report.outcome == DeliveryReport.Outcome.UNKNOWN_MESSAGE
    assert report.message_ref == "no-such-message"


def test_a_message_of_another_provider_counts_as_unknown(client, generic_provider, sinch_provider):
    theirs = Message.objects.create(
        provider=sinch_provider, to="+919876543210", body="Hi", status=Status.SUBMITTED
    )
    payload = [{"event": "delivered", "data": [{"meta": str(theirs.id)}]}]

    answer = post_json(client, generic_provider, payload).json()

    assert answer["unprocessed"][0]["code"] == 404
    assert reload(theirs).status == Status.SUBMITTED


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "not valid JSON"),
        ("", "not valid JSON"),
        ('{"event": "delivered", "data": []}', "expected a JSON array of event objects"),
        ('["delivered"]', "expected a JSON array of event objects"),
        ('[{"event": "delivered", "data": [{"meta": "x", "ts": NaN}]}]', "not valid JSON"),
        ('[{"event": "delivered", "data": [{"meta": "x", "ts": 1e999}]}]', "not valid JSON"),
        ("[" * 50 + "]" * 50, "nested too deeply"),
        ("[" * 100_000, "nested too deeply"),
    ],
)
def test_a_malformed_body_is_answered_with_400(client, message, body, reason):
    response = post_json(client, message.provider, body)

    assert response.status_code == 400
    answer = response.json()
    assert answer["status"] == "fail"
    assert answer["processed"] == 0
    assert reason in answer["error"]
    assert not DeliveryReport.objects.exists()
    assert reload(message).status == Status.SUBMITTED


def test_an_empty_array_is_a_success_with_nothing_processed(client, generic_provider):
    answer = post_json(client, generic_provider, []).json()

    assert answer == {"status": "success", "processed": 0, "unprocessed": []}


def test_text_the_database_cannot_store_is_cleaned_not_a_500(client, message):
    # JSON escapes for NUL (PostgreSQL refuses it) and a lone surrogate (no database stores it).
    record = r'{"meta": "%s", "code": "9\u00000", "description": "bad \ud800 text\u0000"}'
    body = '[{"event": "failed", "data": [%s]}]' % (record % message.id)

    response = post_json(client, message.provider, body)

    assert response.status_code == 200
    message = reload(message)
    assert message.error_code == "90"
    assert message.error_description == "bad ? text"


# --- the parser on its own


def test_the_parser_reads_each_event_into_a_report():
    body = json.dumps(
        [
            {"event": "Delivered", "data": [{"meta": "m1", "ts": "1654512921"}]},
            {"event": "failed", "data": [{"meta": "m2", "code": 916}]},
            {"event": "replied", "data": [{"meta": "m3", "incomingText": " stop "}]},
            {"event": "clicked", "data": {"meta": "m4", "url": "https://x.example"}},
        ]
    ).encode()

    parsed = clevertap.parse(body)

    assert parsed.errors == []
    assert [(r.message_ref, r.event, r.status) for r in parsed.reports] == [
        ("m1", "delivered", Status.DELIVERED),
        ("m2", "failed", Status.FAILED),
        ("m3", "replied", ""),
        ("m4", "clicked", ""),
    ]
    assert parsed.reports[0].occurred_at == datetime(2022, 6, 6, 10, 55, 21, tzinfo=UTC)
    assert parsed.reports[1].code == "916"
    assert parsed.reports[2].reply_text == "stop"
    assert parsed.reports[3].description == "https://x.example"


def test_a_bad_timestamp_is_no_time_rather_than_an_error():
    parsed = clevertap.parse(b'[{"event": "delivered", "data": [{"meta": "m1", "ts": "soon"}]}]')

    assert parsed.errors == []
    assert parsed.reports[0].occurred_at is None


def test_an_event_without_a_data_list_is_rejected_whole():
    parsed = clevertap.parse(b'[{"event": "delivered", "data": "m1"}]')

    assert parsed.reports == []
    assert parsed.errors[0].error == "missing data: a list of records"
    assert parsed.errors[0].record == {"event": "delivered", "data": "m1"}


def test_the_parser_refuses_a_single_object():
    with pytest.raises(MalformedBody):
        clevertap.parse(b'{"event": "delivered", "data": [{"meta": "m1"}]}')
